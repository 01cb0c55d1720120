using Fabric.Dataplane.Forwarding;
using Fabric.Dataplane.Pipeline;
using Fabric.Dataplane.Policing;
using Fabric.Dataplane.Sessions;
using Fabric.Dataplane.Wire;

namespace Fabric.Dataplane.HighAvailability;

/// <summary>
/// Session replication between the two nodes of an HA pair, as the worker that owns the session table runs
/// it (between batches, never per packet): <see cref="Export"/> collects the established sessions seen since
/// the last export, <see cref="Import"/> installs the partner's into this node's table, and
/// <see cref="TakeOver"/> makes a standby node the active one. See docs/high-availability.md.
/// </summary>
public static class SessionReplication
{
    /// <summary>
    /// A session replicates once it has been seen both ways and carried this many packets in all (tunable): a
    /// TCP handshake plus a request and its answer. The original skips sessions under about 12 packets; we
    /// replicate sooner so that a connection idle after its first exchange (a control connection) survives too.
    /// </summary>
    public const int EstablishedPackets = 6;

    /// <summary>Whether a session is established enough to replicate.</summary>
    public static bool IsEstablished(in SessionState state) =>
        state.ForwardPackets > 0 && state.ReversePackets > 0 && state.ForwardPackets + state.ReversePackets >= EstablishedPackets;

    /// <summary>
    /// The established sessions (every live one, when not <paramref name="onlyEstablished"/>: a restart hands over
    /// handshakes too) last seen at or after <paramref name="since"/> (worker ticks; 0: all of them). Visits every slot of
    /// the table once (the table keeps no list of live sessions).
    /// </summary>
    internal static SessionRecord[] Export(PacketWorker worker, ForwardingSnapshot snapshot, long now, long since, bool onlyEstablished = true)
    {
        var sessions = worker.Sessions;
        var records = new List<SessionRecord>();
        for (var handle = 0; handle < sessions.Capacity; handle++)
        {
            if (!sessions.IsLive(handle) || sessions.LastSeen(handle) < since)
            {
                continue;
            }

            ref readonly var state = ref sessions.Payload(handle);
            if (onlyEstablished && !IsEstablished(state))
            {
                continue;
            }

            records.Add(Record(worker.Resources, snapshot, handle, now));
        }

        worker.Counters.SessionsReplicatedOut += records.Count;
        return [.. records];
    }

    /// <summary>Session <paramref name="handle"/> of <paramref name="resources"/>' table as it leaves the process.</summary>
    internal static SessionRecord Record(WorkerResources resources, ForwardingSnapshot snapshot, int handle, long now)
    {
        var sessions = resources.Sessions;
        ref readonly var state = ref sessions.Payload(handle);
        return new SessionRecord
        {
            Forward = sessions.ForwardKey(handle),
            Reverse = sessions.ReverseKey(handle),
            State = state,
            WaypointPath = (short)(state.Svr is SvrRole.Ingress or SvrRole.Transit ? PathOfPool(snapshot.PeerPaths, state.WaypointPool) : -1),
            KeysPath = (short)(state.Svr != SvrRole.None ? PathOfKeys(snapshot.PeerPaths, state.PeerKeys) : -1),
            Tcp = sessions.Tcp(handle).Packed,
            IdleNanoseconds = Nanoseconds(now - sessions.LastSeen(handle), resources.TicksPerSecond),
            ReverseQuietNanoseconds = Nanoseconds(now - state.ReverseSeenAt, resources.TicksPerSecond),
            PinnedInstance = resources.InstancePins.TryGet(handle, state.SessionId, out var pinned) ? pinned : null,
        };
    }

