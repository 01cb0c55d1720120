using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using Fabric.Dataplane.Forwarding;
using Fabric.Dataplane.Forwarding.Lpm;
using Fabric.Dataplane.Io;
using Fabric.Dataplane.Io.InMemory;
using Fabric.Dataplane.Pipeline;
using Fabric.Dataplane.Routing;

using Fabric.Dataplane.Sessions;
using Fabric.Dataplane.Wire;
using Fabric.Model;
using Fabric.Model.Addressing;
using Fabric.Model.Collections;
using Fabric.Router;

namespace Fabric.Bench;

/// <summary>
/// <c>fabric bench dataplane</c>: measures the forwarding engine on this machine, each figure next
/// to a baseline taken in the same run. Nothing here is asserted; it reports.
/// </summary>
public static class DataplaneBench
{
    public const int Prefixes = 1_000_000;
    public const int SessionCount = 1_000_000;

    public sealed record Result(
        double LpmNsPerLookup, long LpmTableBytes, double LpmBaselineNsPerLookup,
        double SessionLookupsPerSec, double BytesPerSession, double SessionBaselineLookupsPerSec,
        double FirstPacketNs, double EstablishedNsPerPacket, double CopyBaselineNsPerPacket,
        double EstablishedManyFlowsNsPerPacket, double CopyManyFlowsNsPerPacket, double AllocBytesPerPacket,
        double MemoryLatencyNs, int Prefixes, int Sessions, bool Quick, SnapshotCompileCost? Compile);

    /// <summary>The cost of compiling a document for its most expensive router, again and again as a router does on each commit.</summary>
    /// <param name="Router">The router whose compile cost most.</param>
    public sealed record SnapshotCompileCost(string Router, double MedianMicroseconds, long AllocatedBytes);

    /// <param name="document">A lab-size document whose snapshot compile cost is measured too (null: not measured).</param>
    public static Result Run(bool quick, Action<string> progress, FabricConfig? document = null)
    {
        var lookups = quick ? 2_000_000 : 20_000_000;
        var random = new Random(42);

        progress($"building an Internet-shaped table of {Prefixes:N0} IPv4 prefixes");
        var prefixes = InternetShapedPrefixes.Ipv4(Prefixes, seed: 1);
        var builder = new Ipv4RouteTableBuilder();
        for (var i = 0; i < prefixes.Length; i++)
        {
            builder.Add(prefixes[i].Prefix, prefixes[i].Length, i);
        }

        var table = builder.Build();
        var addresses = new uint[1 << 20];
        for (var i = 0; i < addresses.Length; i++)
        {
            addresses[i] = (uint)random.NextInt64(0, 1L << 32);
        }

        progress("timing LPM lookups");
        var lpmNs = NanosecondsPerLookup(addresses, lookups, a => table.Lookup(a));
        var slash24 = new Dictionary<uint, int>();
        foreach (var (prefix, length) in prefixes)
        {
            if (length == 24)
            {
                slash24.TryAdd(prefix, 1);
            }
        }

        var baselineNs = NanosecondsPerLookup(addresses, lookups, a => slash24.TryGetValue(a & 0xFFFF_FF00, out var v) ? v : -1);

        progress($"filling a session table with {SessionCount:N0} sessions");
        var before = GC.GetTotalMemory(forceFullCollection: true);
        var sessions = new SessionTable<SessionState>(SessionCount);
        var after = GC.GetTotalMemory(forceFullCollection: true);
        var keys = new SessionKey[SessionCount];
        for (var i = 0; i < keys.Length; i++)
        {
            keys[i] = SessionKey.V4((uint)random.Next(), (uint)random.Next(), (ushort)random.Next(1024, 65536), 443, IpProtocol.Tcp);
            sessions.TryInsert(keys[i], keys[i].Reversed(), default, 0, long.MaxValue / 4, out _);
        }

        progress("timing session lookups");
        // The keys probed, in probing order: read in sequence, as a worker reads them from the packets in hand.
        var probes = new SessionKey[1 << 20];
        for (var i = 0; i < probes.Length; i++)
        {
            probes[i] = keys[random.Next(keys.Length)];
        }

        var sessionRate = 1e9 / NanosecondsPerBatchedLookup(sessions, probes, lookups / 2);
        var dictionary = new Dictionary<SessionKey, int>(keys.Length);
        for (var i = 0; i < keys.Length; i++)
        {
            dictionary.TryAdd(keys[i], i);
        }

        var dictionaryRate = 1e9 / NanosecondsPerLookup(probes, lookups / 2, key => dictionary.TryGetValue(key, out var h) ? h : -1);

        progress("timing the pipeline: first packets and established sessions");
        var pipeline = Pipeline(prefixes, quick);
        progress("timing this machine's memory latency (a chain of dependent reads in 256 MiB)");
        var latency = MemoryLatency(quick ? 2_000_000 : 10_000_000);
        SnapshotCompileCost? compile = null;
        if (document is not null)
        {
            progress("timing snapshot compiles of the lab document, router by router");
            compile = CompileCost(document, quick ? 20 : 100);
        }

        return new Result(
            lpmNs, table.MemoryBytes, baselineNs,
            sessionRate, (double)(after - before) / SessionCount, dictionaryRate,
            pipeline.FirstNs, pipeline.Hot.PacketNs, pipeline.Hot.CopyNs, pipeline.Many.PacketNs, pipeline.Many.CopyNs, pipeline.AllocBytes,
            latency, Prefixes, SessionCount, quick, compile);
    }

