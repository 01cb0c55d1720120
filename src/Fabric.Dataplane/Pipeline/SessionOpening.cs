using Fabric.Dataplane.Forwarding;
using Fabric.Dataplane.LoadBalancing;
using Fabric.Dataplane.Policing;
using Fabric.Dataplane.Sessions;
using Fabric.Dataplane.Telemetry;
using Fabric.Dataplane.Wire;

namespace Fabric.Dataplane.Pipeline;

// Every session the router makes is opened by SessionOpening.Open, whatever its kind:
//
//   tenant share ─► admission ─► route.Choose (load balancer, instance or peer path, waypoint pair) ─► insert ─► load, counted
//     └ TenantSessionLimit └ SessionLimit  └ refused: admission given back                  └ refused: waypoints and admission given back
//
//   Under pressure the oldest half-open session goes first (Evict): the tenant's own when it holds its share, any when the
//   table is full, one on the path's waypoint pool when its pairs are used up. A session starts half-open, with the
//   service's half-open idle timeout, and gets its protocol's timeout when answered (Answered, from the fast path).
//
//   InstanceRoute: a local session (the client's tuple) or an SVR egress (the tuple the metadata names) to an instance here
//   PeerRoute:     an SVR ingress (hosting router by load balancing, then its path) or a transit (the path the metadata names)
//
// SessionOpening.Ended gives back what Open took (admission, instance load, waypoint pair) when the session ends.
// The routes are structs and Open is generic over them: nothing allocates.

/// <summary>
/// Where a new session leads, chosen once its admission is taken: the far side's key and the fields of the session
/// that depend on it. Implemented by structs, so <see cref="SessionOpening.Open"/> calls it without boxing.
/// </summary>
internal interface ISessionRoute
{
    /// <summary>
    /// Chooses the session's far side: fills in <paramref name="state"/>'s instance (or load slot), forward port and,
    /// for SVR, role, handshake and waypoint fields, and gives the reverse key. Returns <see cref="DropReason.None"/>,
    /// or why there is no route; a refusal holds nothing.
    /// </summary>
    DropReason Choose(
        ref PacketContext context, ServiceEntry entry, ForwardingSnapshot snapshot, WorkerResources resources, ref SessionState state, out SessionKey reverse);

    /// <summary>Why the session is refused when the table rejects its keys without being full (one is another session's).</summary>
    DropReason KeyTaken { get; }
}

/// <summary>
/// The one path that opens a session and the one that closes it: admission taken and given back, load counted, waypoint
/// ports taken and given back, the session counted and its opening published. Runs on the worker's thread.
/// </summary>
internal static class SessionOpening
{
    /// <summary>
    /// Opens a session for the packet in hand (its key is the session's forward key) to the service
    /// <paramref name="entry"/> (the context names its tenant and service) along <paramref name="route"/>. On
    /// <see cref="Verdict.Continue"/> the context holds the session, forward; on <see cref="Verdict.Drop"/> its reason,
    /// and whatever was taken is given back.
    /// </summary>
    public static Verdict Open<TRoute>(ref PacketContext context, ServiceEntry entry, ForwardingSnapshot snapshot, WorkerResources resources, TRoute route)
        where TRoute : struct, ISessionRoute
    {
        if (resources.TenantAtLimit(context.Tenant) && !Evict(snapshot, resources, context.Tenant, waypointPool: -1))
        {
            return context.Fail(DropReason.TenantSessionLimit);
        }

        if (resources.Sessions.Count >= resources.Sessions.Capacity)
        {
            Evict(snapshot, resources, tenant: -1, waypointPool: -1);
        }

        var runtime = entry.Runtime;
        if (runtime.Admission.TryAdmit(context.Now) is var admission and not AdmissionVerdict.Admitted)
        {
            return context.Fail(DropReason.SessionLimit, DropRules.Of(admission));
        }

        var state = new SessionState
        {
            Tenant = (short)context.Tenant,
            Service = (short)context.Service,
            ReversePort = (short)context.IngressPort,
            Runtime = runtime.Id,
            Bucket = TokenLevel.Full(runtime.SessionRate, context.Now),
        };
        var chosen = route.Choose(ref context, entry, snapshot, resources, ref state, out var reverse);
        if (chosen != DropReason.None)
        {
            runtime.Admission.Release();
            return context.Fail(chosen);
        }

        var idle = Math.Min(entry.IdleHalfOpen, IdleTimeout(entry, state, context.Key));
        var inserted = resources.Sessions.TryInsert(context.Key, reverse, state, context.Now, idle, out var handle);
        if (inserted != SessionInsertResult.Inserted)
        {
            ReleaseWaypoints(snapshot, state);
            runtime.Admission.Release();
            return context.Fail(inserted == SessionInsertResult.TableFull ? DropReason.SessionTableFull : route.KeyTaken);
        }

        if (state.Instance >= 0)
        {
            runtime.Load.OnSessionStart(state.Instance);
        }

        if (state.Svr is SvrRole.Ingress or SvrRole.Transit)
        {
            snapshot.Runtimes.PathHealth[state.WaypointPool].SessionOpened();
        }

        resources.SessionOpened(handle);
        resources.TenantOpened(state.Tenant);
        resources.HalfOpen.Add(handle, resources.Sessions.Generation(handle));
        context.Session = handle;
        context.Direction = SessionDirection.Forward;
        return Verdict.Continue;
    }

