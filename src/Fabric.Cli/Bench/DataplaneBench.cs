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

namespace Fabric.Cli.Bench;

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
        double FirstPacketNs, double EstablishedNsPerPacket, double CopyBaselineNsPerPacket, double AllocBytesPerPacket,
        int Prefixes, int Sessions, bool Quick);

    public static Result Run(bool quick, Action<string> progress)
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
        var lpmNs = TimeLookups(addresses, lookups, a => table.Lookup(a));
        var slash24 = new Dictionary<uint, int>();
        foreach (var (prefix, length) in prefixes)
        {
            if (length == 24)
            {
                slash24.TryAdd(prefix, 1);
            }
        }

        var baselineNs = TimeLookups(addresses, lookups, a => slash24.TryGetValue(a & 0xFFFF_FF00, out var v) ? v : -1);

        progress($"filling a session table with {SessionCount:N0} sessions");
        var before = GC.GetTotalMemory(forceFullCollection: true);
        var sessions = new SessionTable<SessionState>(SessionCount);
        var after = GC.GetTotalMemory(forceFullCollection: true);
        var keys = new SessionKey[SessionCount];
        for (var i = 0; i < keys.Length; i++)
        {
            keys[i] = new SessionKey((uint)random.Next(), (uint)random.Next(), (ushort)random.Next(1024, 65536), 443, IpProtocol.Tcp);
            sessions.TryInsert(keys[i], keys[i].Reversed(), default, 0, long.MaxValue / 4, out _);
        }

        progress("timing session lookups");
        var probes = new int[1 << 20];
        for (var i = 0; i < probes.Length; i++)
        {
            probes[i] = random.Next(keys.Length);
        }

        var sessionRate = LookupsPerSecond(probes, lookups / 2, i => sessions.TryFind(keys[i], out var h, out _) ? h : -1);
        var dictionary = new Dictionary<SessionKey, int>(keys.Length);
        for (var i = 0; i < keys.Length; i++)
        {
            dictionary.TryAdd(keys[i], i);
        }

        var dictionaryRate = LookupsPerSecond(probes, lookups / 2, i => dictionary.TryGetValue(keys[i], out var h) ? h : -1);

        progress("timing the pipeline: first packets and established sessions");
        var (first, established, copy, alloc) = Pipeline(prefixes, quick);
        return new Result(
            lpmNs, table.MemoryBytes, baselineNs,
            sessionRate, (double)(after - before) / SessionCount, dictionaryRate,
            first, established, copy, alloc, Prefixes, SessionCount, quick);
    }

    private static double TimeLookups(uint[] addresses, int count, Func<uint, int> lookup)
    {
        var mask = addresses.Length - 1;
        var sink = 0;
        for (var i = 0; i < 100_000; i++)
        {
            sink += lookup(addresses[i & mask]);
        }

        var watch = Stopwatch.StartNew();
        for (var i = 0; i < count; i++)
        {
            sink += lookup(addresses[i & mask]);
        }

        watch.Stop();
        GC.KeepAlive(sink);
        return watch.Elapsed.TotalNanoseconds / count;
    }

    private static double LookupsPerSecond(int[] probes, int count, Func<int, int> lookup)
    {
        var mask = probes.Length - 1;
        var sink = 0;
        var watch = Stopwatch.StartNew();
        for (var i = 0; i < count; i++)
        {
            sink += lookup(probes[i & mask]);
        }

        watch.Stop();
        GC.KeepAlive(sink);
        return count / watch.Elapsed.TotalSeconds;
    }

    /// <summary>
    /// A router with a client port and an instance port, whose one service holds every prefix of the
    /// table: first packets pay classify, service match in 1 M prefixes, access, admission, load
    /// balancing and insert; established packets pay lookup, policing, NAT and egress.
    /// </summary>
    private static (double FirstNs, double EstablishedNs, double CopyNs, double AllocBytes) Pipeline((uint Prefix, int Length)[] prefixes, bool quick)
    {
        var config = BenchConfig(prefixes);
        var client = new DiscardPort("c1", new MacAddress(0x02_00_00_00_00_01));
        var sink = new DiscardPort("sinks", new MacAddress(0x02_00_00_00_00_02));
        var sessionCount = quick ? 100_000 : 400_000;
        using var router = new ForwardingEngine("bench1", [client, sink], new RouterOptions(SessionCapacity: sessionCount * 2));
        router.Apply(config, 1);
        var snapshot = router.Snapshot;
        var worker = router.Worker;
        var sinkAddress = IpAddressConversions.ParseIpv4("10.9.0.10");
        var clientAddress = IpAddressConversions.ParseIpv4("10.8.0.10");
        GatewayLearn(worker, 1, sinkAddress, new MacAddress(0x02_00_00_00_00_99));
        GatewayLearn(worker, 0, clientAddress, new MacAddress(0x02_00_00_00_00_98));

        // Frames: one SYN per session to a random destination inside the table.
        var random = new Random(7);
        var templates = new byte[sessionCount][];
        for (var i = 0; i < sessionCount; i++)
        {
            var (prefix, length) = prefixes[random.Next(prefixes.Length)];
            var host = length == 32 ? 0 : (uint)random.NextInt64(0, 1L << (32 - length));
            templates[i] = Frame(clientAddress, prefix | host, (ushort)(1024 + (i % 60000)), (ushort)(1 + (i / 60000)), TcpFlags.Syn, 1400);
        }

        var buffer = new byte[PacketBuffer.DefaultCapacity];
        var now = Stopwatch.GetTimestamp();
        var watch = Stopwatch.StartNew();
        for (var i = 0; i < sessionCount; i++)
        {
            var frame = templates[i];
            frame.CopyTo(buffer, 0);
            worker.Process(buffer, frame.Length, 0, now, snapshot);
        }

        watch.Stop();
        var firstNs = watch.Elapsed.TotalNanoseconds / sessionCount;

        // Established: the same flows again with ACKs, round after round.
        for (var i = 0; i < sessionCount; i++)
        {
            templates[i][EthernetFrame.UntaggedHeaderLength + 20 + 13] = (byte)TcpFlags.Ack;
            FixTcpChecksum(templates[i]);
        }

        var packets = quick ? 2_000_000 : 10_000_000;
        var active = Math.Min(sessionCount, 65_536);
        for (var i = 0; i < active; i++)
        {
            templates[i].CopyTo(buffer, 0);
            worker.Process(buffer, templates[i].Length, 0, now, snapshot);
        }

        var allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
        watch.Restart();
        for (var i = 0; i < packets; i++)
        {
            var frame = templates[i & (active - 1)];
            frame.CopyTo(buffer, 0);
            worker.Process(buffer, frame.Length, 0, now, snapshot);
        }

        watch.Stop();
        var allocated = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;
        var establishedNs = watch.Elapsed.TotalNanoseconds / packets;

        watch.Restart();
        for (var i = 0; i < packets; i++)
        {
            var frame = templates[i & (active - 1)];
            frame.CopyTo(buffer, 0);
        }

        watch.Stop();
        GC.KeepAlive(buffer);
        return (firstNs, establishedNs, watch.Elapsed.TotalNanoseconds / packets, (double)allocated / packets);
    }

    private static void GatewayLearn(PacketWorker worker, int port, uint address, MacAddress mac) => worker.Neighbors.Learn(port, address, mac);

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

    private static byte[] Frame(uint source, uint destination, ushort sourcePort, ushort destinationPort, TcpFlags flags, int size)
    {
        var frame = new byte[size];
        new EthernetHeader(new MacAddress(0x02_00_00_00_00_01), new MacAddress(0x02_00_00_00_00_98), EtherType.Ipv4).Emit(frame);
        var ip = frame.AsSpan(EthernetFrame.UntaggedHeaderLength);
        new Ipv4Header(0, 0, (ushort)ip.Length, 1, true, false, 0, 64, IpProtocol.Tcp, 0,
            IpAddressConversions.ToIPAddress(source), IpAddressConversions.ToIPAddress(destination)).Emit(ip);
        Ipv4Packet.TryCreate(ip, out var packet);
        packet.UpdateHeaderChecksum();
        new TcpHeader(sourcePort, destinationPort, 1, 0, flags, 65535, 0, 0).Emit(packet.Payload);
        FixTcpChecksum(frame);
        return frame;
    }

    private static void FixTcpChecksum(byte[] frame)
    {
        Ipv4Packet.TryCreate(frame.AsSpan(EthernetFrame.UntaggedHeaderLength), out var packet);
        TcpSegment.TryCreate(packet.Payload, out var tcp);
        tcp.UpdateChecksum(packet.PseudoHeaderSum());
    }
}
