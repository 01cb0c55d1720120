using Fabric.Dataplane.Forwarding;
using Fabric.Dataplane.Io;
using Fabric.Dataplane.Neighbors;
using Fabric.Dataplane.Sessions;
using Fabric.Dataplane.Svr;
using Fabric.Dataplane.Telemetry;

namespace Fabric.Dataplane.Pipeline;

// One worker runs every packet of a batch to completion, in this order:
//
//   rx batch (per port) ─► ParseStage ──► GatewayStage: ARP / ND / echo for the router's own addresses (answered here)
//                                     └─► to a waypoint? SvrStage.Receive: check + strip metadata
//                                         SessionStage: lookup by 5-tuple
//                                            ├─ hit ─► FastPath: TCP state ─► SVR handshake ─► police ─► EgressStage
//                                            ├─ miss, waypoint ► SvrStage.Accept: tenant from metadata ─► access again
//                                            │                   ─► admission ─► load balancer ─► session insert ─► FastPath
//                                            └─ miss ► SlowPath: tenant ─► service ─► access ─► admission
//                                                        ─► load balancer (local) or SvrStage.OpenToPeer (waypoints) ─► session insert ─► FastPath
//   EgressStage: TTL / hop limit ─► MTU ─► NAT (local) or SvrStage.Rewrite (waypoints, metadata) ─► next-hop MAC ─► tx
//
// Every drop has a DropReason and is counted per tenant × service. The worker owns its session
// table, neighbour table and counters; it reads the snapshot once per batch.

/// <summary>
/// Runs the pipeline for the ports it is given, one batch per port per round. The snapshot is
/// read through <see cref="SnapshotSource"/> at the start of each batch, so a swap takes effect
/// between batches and never inside one. Not thread-safe: one thread drives a worker.
/// </summary>
public sealed class PacketWorker
{
    private readonly PacketBatch _batch;
    private ulong _random;

    public PacketWorker(
        IPacketPort[] ports, Func<ForwardingSnapshot> snapshotSource, int sessionCapacity, long ticksPerSecond, ulong seed, int batchSize = 64)
    {
        Ports = ports;
        SnapshotSource = snapshotSource;
        TicksPerSecond = ticksPerSecond;
        // The wheel turns in eighths of a second of the caller's clock: expiry is at most that late.
        Sessions = new SessionTable<SessionState>(sessionCapacity, Math.Max(1, ticksPerSecond / 8), seed);
        Drops = new DropCounters(maxTenants: 256, maxServices: 1024);
        _batch = new PacketBatch(batchSize);
        _random = seed | 1;
    }

    public IPacketPort[] Ports { get; }

    public Func<ForwardingSnapshot> SnapshotSource { get; }

    public long TicksPerSecond { get; }

    public SessionTable<SessionState> Sessions { get; }

    public NeighborTable Neighbors { get; } = new();

    public DropCounters Drops { get; }

    public WorkerCounters Counters { get; } = new();

    /// <summary>Room to build a packet the router sends of its own (replies, ICMP errors, resets).</summary>
    internal byte[] Scratch { get; } = new byte[PacketBuffer.DefaultCapacity];

    /// <summary>Room to build the SVR metadata block a packet carries.</summary>
    internal byte[] MetadataScratch { get; } = new byte[SvrStage.MaxBlockLength];

    /// <summary>Room for a sealed packet's associated data: the outer tuple and its metadata block.</summary>
    internal byte[] AssociatedScratch { get; } = new byte[13 + MetadataBlock.MaxHeaderLength + MetadataBlock.MaxPayloadLength];

    /// <summary>ICMP errors the router sends per second at most (RFC 1812 §4.3.2.8 asks for a limit), and its burst.</summary>
    public const int IcmpErrorsPerSecond = 100;

    private long _icmpErrorTokens = IcmpErrorsPerSecond;
    private long _icmpErrorRefill;

    /// <summary>True when an ICMP error may be sent now (a token bucket of <see cref="IcmpErrorsPerSecond"/>); a refusal is counted.</summary>
    internal bool AllowIcmpError(long now)
    {
        var perToken = Math.Max(1, TicksPerSecond / IcmpErrorsPerSecond);
        if (now - _icmpErrorRefill >= perToken)
        {
            _icmpErrorTokens = Math.Min(IcmpErrorsPerSecond, _icmpErrorTokens + ((now - _icmpErrorRefill) / perToken));
            _icmpErrorRefill = now;
        }

        if (_icmpErrorTokens <= 0)
        {
            Counters.IcmpErrorsSuppressed++;
            return false;
        }

        _icmpErrorTokens--;
        return true;
    }