    /// <summary>
    /// Compiles <paramref name="document"/> for each of its routers <paramref name="rounds"/> times with one set of
    /// service runtimes (as a running router recompiles on every commit, after a warm-up) and returns the router with
    /// the highest median time, with the bytes one compile allocates.
    /// </summary>
    private static SnapshotCompileCost CompileCost(FabricConfig document, int rounds)
    {
        SnapshotCompileCost? worst = null;
        foreach (var router in document.Routers)
        {
            var devices = RouterProcess.Devices(router);
            var runtimes = new ServiceRuntimes();
            var frequency = Stopwatch.Frequency;
            for (var i = 0; i < 5; i++)
            {
                SnapshotCompiler.Compile(document, router.Name, devices, i + 1, frequency, runtimes, Stopwatch.GetTimestamp());
            }

            var times = new double[rounds];
            long allocated = 0;
            for (var i = 0; i < rounds; i++)
            {
                var bytesBefore = GC.GetAllocatedBytesForCurrentThread();
                var start = Stopwatch.GetTimestamp();
                SnapshotCompiler.Compile(document, router.Name, devices, i + 10, frequency, runtimes, start);
                times[i] = Stopwatch.GetElapsedTime(start).TotalMicroseconds;
                allocated = GC.GetAllocatedBytesForCurrentThread() - bytesBefore;
            }

            Array.Sort(times);
            var cost = new SnapshotCompileCost(router.Name, times[rounds / 2], allocated);
            if (worst is null || cost.MedianMicroseconds > worst.MedianMicroseconds)
            {
                worst = cost;
            }
        }

        return worst ?? new SnapshotCompileCost("", 0, 0);
    }

    /// <summary>
    /// The cost of one cache and TLB miss on this machine: a random cyclic chain of dependent reads
    /// through 256 MiB. Lookups into tables larger than the cache cannot beat it; it puts the other
    /// figures in proportion.
    /// </summary>
    private static double MemoryLatency(int reads)
    {
        var next = new int[64 * 1024 * 1024];
        for (var i = 0; i < next.Length; i++)
        {
            next[i] = i;
        }

        // Sattolo's shuffle: one cycle through every slot, so the chain never settles in cache.
        var random = new Random(3);
        for (var i = next.Length - 1; i > 0; i--)
        {
            var j = random.Next(i);
            (next[i], next[j]) = (next[j], next[i]);
        }

        var at = 0;
        for (var i = 0; i < 100_000; i++)
        {
            at = next[at];
        }

        var watch = Stopwatch.StartNew();
        for (var i = 0; i < reads; i++)
        {
            at = next[at];
        }

        watch.Stop();
        GC.KeepAlive(at);
        return watch.Elapsed.TotalNanoseconds / reads;
    }

