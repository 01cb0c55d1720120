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
    /// The SVR ingress sessions whose client (forward source) is one of <paramref name="clients"/>, as records, removed from
    /// this router without a reset (the client now reaches the fabric through another router, which takes them over):
    /// their waypoint ports, admission and load given back. Closed TCP sessions are left to linger out here.
    /// </summary>
    internal static SessionRecord[] GiveUpClient(PacketWorker worker, ForwardingSnapshot snapshot, long now, UInt128[] clients)
    {
        var sessions = worker.Sessions;
        var records = new List<SessionRecord>();
        for (var handle = 0; handle < sessions.Capacity; handle++)
        {
            if (!sessions.IsLive(handle) || sessions.Payload(handle).Svr != SvrRole.Ingress || sessions.Tcp(handle).IsClosed
                || Array.IndexOf(clients, sessions.ForwardKey(handle).Source) < 0)
            {
                continue;
            }

            records.Add(SessionReplication.Record(worker, snapshot, handle, now));
            var state = sessions.Payload(handle);
            worker.Resources.RemoveSession(handle);
            SessionOpening.Ended(snapshot, worker.Resources, state);
        }

        worker.Counters.SessionsMoved += records.Count;
        return [.. records];
    }

    /// <summary>
    /// Installs sessions another router gave up (<see cref="GiveUpClient"/>) for a client that now reaches the fabric on
    /// one of this router's links: each an ingress session with the record's original tuple, session id, tenant, service
    /// and TCP state, re-homed on this router's path to the hosting router it used (the one owning the record's peer
    /// waypoint address; else a path chosen as for a new session), with new waypoint ports from that path's pool and
    /// metadata on its next forward packets, so the egress adopts it on the new waypoint tuple. A record this router cannot
    /// carry (the client not on one of its links, the tenant or service not matching this router's configuration, no path,
    /// no waypoint ports, a full table, a tuple already in use) is refused and counted. Service and tenant indexes are the
    /// configuration's (the same on every router of one version).
    /// </summary>
    internal static SessionImportResult TakeClient(PacketWorker worker, ForwardingSnapshot snapshot, long now, ReadOnlySpan<SessionRecord> records)
    {
        int added = 0, refused = 0;
        foreach (ref readonly var record in records)
        {
            if (TryTakeClientSession(worker, snapshot, now, record))
            {
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

    private static bool TryTakeClientSession(PacketWorker worker, ForwardingSnapshot snapshot, long now, in SessionRecord record)
    {
        var forward = record.Forward;
        var carried = record.State;
        var clientPort = ClientPort(snapshot, forward);
        if (carried.Svr != SvrRole.Ingress || forward.IsIpv6 || clientPort < 0 || clientPort >= worker.Ports.Length
            || (uint)carried.Tenant >= (uint)snapshot.Tenants.Length
            || snapshot.FibByTenant[carried.Tenant].Match(forward.IsIpv6, forward.Destination, forward.Protocol, forward.DestinationPort) is var service
            && (service < 0 || service != carried.Service))
        {
            return false;
        }

        var entry = snapshot.Services[service];
        var path = PathToSameHost(snapshot, entry, record.Reverse.Source, record.Reverse.IsIpv6) ?? PeerPathChoice.ForNewSession(entry, slot: -1, now);
        var sessions = worker.Sessions;
        if (path is null || sessions.TryFind(forward, out _, out _)
            || !path.Waypoints.TryAllocate(out var localPort, out var peerPort, worker.Resources.Shard.Index))
        {
            return false;
        }

        var transport = carried.OriginalProtocol == IpProtocol.Tcp ? IpProtocol.Tcp : IpProtocol.Udp;
        var reverse = path.FromPeer(peerPort, localPort, transport);
        var state = carried;
        state.Runtime = entry.Runtime.Id;
        state.Instance = (short)entry.SlotOf(path);
        state.WaypointPool = (short)path.PoolId;
        state.LocalWaypointPort = localPort;
        state.PeerWaypointPort = peerPort;
        state.ForwardPort = (short)path.Port;
        state.ReversePort = (short)clientPort;
        state.PeerKeys = (short)path.KeysId;
        state.SendMetadata = true;
        state.Unanswered = 0;
        state.Bucket = TokenLevel.Full(entry.Runtime.SessionRate, now);
        state.ReverseSeenAt = now - SessionReplication.Ticks(record.ReverseQuietNanoseconds, worker.TicksPerSecond);
        var lastSeen = Math.Max(0, now - SessionReplication.Ticks(record.IdleNanoseconds, worker.TicksPerSecond));
        if (sessions.TryInsert(forward, reverse, state, lastSeen, SessionOpening.IdleTimeout(entry, state, forward), out var handle) != SessionInsertResult.Inserted)
        {
            path.Waypoints.Release(localPort, peerPort);
            return false;
        }

        SessionReplication.Installed(worker, entry.Runtime, handle, TcpTracker.FromPacked(record.Tcp));
        worker.Counters.SessionsMoved++;
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