    /// <summary>The next value of the worker's xorshift generator (seeded: runs are reproducible).</summary>
    internal ulong NextRandom()
    {
        _random ^= _random << 13;
        _random ^= _random >> 7;
        _random ^= _random << 17;
        return _random;
    }

    /// <summary>Receives one batch from each port and runs every packet through. Returns the packets handled.</summary>
    public int RunOnce(long now)
    {
        var handled = 0;
        for (var port = 0; port < Ports.Length; port++)
        {
            _batch.Count = 0;
            if (Ports[port].Receive(_batch) == 0)
            {
                continue;
            }

            var snapshot = SnapshotSource();
            for (var i = 0; i < _batch.Count; i++)
            {
                var buffer = _batch[i];
                Process(buffer.Data, buffer.Length, port, now, snapshot);
                handled++;
            }
        }

        ExpireSessions(now);
        return handled;
    }

    /// <summary>Runs one frame through the pipeline; the frame may be rewritten in place and sent.</summary>
    public Verdict Process(byte[] buffer, int length, int port, long now, ForwardingSnapshot snapshot)
    {
        var context = new PacketContext(buffer.AsSpan(0, length), buffer, port, now);
        Counters.Received++;
        var verdict = ParseStage.Run(ref context);
        if (verdict == Verdict.Continue)
        {
            verdict = GatewayStage.Run(ref context, snapshot, this);
        }

        if (verdict == Verdict.Continue)
        {
            verdict = SessionStage.Run(ref context, snapshot, this);
        }

        if (verdict == Verdict.Forward)
        {
            verdict = EgressStage.Run(ref context, snapshot, this);
        }

        switch (verdict)
        {
            case Verdict.Forward:
                if (Ports[context.EgressPort].Send(context.Frame))
                {
                    Counters.Forwarded++;
                }
                else
                {
                    CountDrop(ref context, DropReason.TransmitFailed);
                }

                break;
            case Verdict.Drop:
                CountDrop(ref context, context.Drop);
                break;
        }

        return verdict;
    }

    internal void CountDrop(ref PacketContext context, DropReason reason)
    {
        Counters.Dropped++;
        Drops.Count(new DropRecord(
            reason, context.Tenant, context.Service, context.Key.Source, context.Key.Destination,
            context.Key.SourcePort, context.Key.DestinationPort, context.Key.Protocol, context.IngressPort, context.Now));
    }

    /// <summary>Sends a frame the router built itself.</summary>
    internal void SendOwn(int port, ReadOnlySpan<byte> frame)
    {
        if (Ports[port].Send(frame))
        {
            Counters.Generated++;
        }
    }

    private readonly ExpiredSession<SessionState>[] _expired = new ExpiredSession<SessionState>[256];

    private void ExpireSessions(long now)
    {
        var count = Sessions.ExpireIdle(now, _expired);
        if (count == 0)
        {
            return;
        }

        var snapshot = SnapshotSource();
        for (var i = 0; i < count; i++)
        {
            SessionStage.Ended(snapshot, _expired[i].Payload);
        }

        Counters.SessionsExpired += count;
    }
}

/// <summary>Packet counts of one worker. One writer; readers may lag a little.</summary>
public sealed class WorkerCounters
{
    public long Received;
    public long Forwarded;
    public long Dropped;
    public long Generated;
    public long SessionsCreated;
    public long SessionsExpired;

    /// <summary>SVR sessions moved to another peer path (ingress) or that took a moved session's new path (egress).</summary>
    public long SessionsMoved;

    /// <summary>Metadata sent ahead alone because the datagram was too big to carry it.</summary>
    public long MetadataAnnouncements;

    /// <summary>ICMP errors the router sent (time exceeded, unreachable, fragmentation needed, packet too big).</summary>
    public long IcmpErrorsSent;

    /// <summary>ICMP errors not sent because the rate limit was reached.</summary>
    public long IcmpErrorsSuppressed;
}
