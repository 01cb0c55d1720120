using System.Buffers.Binary;
using Fabric.Dataplane.Forwarding;
using Fabric.Dataplane.LoadBalancing;
using Fabric.Dataplane.Policing;
using Fabric.Dataplane.Sessions;
using Fabric.Dataplane.Svr;
using Fabric.Dataplane.Svr.Security;
using Fabric.Dataplane.Wire;

namespace Fabric.Dataplane.Pipeline;

/// <summary>
/// Secure Vector Routing between routers, without a tunnel header:
/// <code>
///  client ─► ingress router ══ waypoint tuple (our addr:even → peer addr:odd), metadata on first packets ══► egress router ─► instance
///            OpenToPeer: allocate a port pair,                                   Receive: check + strip metadata
///            session keyed so the reverse waypoint tuple finds it                Accept: tenant from metadata, access policy again,
///                                                                                        load balance, restore the original 5-tuple
/// </code>
/// Handshake: the ingress puts forward metadata on every forward packet until a reverse packet with metadata
/// arrives; the egress puts reverse metadata on every reverse packet until a forward packet arrives without.
/// A TCP SYN always carries metadata (a retransmitted first segment signals again); ICMP crosses as UDP and
/// always carries metadata. When <see cref="ResignalAfterUnanswered"/> forward packets in a row see no reverse
/// packet and none has come for <see cref="ResignalAfterQuiet"/> (the peer may have lost the session, say by a
/// restart, and the client is retransmitting), the ingress signals again, so the egress can rebuild the session
/// without the endpoints noticing. A bulk sender with many packets in flight, answered within the quiet time, is
/// never re-signalled: its packets keep crossing with 0 bytes added. Packets to waypoint ports that match no session and
/// carry no metadata are dropped silently: answering them would reveal the router. After the handshake a
/// packet is only rewritten: 0 bytes are added.
/// </summary>
public static class SvrStage
{
    /// <summary>Forward packets in a row without a reverse packet after which the ingress sends metadata again.</summary>
    public const int ResignalAfterUnanswered = 4;

    /// <summary>
    /// How long the reverse direction must have been silent before unanswered forward packets re-signal: above
    /// a round trip between routers, below the time TCP takes for its fourth retransmission (0.2 + 0.4 + 0.8 s).
    /// </summary>
    public static readonly TimeSpan ResignalAfterQuiet = TimeSpan.FromMilliseconds(500);

    /// <summary>The bytes a forward or reverse metadata block may take (IPv4 contexts, names up to 64 octets each).</summary>
    public const int MaxBlockLength = 512;

    /// <summary>
    /// Reads and checks the metadata of a packet that arrived on a waypoint port, and names the peer that sent
    /// it. The block stays in the packet until <see cref="Unseal"/> has verified the packet and strips it.
    /// </summary>
    public static Verdict Receive(ref PacketContext context, ForwardingSnapshot snapshot)
    {
        context.Metadata = default;
        if (!snapshot.TryFindPeer((uint)context.Key.Source, out var peer))
        {
            return context.Fail(DropReason.NotAPeer);
        }

        context.Metadata.PeerKeys = peer.KeysId;
        var ip = context.Frame.Slice(context.NetworkOffset, context.IpLength);
        if (!MetadataInsertion.TryLocate(ip, context.IpLength, out var block, out var error))
        {
            return error switch
            {
                MetadataError.None => Verdict.Continue,
                MetadataError.BadVersion => context.Fail(DropReason.MetadataVersion),
                _ => context.Fail(DropReason.MetadataMalformed),
            };
        }

        if (block.IsPayloadEncrypted)
        {
            // This router keeps metadata payload TLVs in clear (authenticated); it does not open encrypted ones.
            return context.Fail(DropReason.MetadataMismatch);
        }

        if (block.TryFindHeaderTlv(MetadataTlvType.SecurityId, out var securityId))
        {
            if (securityId.Length != sizeof(uint))
            {
                return context.Fail(DropReason.MetadataMalformed);
            }

            context.Metadata.HasSecurityId = true;
            context.Metadata.SecurityId = BinaryPrimitives.ReadUInt32BigEndian(securityId);
        }

        var reason = Read(block.PayloadTlvs, snapshot, ref context.Metadata);
        if (reason != DropReason.None)
        {
            return context.Fail(reason);
        }

        context.Metadata.BlockLength = block.TotalLength;
        context.Metadata.Present = !block.IsBare;
        return Verdict.Continue;
    }

    /// <summary>
    /// Verifies (and for <paramref name="encrypted"/> sessions decrypts) a waypoint packet, then removes its
    /// trailer and metadata, leaving the packet as the sending router had it before sealing. A packet is sealed
    /// when its metadata names an epoch or its session requires encryption. Once the peer path has keys,
    /// metadata must come sealed: unprotected metadata is dropped, so a forged block never makes a session.
    /// </summary>
    public static Verdict Unseal(ref PacketContext context, PacketWorker worker, ForwardingSnapshot snapshot, bool encrypted)
    {
        ref var metadata = ref context.Metadata;
        var keys = snapshot.Runtimes.PeerKeys[metadata.PeerKeys];
        var ip = context.Frame.Slice(context.NetworkOffset, context.IpLength);
        if ((metadata.HasSecurityId || encrypted || metadata.BlockLength > 0) && !TransportChecksumValid(ip))
        {
            // Stripping or opening recomputes the checksum: a damaged packet must not come out whole.
            return context.Fail(DropReason.BadChecksum);
        }

        if (metadata.HasSecurityId || encrypted)
        {
            if (!keys.HasKeys)
            {
                return context.Fail(encrypted && !metadata.HasSecurityId ? DropReason.NoPeerKeys : DropReason.UnknownKey);
            }

            var transportAt = context.TransportOffset - context.NetworkOffset;
            var payloadAt = transportAt + TransportHeaderLength(ip, transportAt) + metadata.BlockLength;
            var trailerAt = context.IpLength - PacketSealer.TrailerLength;
            if (trailerAt < payloadAt)
            {
                return context.Fail(DropReason.Tampered);
            }

            var associated = AssociatedData(worker, ip, transportAt, metadata.BlockLength);
            var protection = encrypted ? PayloadProtection.Encrypt : PayloadProtection.IntegrityOnly;
            var opened = metadata.HasSecurityId
                ? keys.Open(metadata.SecurityId, associated, ip[payloadAt..trailerAt], ip[trailerAt..], protection, context.Now)
                : keys.Open(associated, ip[payloadAt..trailerAt], ip[trailerAt..], protection, context.Now);
            switch (opened)
            {
                case OpenVerdict.Ok:
                    break;
                case OpenVerdict.Replayed:
                    return context.Fail(DropReason.Replayed);
                case OpenVerdict.UnknownEpoch:
                    return context.Fail(DropReason.UnknownKey);
                default:
                    return context.Fail(DropReason.Tampered);
            }

            MetadataInsertion.TryResizeTail(ip, context.IpLength, -PacketSealer.TrailerLength, out var unsealed);
            context.IpLength = unsealed;
        }
        else if (metadata.Present && keys.HasKeys)
        {
            return context.Fail(DropReason.Unauthenticated);
        }

        if (metadata.BlockLength > 0)
        {
            MetadataInsertion.TryStrip(context.Frame.Slice(context.NetworkOffset, context.IpLength), context.IpLength, out var stripped);
            context.IpLength = stripped;
        }

        context.Frame = context.Frame[..(context.NetworkOffset + context.IpLength)];
        return Verdict.Continue;
    }

