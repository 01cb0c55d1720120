using Fabric.Dataplane.Forwarding;
using Fabric.Dataplane.HighAvailability;
using Fabric.Dataplane.Policing;
using Fabric.Dataplane.Sessions;
using Fabric.Dataplane.Svr;
using Fabric.Dataplane.Wire;

namespace Fabric.Dataplane.Pipeline;

// A client that moves to another router (docs/mobility.md "A client moves"): its old ingress gives up the client's
// sessions as SessionRecords (GiveUpClient) and its new ingress takes them on its own paths to the same hosting routers
// (TakeClient); the egress adopts each from its metadata (TryAdoptMoved). Both run on the worker between batches.
public static partial class SvrStage
{
    /// <summary>
    /// How long a router holds the sessions of a client that a configuration moved to another router, for that router to
    /// fetch (tunable: the time the configuration takes to reach both routers and the new one's request to come back).
    /// </summary>
    public static readonly TimeSpan ClientHandOverHold = TimeSpan.FromSeconds(15);

    /// <summary>
    /// How long after a client arrives its packets without a session that open no TCP connection (mid-flow TCP, UDP, ICMP
    /// echo) are dropped rather than reset or opening a session (<see cref="DropReason.ClientArriving"/>), while its
    /// sessions come from the router it left (tunable: a hand-over between two routers that hear each other takes tens of
    /// milliseconds; TCP's first retransmission comes after 0.2 s; a new UDP flow of the client waits as long at most).
    /// </summary>
    public static readonly TimeSpan ClientArrivalGrace = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Whether the session is an SVR ingress session, not closed, whose client (forward source) <paramref name="next"/>
    /// lists under another router: the client moved there and the session goes with it.
    /// </summary>
    internal static bool ClientMovedAway(ForwardingSnapshot next, in SessionState state, in SessionKey forward, in TcpTracker tcp) =>
        state.Svr == SvrRole.Ingress && !tcp.IsClosed
        && next.RouterOfContainer.TryGetValue(new ClientAddress(forward.Source, forward.IsIpv6), out var router) && router != next.Router;

    /// <summary>
    /// Takes session <paramref name="handle"/> (already bound to <paramref name="next"/>) out of the table without a reset,
    /// gives back what it held to <paramref name="admittedBy"/>'s runtimes, and holds it as a record, its tenant and service
    /// by name, in <see cref="WorkerResources.MovedClients"/> for the router its client moved to.
    /// </summary>
    internal static void HoldForNewRouter(ForwardingSnapshot admittedBy, ForwardingSnapshot next, WorkerResources resources, int handle, long now)
    {
        var record = SessionReplication.Record(resources, next, handle, now);
        var state = resources.Sessions.Payload(handle);
        resources.RemoveSession(handle);
        SessionOpening.Ended(admittedBy, resources, state);
        resources.MovedClients.Hold(record, next.Tenants[state.Tenant], next.Services[state.Service].Name, now);
        resources.Counters.SessionsMoved++;
    }

    /// <summary>
    /// Ends the hold of the sessions (<see cref="HoldForNewRouter"/>) whose client <paramref name="snapshot"/>, which the
    /// worker has just bound, lists under this router again: a later commit moved the client back before the router it had
    /// gone to fetched them. Each goes on here as that router would have taken it (<see cref="TryTakeClientSession"/>: its
    /// session id, original tuple, tenant and service by name and TCP state, on this router's path to the hosting router it
    /// used, new waypoint ports from this worker's lane, metadata on its next forward packets, so the egress adopts it on the
    /// new waypoint tuple as after a path failover), without a reset, and not counted again in
    /// <see cref="WorkerCounters.SessionsMoved"/>: the hold counted its move once. One that <paramref name="snapshot"/> no longer allows
    /// (or that finds no path, ports or room) is forgotten and counted in <see cref="WorkerCounters.ReplicasRefusedShape"/>.
    /// The other router is given none of them: its request is refused where the configuration is checked
    /// (<c>ClientHandOver.Refusal</c>), and <see cref="GiveUpClient"/> gives up no session of a client placed here.
    /// Between batches, on the worker's thread; allocates only when a held client came back.
    /// </summary>
    internal static void ResumeReturnedClients(PacketWorker worker, ForwardingSnapshot snapshot, long now)
    {
        if (worker.Resources.MovedClients.TakeReturned(snapshot) is not { } returned)
        {
            return;
        }

        foreach (var (record, tenant, service) in returned)
        {
            if (!TryTakeClientSession(worker, snapshot, now, tenant, service, record))
            {
                worker.Counters.ReplicasRefusedShape++;
            }
        }
    }

