using System.Runtime.CompilerServices;
using Fabric.Dataplane.Forwarding;
using Fabric.Dataplane.Io;
using Fabric.Dataplane.Neighbors;
using Fabric.Dataplane.Pipeline.Workers;
using Fabric.Dataplane.Sessions;
using Fabric.Dataplane.Svr;
using Fabric.Dataplane.Svr.Security;
using Fabric.Dataplane.Telemetry;
using Fabric.Dataplane.Wire;

namespace Fabric.Dataplane.Pipeline;

// One worker runs every packet of a batch to completion, in this order. Every stage is a static function over the
// packet (ref PacketContext), the batch's snapshot and the worker's WorkerResources (tables, counters, scratch):
//
//   rx batch (per port) ─► ParseStage ──► GatewayStage: ARP / ND / echo for the router's own addresses (answered here),
//                                     │   answers to instance health checks (InstanceProbeStage, consumed here)
//                                     └─► to a waypoint? SvrStage.Receive: check metadata (Svr/SvrStage.Receive.cs)
//                                         SessionStage: lookup by 5-tuple
//                                            ├─ hit ─► SvrStage.Unseal (waypoint) ─► FastPath: TCP state ─► SVR handshake
//                                            │         (SvrStage.Observe, FollowPath) ─► police ─► EgressStage
//                                            ├─ miss, waypoint ► SvrStage.Accept: unseal, tenant from metadata ─► access again
//                                            │                   ─► SessionOpening: InstanceRoute.Egress (PeerRoute.Onward at a transit) ─► FastPath
//                                            └─ miss ► SlowPath: tenant ─► service ─► access
//                                                        ─► SessionOpening: InstanceRoute.Local (PeerRoute.Ingress for a service at a peer) ─► FastPath
//   SessionOpening.Open: admission ─► route: load balancer, instance or peer path + waypoint pair ─► insert ─► load, counters
//   EgressStage: TTL / hop limit ─► MTU ─► NAT (local) or SvrStage.Rewrite (tuple, metadata, seal) ─► next-hop MAC ─► tx
//
// A port's batch is parsed whole first and its sessions are looked up together (SessionLookupBatch: every key hashed,
// its index slot and entry prefetched, then compared, so the batch's cache misses overlap); SessionStage and
// WorkerOwnership take each packet's lookup from it, checked still true after what the packets before it changed.
//
// Every drop has a DropReason and is counted per tenant × service. The worker owns its resources; it reads the
// snapshot once per batch. Before its batches, a worker ends its sessions on instances a health check took down since
// its last round, where the service's resiliency says so (InstanceFailover).
//
// Several workers per router (docs/dataplane.md "Workers"): before SessionStage a worker asks WorkerOwnership.OwnerOf
// which worker owns the packet's session; a packet another worker owns is copied into the HandOffRing to that worker
// (a full ring drops it as HandOffFull) and the owner is woken once the batch is done; a super-packet goes over whole.
// A waypoint packet of no session known by its tuple goes to the worker its metadata's session is on when that session
// moved here from another waypoint tuple (SvrStage.HolderOfMovedSession), else to the worker its port names.
// Each round a worker first runs the frames handed to it, then its own ports' batches.
//
// A super-packet (GSO: up to 64 KiB of one TCP or UDP flow behind one header) goes through the same stages
// whole when its session needs nothing per packet (ProcessSuperPacket: a known session, no metadata to add or
// strip, each segment fits the egress MTU, next hop known; a session that changes family between its
// endpoints and its waypoints has the IP header replaced once, and the offload's TCP type follows); it leaves whole
// with its offload, or cut into packets by SuperPacket.Cut when the egress port cannot take it. An encrypted
// session's leaves cut, each segment sealed on its own at the end (SendSealed), all of them in one flush. A
// super-packet of a session another worker owns is handed to that worker whole. Otherwise it is cut first and every
// packet runs the pipeline alone. Counters count the packets a super-packet stands for.

/// <summary>
/// Runs the pipeline for the ports it is given, one batch per port per round. The snapshot is
/// read through <see cref="SnapshotSource"/> at the start of each batch, so a swap takes effect
/// between batches and never inside one. Not thread-safe: one thread drives a worker.
/// </summary>
public sealed class PacketWorker
{
    private readonly PacketBatch _batch;
    private readonly ParsedHeaders[] _parsed;
    private readonly bool[] _queued;
    private readonly int[] _queuedPorts;
    private int _queuedCount;
    private bool _queueing;
    private HandOffRing?[] _handOffTo = [];
    private HandOffRing[] _handedToMe = [];
    private bool[] _wakeAfterRound = [];
    private Action<int>? _wake;
    private bool _runningHandedOff;