    /// <summary>
    /// The ingress slow path for a service that lives at a peer router: the session's forward key is the
    /// client's tuple, its reverse key the waypoint tuple the peer answers on. The router is chosen by the
    /// service's load-balancing strategy over the hosting routers (<see cref="ServiceEntry.PeerRouters"/>), with
    /// the load the egresses report (<see cref="TakeFeedback"/>); then its first usable path, or another router's
    /// when all of its paths are down. Admission is already taken; it is given back on refusal.
    /// </summary>
    public static Verdict OpenToPeer(ref PacketContext context, ServiceEntry entry, PacketWorker worker)
    {
        var key = context.Key;
        if (context.IsIpv6 || entry.PeerPaths.Length == 0)
        {
            entry.Runtime.Admission.Release();
            return context.Fail(DropReason.NoRoute);
        }

        var pick = LoadBalancer.Pick(entry.InstanceSet, entry.Runtime.Load, entry.Policy.LoadBalancing, worker.NextRandom());
        if (pick < 0)
        {
            // Every hosting router is full (by its instances' capacities, as far as this router knows).
            entry.Runtime.Admission.Release();
            return context.Fail(DropReason.NoRoute);
        }

        var path = FirstUsableTo(entry, pick) ?? FirstUsable(entry.PeerPaths, preferRouter: null);
        if (path is null)
        {
            entry.Runtime.Admission.Release();
            return context.Fail(DropReason.PeerPathDown);
        }

        return OpenOnPath(ref context, entry, path, SvrRole.Ingress, entry.SlotOf(path), (uint)worker.NextRandom(), key.Protocol, worker);
    }

    /// <summary>
    /// Opens a session that leaves on <paramref name="path"/> (an ingress's, or a transit's onward hop): fail closed
    /// without keys for an encrypted service, a waypoint port pair, the session keyed by the packet's tuple forward and
    /// the waypoint tuple the peer answers on in reverse. The service's admission is already taken; it is given back
    /// on refusal. <paramref name="instance"/> is the hosting router's load slot (−1 for none).
    /// </summary>
    private static Verdict OpenOnPath(
        ref PacketContext context, ServiceEntry entry, PeerPath path, SvrRole role, int instance, uint sessionId, byte originalProtocol, PacketWorker worker)
    {
        var key = context.Key;
        var encrypted = entry.Policy.Encryption == Model.EncryptionMode.Required;
        if (FailClosed.Decide(entry.Policy.Encryption, worker.SnapshotSource().Runtimes.PeerKeys[path.KeysId].HasKeys) == SealDecision.HoldOrRefuse)
        {
            // Fail closed: the session is refused (and counted) rather than sent in clear.
            entry.Runtime.Admission.Release();
            return context.Fail(DropReason.NoPeerKeys);
        }

        if (!path.Waypoints.TryAllocate(out var localPort, out var peerPort))
        {
            entry.Runtime.Admission.Release();
            return context.Fail(DropReason.WaypointsExhausted);
        }

        var transport = key.Protocol == IpProtocol.Tcp ? IpProtocol.Tcp : IpProtocol.Udp;
        var reverse = SessionKey.V4(path.PeerAddress, path.LocalAddress, peerPort, localPort, transport);
        var state = new SessionState
        {
            Tenant = (short)context.Tenant,
            Service = (short)context.Service,
            Instance = (short)instance,
            ForwardPort = (short)path.Port,
            ReversePort = (short)context.IngressPort,
            Runtime = entry.Runtime.Id,
            Bucket = TokenBucket.From(entry.Policy.SessionRateLimit, context.Now, worker.TicksPerSecond),
            Svr = role,
            SendMetadata = true,
            ReverseSeenAt = context.Now,
            OriginalProtocol = originalProtocol,
            WaypointPool = (short)path.PoolId,
            LocalWaypointPort = localPort,
            PeerWaypointPort = peerPort,
            Sealed = encrypted,
            PeerKeys = (short)path.KeysId,
            SessionId = sessionId,
        };
        var inserted = worker.Sessions.TryInsert(key, reverse, state, context.Now, IdleTimeout(entry, originalProtocol), out var handle);
        if (inserted != SessionInsertResult.Inserted)
        {
            path.Waypoints.Release(localPort, peerPort);
            entry.Runtime.Admission.Release();
            return context.Fail(inserted == SessionInsertResult.TableFull ? DropReason.SessionTableFull : DropReason.WaypointsExhausted);
        }

        if (instance >= 0)
        {
            entry.Runtime.Load.OnSessionStart(instance);
        }

        worker.CountSessionOpened(handle);
        context.Session = handle;
        context.Direction = SessionDirection.Forward;
        return Verdict.Continue;
    }

    /// <summary>
    /// The egress slow path: a waypoint packet with no session. Only metadata with a forward context makes one;
    /// the tenant comes from the metadata and the access policy is enforced again with it. The session's
    /// forward key is the waypoint tuple, its reverse key what the instance answers with.
    /// </summary>
    public static Verdict Accept(ref PacketContext context, ForwardingSnapshot snapshot, PacketWorker worker)
    {
        ref var metadata = ref context.Metadata;
        if (!metadata.Present || !metadata.HasForwardContext)
        {
            return context.Fail(DropReason.WaypointNoSession);
        }

        var original = metadata.ForwardContext;
        var carried = original.Protocol == IpProtocol.Tcp ? IpProtocol.Tcp : IpProtocol.Udp;
        if (carried != context.Key.Protocol || !metadata.TenantNamed)
        {
            return context.Fail(DropReason.MetadataMismatch);
        }

        // Verify before anything in the metadata is believed. Whether the session is encrypted follows from the
        // service at the original destination, whoever asks (not from the tenant, which is not yet verified).
        var named = snapshot.AllServices.Match(false, original.Destination, original.Protocol, original.DestinationPort);
        var encrypted = named >= 0 && snapshot.Services[named].Policy.Encryption == Model.EncryptionMode.Required;
        if (Unseal(ref context, worker, snapshot, encrypted) != Verdict.Continue)
        {
            return Verdict.Drop;
        }

        var tenant = metadata.Tenant;
        if (tenant < 0)
        {
            return context.Fail(DropReason.NoTenant);
        }

        context.Tenant = tenant;
        var service = snapshot.FibByTenant[tenant].Match(false, original.Destination, original.Protocol, original.DestinationPort);
        if (service < 0)
        {
            context.Service = snapshot.AllServices.Match(false, original.Destination, original.Protocol, original.DestinationPort);
            return context.Fail(context.Service < 0 ? DropReason.NoService : DropReason.AccessDenied);
        }

        context.Service = service;
        if (metadata.ServiceNamed && metadata.Service != service)
        {
            return context.Fail(DropReason.MetadataMismatch);
        }

        var entry = snapshot.Services[service];
        if (metadata.RoutedOnward)
        {
            return OpenOnward(ref context, entry, snapshot, worker);
        }

        if (TryAdoptMoved(ref context, entry, original, snapshot, worker))
        {
            return Verdict.Continue;
        }

        if (entry.Runtime.Admission.TryAdmit(context.Now) is var admission and not AdmissionVerdict.Admitted)
        {
            return context.Fail(DropReason.SessionLimit, DropRules.Of(admission));
        }

        var pick = LoadBalancer.Pick(entry.InstanceSet, entry.Runtime.Load, entry.Policy.LoadBalancing, worker.NextRandom());
        if (pick < 0 || !entry.Instances[pick].TryAddress(false, out var instanceAddress))
        {
            // No instance here: this router does not carry sessions on to a further peer.
            entry.Runtime.Admission.Release();
            return context.Fail(DropReason.NoRoute);
        }

        var instance = entry.Instances[pick];
        var isEcho = original.Protocol is IpProtocol.Icmp;
        var instancePort = isEcho || instance.Port == 0 ? original.DestinationPort : instance.Port;
        var reverse = new SessionKey(instanceAddress, original.Source, instancePort, original.SourcePort, original.Protocol, original.IsIpv6);
        var state = new SessionState
        {
            Tenant = (short)tenant,
            Service = (short)service,
            Instance = (short)pick,
            ForwardPort = (short)instance.EgressPort,
            ReversePort = (short)context.IngressPort,
            Runtime = entry.Runtime.Id,
            Bucket = TokenBucket.From(entry.Policy.SessionRateLimit, context.Now, worker.TicksPerSecond),
            Svr = SvrRole.Egress,
            SendMetadata = true,
            OriginalProtocol = original.Protocol,
            WaypointPool = -1,
            Sealed = encrypted,
            PeerKeys = (short)metadata.PeerKeys,
            SessionId = metadata.SessionId,
        };
        var inserted = worker.Sessions.TryInsert(context.Key, reverse, state, context.Now, IdleTimeout(entry, original.Protocol), out var handle);
        if (inserted != SessionInsertResult.Inserted)
        {
            entry.Runtime.Admission.Release();
            return context.Fail(inserted == SessionInsertResult.TableFull ? DropReason.SessionTableFull : DropReason.MetadataMismatch);
        }

        entry.Runtime.Load.OnSessionStart(pick);
        worker.CountSessionOpened(handle);
        context.Session = handle;
        context.Direction = SessionDirection.Forward;
        return Verdict.Continue;
    }