    /// <summary>
    /// Gives back what a session held, to the runtime that admitted it: its admission slot, its instance's load and its
    /// waypoint ports; and counts it ended for its tenant and service. The caller has removed it from the table.
    /// </summary>
    public static void Ended(ForwardingSnapshot snapshot, WorkerResources resources, in SessionState state)
    {
        resources.Traffic.Ended(state.Tenant, state.Service);
        resources.TenantEnded(state.Tenant);
        var runtime = snapshot.Runtimes[state.Runtime];
        runtime.Admission.Release();
        if (state.Instance >= 0)
        {
            runtime.Load.OnSessionEnd(state.Instance);
        }

        ReleaseWaypoints(snapshot, state);
    }

    /// <summary>
    /// Ends a live session the fabric decided to end (not a packet: revoked by a configuration, or on an instance that
    /// failed): removes it, gives back what it held (<see cref="Ended"/>, to <paramref name="admittedBy"/>'s runtimes),
    /// reports it closed, and counts it as dropped for <paramref name="reason"/> under <paramref name="tenant"/> and
    /// <paramref name="service"/> (indexes of the snapshot in force). The one place such a session ends: a reset toward
    /// both ends of a TCP session goes here.
    /// </summary>
    public static void EndLive(
        ForwardingSnapshot admittedBy, ForwardingSnapshot current, WorkerResources resources, int handle, DropReason reason, int tenant, int service, long now)
    {
        ArgumentNullException.ThrowIfNull(resources);
        var sessions = resources.Sessions;
        var forward = sessions.ForwardKey(handle);
        var reverse = sessions.ReverseKey(handle);
        var ended = sessions.Payload(handle);
        var tcp = sessions.Tcp(handle);
        sessions.Remove(handle);
        Ended(admittedBy, resources, ended);
        resources.SessionClosed(handle, forward, reverse, ended, now);
        SessionResets.ResetEnds(current, resources, forward, reverse, ended, tcp, now);
        resources.Drops.Count(new DropRecord(
            reason, tenant, service, forward.Source, forward.Destination, forward.SourcePort, forward.DestinationPort,
            forward.Protocol, ended.ReversePort, now, IsIpv6: forward.IsIpv6));
    }

    /// <summary>
    /// Whether the session is half-open: a TCP handshake seen begun and not completed, or (any other session, and TCP
    /// adopted mid-flow) no reverse packet forwarded yet.
    /// </summary>
    public static bool IsHalfOpen(SessionTable<SessionState> sessions, int handle)
    {
        var tcp = sessions.Tcp(handle).State;
        return tcp is TcpState.SynSent or TcpState.SynReceived || (tcp == TcpState.None && sessions.Payload(handle).ReversePackets == 0);
    }