    /// <param name="shard">Which of the router's workers this is and what the workers share; null: the router's only worker.</param>
    public PacketWorker(
        IPacketPort[] ports, Func<ForwardingSnapshot> snapshotSource, int sessionCapacity, long ticksPerSecond, ulong seed, int batchSize = 64,
        int maxSessionsPerTenant = 0, WorkerShard? shard = null)
    {
        Resources = new WorkerResources(ports, sessionCapacity, ticksPerSecond, seed, maxSessionsPerTenant, shard, batchSize);
        _parsed = new ParsedHeaders[batchSize];
        SnapshotSource = snapshotSource;
        _queued = new bool[ports.Length];
        _queuedPorts = new int[ports.Length];
        var takesSuperPackets = false;
        foreach (var port in ports)
        {
            takesSuperPackets |= port.AcceptsSuperPackets;
        }

        // Only a port that hands over super-packets needs 64 KiB buffers.
        _batch = new PacketBatch(batchSize, takesSuperPackets ? PacketBuffer.SuperPacketCapacity : PacketBuffer.DefaultCapacity);
    }

    /// <summary>What this worker owns and hands to its stages: tables, counters, scratch buffers, random source, ICMP error limit.</summary>
    public WorkerResources Resources { get; }

    public IPacketPort[] Ports => Resources.Ports;

    public Func<ForwardingSnapshot> SnapshotSource { get; }

    public long TicksPerSecond => Resources.TicksPerSecond;

    public SessionTable<SessionState> Sessions => Resources.Sessions;

    public NeighborTable Neighbors => Resources.Neighbors;

    public DropCounters Drops => Resources.Drops;

    /// <summary>Forwarded packets, bytes and sessions per tenant × service.</summary>
    public TrafficCounters Traffic => Resources.Traffic;

    /// <summary>Sessions opening and closing, for the control plane to drain (the worker only writes).</summary>
    public SessionEventRing SessionEvents => Resources.SessionEvents;

    public WorkerCounters Counters => Resources.Counters;

    /// <summary>Exceptions stages threw on packets (each packet dropped as <see cref="DropReason.PipelineFault"/>).</summary>
    public PipelineFaults Faults => Resources.Faults;

    /// <summary>
    /// False while the node is the standby of an HA pair: it receives but neither answers nor forwards (each
    /// frame counted in <see cref="WorkerCounters.StandbyIgnored"/>; ARP senders are still learned). True for a
    /// node alone and for the active node of a pair. Written by the worker (see <see cref="Routing.ForwardingEngine.TakeOverAsync"/>)
    /// or before it starts; read by anyone.
    /// </summary>
    public bool IsActive
    {
        get => Volatile.Read(ref _active);
        internal set => Volatile.Write(ref _active, value);
    }

    private bool _active = true;

    /// <summary>
    /// Connects this worker to the router's other workers: <paramref name="to"/>[w] carries frames from this worker to
    /// worker w (null at this worker's own index), <paramref name="from"/> the rings other workers hand frames to this one
    /// through, and <paramref name="wake"/> wakes worker w from its idle wait. Called once, before the worker runs.
    /// </summary>
    public void ConnectHandOff(HandOffRing?[] to, HandOffRing[] from, Action<int> wake)
    {
        ArgumentNullException.ThrowIfNull(to);
        ArgumentNullException.ThrowIfNull(from);
        _handOffTo = to;
        _handedToMe = from;
        _wakeAfterRound = new bool[to.Length];
        _wake = wake;
    }

    /// <summary>Frames other workers handed to this one that wait in its rings (a moment's view).</summary>
    public int HandedOffWaiting
    {
        get
        {
            var waiting = 0;
            foreach (var ring in _handedToMe)
            {
                waiting += ring.Count;
            }

            return waiting;
        }
    }

    /// <summary>
    /// Runs the frames other workers handed to this one, then receives one batch from each port and runs every packet
    /// through; wakes the workers it handed frames to. Returns the packets handled.
    /// </summary>
    public int RunOnce(long now) => RunOnce(now, SnapshotSource());