    /// <summary>
    /// Whether the next TCP or UDP packet of the session in this direction, not a SYN, leaves to the peer with
    /// metadata (what <see cref="Observe"/> and then <see cref="Rewrite"/> will decide). Reads only.
    /// </summary>
    public static bool NextPacketCarriesMetadata(in SessionState state, bool forward, long now, long quietTicks)
    {
        // A transit adds no metadata of its own: it relays what the packet came with (a cookie the caller sees).
        var leavesToPeer = (state.Svr == SvrRole.Ingress) == forward;
        if (state.Svr is SvrRole.None or SvrRole.Transit || !leavesToPeer)
        {
            return false;
        }

        return state.SendMetadata
            || (state.Svr == SvrRole.Ingress && state.Unanswered + 1 >= ResignalAfterUnanswered && now - state.ReverseSeenAt >= quietTicks);
    }

    /// <summary>Moves the session's handshake on with the packet in hand (fast path, every packet of an SVR session).</summary>
    public static void Observe(ref SessionState state, ref PacketContext context, ForwardingSnapshot snapshot, long quietTicks)
    {
        if (context.IsIcmpError)
        {
            return;
        }

        var forward = context.Direction == SessionDirection.Forward;
        if (state.Svr == SvrRole.Transit)
        {
            // A transit keeps no handshake: it relays the metadata each packet comes with (see Signal).
            return;
        }

        if (state.Svr == SvrRole.Ingress)
        {
            if (!forward)
            {
                state.Unanswered = 0;
                state.ReverseSeenAt = context.Now;
                if (context.Metadata.Present)
                {
                    state.SendMetadata = false;
                    TakeFeedback(state, ref context, snapshot);
                }
            }
            else if (++state.Unanswered >= ResignalAfterUnanswered)
            {
                state.Unanswered = ResignalAfterUnanswered;
                state.SendMetadata |= context.Now - state.ReverseSeenAt >= quietTicks;
            }
        }
        else if (forward)
        {
            // Metadata asks for reverse metadata; a forward packet without it ends the handshake, except the one
            // packet an announcement went ahead of (the egress counts it in Unanswered, unused on its side).
            if (context.Metadata.Present)
            {
                state.SendMetadata = true;
                state.Unanswered = context.Metadata.Announcement ? (byte)1 : (byte)0;
            }
            else if (state.Unanswered > 0)
            {
                state.Unanswered--;
            }
            else
            {
                state.SendMetadata = false;
            }
        }
    }

    /// <summary>
    /// Load feedback: reverse metadata names the service's active sessions at the egress (TLV 13). Those include the
    /// sessions this router sent there, which its own load already counts, so the rest is recorded as the others'
    /// (<see cref="InstanceLoad.ReportRemoteLoad"/>) for the egress's slot; the next picks use it.
    /// </summary>
    private static void TakeFeedback(in SessionState state, ref PacketContext context, ForwardingSnapshot snapshot)
    {
        var load = snapshot.Runtimes[state.Runtime].Load;
        if (context.Metadata.HasSessionsInService && (uint)state.Instance < (uint)load.Count)
        {
            load.ReportRemoteLoad(state.Instance, context.Metadata.SessionsInService - load.LocalSessions(state.Instance));
        }
    }

    /// <summary>
    /// True when the packet in hand is an announcement (metadata with the keepalive control and no payload, see
    /// <see cref="Announce"/>): it moves the handshake on and is not delivered.
    /// </summary>
    public static bool IsAnnouncement(ref PacketContext context) =>
        context.Metadata.Present && context.Metadata.Announcement
        && context.IpLength - (context.TransportOffset - context.NetworkOffset) == UdpDatagram.HeaderLength;

    /// <summary>
    /// Keeps a forward packet of an ingress session on a live peer path. While the session's path is down, a
    /// service with <c>failover</c> or <c>revertible-failover</c> resiliency moves the session to another live
    /// path (to the same peer router first, else to another router hosting the service): new waypoint ports, and
    /// metadata again so the egress takes the new tuple for the same session. Under <c>revertible-failover</c> a
    /// session away from its home path (the service's preferred one, first in configuration order) goes back once
    /// that path is up again (after its hold-down). A service
    /// without failover keeps its path; its packets are dropped (<see cref="DropReason.PeerPathDown"/>) while the
    /// path is down. Sessions move when their next forward packet comes, so an idle session costs nothing.
    /// </summary>
    public static Verdict FollowPath(ref PacketContext context, ref SessionState state, ForwardingSnapshot snapshot, PacketWorker worker)
    {
        var current = PathOfPool(snapshot.PeerPaths, state.WaypointPool);
        var services = snapshot.Services;
        var resiliency = (uint)state.Service < (uint)services.Length ? services[state.Service].Policy.Resiliency : Model.SessionResiliency.None;
        if (current is not null && current.Health.IsUsable)
        {
            if (resiliency != Model.SessionResiliency.RevertibleFailover)
            {
                return Verdict.Continue;
            }

            // Home is the service's preferred path (the first in configuration order).
            var home = services[state.Service].PeerPaths;
            return home.Length > 0 && home[0].PoolId != state.WaypointPool && home[0].Health.IsUsable
                ? Move(ref context, ref state, home[0], snapshot, worker)
                : Verdict.Continue;
        }

        if (resiliency == Model.SessionResiliency.None || (uint)state.Service >= (uint)services.Length)
        {
            return context.Fail(DropReason.PeerPathDown);
        }

        var next = FirstUsable(services[state.Service].PeerPaths, current?.PeerRouter);
        return next is null ? context.Fail(DropReason.PeerPathDown) : Move(ref context, ref state, next, snapshot, worker);
    }