    /// <summary>
    /// Installs the partner's sessions: a session this table has (same keys) is updated; a new one is inserted
    /// with its admission and instance load counted and its waypoint ports taken out of the pool. Records made
    /// under another configuration version than the running one, or that do not fit it, are refused and counted.
    /// </summary>
    internal static SessionImportResult Import(PacketWorker worker, ForwardingSnapshot snapshot, long now, long version, ReadOnlySpan<SessionRecord> records)
    {
        int added = 0, updated = 0, refused = 0;
        var sessions = worker.Sessions;
        foreach (ref readonly var record in records)
        {
            if (version != snapshot.Version)
            {
                worker.Counters.ReplicasRefusedVersion++;
                refused++;
                continue;
            }

            if (!TryState(record, worker, snapshot, now, out var state, out var entry))
            {
                worker.Counters.ReplicasRefusedShape++;
                refused++;
                continue;
            }

            var lastSeen = Math.Max(0, now - Ticks(record.IdleNanoseconds, worker.TicksPerSecond));
            var tcp = TcpTracker.FromPacked(record.Tcp);
            if (sessions.TryFind(record.Forward, out var handle, out var direction)
                && direction == SessionDirection.Forward && sessions.ReverseKey(handle) == record.Reverse)
            {
                ref var existing = ref sessions.Payload(handle);
                // The session keeps what it took from this node's runtimes (admission, load, ports); the rest is the partner's.
                state.Runtime = existing.Runtime;
                state.Instance = existing.Instance;
                state.WaypointPool = existing.WaypointPool;
                state.Bucket = existing.Bucket;
                existing = state;
                Repin(worker.Resources, handle, record);
                sessions.Tcp(handle) = tcp;
                sessions.Touch(handle, lastSeen);
                if (tcp.IsClosed)
                {
                    // Closed there: it lingers here as it does there, then expires.
                    sessions.SetIdleTimeout(handle, (long)(TcpTracker.ClosedLinger.TotalSeconds * worker.TicksPerSecond));
                }

                updated++;
                continue;
            }

            // A key held by another session here (the partner re-keyed it, or reused the tuple): that one is gone there.
            RemoveHolder(worker, snapshot, record.Forward, now);
            RemoveHolder(worker, snapshot, record.Reverse, now);
            if (state.WaypointPool >= 0 && !snapshot.Runtimes.Waypoints[state.WaypointPool].TryTake(state.LocalWaypointPort, state.PeerWaypointPort))
            {
                worker.Counters.ReplicasRefusedShape++;
                refused++;
                continue;
            }

            var idle = tcp.IsClosed
                ? (long)(TcpTracker.ClosedLinger.TotalSeconds * worker.TicksPerSecond)
                : SessionOpening.IdleTimeout(entry, state, record.Forward);
            if (sessions.TryInsert(record.Forward, record.Reverse, state, lastSeen, idle, out handle) != SessionInsertResult.Inserted)
            {
                if (state.WaypointPool >= 0)
                {
                    snapshot.Runtimes.Waypoints[state.WaypointPool].Release(state.LocalWaypointPort, state.PeerWaypointPort);
                }

                worker.Counters.ReplicasRefusedTableFull++;
                refused++;
                continue;
            }

            Installed(worker, snapshot.Runtimes[state.Runtime], handle, tcp);
            Repin(worker.Resources, handle, record);
            added++;
        }

        worker.Counters.SessionsReplicatedIn += added + updated;
        return new SessionImportResult(added, updated, refused);
    }

    /// <summary>
    /// Makes this node the active one: every SVR session re-signals its peer (metadata on its next packets, as
    /// after any peer failover), and every address of the router is announced on its port (see <see cref="Announce"/>).
    /// </summary>
    internal static void TakeOver(PacketWorker worker, ForwardingSnapshot? snapshot)
    {
        worker.IsActive = true;
        worker.Counters.Takeovers++;
        var sessions = worker.Sessions;
        for (var handle = 0; handle < sessions.Capacity; handle++)
        {
            if (sessions.IsLive(handle))
            {
                ref var state = ref sessions.Payload(handle);
                if (state.Svr != SvrRole.None)
                {
                    state.SendMetadata = true;
                }
            }
        }

        if (snapshot is not null)
        {
            Announce(worker, snapshot);
        }
    }

    /// <summary>
    /// Announces each of the router's addresses on its port: a gratuitous ARP request (sender and target our
    /// address, broadcast) per IPv4 address and an unsolicited neighbour advertisement (override flag, to all
    /// nodes) per IPv6 address, so hosts' neighbour caches, bridges' forwarding tables and peer routers'
    /// neighbour tables move to this node's MAC addresses.
    /// </summary>
    internal static void Announce(PacketWorker worker, ForwardingSnapshot snapshot)
    {
        var allNodes = new UInt128(0xff02_0000_0000_0000, 1);
        var allNodesMac = new MacAddress(0x3333_0000_0001);
        for (var port = 0; port < worker.Ports.Length && port < snapshot.Ports.Length; port++)
        {
            var binding = snapshot.Ports[port];
            var mac = worker.Ports[port].Mac;
            foreach (var address in binding.Ipv4Addresses)
            {
                var length = ControlMessages.ArpRequest(worker.Resources.Scratch, mac, address, address);
                worker.Resources.SendOwn(port, worker.Resources.Scratch.AsSpan(0, length));
                worker.Counters.Announcements++;
            }

            foreach (var address in binding.Ipv6Addresses)
            {
                var length = ControlMessages.NeighborAdvertisement(worker.Resources.Scratch, mac, allNodesMac, address, allNodes, solicited: false);
                worker.Resources.SendOwn(port, worker.Resources.Scratch.AsSpan(0, length));
                worker.Counters.Announcements++;
            }
        }
    }