    /// <summary>Nanoseconds per call of <paramref name="lookup"/> over <paramref name="inputs"/> (a power-of-two count), after one warm-up pass.</summary>
    private static double NanosecondsPerLookup<T>(T[] inputs, int count, Func<T, int> lookup)
    {
        var mask = inputs.Length - 1;
        var sink = 0;
        for (var i = 0; i < inputs.Length; i++)
        {
            sink += lookup(inputs[i]);
        }

        var watch = Stopwatch.StartNew();
        for (var i = 0; i < count; i++)
        {
            sink += lookup(inputs[i & mask]);
        }

        watch.Stop();
        GC.KeepAlive(sink);
        return watch.Elapsed.TotalNanoseconds / count;
    }

    /// <summary>
    /// Nanoseconds per session lookup made as the worker makes them (<see cref="SessionLookupBatch{TPayload}"/>): the keys
    /// of <paramref name="probes"/> (a power-of-two count) in batches of 64, looked up together, then each result taken, after
    /// one warm-up pass.
    /// </summary>
    private static double NanosecondsPerBatchedLookup(SessionTable<SessionState> sessions, SessionKey[] probes, int count)
    {
        const int batch = 64;
        var lookups = new SessionLookupBatch<SessionState>(sessions, batch);
        var mask = probes.Length - 1;
        var sink = 0;
        long watched = 0;
        var watch = new Stopwatch();
        for (var pass = 0; pass < 2; pass++)
        {
            var total = pass == 0 ? probes.Length : count;
            watch.Restart();
            for (var i = 0; i < total; i += batch)
            {
                lookups.Clear();
                for (var k = 0; k < batch; k++)
                {
                    lookups.Add(probes[(i + k) & mask]);
                }

                lookups.Run();
                for (var k = 0; k < batch; k++)
                {
                    sink += lookups.TryFind(k, probes[(i + k) & mask], out var handle, out _) ? handle : -1;
                }
            }

            watch.Stop();
            watched = total;
        }

        GC.KeepAlive(sink);
        return watch.Elapsed.TotalNanoseconds / watched;
    }