    /// <summary>
    /// Gives a half-open session that has just been answered (its handshake completed, or its first reverse packet) the
    /// idle timeout of its protocol in place of the half-open one.
    /// </summary>
    public static void Answered(ForwardingSnapshot snapshot, SessionTable<SessionState> sessions, int handle)
    {
        ref readonly var state = ref sessions.Payload(handle);
        if ((uint)state.Service < (uint)snapshot.Services.Length)
        {
            sessions.SetIdleTimeout(handle, IdleTimeout(snapshot.Services[state.Service], state, sessions.ForwardKey(handle)));
        }
    }

    /// <summary>
    /// Removes the oldest half-open session, of <paramref name="tenant"/> (−1: any) holding a pair of
    /// <paramref name="waypointPool"/> (−1: any), and gives back what it held. Looks at most <see cref="EvictionScan"/>
    /// sessions; returns whether one was removed. Never removes a session that has been answered.
    /// </summary>
    public static bool Evict(ForwardingSnapshot snapshot, WorkerResources resources, int tenant, int waypointPool)
    {
        var sessions = resources.Sessions;
        var candidates = resources.HalfOpen;
        var scan = Math.Min(candidates.Count, EvictionScan);
        for (var age = 0; age < scan; age++)
        {
            var (handle, generation) = candidates.At(age);
            if (handle < 0)
            {
                continue;
            }

            if (sessions.Generation(handle) != generation || !IsHalfOpen(sessions, handle))
            {
                candidates.Clear(age);
                continue;
            }

            var state = sessions.Payload(handle);
            if ((tenant >= 0 && state.Tenant != tenant)
                || (waypointPool >= 0 && (state.Svr is not (SvrRole.Ingress or SvrRole.Transit) || state.WaypointPool != waypointPool)))
            {
                continue;
            }

            candidates.Clear(age);
            candidates.Trim();
            resources.RemoveSession(handle);
            Ended(snapshot, resources, state);
            resources.Counters.SessionsEvicted++;
            return true;
        }

        candidates.Trim();
        return false;
    }

    /// <summary>How many of the oldest sessions one eviction looks at, at most (tunable: bounds the work of one new session).</summary>
    public const int EvictionScan = 4096;

    /// <summary>The idle timeout of a session of the service: by the protocol the client speaks (an SVR session's original one, which may cross as UDP).</summary>
    public static long IdleTimeout(ServiceEntry entry, in SessionState state, in SessionKey forward) =>
        (state.Svr != SvrRole.None ? state.OriginalProtocol : forward.Protocol) switch
        {
            IpProtocol.Tcp => entry.IdleTcp,
            IpProtocol.Udp => entry.IdleUdp,
            _ => entry.IdleIcmp,
        };

    /// <summary>Gives back the waypoint port pair an ingress or transit session holds.</summary>
    private static void ReleaseWaypoints(ForwardingSnapshot snapshot, in SessionState state)
    {
        if (state.Svr is SvrRole.Ingress or SvrRole.Transit)
        {
            snapshot.Runtimes.Waypoints[state.WaypointPool].Release(state.LocalWaypointPort, state.PeerWaypointPort);
        }
    }
}