    /// <summary>The first usable path, one to <paramref name="preferRouter"/> before any other; null when none is up.</summary>
    private static PeerPath? FirstUsable(PeerPath[] paths, string? preferRouter)
    {
        PeerPath? found = null;
        for (var i = 0; i < paths.Length; i++)
        {
            var path = paths[i];
            if (!path.Health.IsUsable)
            {
                continue;
            }

            if (preferRouter is null || path.PeerRouter == preferRouter)
            {
                return path;
            }

            found ??= path;
        }

        return found;
    }

    /// <summary>The first usable path that leads to the hosting router in <paramref name="slot"/> (directly or through a transit), or null.</summary>
    private static PeerPath? FirstUsableTo(ServiceEntry entry, int slot)
    {
        for (var i = 0; i < entry.PeerPaths.Length; i++)
        {
            if (entry.PeerPathSlots[i] == slot && entry.PeerPaths[i].Health.IsUsable)
            {
                return entry.PeerPaths[i];
            }
        }

        return null;
    }

    private static PeerPath? PathOfPool(PeerPath[] paths, int poolId)
    {
        for (var i = 0; i < paths.Length; i++)
        {
            if (paths[i].PoolId == poolId)
            {
                return paths[i];
            }
        }

        return null;
    }

    /// <summary>Puts an ingress session on <paramref name="path"/>: new waypoint ports there, the old ones given back, metadata again.</summary>
    private static Verdict Move(ref PacketContext context, ref SessionState state, PeerPath path, ForwardingSnapshot snapshot, PacketWorker worker)
    {
        if (!path.Waypoints.TryAllocate(out var localPort, out var peerPort))
        {
            return context.Fail(DropReason.WaypointsExhausted);
        }

        var transport = state.OriginalProtocol == IpProtocol.Tcp ? IpProtocol.Tcp : IpProtocol.Udp;
        if (!worker.Sessions.TryRekey(context.Session, SessionDirection.Reverse, SessionKey.V4(path.PeerAddress, path.LocalAddress, peerPort, localPort, transport)))
        {
            path.Waypoints.Release(localPort, peerPort);
            return context.Fail(DropReason.WaypointsExhausted);
        }

        snapshot.Runtimes.Waypoints[state.WaypointPool].Release(state.LocalWaypointPort, state.PeerWaypointPort);
        var entry = snapshot.Services[state.Service];
        if (entry.Runtime.Id == state.Runtime && entry.SlotOf(path) is var router and >= 0 && router != state.Instance)
        {
            // The session now counts against the router it moved to.
            if (state.Instance >= 0)
            {
                entry.Runtime.Load.OnSessionEnd(state.Instance);
            }

            entry.Runtime.Load.OnSessionStart(router);
            state.Instance = (short)router;
        }

        state.WaypointPool = (short)path.PoolId;
        state.LocalWaypointPort = localPort;
        state.PeerWaypointPort = peerPort;
        state.ForwardPort = (short)path.Port;
        state.PeerKeys = (short)path.KeysId;
        state.SendMetadata = true;
        state.Unanswered = 0;
        worker.Counters.SessionsMoved++;
        return Verdict.Continue;
    }

    /// <summary>
    /// The transit slow path: forward metadata names a destination router other than this one (TLV 17) for a service
    /// the tenant may reach (access was checked with the tenant from the metadata, as an egress does). The session is
    /// carried on to that router on a second waypoint tuple of our own: its forward key is the tuple the packet came
    /// on, its reverse key the tuple the destination answers on. Packets are rewritten from one tuple to the other and
    /// the metadata they come with is relayed (<see cref="WriteBlock"/>), sealed per hop with that hop's keys.
    /// </summary>
    private static Verdict OpenOnward(ref PacketContext context, ServiceEntry entry, ForwardingSnapshot snapshot, PacketWorker worker)
    {
        ref var metadata = ref context.Metadata;
        if (metadata.OnwardPath < 0)
        {
            // No path to the destination router is up (or it is no peer of ours).
            return context.Fail(DropReason.NoRoute);
        }

        if (entry.Runtime.Admission.TryAdmit(context.Now) is var admission and not AdmissionVerdict.Admitted)
        {
            return context.Fail(DropReason.SessionLimit, DropRules.Of(admission));
        }

        var path = snapshot.PeerPaths[metadata.OnwardPath];
        return OpenOnPath(ref context, entry, path, SvrRole.Transit, instance: -1, metadata.SessionId, metadata.ForwardContext.Protocol, worker);
    }