    /// <summary>
    /// A router with a client port and an instance port, whose one service holds every prefix of the
    /// table: first packets pay classify, service match in 1 M prefixes, access, admission, load
    /// balancing and insert; established packets pay lookup, TCP state, policing, TTL, NAT and egress.
    /// Established packets are timed over a few flows whose state stays in cache and over 65,536
    /// flows that miss it; copying each 1400-byte frame into the receive batch's buffers is timed alone as
    /// the baseline, as a port would copy it.
    /// </summary>
    private static (double FirstNs, (double PacketNs, double CopyNs) Hot, (double PacketNs, double CopyNs) Many, double AllocBytes) Pipeline(
        (uint Prefix, int Length)[] prefixes, bool quick)
    {
        var config = BenchConfig(prefixes);
        var client = new DiscardPort("c1", new MacAddress(0x02_00_00_00_00_01));
        var sink = new DiscardPort("sinks", new MacAddress(0x02_00_00_00_00_02));
        var sessionCount = quick ? 100_000 : 400_000;
        // Room for the warm-up's sessions and the timed ones twice over; one tenant may hold all of them.
        using var engine = new ForwardingEngine(
            "bench1", [client, sink], new RouterOptions(SessionCapacity: (sessionCount + (sessionCount / 2)) * 2, MaxSessionsPerTenant: 0));
        engine.Apply(config, 1);
        var snapshot = engine.Snapshot;
        var worker = engine.Worker;
        var sinkAddress = IpAddressConversions.ParseIpv4("10.9.0.10");
        var clientAddress = IpAddressConversions.ParseIpv4("10.8.0.10");
        worker.Neighbors.AddPermanent(1, sinkAddress, isIpv6: false, new MacAddress(0x02_00_00_00_00_99));
        worker.Neighbors.AddPermanent(0, clientAddress, isIpv6: false, new MacAddress(0x02_00_00_00_00_98));

        // Frames: one SYN per session to a random destination inside the table; the warm-up's sessions use other ports.
        var random = new Random(7);
        var templates = Syns(prefixes, random, clientAddress, sessionCount, firstDestinationPort: 1);
        var warmUp = Syns(prefixes, random, clientAddress, sessionCount / 2, firstDestinationPort: 1000);

        var buffer = new byte[PacketBuffer.DefaultCapacity];
        var now = Stopwatch.GetTimestamp();

        // A router's first packets run compiled code: open the warm-up's sessions and give the JIT's background tier time to
        // finish, so that the figure is the first packet's cost and not the JIT's (the table holds them during the timing).
        foreach (var frame in warmUp)
        {
            frame.CopyTo(buffer, 0);
            worker.Process(buffer, frame.Length, 0, now, snapshot);
        }

        Thread.Sleep(TimeSpan.FromSeconds(1));
        var watch = Stopwatch.StartNew();
        for (var i = 0; i < sessionCount; i++)
        {
            var frame = templates[i];
            frame.CopyTo(buffer, 0);
            worker.Process(buffer, frame.Length, 0, now, snapshot);
        }

        watch.Stop();
        var firstNs = watch.Elapsed.TotalNanoseconds / sessionCount;
        if (worker.Sessions.Count != warmUp.Length + sessionCount)
        {
            var reasons = string.Join(", ", Enum.GetValues<DropReason>().Where(r => worker.Drops.Total(r) > 0).Select(r => $"{r} {worker.Drops.Total(r)}"));
            throw new InvalidOperationException(
                $"the bench opened {worker.Sessions.Count} sessions of {warmUp.Length + sessionCount} (created {worker.Counters.SessionsCreated}, evicted {worker.Counters.SessionsEvicted}, dropped: {reasons}): its first packets were not all first packets");
        }

        // Established: the instance's side answers the flows timed below with SYN-ACKs, and the same flows run again with
        // ACKs (the first ACK of each completes its handshake).
        for (var i = 0; i < ManyFlows; i++)
        {
            var answer = SynAck(templates[i], sinkAddress);
            answer.CopyTo(buffer, 0);
            worker.Process(buffer, answer.Length, 1, now, snapshot);
        }

        for (var i = 0; i < sessionCount; i++)
        {
            templates[i][EthernetFrame.UntaggedHeaderLength + 20 + 13] = (byte)TcpFlags.Ack;
            FixTcpChecksum(templates[i]);
        }

        var packets = quick ? 2_000_000 : 10_000_000;
        var batch = new PacketBatch(64);
        var ((hot, many), allocated) = ThreadAllocations.During(() => (
            Established(worker, snapshot, templates, buffer, batch, now, flows: 64, packets),
            Established(worker, snapshot, templates, buffer, batch, now, flows: ManyFlows, packets)));
        var established = Enumerable.Range(0, ManyFlows).Count(i => IsEstablished(worker, templates[i]));
        if (established != ManyFlows)
        {
            throw new InvalidOperationException($"{established} of the {ManyFlows} timed flows reached the established state: the figure would not be an established session's packet");
        }

        // Per packet the pipeline ran, warm-up rounds included (the frame copies timed alone run no pipeline).
        var pipelinePackets = 2L * (packets + (WarmUpRounds * (packets / 8)));
        return (firstNs, hot, many, (double)allocated / pipelinePackets);
    }

    /// <summary>Untimed rounds of an eighth of the timed packets each, a pause after each, before established packets are timed.</summary>
    private const int WarmUpRounds = 2;

    /// <summary>The flows the many-flows figure cycles over (the few-flows figure uses the first 64 of them).</summary>
    private const int ManyFlows = 65_536;