/// <summary>
/// A session to an instance of the service on this router, picked by the service's load balancing: a local session
/// (towards the client's own tuple) or an SVR egress (towards the tuple the ingress's metadata names; its forward key
/// is the waypoint tuple the packet came on).
/// </summary>
internal readonly struct InstanceRoute : ISessionRoute
{
    private readonly SessionKey _original;
    private readonly bool _egress;
    private readonly bool _sealed;
    private readonly short _peerKeys;
    private readonly uint _sessionId;
    private readonly bool _pinned;
    private readonly SessionKey _pin;

    private InstanceRoute(in SessionKey original, bool egress, bool sealedSession, short peerKeys, uint sessionId, bool pinned, in SessionKey pin)
    {
        _original = original;
        _egress = egress;
        _sealed = sealedSession;
        _peerKeys = peerKeys;
        _sessionId = sessionId;
        _pinned = pinned;
        _pin = pin;
    }

    /// <summary>A local session: <paramref name="key"/> is the client's tuple.</summary>
    public static InstanceRoute Local(in SessionKey key) => new(key, egress: false, sealedSession: false, 0, 0, pinned: false, default);

    /// <summary>
    /// An SVR egress: the original tuple, whether the session is encrypted, the sending peer's keys and the session id, from
    /// the metadata; and, when the metadata pins an instance (<paramref name="pinned"/>: its reverse context, a session that
    /// followed its instance here), that instance's tuple as it answers, which the session goes to when this router hosts it.
    /// </summary>
    public static InstanceRoute Egress(in SessionKey original, bool sealedSession, int peerKeys, uint sessionId, bool pinned = false, in SessionKey pin = default) =>
        new(original, egress: true, sealedSession, (short)peerKeys, sessionId, pinned, pin);

    public DropReason KeyTaken => _egress ? DropReason.MetadataMismatch : DropReason.NoRoute;

    public DropReason Choose(
        ref PacketContext context, ServiceEntry entry, ForwardingSnapshot snapshot, WorkerResources resources, ref SessionState state, out SessionKey reverse)
    {
        reverse = default;
        var pick = _pinned ? SvrStage.PinnedInstance(entry, _original, _pin) : -1;
        if (_pinned)
        {
            if (pick >= 0)
            {
                resources.Counters.InstancePinsHonoured++;
            }
            else
            {
                resources.Counters.InstancePinsUnmatched++;
                if (_original.Protocol == IpProtocol.Tcp && (context.TcpFlags & (byte)TcpFlags.Syn) == 0)
                {
                    // A sibling would answer this connection's segment with a reset: wait for the instance instead.
                    return DropReason.InstanceArriving;
                }
            }
        }

        if (pick < 0)
        {
            pick = LoadBalancer.Pick(entry.InstanceSet, entry.Runtime.Load, entry.Policy.LoadBalancing, resources.NextRandom());
        }

        if (pick < 0 || !entry.TryInstanceAddress(ref pick, _original.IsIpv6, _original.Destination, out var address))
        {
            // No instance here (an egress does not carry sessions on to a further peer).
            return DropReason.NoRoute;
        }

        var instance = entry.Instances[pick];
        // An echo keeps its identifier as its port.
        var port = SvrStage.IsEcho(_original.Protocol) || instance.Port == 0 ? _original.DestinationPort : instance.Port;
        reverse = new SessionKey(address, _original.Source, port, _original.SourcePort, _original.Protocol, _original.IsIpv6);
        state.Instance = (short)pick;
        state.ForwardPort = (short)instance.EgressPort;
        state.IsIpv6 = _original.IsIpv6;
        if (_egress)
        {
            state.Svr = SvrRole.Egress;
            state.SendMetadata = true;
            state.ReverseSeenAt = context.Now;
            state.OriginalProtocol = _original.Protocol;
            state.WaypointPool = -1;
            state.Sealed = _sealed;
            state.PeerKeys = _peerKeys;
            state.SessionId = _sessionId;
        }

        return DropReason.None;
    }
}