    /// <summary>
    /// <see cref="RunOnce(long)"/> under <paramref name="running"/>, the snapshot the caller read for this round (and published
    /// as the one this worker runs, so that no runtime it names is removed meanwhile: <see cref="Forwarding.ServiceRuntimes.Prune"/>).
    /// </summary>
    public int RunOnce(long now, ForwardingSnapshot running)
    {
        var snapshot = Bind(running, now);
        FailOver(snapshot, now);
        var handled = RunHandedOff(now, snapshot);
        for (var port = 0; port < Ports.Length; port++)
        {
            _batch.Count = 0;
            if (Ports[port].Receive(_batch) == 0)
            {
                continue;
            }

            if (!_active)
            {
                Standby(port, now);
                continue;
            }

            handled += ProcessBatch(_batch, port, now, snapshot);
        }

        try
        {
            ExpireSessions(now);
        }
        catch (Exception fault) when (fault is not OutOfMemoryException)
        {
            Faults.Record(fault, now);
        }

        for (var worker = 0; worker < _wakeAfterRound.Length; worker++)
        {
            if (_wakeAfterRound[worker])
            {
                _wakeAfterRound[worker] = false;
                _wake!(worker);
            }
        }

        return handled;
    }

    /// <summary>
    /// Runs a batch received on <paramref name="port"/> through the pipeline: parses every frame and looks up every
    /// session of the batch together (<see cref="WorkerResources.Lookups"/>: their cache misses overlap), then runs each
    /// packet on in order. Frames forwarded from the batch's own (pinned) buffers are queued per egress port and leave
    /// with one flush per port once the batch is done, before the next receive reuses the buffers. Returns the packets handled.
    /// </summary>
    public int ProcessBatch(PacketBatch batch, int port, long now, ForwardingSnapshot snapshot)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(batch.Count, _parsed.Length);
        var lookups = Resources.Lookups;
        lookups.Clear();
        // Each frame is parsed into its own headers in the batch's array (_parsed), where it runs on later without a copy.
        for (var i = 0; i < batch.Count; i++)
        {
            var buffer = batch[i];
            ref var parsed = ref _parsed[i];
            parsed.Parsed = false;
            if (buffer.Offload.IsSuperPacket)
            {
                continue;
            }

            parsed.Headers = default;
            try
            {
                // No context yet: the parse needs only the frame and where its headers go; the packet's context is built when it runs.
                var verdict = ParseStage.Run(buffer.Data.AsSpan(0, buffer.Length), ref parsed.Headers, out var drop);
                var lookup = verdict == Verdict.Continue && parsed.Headers.EtherType != EtherType.Arp ? lookups.Add(parsed.Headers.Key) : -1;
                parsed.Keep(verdict, drop, lookup);
            }
            catch (Exception fault) when (fault is not OutOfMemoryException)
            {
                // Left unparsed: parsed again when it runs, where the fault is counted against the packet.
            }
        }

        lookups.Run();
        var handled = 0;
        _queueing = true;
        for (var i = 0; i < batch.Count; i++)
        {
            var buffer = batch[i];
            if (buffer.Offload.IsSuperPacket)
            {
                handled += ProcessSuperPacket(buffer.Data, buffer.Length, buffer.Offload, port, now, snapshot);
            }
            else
            {
                Run(buffer.Data, buffer.Length, port, now, snapshot, ref _parsed[i]);
                handled++;
            }
        }