    /// <summary>
    /// What the instance at <paramref name="instance"/> answers <paramref name="syn"/> (a client's frame of <see cref="Frame"/>,
    /// which the router sent on with its destination translated to the instance) with: a SYN-ACK, as the sink port receives it.
    /// </summary>
    private static byte[] SynAck(byte[] syn, uint instance)
    {
        var ip = syn.AsSpan(EthernetFrame.UntaggedHeaderLength);
        var tcp = ip[20..];
        return Frame(
            instance, BinaryPrimitives.ReadUInt32BigEndian(ip[12..]),
            BinaryPrimitives.ReadUInt16BigEndian(tcp[2..]), BinaryPrimitives.ReadUInt16BigEndian(tcp[..2]),
            TcpFlags.Syn | TcpFlags.Ack, 64, routerPort: new MacAddress(0x02_00_00_00_00_02), sender: new MacAddress(0x02_00_00_00_00_99));
    }

    /// <summary>Whether the session of <paramref name="frame"/> (a client's frame of <see cref="Frame"/>) is in the TCP established state.</summary>
    private static bool IsEstablished(PacketWorker worker, byte[] frame)
    {
        var ip = frame.AsSpan(EthernetFrame.UntaggedHeaderLength);
        var tcp = ip[20..];
        var key = SessionKey.V4(
            BinaryPrimitives.ReadUInt32BigEndian(ip[12..]), BinaryPrimitives.ReadUInt32BigEndian(ip[16..]),
            BinaryPrimitives.ReadUInt16BigEndian(tcp[..2]), BinaryPrimitives.ReadUInt16BigEndian(tcp[2..]), (byte)IpProtocol.Tcp);
        return worker.Sessions.TryFind(key, out var handle, out _) && worker.Sessions.Tcp(handle).IsEstablished;
    }

    /// <summary>
    /// Times established packets cycling over <paramref name="flows"/> sessions, received in batches of 64 and run as
    /// the worker runs a receive batch (<see cref="PacketWorker.ProcessBatch"/>), and the frame copy alone. As for first
    /// packets, the batches run untimed first and the JIT's background tier is given time to finish: the figure is a
    /// running router's cost per packet, not the JIT's.
    /// </summary>
    private static (double PacketNs, double CopyNs) Established(
        PacketWorker worker, ForwardingSnapshot snapshot, byte[][] templates, byte[] buffer, PacketBatch batch, long now, int flows, int packets)
    {
        var mask = flows - 1;
        for (var i = 0; i < flows; i++)
        {
            templates[i].CopyTo(buffer, 0);
            worker.Process(buffer, templates[i].Length, 0, now, snapshot);
        }

        for (var round = 0; round < WarmUpRounds; round++)
        {
            ReceiveAndRun(worker, snapshot, templates, batch, now, mask, packets / 8);
            Thread.Sleep(TimeSpan.FromMilliseconds(500));
        }

        var watch = Stopwatch.StartNew();
        ReceiveAndRun(worker, snapshot, templates, batch, now, mask, packets);
        var packetNs = watch.Elapsed.TotalNanoseconds / packets;
        watch.Restart();
        for (var i = 0; i < packets; i++)
        {
            templates[i & mask].CopyTo(batch[i & (batch.Capacity - 1)].Data, 0);
        }

        var copyNs = watch.Elapsed.TotalNanoseconds / packets;
        return (packetNs, copyNs);
    }

    /// <summary>
    /// Receives <paramref name="packets"/> frames of <paramref name="templates"/> (cycling over the first <paramref name="mask"/> + 1)
    /// in batches, each frame copied into its batch buffer as a port copies it, and runs each batch through the worker.
    /// </summary>
    private static void ReceiveAndRun(PacketWorker worker, ForwardingSnapshot snapshot, byte[][] templates, PacketBatch batch, long now, int mask, int packets)
    {
        for (var i = 0; i < packets; i += batch.Capacity)
        {
            batch.Count = 0;
            for (var k = 0; k < batch.Capacity; k++)
            {
                var frame = templates[(i + k) & mask];
                var received = batch.Append()!;
                frame.CopyTo(received.Data, 0);
                received.Length = frame.Length;
            }

            worker.ProcessBatch(batch, 0, now, snapshot);
        }
    }