/// <summary>
/// A session carried on to a peer router on a waypoint port pair of one peer path: an SVR ingress (the hosting router
/// chosen by the service's load balancing over <see cref="ServiceEntry.PeerRouters"/>, then its first usable path, or
/// another router's when all of its paths are down) or a transit (the path to the router the metadata names). Fails
/// closed without keys for an encrypted service, and without keys on a path whose neighborhood does not allow
/// unauthenticated metadata. The reverse key is the waypoint tuple the peer answers on.
/// </summary>
internal readonly struct PeerRoute : ISessionRoute
{
    private readonly PeerPath? _path;
    private readonly uint _sessionId;
    private readonly byte _originalProtocol;
    private readonly bool _originalIsIpv6;

    private PeerRoute(PeerPath? path, uint sessionId, byte originalProtocol, bool originalIsIpv6)
    {
        _path = path;
        _sessionId = sessionId;
        _originalProtocol = originalProtocol;
        _originalIsIpv6 = originalIsIpv6;
    }

    /// <summary>An SVR ingress: the path, the session id and the load slot are chosen when admitted.</summary>
    public static PeerRoute Ingress() => new(null, 0, 0, false);

    /// <summary>A transit on <paramref name="path"/>, relaying the session id, original protocol and family the metadata names.</summary>
    public static PeerRoute Onward(PeerPath path, uint sessionId, byte originalProtocol, bool originalIsIpv6) =>
        new(path, sessionId, originalProtocol, originalIsIpv6);

    public DropReason KeyTaken => DropReason.WaypointsExhausted;

    public DropReason Choose(
        ref PacketContext context, ServiceEntry entry, ForwardingSnapshot snapshot, WorkerResources resources, ref SessionState state, out SessionKey reverse)
    {
        reverse = default;
        var path = _path;
        var role = SvrRole.Transit;
        var slot = -1;
        var sessionId = _sessionId;
        var originalProtocol = _originalProtocol;
        var originalIsIpv6 = _originalIsIpv6;
        if (path is null)
        {
            // Of ICMPv6 only an echo request opens a session to another router (a ping; SvrStage.Echo.cs).
            if (entry.PeerPaths.Length == 0
                || (context.Key.Protocol == IpProtocol.Icmpv6 && context.Frame[context.TransportOffset] != Icmpv6Type.EchoRequest))
            {
                return DropReason.NoRoute;
            }

            var pick = LoadBalancer.Pick(entry.InstanceSet, entry.Runtime.Load, entry.Policy.LoadBalancing, resources.NextRandom());
            if (pick < 0)
            {
                // Every hosting router is full (by its instances' capacities, as far as this router knows).
                return DropReason.NoRoute;
            }

            path = Svr.PeerPathChoice.ForNewSession(entry, pick, context.Now, snapshot.Runtimes.PeerKeys, out slot);
            if (path is null)
            {
                return DropReason.PeerPathDown;
            }

            role = SvrRole.Ingress;
            sessionId = (uint)resources.NextRandom();
            originalProtocol = context.Key.Protocol;
            originalIsIpv6 = context.IsIpv6;
        }

        if (!PeerPath.Carries(originalProtocol, originalIsIpv6))
        {
            return DropReason.NoRoute;
        }

        if (SvrStage.RefusesToSignal(snapshot, entry, path))
        {
            // Fail closed: the session is refused (and counted) rather than sent in clear, or with metadata the peer
            // would refuse as unauthenticated.
            return DropReason.NoPeerKeys;
        }

        if (!path.Waypoints.TryAllocate(out var localPort, out var peerPort, resources.Shard.Index)
            && !(SessionOpening.Evict(snapshot, resources, tenant: -1, path.PoolId) && path.Waypoints.TryAllocate(out localPort, out peerPort, resources.Shard.Index)))
        {
            return DropReason.WaypointsExhausted;
        }

        var transport = PeerPath.TransportFor(context.Key.Protocol);
        reverse = path.FromPeer(peerPort, localPort, transport);
        state.Instance = (short)slot;
        state.ForwardPort = (short)path.Port;
        state.Svr = role;
        state.SendMetadata = true;
        state.ReverseSeenAt = context.Now;
        state.OriginalProtocol = originalProtocol;
        state.IsIpv6 = originalIsIpv6;
        state.WaypointPool = (short)path.PoolId;
        state.LocalWaypointPort = localPort;
        state.PeerWaypointPort = peerPort;
        state.Sealed = entry.Policy.Encryption == Model.EncryptionMode.Required;
        state.PeerKeys = (short)path.KeysId;
        state.SessionId = sessionId;
        return DropReason.None;
    }
}