    /// <summary>
    /// The sessions of <paramref name="clients"/> for the router they moved to, as records with their tenant and service
    /// by name, removed from this router without a reset: those held since the worker bound the configuration that moved
    /// them (<see cref="HoldForNewRouter"/>), and any SVR ingress session of theirs still live whose client
    /// <paramref name="snapshot"/> lists under another router (their waypoint ports, admission and load given back). A
    /// client it lists under this router keeps its sessions here, whoever asks: a later commit moved it back
    /// (<see cref="ResumeReturnedClients"/>), which the asker, checked against an earlier configuration, may not know yet.
    /// Closed TCP sessions are left to linger out here. The worker has bound <paramref name="snapshot"/>.
    /// </summary>
    internal static List<(SessionRecord Record, string Tenant, string Service)> GiveUpClient(PacketWorker worker, ForwardingSnapshot snapshot, long now, ClientAddress[] clients)
    {
        var sessions = worker.Sessions;
        var records = new List<(SessionRecord Record, string Tenant, string Service)>();
        var resources = worker.Resources;
        resources.MovedClients.Take(clients, records, now, (long)(ClientHandOverHold.TotalSeconds * worker.TicksPerSecond));
        var held = records.Count;
        for (var handle = 0; handle < sessions.Capacity; handle++)
        {
            if (!sessions.IsLive(handle) || !ClientMovedAway(snapshot, sessions.Payload(handle), sessions.ForwardKey(handle), sessions.Tcp(handle))
                || Array.IndexOf(clients, new ClientAddress(sessions.ForwardKey(handle).Source, sessions.ForwardKey(handle).IsIpv6)) < 0)
            {
                continue;
            }

            var state = sessions.Payload(handle);
            records.Add((SessionReplication.Record(resources, snapshot, handle, now), snapshot.Tenants[state.Tenant], snapshot.Services[state.Service].Name));
            resources.RemoveSession(handle);
            SessionOpening.Ended(snapshot, resources, state);
        }

        worker.Counters.SessionsMoved += records.Count - held;
        return records;
    }

    /// <summary>
    /// Installs sessions another router gave up (<see cref="GiveUpClient"/>) for a client that now reaches the fabric on
    /// one of this router's links: each an ingress session with the record's original tuple (of either family), session
    /// id, tenant, service and TCP state, re-homed on this router's path to the hosting router it used (the one owning the
    /// record's peer waypoint address; else a path chosen as for a new session), its waypoints of that path's family
    /// whatever the record's were, with new waypoint ports from that path's pool and
    /// metadata on its next forward packets, so the egress adopts it on the new waypoint tuple. The record's tenant and
    /// service are found by name in <paramref name="snapshot"/> (<paramref name="given"/>'s lists), so records made under
    /// another configuration version are taken when this one still allows them. A record this router cannot carry is
    /// refused and counted: the client not listed under this router or not on one of its links, a tenant other than the
    /// one this router gives the client's packets (the record's tenant is the client's at the router it left), its tenant or service gone,
    /// the tenant no longer reaching the service or the destination no longer the service's in the tenant's view, an
    /// unsealed session of a service that now requires encryption (<see cref="SessionRebinding.Allows"/>, the check every
    /// live session meets at a commit), no path, no waypoint ports, a full table, a tuple already in use.
    /// </summary>
    internal static SessionImportResult TakeClient(PacketWorker worker, ForwardingSnapshot snapshot, long now, ClientSessionRecords given, ReadOnlySpan<SessionRecord> records)
    {
        int added = 0, refused = 0;
        foreach (ref readonly var record in records)
        {
            if (TryTakeClientSession(worker, snapshot, now, given.TenantOf(record), given.ServiceOf(record), record))
            {
                worker.Counters.SessionsMoved++;
                added++;
            }
            else
            {
                worker.Counters.ReplicasRefusedShape++;
                refused++;
            }
        }

        return new SessionImportResult(added, 0, refused);
    }