        _queueing = false;
        FlushQueued();
        lookups.Clear();
        return handled;
    }

    /// <summary>
    /// Runs what the other workers handed over, at most a batch per ring: each frame in its ring slot, forwarded frames
    /// queued and flushed together, then the slots given back.
    /// </summary>
    private int RunHandedOff(long now, ForwardingSnapshot snapshot)
    {
        var handled = 0;
        foreach (var ring in _handedToMe)
        {
            if (ring.Count == 0)
            {
                continue;
            }

            var taken = 0;
            _queueing = _active;
            _runningHandedOff = true;
            while (taken < _batch.Capacity && ring.TryPeek(taken, out var frame))
            {
                taken++;
                if (!_active)
                {
                    Counters.StandbyIgnored++;
                }
                else if (frame.Offload.IsSuperPacket)
                {
                    ProcessSuperPacket(frame.Data, frame.Length, frame.Offload, frame.Port, now, snapshot);
                }
                else
                {
                    Process(frame.Data, frame.Length, frame.Port, now, snapshot);
                }
            }

            _runningHandedOff = false;
            _queueing = false;
            FlushQueued();
            ring.Release(taken);
            handled += taken;
        }

        return handled;
    }

    /// <summary>
    /// Hands the packet in hand (a super-packet whole, with its <paramref name="offload"/>) to the worker that owns its
    /// session: the packets it stands for are counted received there, not here. Drops it as
    /// <see cref="DropReason.HandOffFull"/> when that worker's ring is full.
    /// </summary>
    private Verdict HandOff(ref PacketContext context, int owner, in SegmentationOffload offload)
    {
        if (!_handOffTo[owner]!.TryWrite(context.Frame, context.IngressPort, offload))
        {
            return context.Fail(DropReason.HandOffFull);
        }

        Counters.Received -= context.Segments;
        Counters.HandedOff += context.Segments;
        _wakeAfterRound[owner] = true;
        return Verdict.Consumed;
    }

    /// <summary>A standby node's batch: nothing answered or forwarded; the sender of an ARP frame is learned, so the node knows its neighbours when it takes over.</summary>
    private void Standby(int port, long now)
    {
        for (var i = 0; i < _batch.Count; i++)
        {
            var buffer = _batch[i];
            Counters.StandbyIgnored++;
            if (EthernetFrame.TryCreate(buffer.Data.AsSpan(0, buffer.Length), out var ethernet)
                && ethernet.EtherType == EtherType.Arp
                && ArpPacket.TryCreate(ethernet.Payload, out var arp)
                && arp.SenderProtocolAddress != 0)
            {
                Neighbors.Learn(port, arp.SenderProtocolAddress, isIpv6: false, arp.SenderHardwareAddress, now);
            }
        }
    }

    /// <summary>
    /// Runs one frame through the pipeline; the frame may be rewritten in place and sent. Never throws: a stage
    /// that throws drops the frame as <see cref="DropReason.PipelineFault"/> (see <see cref="Faults"/>).
    /// </summary>
    public Verdict Process(byte[] buffer, int length, int port, long now, ForwardingSnapshot snapshot)
    {
        var unparsed = default(ParsedHeaders);
        return Run(buffer, length, port, now, snapshot, ref unparsed);
    }

    /// <summary><see cref="Process"/>, starting from the frame's parse when <paramref name="parsed"/> holds it.</summary>
    private Verdict Run(byte[] buffer, int length, int port, long now, ForwardingSnapshot snapshot, ref ParsedHeaders parsed)
    {
        if (!parsed.Parsed)
        {
            parsed.Headers = default;
        }

        var context = new PacketContext(buffer.AsSpan(0, length), buffer, port, now, ref parsed.Headers);
        Counters.Received++;
        try
        {
            var verdict = parsed.Parsed ? parsed.Restore(ref context) : ParseStage.Run(ref context);
            if (verdict == Verdict.Continue)
            {
                verdict = RunParsed(ref context, snapshot);
            }

            switch (verdict)
            {
                case Verdict.Forward:
                    if (Transmit(context.EgressPort, context.Frame, default, queue: _queueing && !ReferenceEquals(buffer, Resources.SegmentScratch)))
                    {
                        Counters.Forwarded++;
                        Traffic.Forwarded(context.Tenant, context.Service, 1, context.IpLength);
                    }
                    else
                    {
                        CountDrop(ref context, DropReason.TransmitFailed);
                    }

                    break;
                case Verdict.Drop:
                    CountDrop(ref context, context.Drop);
                    break;
                case Verdict.Consumed when Resources.ReturnedLength > 0:
                    RunReturned(now, snapshot);
                    break;
            }

            return verdict;
        }
        catch (Exception fault) when (fault is not OutOfMemoryException)
        {
            return Faulted(ref context, fault);
        }
    }

    /// <summary>
    /// Runs the forward packet a redirect returned (<see cref="WorkerResources.ReturnedScratch"/>, rebuilt as its client
    /// sent it) through the pipeline as if received on the port towards its client: it leaves on its session's new path.
    /// It and the redirect that brought it count as one packet received. Sent at once, not queued (the scratch is reused).
    /// </summary>
    private void RunReturned(long now, ForwardingSnapshot snapshot)
    {
        var length = Resources.ReturnedLength;
        Resources.ReturnedLength = 0;
        Counters.Received--;
        var queueing = _queueing;
        _queueing = false;
        Process(Resources.ReturnedScratch, length, Resources.ReturnedPort, now, snapshot);
        _queueing = queueing;
    }

    /// <summary>Drops the packet in hand because a stage threw on it, and records where.</summary>
    private Verdict Faulted(ref PacketContext context, Exception fault)
    {
        Faults.Record(fault, context.Now);
        context.Drop = DropReason.PipelineFault;
        CountDrop(ref context, DropReason.PipelineFault);
        return Verdict.Drop;
    }

    /// <summary>
    /// Runs a super-packet through the pipeline whole when its session allows, else cuts it into the packets it
    /// stands for and runs each. Returns how many packets it stood for.
    /// </summary>
    public int ProcessSuperPacket(byte[] buffer, int length, in SegmentationOffload offload, int port, long now, ForwardingSnapshot snapshot)
    {
        var headers = default(PacketHeaders);
        var context = new PacketContext(buffer.AsSpan(0, length), buffer, port, now, ref headers);
        try
        {
            return RunSuperPacket(ref context, offload, port, now, snapshot);
        }
        catch (Exception fault) when (fault is not OutOfMemoryException)
        {
            // A super-packet going through whole was counted as the packets it stands for; anything else as one.
            if (!context.IsSuperPacket)
            {
                Counters.Received++;
            }

            Faulted(ref context, fault);
            return context.Segments;
        }
    }

    private int RunSuperPacket(ref PacketContext context, in SegmentationOffload offload, int port, long now, ForwardingSnapshot snapshot)
    {
        var verdict = ParseStage.Run(ref context);
        if (verdict != Verdict.Continue || !SuperPacket.TryMeasure(ref context, offload, out var headerEnd, out var segments))
        {
            // Not a TCP/UDP super-packet of the kind it claims: nothing can cut it, so it is one malformed frame.
            Counters.Received++;
            CountDrop(ref context, verdict == Verdict.Drop ? context.Drop : DropReason.Malformed);
            return 1;
        }

        if (!CanGoWhole(ref context, snapshot, headerEnd, offload.SegmentSize))
        {
            if (OwnerElsewhere(ref context, snapshot) is var owner and >= 0)
            {
                // Another worker owns the session: it gets the super-packet whole, as it came in.
                Counters.Received += segments;
                context.Segments = segments;
                if (HandOff(ref context, owner, offload) == Verdict.Drop)
                {
                    CountDrop(ref context, context.Drop);
                }

                return segments;
            }

            Counters.SuperPacketsCut++;
            var ipEnd = context.NetworkOffset + context.IpLength;
            for (var i = 0; i < segments; i++)
            {
                var cut = SuperPacket.Cut(ref context, headerEnd, ipEnd, offload.SegmentSize, i, Resources.SegmentScratch);
                if (cut == 0)
                {
                    Counters.Received++;
                    CountSegment(ref context, DropReason.TooBig, 0);
                    continue;
                }

                Process(Resources.SegmentScratch, cut, port, now, snapshot);
            }

            return segments;
        }

        Counters.SuperPackets++;
        Counters.Received += segments;
        context.IsSuperPacket = true;
        context.Segments = segments;
        context.SegmentSize = offload.SegmentSize;
        context.SegmentHeaderLength = headerEnd - context.NetworkOffset;
        verdict = RunParsed(ref context, snapshot);
        switch (verdict)
        {
            case Verdict.Forward:
                SendWhole(ref context, offload);
                break;
            case Verdict.Drop:
                CountDrop(ref context, context.Drop);
                break;
        }

        return segments;
    }

    /// <summary>The stages after parsing: gateway, session (fast or slow path), egress.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private Verdict RunParsed(ref PacketContext context, ForwardingSnapshot snapshot)
    {
        var verdict = GatewayStage.Run(ref context, snapshot, Resources);
        if (verdict == Verdict.Continue && _handOffTo.Length > 0 && !_runningHandedOff && !context.IsSuperPacket
            && WorkerOwnership.OwnerOf(ref context, snapshot, Resources) is var owner && owner != Resources.Shard.Index)
        {
            return HandOff(ref context, owner, default);
        }

        if (verdict == Verdict.Continue)
        {
            verdict = SessionStage.Run(ref context, snapshot, Resources);
        }

        return verdict == Verdict.Forward ? EgressStage.Run(ref context, snapshot, Resources) : verdict;
    }

    /// <summary>
    /// The worker that owns the session of a parsed super-packet this worker does not hold, when it is another worker and
    /// this one may hand frames over (not while it runs what was handed to it); else -1.
    /// </summary>
    private int OwnerElsewhere(ref PacketContext context, ForwardingSnapshot snapshot)
    {
        if (_handOffTo.Length == 0 || _runningHandedOff)
        {
            return -1;
        }

        context.ToWaypoint = GatewayStage.IsToWaypoint(ref context, snapshot);
        var owner = WorkerOwnership.OwnerOf(ref context, snapshot, Resources);
        return owner == Resources.Shard.Index ? -1 : owner;
    }

    /// <summary>
    /// Whether a super-packet can run the pipeline as one packet: its session exists and needs nothing done per
    /// packet (no metadata to insert or strip, not even a bare block ahead of any packet whose payload begins like
    /// metadata; no protocol conversion), every segment fits the egress MTU as it leaves, and the next hop's MAC is known.
    /// An encrypted session's super-packet leaving to the peer qualifies when each segment with its sealed trailer fits
    /// and its family stays (<see cref="SvrStage.SealsEachSegment"/>): it is cut and each segment sealed as it leaves.
    /// A session whose endpoints and waypoints are of two families qualifies: its IP header is replaced once for the
    /// whole super-packet (<see cref="SvrStage.Rewrite"/>), so each segment leaves with the other family's header (20
    /// octets longer as IPv6), and the frame in that family must stay within its length field and the buffer. Reads
    /// only; changes nothing.
    /// </summary>
    private bool CanGoWhole(ref PacketContext context, ForwardingSnapshot snapshot, int headerEnd, int segmentSize)
    {
        if (!Sessions.TryFind(context.Key, out var handle, out var direction))
        {
            return false;
        }

        ref readonly var state = ref Sessions.Payload(handle);
        var forward = direction == SessionDirection.Forward;
        ref readonly var nextHop = ref forward ? ref Sessions.ReverseKey(handle) : ref Sessions.ForwardKey(handle);
        var segmentHeaderLength = headerEnd - context.NetworkOffset;
        if (state.Svr != SvrRole.None)
        {
            var ipEnd = context.NetworkOffset + context.IpLength;
            // A former egress returns each packet in its own redirect (SvrStage.Redirect): a super-packet is cut first.
            var sealsEachSegment = SvrStage.SealsEachSegment(in state, forward);
            if ((state.Sealed && !sealsEachSegment)
                || state.Svr == SvrRole.FormerEgress
                || state.OriginalProtocol != context.Key.Protocol
                || SvrStage.NextPacketCarriesMetadata(in state, forward, context.Now, Resources.ResignalQuietTicks)
                || AnyPacketNeedsBareBlock(context.Frame[headerEnd..ipEnd], segmentSize))
            {
                return false;
            }

            var shrink = SvrStage.HeaderShrink(ref context, nextHop);
            var leavingLength = context.IpLength - shrink;
            // A sealed segment leaves as cut before the pipeline would: an IPv4 one changed from IPv6 there has
            // identification 0, where a cut after the change would count it up, so such a super-packet is cut first.
            if (shrink != 0
                && (sealsEachSegment || (!nextHop.IsIpv6 && leavingLength > ushort.MaxValue) || context.NetworkOffset + leavingLength > context.Room.Length))
            {
                return false;
            }

            segmentHeaderLength -= shrink;
            if (sealsEachSegment)
            {
                // Each segment leaves with the sealed trailer.
                segmentHeaderLength += PacketSealer.TrailerLength;
            }
        }

        var egress = forward ? state.ForwardPort : state.ReversePort;
        if ((uint)egress >= (uint)Ports.Length || segmentHeaderLength + segmentSize > Ports[egress].Mtu)
        {
            return false;
        }

        return Neighbors.TryGet(egress, nextHop.Source, nextHop.IsIpv6, context.Now, out _);
    }

    /// <summary>
    /// Whether a packet the super-packet of <paramref name="payload"/> stands for (one per <paramref name="segmentSize"/>
    /// octets) begins like a metadata block, so must leave behind a bare one (<see cref="MetadataInsertion.NeedsBareBlock"/>):
    /// the device cutting a super-packet repeats only its headers, and the far router would read such a packet, whichever
    /// it is, as carrying metadata. Such a super-packet is cut, each packet run on its own.
    /// </summary>
    private static bool AnyPacketNeedsBareBlock(ReadOnlySpan<byte> payload, int segmentSize)
    {
        for (var at = 0; at < payload.Length; at += segmentSize)
        {
            if (MetadataInsertion.NeedsBareBlock(payload.Slice(at, Math.Min(segmentSize, payload.Length - at))))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// Sends a super-packet that went through whole: with its offload where the port takes it, else cut into packets;
    /// an encrypted session's cut into packets each sealed on its own (<see cref="SendSealed"/>).
    /// </summary>
    private void SendWhole(ref PacketContext context, SegmentationOffload offload)
    {
        var port = Ports[context.EgressPort];
        var ipEnd = context.NetworkOffset + context.IpLength;
        if (context.SegmentKeys is { } keys)
        {
            SendSealed(ref context, keys);
            return;
        }

        if (port.AcceptsSuperPackets)
        {
            SuperPacket.PrepareToLeaveWhole(context.Frame, context.NetworkOffset, context.TransportOffset, ipEnd, context.IsIpv6, context.Key.Protocol, ref offload);
            if (Transmit(context.EgressPort, context.Frame[..ipEnd], offload, queue: _queueing))
            {
                Counters.Forwarded += context.Segments;
                Traffic.Forwarded(context.Tenant, context.Service, context.Segments, context.PacketBytes);
            }
            else
            {
                CountDrop(ref context, DropReason.TransmitFailed);
            }

            return;
        }

        var headerEnd = context.TransportOffset + SuperPacket.TransportHeaderLength(context.Frame, context.TransportOffset, context.Key.Protocol);
        for (var i = 0; i < context.Segments; i++)
        {
            var cut = SuperPacket.Cut(ref context, headerEnd, ipEnd, context.SegmentSize, i, Resources.SegmentScratch);
            var sent = cut > 0 && port.Send(Resources.SegmentScratch.AsSpan(0, cut));
            CountSegment(ref context, sent ? DropReason.None : DropReason.TransmitFailed, cut - context.NetworkOffset);
        }
    }

    /// <summary>
    /// Cuts an encrypted session's super-packet that went through whole into its segments, seals each with
    /// <paramref name="keys"/> (<see cref="SvrStage.SealSegment"/>: in order, each its own sequence, as if cut before the
    /// pipeline) and queues it on the egress port; all leave with one flush (one sendmmsg on an AF_PACKET port). The
    /// segments are cut into <see cref="WorkerResources.SealedSegments"/> (pinned, as queued frames must be), flushed early
    /// when it is full; each into a slot with room for its headers, its payload and the trailer (the arena holds more than
    /// the largest IP packet and a trailer), the room <see cref="SvrStage.SealSegment"/> seals into. A segment that cannot
    /// be cut or sealed is dropped and counted with its reason; the rest go on.
    /// </summary>
    private void SendSealed(ref PacketContext context, PeerPathKeys keys)
    {
        var egress = context.EgressPort;
        var ipEnd = context.NetworkOffset + context.IpLength;
        var transportAt = context.TransportOffset - context.NetworkOffset;
        var headerEnd = context.TransportOffset + SuperPacket.TransportHeaderLength(context.Frame, context.TransportOffset, context.Key.Protocol);
        var room = Math.Min(context.SegmentSize, ipEnd - headerEnd) + headerEnd + PacketSealer.TrailerLength;
        var arena = Resources.SealedSegments;
        var at = 0;
        for (var i = 0; i < context.Segments; i++)
        {
            if (arena.Length - at < room)
            {
                FlushQueued();
                at = 0;
            }

            var slot = arena.AsSpan(at);
            var cut = SuperPacket.Cut(ref context, headerEnd, ipEnd, context.SegmentSize, i, slot);
            var sealedLength = 0;
            var reason = cut == 0
                ? DropReason.TooBig
                : SvrStage.SealSegment(Resources, keys, slot[context.NetworkOffset..], cut - context.NetworkOffset, transportAt, out sealedLength);
            if (reason == DropReason.None)
            {
                var length = context.NetworkOffset + sealedLength;
                if (!Transmit(egress, slot[..length], default, queue: true))
                {
                    reason = DropReason.TransmitFailed;
                }

                at += length;
            }

            CountSegment(ref context, reason, sealedLength);
        }

        FlushQueued();
    }

    /// <summary>
    /// Counts one packet cut from the super-packet in hand: forwarded, its IP packet <paramref name="ipLength"/> octets long,
    /// when <paramref name="reason"/> is <see cref="DropReason.None"/>, else dropped for it.
    /// </summary>
    private void CountSegment(ref PacketContext context, DropReason reason, int ipLength)
    {
        if (reason == DropReason.None)
        {
            Counters.Forwarded++;
            Traffic.Forwarded(context.Tenant, context.Service, 1, ipLength);
        }
        else
        {
            Counters.Dropped++;
            Drops.Count(Record(ref context, reason));
        }
    }

    /// <summary>Counts a drop of the packet in hand: every packet it stands for when it is a super-packet.</summary>
    private void CountDrop(ref PacketContext context, DropReason reason)
    {
        var record = Record(ref context, reason);
        for (var i = 0; i < context.Segments; i++)
        {
            Counters.Dropped++;
            Drops.Count(record);
        }
    }

    private static DropRecord Record(ref PacketContext context, DropReason reason) => new(
        reason, context.Tenant, context.Service, context.Key.Source, context.Key.Destination,
        context.Key.SourcePort, context.Key.DestinationPort, context.Key.Protocol, context.IngressPort, context.Now,
        reason == context.Drop ? context.Rule : DropRule.None, context.Key.IsIpv6);

    /// <summary>Hands a forwarded frame to its egress port: queued for the batch's flush when it lives in a batch buffer, else sent now.</summary>
    private bool Transmit(int port, ReadOnlySpan<byte> frame, in SegmentationOffload offload, bool queue)
    {
        var egress = Ports[port];
        if (!queue)
        {
            return offload.IsSuperPacket || offload.ChecksumPartial ? egress.SendSuperPacket(frame, offload) : egress.Send(frame);
        }

        if (!egress.Enqueue(frame, offload))
        {
            return false;
        }

        if (!_queued[port])
        {
            _queued[port] = true;
            _queuedPorts[_queuedCount++] = port;
        }

        return true;
    }

    /// <summary>
    /// Flushes every port a frame was queued on. A frame the kernel then refuses was counted forwarded when it was
    /// queued; it is counted again as dropped (<see cref="DropReason.TransmitFailed"/>, tenant and service unknown by then).
    /// </summary>
    private void FlushQueued()
    {
        for (var i = 0; i < _queuedCount; i++)
        {
            var port = _queuedPorts[i];
            _queued[port] = false;
            var refused = Ports[port].Flush();
            if (refused > 0)
            {
                Counters.Forwarded -= refused;
                Counters.Dropped += refused;
                var record = new DropRecord(DropReason.TransmitFailed, -1, -1, 0, 0, 0, 0, 0, port, 0);
                for (var k = 0; k < refused; k++)
                {
                    Drops.Count(record);
                }
            }
        }

        _queuedCount = 0;
    }

    /// <summary>The snapshot whose tenant and service indexes the sessions hold (null before the first round).</summary>
    private ForwardingSnapshot? _bound;

    /// <summary>
    /// Binds the sessions to <paramref name="snapshot"/> when it is not the one they hold indexes of (<see cref="SessionRebinding"/>:
    /// renumbered indexes follow, sessions the new configuration no longer allows end, sessions of clients it moved to another
    /// router are held for it, held sessions of clients it moves back here go on: <see cref="SvrStage.ResumeReturnedClients"/>); starts the grace of the clients it brought here (<see cref="SvrStage.ClientArrivalGrace"/>);
    /// returns it. Work run between batches that touches sessions binds first, so that it sees them under the snapshot it is given.
    /// </summary>
    internal ForwardingSnapshot Bind(ForwardingSnapshot snapshot, long now)
    {
        if (ReferenceEquals(snapshot, _bound))
        {
            return snapshot;
        }

        var hold = (long)(SvrStage.ClientHandOverHold.TotalSeconds * TicksPerSecond);
        Resources.MovedClients.Forget(now, hold);
        // Against the snapshot this worker ran, not the one compiled before: a snapshot it never ran may have brought them.
        var arrived = _bound is null ? snapshot.ArrivedClients : snapshot.ArrivalsSince(_bound);
        if (arrived.Count > 0)
        {
            Resources.ClientsArrived(arrived, now + (long)(SvrStage.ClientArrivalGrace.TotalSeconds * TicksPerSecond));
        }

        if (_bound is not null)
        {
            try
            {
                Counters.SessionsRevoked += SessionRebinding.Run(_bound, snapshot, Resources, now);
                SvrStage.ResumeReturnedClients(this, snapshot, now);
            }
            catch (Exception fault) when (fault is not OutOfMemoryException)
            {
                Faults.Record(fault, now);
            }
        }

        _bound = snapshot;
        return snapshot;
    }

    /// <summary>The count of instances health checks took down when this worker last ended the sessions on them.</summary>
    private long _instanceDownsSeen;

    /// <summary>When a health check took an instance down since the last round: ends the sessions on it where the policy says so (<see cref="InstanceFailover"/>).</summary>
    private void FailOver(ForwardingSnapshot snapshot, long now)
    {
        var downs = snapshot.Runtimes.InstanceDowns;
        if (downs == _instanceDownsSeen)
        {
            return;
        }

        _instanceDownsSeen = downs;
        try
        {
            InstanceFailover.Run(snapshot, Resources, now);
        }
        catch (Exception fault) when (fault is not OutOfMemoryException)
        {
            Faults.Record(fault, now);
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

        var snapshot = _bound ?? SnapshotSource();
        for (var i = 0; i < count; i++)
        {
            ref readonly var expired = ref _expired[i];
            var ended = expired.Payload;
            SessionOpening.Ended(snapshot, Resources, ended);
            Resources.SessionClosed(expired.Handle, expired.Forward, expired.Reverse, ended, now);
        }

        Counters.SessionsExpired += count;
    }
}