    /// <summary>One SYN from <paramref name="client"/> per session, each to a random destination inside <paramref name="prefixes"/>.</summary>
    private static byte[][] Syns((uint Prefix, int Length)[] prefixes, Random random, uint client, int count, int firstDestinationPort)
    {
        var frames = new byte[count][];
        for (var i = 0; i < count; i++)
        {
            var (prefix, length) = prefixes[random.Next(prefixes.Length)];
            var host = length == 32 ? 0 : (uint)random.NextInt64(0, 1L << (32 - length));
            frames[i] = Frame(client, prefix | host, (ushort)(1024 + (i % 60000)), (ushort)(firstDestinationPort + (i / 60000)), TcpFlags.Syn, 1400);
        }

        return frames;
    }

    private static FabricConfig BenchConfig((uint Prefix, int Length)[] prefixes)
    {
        var addresses = new ValueList<IpPrefix>(prefixes.Select(p => new IpPrefix(IpAddressConversions.ToIPAddress(p.Prefix), p.Length)));
        var service = new Service(
            "internet", addresses, [new Transport(TransportProtocol.Tcp, [])], ["bench"], ServicePolicy.DefaultName,
            [new ServiceInstance("sink1", null, null, null, 0, 0)], []);
        var router = new Model.Router(
            "bench1",
            [new RouterNode("bench1a", IPAddress.Parse("10.99.0.1"))],
            [],
            [
                new Network("clients", NetworkModel.HostBased, "clients", [new IpPrefix(IPAddress.Parse("10.8.0.1"), 24)], "bench",
                    [new Container("c1", [IPAddress.Parse("10.8.0.10")], null)], 1500),
                new Network("sinks", NetworkModel.Bridged, "sinks", [new IpPrefix(IPAddress.Parse("10.9.0.1"), 24)], null,
                    [new Container("sink1", [IPAddress.Parse("10.9.0.10")], null)], 1500),
            ]);
        return new FabricConfig("bench", [new Tenant("bench", [])], [service], [], [], [], [router], ConductorSettings.Default);
    }

    /// <summary>
    /// An Ethernet frame of <paramref name="size"/> octets holding an IPv4 TCP segment with correct checksums, from the
    /// client's MAC to the client port's, or from <paramref name="sender"/> to <paramref name="routerPort"/>.
    /// </summary>
    internal static byte[] Frame(
        uint source, uint destination, ushort sourcePort, ushort destinationPort, TcpFlags flags, int size, MacAddress? routerPort = null, MacAddress? sender = null)
    {
        var frame = new byte[size];
        new EthernetHeader(routerPort ?? new MacAddress(0x02_00_00_00_00_01), sender ?? new MacAddress(0x02_00_00_00_00_98), EtherType.Ipv4).Emit(frame);
        var ip = frame.AsSpan(EthernetFrame.UntaggedHeaderLength);
        new Ipv4Header(0, 0, (ushort)ip.Length, 1, true, false, 0, 64, IpProtocol.Tcp, 0,
            IpAddressConversions.ToIPAddress(source), IpAddressConversions.ToIPAddress(destination)).Emit(ip);
        Ipv4Packet.TryCreate(ip, out var packet);
        packet.UpdateHeaderChecksum();
        new TcpHeader(sourcePort, destinationPort, 1, 0, flags, 65535, 0, 0).Emit(packet.Payload);
        FixTcpChecksum(frame);
        return frame;
    }

    internal static void FixTcpChecksum(byte[] frame)
    {
        Ipv4Packet.TryCreate(frame.AsSpan(EthernetFrame.UntaggedHeaderLength), out var packet);
        TcpSegment.TryCreate(packet.Payload, out var tcp);
        tcp.UpdateChecksum(packet.PseudoHeaderSum());
    }
}