    private static bool TryState(in SessionRecord record, PacketWorker worker, ForwardingSnapshot snapshot, long now, out SessionState state, out ServiceEntry entry)
    {
        state = default;
        entry = null!;
        var paths = snapshot.PeerPaths;
        ref readonly var carried = ref record.State;
        if ((uint)carried.Service >= (uint)snapshot.Services.Length
            || (uint)carried.Tenant >= (uint)snapshot.Tenants.Length
            || (uint)carried.ForwardPort >= (uint)worker.Ports.Length
            || (uint)carried.ReversePort >= (uint)worker.Ports.Length
            || record.WaypointPath >= paths.Length
            || record.KeysPath >= paths.Length
            || carried.Svr > SvrRole.Transit
            || (record.WaypointPath < 0 && carried.Svr is SvrRole.Ingress or SvrRole.Transit))
        {
            return false;
        }

        entry = snapshot.Services[record.State.Service];
        state = record.State;
        state.WaypointPool = (short)(record.WaypointPath >= 0 ? paths[record.WaypointPath].PoolId : -1);
        state.PeerKeys = (short)(record.KeysPath >= 0 ? paths[record.KeysPath].KeysId : 0);
        state.Runtime = entry.Runtime.Id;
        state.Bucket = TokenLevel.Full(entry.Runtime.SessionRate, now);
        state.ReverseSeenAt = now - Ticks(record.ReverseQuietNanoseconds, worker.TicksPerSecond);
        return record.State.Instance < entry.Runtime.Load.Count;
    }

    /// <summary>
    /// A session made elsewhere (the HA partner, the router a client moved from) was just inserted at
    /// <paramref name="handle"/>: it takes its TCP state, its place in the workers' directory, and what it holds of
    /// <paramref name="runtime"/> (an admission, its instance's load).
    /// </summary>
    internal static void Installed(PacketWorker worker, ServiceRuntime runtime, int handle, TcpTracker tcp)
    {
        worker.Sessions.Tcp(handle) = tcp;
        worker.Resources.SessionArrived(handle);
        runtime.Admission.AdmitReplica();
        var instance = worker.Sessions.Payload(handle).Instance;
        if (instance >= 0)
        {
            runtime.Load.OnSessionStart(instance);
        }
    }

    /// <summary>
    /// Session <paramref name="handle"/>, just installed or updated from <paramref name="record"/>, takes the record's pin
    /// (<see cref="SessionRecord.PinnedInstance"/>), so its next re-signal from this node names the instance it followed;
    /// a record without one leaves the slot as it is (a pin this node holds for another session stays).
    /// </summary>
    internal static void Repin(WorkerResources resources, int handle, in SessionRecord record)
    {
        if (record.PinnedInstance is { } instance)
        {
            resources.InstancePins.Pin(handle, resources.Sessions.Payload(handle).SessionId, instance);
        }
    }

    private static void RemoveHolder(PacketWorker worker, ForwardingSnapshot snapshot, in SessionKey key, long now)
    {
        if (worker.Sessions.TryFind(key, out var handle, out _))
        {
            var state = worker.Sessions.Payload(handle);
            var forward = worker.Sessions.ForwardKey(handle);
            var reverse = worker.Sessions.ReverseKey(handle);
            worker.Sessions.Remove(handle);
            SessionOpening.Ended(snapshot, worker.Resources, state);
            worker.Resources.SessionClosed(handle, forward, reverse, state, now);
        }
    }

    private static int PathOfPool(PeerPath[] paths, int pool)
    {
        for (var i = 0; i < paths.Length; i++)
        {
            if (paths[i].PoolId == pool)
            {
                return i;
            }
        }

        return -1;
    }

    private static int PathOfKeys(PeerPath[] paths, int keys)
    {
        for (var i = 0; i < paths.Length; i++)
        {
            if (paths[i].KeysId == keys)
            {
                return i;
            }
        }

        return -1;
    }

    private static long Nanoseconds(long ticks, long ticksPerSecond) => (long)(Math.Max(0, ticks) * (1e9 / ticksPerSecond));

    internal static long Ticks(long nanoseconds, long ticksPerSecond) => (long)(Math.Max(0, nanoseconds) * (ticksPerSecond / 1e9));
}