    /// <summary>The index in <paramref name="paths"/> of the first usable path to the router named (UTF-8), or −1.</summary>
    private static int UsablePathTo(PeerPath[] paths, ReadOnlySpan<byte> router)
    {
        for (var i = 0; i < paths.Length; i++)
        {
            if (paths[i].Health.IsUsable && router.SequenceEqual(paths[i].PeerRouterUtf8))
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>
    /// The keys a packet leaving to a peer is sealed with: the session's peer's, except at a transit on the way back,
    /// where the packet goes to the peer the session came from (found by its waypoint address).
    /// </summary>
    private static int KeysToward(in SessionState state, SessionTable<SessionState> sessions, int handle, bool forward, ForwardingSnapshot snapshot) =>
        state.Svr == SvrRole.Transit && !forward && snapshot.TryFindPeer((uint)sessions.ForwardKey(handle).Source, out var upstream)
            ? upstream.KeysId
            : state.PeerKeys;

    /// <summary>
    /// The egress side of a move: metadata on a new waypoint tuple names a session this router already carries
    /// (same original tuple, same session id, from another path of the same peer router). The session keeps its
    /// instance and TCP state and takes the new tuple, so the endpoints notice nothing.
    /// </summary>
    private static bool TryAdoptMoved(ref PacketContext context, ServiceEntry entry, in SessionKey original, ForwardingSnapshot snapshot, PacketWorker worker)
    {
        var sessions = worker.Sessions;
        for (var i = 0; i < entry.Instances.Length; i++)
        {
            var instance = entry.Instances[i];
            if (!instance.TryAddress(false, out var address))
            {
                continue;
            }

            var port = original.Protocol == IpProtocol.Icmp || instance.Port == 0 ? original.DestinationPort : instance.Port;
            if (!sessions.TryFind(new SessionKey(address, original.Source, port, original.SourcePort, original.Protocol, original.IsIpv6), out var handle, out var direction)
                || direction != SessionDirection.Reverse)
            {
                continue;
            }

            ref var state = ref sessions.Payload(handle);
            if (state.Svr != SvrRole.Egress || state.SessionId != context.Metadata.SessionId
                || !snapshot.TryFindPeer((uint)sessions.ForwardKey(handle).Source, out var before)
                || !snapshot.TryFindPeer((uint)context.Key.Source, out var now) || before.PeerRouter != now.PeerRouter
                || !sessions.TryRekey(handle, SessionDirection.Forward, context.Key))
            {
                return false;
            }

            state.ReversePort = (short)context.IngressPort;
            state.PeerKeys = (short)context.Metadata.PeerKeys;
            state.SendMetadata = true;
            worker.Counters.SessionsMoved++;
            context.Session = handle;
            context.Direction = SessionDirection.Forward;
            return true;
        }

        return false;
    }

    /// <summary>
    /// Rewrites a packet of an SVR session to the tuple of its other side (the waypoint tuple on the way to the
    /// peer, the original tuple on the way out of the fabric), converting ICMP to UDP and back, and inserts
    /// metadata where the handshake asks for it. False (with a reason) when the packet cannot be sent.
    /// </summary>
    public static Verdict Rewrite(ref PacketContext context, PacketWorker worker, ForwardingSnapshot snapshot)
    {
        var sessions = worker.Sessions;
        var handle = context.Session;
        ref var state = ref sessions.Payload(handle);
        var forward = context.Direction == SessionDirection.Forward;
        var target = forward ? sessions.ReverseKey(handle).Reversed() : sessions.ForwardKey(handle).Reversed();
        var ip = context.Room[context.NetworkOffset..];
        if (context.IsIcmpError)
        {
            return TranslateError(ref context, state, worker, snapshot, leavesToPeer: (state.Svr == SvrRole.Ingress) == forward, target);
        }

        var current = context.Key.Protocol;
        if (current == IpProtocol.Icmp && target.Protocol == IpProtocol.Udp)
        {
            if (context.IpLength + UdpDatagram.HeaderLength > ip.Length)
            {
                return context.Fail(DropReason.TooBig);
            }

            context.IpLength = IcmpToUdp(ip, context.IpLength, target);
        }
        else if (current == IpProtocol.Udp && target.Protocol == IpProtocol.Icmp)
        {
            context.IpLength = UdpToIcmp(ip, context.IpLength, target);
        }
        else
        {
            Retarget(ip[..context.IpLength], current, target);
        }

        var leavesToPeer = state.Svr == SvrRole.Transit || (state.Svr == SvrRole.Ingress) == forward;
        if (leavesToPeer)
        {
            var keys = snapshot.Runtimes.PeerKeys[KeysToward(state, sessions, handle, forward, snapshot)];
            if (state.Sealed && !keys.HasKeys)
            {
                // Fail closed: keys went away under an encrypted session; nothing leaves in clear.
                return context.Fail(DropReason.NoPeerKeys);
            }

            if (state.OriginalProtocol == IpProtocol.Tcp && (context.TcpFlags & (byte)TcpFlags.Syn) != 0)
            {
                ClampMss(ref context, ref state, worker, snapshot, ip);
            }

            var blockLength = Signal(ref context, ref state, worker, snapshot, forward, ip, keys.HasKeys ? keys.SecurityId : 0);
            if (blockLength < 0)
            {
                return Verdict.Drop;
            }

            if (state.Sealed || (blockLength > MetadataBlock.BareLength && keys.HasKeys))
            {
                var verdict = Seal(ref context, worker, keys, ip, blockLength, state.Sealed);
                if (verdict != Verdict.Continue)
                {
                    return verdict;
                }
            }
        }

        context.Frame = context.Room[..(context.NetworkOffset + context.IpLength)];
        return context.LargestPacketLength > worker.Ports[context.EgressPort].Mtu ? context.Fail(DropReason.TooBig) : Verdict.Forward;
    }

    /// <summary>
    /// Carries an ICMP error about a packet of an SVR session on, as a NAT would (RFC 5508), to the other side of the
    /// session: the outer header goes from <paramref name="target"/>'s source to its destination, and the packet it
    /// quotes (which travelled the other way) is given the tuple that packet had on this side. So an error from
    /// beyond the egress (or by the egress) about a client's packet crosses to the ingress as an error about the
    /// waypoint packet, and the ingress turns an error about a waypoint packet (from the egress, or from a router
    /// between the two) into one from the service address about the client's own packet. On the way to the client a
    /// fragmentation-needed MTU is lowered by what SVR adds to each packet of the session.
    /// </summary>
    private static Verdict TranslateError(ref PacketContext context, in SessionState state, PacketWorker worker, ForwardingSnapshot snapshot, bool leavesToPeer, in SessionKey target)
    {
        if (state.OriginalProtocol == IpProtocol.Icmp)
        {
            return context.Fail(DropReason.IcmpErrorNotCarried);
        }

        var ip = context.Room.Slice(context.NetworkOffset, context.IpLength);
        Ipv4Packet.TryCreate(ip, out var outer);
        outer.RewriteSource((uint)target.Source);
        outer.RewriteDestination((uint)target.Destination);
        var icmp = outer.Payload;
        if (!Ipv4Packet.TryCreateQuoted(icmp[Icmpv4Packet.HeaderLength..], out var quoted, out _) || quoted.Payload.Length < 4)
        {
            return context.Fail(DropReason.Malformed);
        }

        quoted.Source = (uint)target.Destination;
        quoted.Destination = (uint)target.Source;
        quoted.UpdateHeaderChecksum();
        BinaryPrimitives.WriteUInt16BigEndian(quoted.Payload, target.DestinationPort);
        BinaryPrimitives.WriteUInt16BigEndian(quoted.Payload[2..], target.SourcePort);
        if (!leavesToPeer && icmp[0] == Icmpv4Type.DestinationUnreachable && icmp[1] == Icmpv4Code.FragmentationNeeded)
        {
            var mtu = BinaryPrimitives.ReadUInt16BigEndian(icmp[6..]);
            BinaryPrimitives.WriteUInt16BigEndian(icmp[6..], (ushort)Math.Max(MinimumIpv4Mtu, mtu - GrowthToPeer(snapshot, state)));
        }

        Icmpv4Packet.TryCreate(icmp, out var message);
        message.UpdateChecksum();
        context.Frame = context.Room[..(context.NetworkOffset + context.IpLength)];
        return context.IpLength > worker.Ports[context.EgressPort].Mtu ? context.Fail(DropReason.TooBig) : Verdict.Forward;
    }

    /// <summary>The smallest MTU an IPv4 link may have (RFC 791): a lowered MTU never goes below it.</summary>
    private const int MinimumIpv4Mtu = 68;

    /// <summary>
    /// The octets a packet of the session may gain on its way to the peer once the handshake is done: the sealed
    /// trailer when the session is encrypted; for a ping, its UDP header and metadata (pings always carry it). A
    /// packet bigger than the path MTU less this is answered with fragmentation-needed by the egress stage.
    /// </summary>
    public static int GrowthToPeer(ForwardingSnapshot snapshot, in SessionState state) =>
        state.OriginalProtocol == IpProtocol.Icmp ? UdpDatagram.HeaderLength + MaxOverhead(snapshot, state)
        : state.Sealed ? PacketSealer.TrailerLength
        : 0;

    /// <summary>
    /// The most octets SVR may add to one packet of the session between the routers: the largest metadata block
    /// either side writes (the forward block: SecurityId, forward context, session id, tenant, service, source router
    /// and, through a transit, destination router, each router name as long as the longest) plus the sealed trailer.
    /// </summary>
    public static int MaxOverhead(ForwardingSnapshot snapshot, in SessionState state) =>
        MetadataBlock.BaseLength
        + (MetadataBlock.TlvHeaderLength * 7) + sizeof(uint) + MetadataContext.Ipv4Length + 16
        + snapshot.TenantsUtf8[state.Tenant].Length + snapshot.ServicesUtf8[state.Service].Length + (2 * snapshot.LongestRouterNameUtf8)
        + PacketSealer.TrailerLength;

    /// <summary>
    /// Lowers the MSS option of a SYN (or SYN-ACK) leaving to the peer so that a full-size segment still fits the
    /// egress MTU when it carries metadata and a trailer (a re-signalled or encrypted segment is never too big).
    /// </summary>
    private static void ClampMss(ref PacketContext context, ref SessionState state, PacketWorker worker, ForwardingSnapshot snapshot, Span<byte> ip)
    {
        var transportAt = context.TransportOffset - context.NetworkOffset;
        var mss = worker.Ports[context.EgressPort].Mtu - transportAt - TcpSegment.MinHeaderLength - MaxOverhead(snapshot, state);
        if (mss > 0 && TcpSegment.TryCreate(ip[transportAt..context.IpLength], out var tcp))
        {
            tcp.TryClampMaximumSegmentSize((ushort)mss);
        }
    }

    /// <summary>Gives back the waypoint ports an ingress session held.</summary>
    public static void Ended(ForwardingSnapshot snapshot, in SessionState state)
    {
        if (state.Svr is SvrRole.Ingress or SvrRole.Transit)
        {
            snapshot.Runtimes.Waypoints[state.WaypointPool].Release(state.LocalWaypointPort, state.PeerWaypointPort);
        }
    }

    /// <summary>
    /// Inserts metadata (forward from the ingress, reverse from the egress) when the handshake asks for it, or a
    /// bare block before a payload that starts with the cookie. With keys the header section names the epoch
    /// (<paramref name="securityId"/>, TLV 16) the packet is sealed with. Returns the octets inserted, or −1 on a drop.
    /// </summary>
    private static int Signal(ref PacketContext context, ref SessionState state, PacketWorker worker, ForwardingSnapshot snapshot, bool forward, Span<byte> ip, uint securityId)
    {
        var syn = state.OriginalProtocol == IpProtocol.Tcp && (context.TcpFlags & (byte)(TcpFlags.Syn | TcpFlags.Ack)) == (byte)TcpFlags.Syn;
        var transit = state.Svr == SvrRole.Transit;
        var signal = transit ? context.Metadata.Present : state.SendMetadata || syn || state.OriginalProtocol == IpProtocol.Icmp;
        var block = worker.MetadataScratch.AsSpan();
        var length = 0;
        if (signal)
        {
            if (!WriteBlock(state, worker, snapshot, ref context, forward, securityId, announce: transit && context.Metadata.Announcement, block, out length))
            {
                context.Fail(DropReason.MetadataMismatch);
                return -1;
            }

            var trailer = securityId != 0 || state.Sealed ? PacketSealer.TrailerLength : 0;
            if (!transit && state.OriginalProtocol == IpProtocol.Udp && context.IpLength + length + trailer > worker.Ports[context.EgressPort].Mtu)
            {
                // Too big to carry its metadata as well: the metadata goes ahead alone, the datagram follows without.
                if (!Announce(ref context, state, worker, snapshot, forward, ip, securityId))
                {
                    return -1;
                }

                signal = false;
            }
        }

        if (!signal)
        {
            var payloadAt = context.TransportOffset - context.NetworkOffset + TransportHeaderLength(ip, context.TransportOffset - context.NetworkOffset);
            if (!MetadataInsertion.NeedsBareBlock(ip[payloadAt..context.IpLength]))
            {
                return 0;
            }

            MetadataBlock.TryWriteBare(block);
            length = MetadataBlock.BareLength;
        }

        if (!TransportChecksumValid(ip[..context.IpLength]))
        {
            // Inserting recomputes the checksum: a damaged packet must not leave whole.
            context.Fail(DropReason.BadChecksum);
            return -1;
        }

        if (!MetadataInsertion.TryInsert(ip, context.IpLength, block[..length], out var grown))
        {
            context.Fail(DropReason.TooBig);
            return -1;
        }

        context.IpLength = grown;
        return length;
    }

    /// <summary>
    /// Writes the session's metadata block: forward (context, session id, tenant, service, source router, and the
    /// destination router through a transit) or reverse (context, session id, sessions in service); with
    /// <paramref name="announce"/> also the keepalive control, which marks a packet that carries nothing but the
    /// metadata. A transit relays: the contexts and the sessions in service are those the packet in hand came with.
    /// </summary>
    private static bool WriteBlock(
        in SessionState state, PacketWorker worker, ForwardingSnapshot snapshot, ref PacketContext context, bool forward, uint securityId, bool announce, Span<byte> block, out int length)
    {
        var sessions = worker.Sessions;
        var handle = context.Session;
        ref var received = ref context.Metadata;
        var relay = state.Svr == SvrRole.Transit;
        var writer = new MetadataWriter(block);
        writer.BeginHeader();
        if (securityId != 0)
        {
            writer.AddU32(MetadataTlvType.SecurityId, securityId);
        }

        writer.BeginPayload();
        Span<byte> id = stackalloc byte[16];
        BinaryPrimitives.WriteUInt64BigEndian(id, 0);
        BinaryPrimitives.WriteUInt64BigEndian(id[8..], state.SessionId);
        var written = forward
            ? (relay
                  ? received.HasForwardContext && AddContext(ref writer, received.ForwardContext, reverse: false)
                  : AddContext(ref writer, sessions.ForwardKey(handle), reverse: false))
              && writer.AddTlv(MetadataTlvType.SessionId, id)
              && writer.AddTlv(MetadataTlvType.Tenant, snapshot.TenantsUtf8[state.Tenant])
              && writer.AddTlv(MetadataTlvType.Service, snapshot.ServicesUtf8[state.Service])
              && writer.AddTlv(MetadataTlvType.SourceRouter, snapshot.RouterUtf8)
              && AddDestinationRouter(ref writer, state, snapshot)
            : (relay
                  ? !received.HasReverseContext || AddContext(ref writer, received.ReverseContext, reverse: true)
                  : AddContext(ref writer, sessions.ReverseKey(handle), reverse: true))
              && writer.AddTlv(MetadataTlvType.SessionId, id)
              && (relay
                  ? !received.HasSessionsInService || writer.AddU64(MetadataTlvType.SessionsInService, (ulong)received.SessionsInService)
                  : writer.AddU64(MetadataTlvType.SessionsInService, (ulong)snapshot.Runtimes[state.Runtime].Admission.Active));
        if (written && announce)
        {
            written = writer.AddU8(MetadataTlvType.Control, (byte)MetadataControl.Keepalive);
        }

        length = 0;
        return written && writer.Finish(out length);
    }

    /// <summary>
    /// Names the destination router (TLV 17) in an ingress's forward metadata when the session's path leads to a transit
    /// peer rather than to the router hosting the instance (the session's slot in <see cref="ServiceEntry.PeerRouters"/>).
    /// </summary>
    private static bool AddDestinationRouter(ref MetadataWriter writer, in SessionState state, ForwardingSnapshot snapshot)
    {
        if (state.Svr != SvrRole.Ingress || (uint)state.Service >= (uint)snapshot.Services.Length)
        {
            return true;
        }

        var entry = snapshot.Services[state.Service];
        if (entry.Runtime.Id != state.Runtime || (uint)state.Instance >= (uint)entry.PeerRouters.Length)
        {
            return true;
        }

        var path = PathOfPool(snapshot.PeerPaths, state.WaypointPool);
        return path is null || path.PeerRouter == entry.PeerRouters[state.Instance]
            || writer.AddTlv(MetadataTlvType.DestinationRouter, entry.PeerRoutersUtf8[state.Instance]);
    }

    /// <summary>
    /// Sends the session's metadata ahead of a UDP datagram too big to carry it: a datagram on the same waypoint
    /// tuple whose payload is only the block (with the keepalive control), sealed like any metadata when the path
    /// has keys. The receiver takes the metadata and delivers nothing; the datagram follows without metadata.
    /// </summary>
    private static bool Announce(ref PacketContext context, in SessionState state, PacketWorker worker, ForwardingSnapshot snapshot, bool forward, Span<byte> ip, uint securityId)
    {
        var sessions = worker.Sessions;
        var nextHop = forward ? sessions.ReverseKey(context.Session).Source : sessions.ForwardKey(context.Session).Source;
        var frame = worker.Scratch.AsSpan();
        var announcement = frame[EthernetFrame.UntaggedHeaderLength..];
        var headerLength = (ip[0] & 0x0F) * 4;
        var bareLength = headerLength + UdpDatagram.HeaderLength;
        ip[..bareLength].CopyTo(announcement);
        BinaryPrimitives.WriteUInt16BigEndian(announcement[Ipv4Packet.TotalLengthOffset..], (ushort)bareLength);
        BinaryPrimitives.WriteUInt16BigEndian(announcement[(headerLength + UdpDatagram.LengthOffset)..], UdpDatagram.HeaderLength);
        Ipv4Packet.TryCreate(announcement[..bareLength], out var v4);
        v4.UpdateHeaderChecksum();
        UdpDatagram.TryCreate(v4.Payload, out var udp);
        udp.UpdateChecksum(v4.PseudoHeaderSum());
        var block = worker.MetadataScratch.AsSpan();
        if (!WriteBlock(state, worker, snapshot, ref context, forward, securityId, announce: true, block, out var length)
            || !MetadataInsertion.TryInsert(announcement, bareLength, block[..length], out var grown))
        {
            context.Fail(DropReason.MetadataMismatch);
            return false;
        }

        var side = new PacketContext(frame, frame, context.EgressPort, context.Now)
        {
            NetworkOffset = EthernetFrame.UntaggedHeaderLength,
            TransportOffset = EthernetFrame.UntaggedHeaderLength + headerLength,
            IpLength = grown,
        };
        var keys = snapshot.Runtimes.PeerKeys[state.PeerKeys];
        if ((securityId != 0 || state.Sealed) && Seal(ref side, worker, keys, announcement, length, state.Sealed) != Verdict.Continue)
        {
            context.Fail(side.Drop);
            return false;
        }

        worker.Ports[context.EgressPort].Mac.Write(frame[EthernetFrame.SourceOffset..]);
        BinaryPrimitives.WriteUInt16BigEndian(frame[EthernetFrame.TypeOffset..], EtherType.Ipv4);
        frame = frame[..(EthernetFrame.UntaggedHeaderLength + side.IpLength)];
        worker.Counters.MetadataAnnouncements++;
        if (worker.Neighbors.TryGet(context.EgressPort, nextHop, out var mac))
        {
            mac.Write(frame);
            worker.SendOwn(context.EgressPort, frame);
            return true;
        }

        // The peer's MAC is being asked for: the announcement waits, and the datagram waits behind it (in order).
        switch (worker.Neighbors.Hold(context.EgressPort, nextHop, frame))
        {
            case null:
                context.Fail(DropReason.NeighborUnresolved);
                return false;
            case true:
                EgressStage.Resolve(worker, snapshot.Ports[context.EgressPort], context.EgressPort, isIpv6: false, nextHop);
                break;
        }

        return true;
    }

    /// <summary>
    /// Seals the packet with the peer path's current epoch: the original payload is encrypted in place (or, for
    /// metadata of a session that is not encrypted, only authenticated) and the 24-octet trailer appended. The
    /// associated data is the outer tuple and the whole metadata block.
    /// </summary>
    private static Verdict Seal(ref PacketContext context, PacketWorker worker, PeerPathKeys keys, Span<byte> ip, int blockLength, bool encrypt)
    {
        if (context.IpLength + PacketSealer.TrailerLength > ip.Length)
        {
            return context.Fail(DropReason.TooBig);
        }

        if (blockLength == 0 && !TransportChecksumValid(ip[..context.IpLength]))
        {
            return context.Fail(DropReason.BadChecksum);
        }

        var transportAt = context.TransportOffset - context.NetworkOffset;
        var payloadAt = transportAt + TransportHeaderLength(ip, transportAt) + blockLength;
        var associated = AssociatedData(worker, ip, transportAt, blockLength);
        var trailer = ip.Slice(context.IpLength, PacketSealer.TrailerLength);
        var protection = encrypt ? PayloadProtection.Encrypt : PayloadProtection.IntegrityOnly;
        if (keys.Seal(associated, ip[payloadAt..context.IpLength], trailer, protection) == 0
            || !MetadataInsertion.TryResizeTail(ip, context.IpLength, PacketSealer.TrailerLength, out var sealedLength))
        {
            return context.Fail(DropReason.NoPeerKeys);
        }

        context.IpLength = sealedLength;
        return Verdict.Continue;
    }

    /// <summary>
    /// The bytes a sealed packet's tag covers besides its payload: outer source, destination, source port,
    /// destination port, protocol (13 octets; what must not change between the two routers) and the metadata block.
    /// </summary>
    private static ReadOnlySpan<byte> AssociatedData(PacketWorker worker, Span<byte> ip, int transportAt, int blockLength)
    {
        var scratch = worker.AssociatedScratch.AsSpan();
        ip.Slice(Ipv4Packet.SourceOffset, 8).CopyTo(scratch);
        ip.Slice(transportAt, 4).CopyTo(scratch[8..]);
        scratch[12] = ip[Ipv4Packet.ProtocolOffset];
        var blockAt = transportAt + TransportHeaderLength(ip, transportAt);
        ip.Slice(blockAt, blockLength).CopyTo(scratch[13..]);
        return scratch[..(13 + blockLength)];
    }

    /// <summary>True when the TCP or UDP checksum of the IPv4 packet verifies (a UDP checksum of 0 means none).</summary>
    private static bool TransportChecksumValid(Span<byte> ip)
    {
        Ipv4Packet.TryCreate(ip, out var v4);
        return v4.Protocol switch
        {
            IpProtocol.Tcp => TcpSegment.TryCreate(v4.Payload, out var tcp) && tcp.IsChecksumValid(v4.PseudoHeaderSum()),
            IpProtocol.Udp => UdpDatagram.TryCreate(v4.Payload, out var udp) && (!udp.HasChecksum || udp.IsChecksumValid(v4.PseudoHeaderSum())),
            _ => true,
        };
    }

    private static bool AddContext(ref MetadataWriter writer, in SessionKey key, bool reverse) => reverse
        ? writer.AddReverseContextV4((uint)key.Source, (uint)key.Destination, key.SourcePort, key.DestinationPort, key.Protocol)
        : writer.AddForwardContextV4((uint)key.Source, (uint)key.Destination, key.SourcePort, key.DestinationPort, key.Protocol);

    private static int TransportHeaderLength(Span<byte> ip, int transportAt) =>
        ip[Ipv4Packet.ProtocolOffset] == IpProtocol.Tcp ? (ip[transportAt + 12] >> 4) * 4 : UdpDatagram.HeaderLength;

    /// <summary>Reads the payload TLVs a session needs; a known TLV twice or of the wrong length is malformed.</summary>
    private static DropReason Read(ReadOnlySpan<byte> payloadTlvs, ForwardingSnapshot snapshot, ref ReceivedMetadata metadata)
    {
        var seen = 0UL;
        foreach (var (type, value) in new MetadataTlvEnumerator(payloadTlvs))
        {
            if ((ushort)type < 64)
            {
                var bit = 1UL << (int)type;
                if ((seen & bit) != 0)
                {
                    return DropReason.MetadataMalformed;
                }

                seen |= bit;
            }

            switch (type)
            {
                case MetadataTlvType.ForwardContextV4:
                    if (!MetadataContext.TryParse(value, out var context) || context.IsIpv6)
                    {
                        return DropReason.MetadataMalformed;
                    }

                    metadata.HasForwardContext = true;
                    metadata.ForwardContext = context.Key;
                    break;
                case MetadataTlvType.ForwardContextV6:
                    // Waypoint sessions carry IPv4 clients only.
                    return DropReason.MetadataMismatch;
                case MetadataTlvType.ReverseContextV4 or MetadataTlvType.ReverseContextV6:
                    metadata.HasReverseContext = true;
                    if (MetadataContext.TryParse(value, out var reverseContext) && !reverseContext.IsIpv6)
                    {
                        metadata.ReverseContext = reverseContext.Key;
                    }

                    break;
                case MetadataTlvType.DestinationRouter:
                    if (!value.SequenceEqual(snapshot.RouterUtf8))
                    {
                        metadata.RoutedOnward = true;
                        metadata.OnwardPath = UsablePathTo(snapshot.PeerPaths, value);
                    }

                    break;
                case MetadataTlvType.Tenant:
                    metadata.TenantNamed = true;
                    metadata.Tenant = ForwardingSnapshot.IndexOfUtf8(snapshot.TenantsUtf8, value);
                    break;
                case MetadataTlvType.Service:
                    metadata.ServiceNamed = true;
                    metadata.Service = ForwardingSnapshot.IndexOfUtf8(snapshot.ServicesUtf8, value);
                    break;
                case MetadataTlvType.Control:
                    if (value.Length != 1)
                    {
                        return DropReason.MetadataMalformed;
                    }

                    metadata.Announcement = value[0] == (byte)MetadataControl.Keepalive;
                    break;
                case MetadataTlvType.SessionsInService:
                    if (value.Length != sizeof(ulong))
                    {
                        return DropReason.MetadataMalformed;
                    }

                    metadata.HasSessionsInService = true;
                    metadata.SessionsInService = (long)Math.Min(BinaryPrimitives.ReadUInt64BigEndian(value), long.MaxValue);
                    break;
                case MetadataTlvType.SessionId:
                    if (value.Length != 16)
                    {
                        return DropReason.MetadataMalformed;
                    }

                    metadata.SessionId = BinaryPrimitives.ReadUInt32BigEndian(value[12..]);
                    break;
            }
        }

        return DropReason.None;
    }

    /// <summary>Rewrites addresses and ports of a TCP or UDP packet in place, with incremental checksums.</summary>
    private static void Retarget(Span<byte> ip, byte protocol, in SessionKey target)
    {
        Ipv4Packet.TryCreate(ip, out var v4);
        var oldSource = v4.Source;
        var oldDestination = v4.Destination;
        var newSource = (uint)target.Source;
        var newDestination = (uint)target.Destination;
        v4.RewriteSource(newSource);
        v4.RewriteDestination(newDestination);
        if (protocol == IpProtocol.Tcp && TcpSegment.TryCreate(v4.Payload, out var tcp))
        {
            tcp.AdjustChecksumForAddress(oldSource, newSource);
            tcp.AdjustChecksumForAddress(oldDestination, newDestination);
            tcp.RewriteSourcePort(target.SourcePort);
            tcp.RewriteDestinationPort(target.DestinationPort);
        }
        else if (protocol == IpProtocol.Udp && UdpDatagram.TryCreate(v4.Payload, out var udp))
        {
            udp.AdjustChecksumForAddress(oldSource, newSource);
            udp.AdjustChecksumForAddress(oldDestination, newDestination);
            udp.RewriteSourcePort(target.SourcePort);
            udp.RewriteDestinationPort(target.DestinationPort);
        }
    }

    /// <summary>Wraps an ICMP message in a UDP header to the target tuple; returns the new IP length.</summary>
    private static int IcmpToUdp(Span<byte> ip, int ipLength, in SessionKey target)
    {
        var headerLength = (ip[0] & 0x0F) * 4;
        var message = ipLength - headerLength;
        ip[headerLength..ipLength].CopyTo(ip[(headerLength + UdpDatagram.HeaderLength)..]);
        var length = ipLength + UdpDatagram.HeaderLength;
        var udp = ip[headerLength..length];
        BinaryPrimitives.WriteUInt16BigEndian(udp, target.SourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(udp[2..], target.DestinationPort);
        BinaryPrimitives.WriteUInt16BigEndian(udp[UdpDatagram.LengthOffset..], (ushort)(UdpDatagram.HeaderLength + message));
        Readdress(ip, length, IpProtocol.Udp, target);
        Ipv4Packet.TryCreate(ip[..length], out var v4);
        UdpDatagram.TryCreate(v4.Payload, out var datagram);
        datagram.UpdateChecksum(v4.PseudoHeaderSum());
        return length;
    }

    /// <summary>Unwraps the ICMP message a UDP datagram carries and addresses it to the target tuple; returns the new IP length.</summary>
    private static int UdpToIcmp(Span<byte> ip, int ipLength, in SessionKey target)
    {
        var headerLength = (ip[0] & 0x0F) * 4;
        ip[(headerLength + UdpDatagram.HeaderLength)..ipLength].CopyTo(ip[headerLength..]);
        var length = ipLength - UdpDatagram.HeaderLength;
        Readdress(ip, length, IpProtocol.Icmp, target);
        return length;
    }

    private static void Readdress(Span<byte> ip, int length, byte protocol, in SessionKey target)
    {
        BinaryPrimitives.WriteUInt16BigEndian(ip[Ipv4Packet.TotalLengthOffset..], (ushort)length);
        ip[Ipv4Packet.ProtocolOffset] = protocol;
        BinaryPrimitives.WriteUInt32BigEndian(ip[Ipv4Packet.SourceOffset..], (uint)target.Source);
        BinaryPrimitives.WriteUInt32BigEndian(ip[Ipv4Packet.DestinationOffset..], (uint)target.Destination);
        Ipv4Packet.TryCreate(ip[..length], out var v4);
        v4.UpdateHeaderChecksum();
    }

    internal static long IdleTimeout(ServiceEntry entry, byte protocol) => protocol switch
    {
        IpProtocol.Tcp => entry.IdleTcp,
        IpProtocol.Udp => entry.IdleUdp,
        _ => entry.IdleIcmp,
    };
}