    /// <summary>
    /// Installs <paramref name="record"/>, of tenant <paramref name="tenantName"/> and service <paramref name="serviceName"/>
    /// (null: unknown), as an ingress session of this worker when <paramref name="snapshot"/> lists its client under this
    /// router and still allows it (see <see cref="TakeClient"/>); false, nothing installed, when not. Counts nothing: a
    /// record taken from another router is a move (<see cref="TakeClient"/> counts it), a held one resumed here was counted
    /// when it was held.
    /// </summary>
    private static bool TryTakeClientSession(PacketWorker worker, ForwardingSnapshot snapshot, long now, string? tenantName, string? serviceName, in SessionRecord record)
    {
        var forward = record.Forward;
        var carried = record.State;
        var clientPort = ClientPort(snapshot, forward);
        var tenant = tenantName is not null ? snapshot.TenantIndex(tenantName) : -1;
        var service = serviceName is not null ? snapshot.ServiceIndex(serviceName) : -1;
        carried.Tenant = (short)tenant;
        carried.Service = (short)service;
        if (carried.Svr != SvrRole.Ingress || carried.IsIpv6 != forward.IsIpv6 || !PeerPath.Carries(carried.OriginalProtocol, forward.IsIpv6)
            || !snapshot.RouterOfContainer.TryGetValue(new ClientAddress(forward.Source, forward.IsIpv6), out var placed) || placed != snapshot.Router
            || clientPort < 0 || clientPort >= worker.Ports.Length
            || snapshot.Classifier.Classify(clientPort, forward.IsIpv6, forward.Source) != tenant
            || !SessionRebinding.Allows(snapshot, carried, forward, tenant, service))
        {
            return false;
        }

        var entry = snapshot.Services[service];
        var path = PathToSameHost(snapshot, entry, record.Reverse.Source, record.Reverse.IsIpv6);
        int slot;
        if (path is null)
        {
            path = PeerPathChoice.ForNewSession(entry, slot: -1, now, snapshot.Runtimes.PeerKeys, out slot);
        }
        else
        {
            slot = entry.SlotOf(path);
        }

        var sessions = worker.Sessions;
        if (path is null || sessions.TryFind(forward, out _, out _)
            || !path.Waypoints.TryAllocate(out var localPort, out var peerPort, worker.Resources.Shard.Index))
        {
            return false;
        }

        var transport = PeerPath.TransportFor(carried.OriginalProtocol);
        var reverse = path.FromPeer(peerPort, localPort, transport);
        var state = carried;
        state.Runtime = entry.Runtime.Id;
        state.Instance = (short)slot;
        RecordWaypoints(ref state, path, localPort, peerPort);
        state.ReversePort = (short)clientPort;
        state.Bucket = TokenLevel.Full(entry.Runtime.SessionRate, now);
        state.ReverseSeenAt = now - SessionReplication.Ticks(record.ReverseQuietNanoseconds, worker.TicksPerSecond);
        var lastSeen = Math.Max(0, now - SessionReplication.Ticks(record.IdleNanoseconds, worker.TicksPerSecond));
        if (sessions.TryInsert(forward, reverse, state, lastSeen, SessionOpening.IdleTimeout(entry, state, forward), out var handle) != SessionInsertResult.Inserted)
        {
            path.Waypoints.Release(localPort, peerPort);
            return false;
        }

        SessionReplication.Installed(worker, entry.Runtime, handle, TcpTracker.FromPacked(record.Tcp));
        SessionReplication.Repin(worker.Resources, handle, record);
        return true;
    }

    /// <summary>The port on whose link <paramref name="forward"/>'s client is, or −1.</summary>
    private static int ClientPort(ForwardingSnapshot snapshot, in SessionKey forward)
    {
        for (var port = 0; port < snapshot.Ports.Length; port++)
        {
            if (snapshot.Ports[port].IsOnLink(forward.Source, forward.IsIpv6))
            {
                return port;
            }
        }

        return -1;
    }

    /// <summary>A usable path of <paramref name="entry"/> to the hosting router that owns <paramref name="peerAddress"/> (of that family); null when none.</summary>
    private static PeerPath? PathToSameHost(ForwardingSnapshot snapshot, ServiceEntry entry, UInt128 peerAddress, bool isIpv6)
    {
        if (!snapshot.TryFindPeer(peerAddress, isIpv6, out var known))
        {
            return null;
        }

        for (var i = 0; i < entry.PeerPaths.Length; i++)
        {
            var path = entry.PeerPaths[i];
            if (path.Health.IsUsable && entry.PeerRouters[entry.PeerPathSlots[i]] == known.PeerRouter)
            {
                return path;
            }
        }

        return null;
    }
}
