using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Fabric.Router;
using Fabric.Lab;
using Fabric.Model;
using Fabric.Model.Collections;

namespace Fabric.Bench;

/// <summary>Which forwarding a <see cref="LabBench"/> run measures on the lab's namespaces.</summary>
public enum LabPath
{
    /// <summary>Fabric router processes.</summary>
    Fabric,

    /// <summary>The router namespaces forwarding with the kernel, routing to each other over the WAN.</summary>
    Kernel,

    /// <summary>Kernel forwarding with the routers joined by a VXLAN overlay (what Calico or Flannel would build).</summary>
    Vxlan,
}

/// <summary>
/// One path's figures; null where not measured or the measurement failed (<see cref="Problems"/> say why).
/// Round trips are of a 64-byte UDP datagram to an echo in the server container, in microseconds.
/// </summary>
public sealed record LabPathResult(
    LabPath Path,
    double? TcpBitsPerSecond,
    double? SmallPacketsReceivedPerSecond,
    double? SmallPacketsOfferedPerSecond,
    double? RttP50Microseconds,
    double? RttP99Microseconds,
    double? RttP99LoadedMicroseconds,
    IReadOnlyDictionary<string, double> RouterIdleCpuPercent,
    IReadOnlyDictionary<string, RouterMemory> RouterMemory,
    IReadOnlyList<string> Problems);

/// <summary>
/// A router process's memory at rest, in MiB: resident (every page it maps that is in memory, shared file pages of the
/// runtime and libraries included) and proportional (each shared page divided among the processes that map it: what
/// the router adds to a node that already runs .NET processes).
/// </summary>
public sealed record RouterMemory(double ResidentMegabytes, double ProportionalMegabytes);

/// <summary>
/// <c>fabric bench lab</c>: builds the topology once per path (Fabric router processes; the same namespaces with
/// kernel forwarding; kernel forwarding over a VXLAN overlay between the routers) and measures, from a client container
/// allowed to the topology's iperf3 service: single-stream iperf3 TCP; 64-byte UDP from a transmit-ring sender built into
/// this command (<see cref="PacketRingSender"/>) to a counting receiver in the server container; UDP round trips idle and
/// under the TCP load; and, for Fabric, each router process's CPU while the lab is idle (measured once the routers have
/// run for the settle time) and its resident memory. Not thread-safe: one run at a time.
/// </summary>
public static class LabBench
{
    /// <summary>The UDP payload size of the small-packet measurement.</summary>
    public const int SmallPacketBytes = 64;

    /// <summary>How long the idle CPU of each router is sampled.</summary>
    public static readonly TimeSpan IdleSample = TimeSpan.FromSeconds(10);

    private const int IdleProbes = 2000;

    /// <summary>
    /// Round trips run and discarded before the idle ones, on every path alike: a router's first packets of a kind run its
    /// packet path as the JIT first compiles it (on the worker's own thread) and while its background tier recompiles
    /// the hot methods, which a router that has carried traffic has done (docs/benchmarks.md, "Round-trip tail at rest").
    /// </summary>
    private const int WarmUpProbes = 1500;
    private static readonly TimeSpan IdleProbeInterval = TimeSpan.FromMilliseconds(2);
    private static readonly TimeSpan LoadedProbeInterval = TimeSpan.FromMilliseconds(5);

    /// <summary><paramref name="config"/> with every router's nodes running <paramref name="workers"/> packet workers (<c>bench lab --workers</c>).</summary>
    public static FabricConfig WithWorkers(FabricConfig config, int workers)
    {
        ArgumentNullException.ThrowIfNull(config);
        return config with
        {
            Routers = new ValueList<Model.Router>(config.Routers.Select(r => r with { Dataplane = r.Dataplane with { Workers = workers } })),
        };
    }

    /// <summary>The client and server for the topology: the first iperf3 server and an allowed client container on another router (else any allowed one).</summary>
    public static (string Client, LabServer Server)? Pick(FabricConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        foreach (var server in LabServer.For(config).Where(s => s.Kind == ServerKind.Iperf3))
        {
            var service = config.FindService(server.Service)!;
            var serverRouter = config.Containers().First(c => c.Container.Name == server.Container).Router.Name;
            var clients = config.Containers()
                .Where(c => (c.Container.Tenant ?? c.Network.Tenant) is { } tenant && LabGuide.Allowed(service, tenant))
                .OrderBy(c => c.Router.Name == serverRouter ? 1 : 0)
                .ToList();
            if (clients.Count > 0)
            {
                return (clients[0].Container.Name, server);
            }
        }

        return null;
    }

    /// <summary>
    /// Builds the lab for <paramref name="path"/>, measures, and takes it down again. <paramref name="settle"/> is how long
    /// Fabric's routers run before their idle CPU is sampled (their start-up work done); the other paths start at once.
    /// </summary>
    public static LabPathResult Measure(
        FabricConfig config, LabLayout layout, string client, LabServer server, LabPath path, int seconds, TimeSpan settle, TextWriter progress)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(layout);
        ArgumentNullException.ThrowIfNull(server);
        ArgumentNullException.ThrowIfNull(progress);
        var problems = new List<string>();
        var idleCpu = new Dictionary<string, double>(StringComparer.Ordinal);
        var memory = new Dictionary<string, RouterMemory>(StringComparer.Ordinal);
        try
        {
            if (path == LabPath.Vxlan && config.Routers.Count < 2)
            {
                return Empty(path, "one router: no overlay between routers to measure");
            }

            var started = Stopwatch.StartNew();
            new LabBuilder(config, layout, TextWriter.Null, kernelForwarding: path != LabPath.Fabric).Build();
            if (path == LabPath.Vxlan)
            {
                KernelRouting.AddOverlay(config, router => layout.NamespaceOf(router.Nodes[0].Name));
            }

            // Kernel paths reach the container itself (no NAT to a virtual address there).
            var container = config.Containers().First(c => c.Container.Name == server.Container).Container;
            var target = IPAddress.Parse(path == LabPath.Fabric ? server.Address : container.Addresses[0].ToString());
            var clientNs = layout.NamespaceOf(client);
            var serverNs = layout.NamespaceOf(server.Container);
            var endpoint = new IPEndPoint(target, server.ServicePort);
            progress.WriteLine($"bench: {Describe(path)}: {client} -> {server.Container} ({endpoint}), TCP {seconds} s, 64-byte UDP {seconds} s, UDP round trips");
            if (path == LabPath.Fabric)
            {
                var wait = settle - started.Elapsed;
                if (wait > TimeSpan.Zero)
                {
                    progress.WriteLine($"bench: letting the routers settle for {wait.TotalSeconds:F0} s before sampling their idle CPU");
                    Thread.Sleep(wait);
                }

                SampleRouters(config, layout, idleCpu, memory);
            }

            Probe(clientNs, serverNs, endpoint, WarmUpProbes, IdleProbeInterval, load: null, problems);
            var idle = Probe(clientNs, serverNs, endpoint, IdleProbes, IdleProbeInterval, load: null, problems);
            double? tcp = null;
            var loaded = Probe(clientNs, serverNs, endpoint, int.MaxValue, LoadedProbeInterval, load: () =>
            {
                var run = Iperf(clientNs, ["-c", target.ToString(), "-p", server.ServicePort.ToString(CultureInfo.InvariantCulture), "-t", seconds.ToString(CultureInfo.InvariantCulture), "--connect-timeout", "3000", "-J"]);
                if (run.Problem is not null)
                {
                    problems.Add(run.Problem);
                }

                tcp = run.Root?.GetProperty("end").GetProperty("sum_received").GetProperty("bits_per_second").GetDouble();
            }, problems);
            var (received, offered) = SmallPackets(clientNs, serverNs, endpoint, TimeSpan.FromSeconds(seconds), problems);
            return new LabPathResult(
                path, tcp, received, offered,
                Nullable(UdpProbes.Percentile(idle, 50)), Nullable(UdpProbes.Percentile(idle, 99)), Nullable(UdpProbes.Percentile(loaded, 99)),
                idleCpu, memory, problems);
        }
        catch (Exception e) when (e is LabException or HttpRequestException or SocketException)
        {
            problems.Add(e.Message);
            return new LabPathResult(path, null, null, null, null, null, null, idleCpu, memory, problems);
        }
        finally
        {
            LabTeardown.Run(layout, TextWriter.Null);
        }
    }

    public static string Describe(LabPath path) => path switch
    {
        LabPath.Fabric => "fabric",
        LabPath.Kernel => "kernel forwarding",
        _ => "vxlan overlay",
    };

    private static LabPathResult Empty(LabPath path, string problem) =>
        new(path, null, null, null, null, null, null, new Dictionary<string, double>(), new Dictionary<string, RouterMemory>(), [problem]);

    private static double? Nullable(double value) => double.IsNaN(value) ? null : value;

    /// <summary>Each router process's CPU (percent of one core) over <see cref="IdleSample"/> with no traffic, and its memory.</summary>
    private static void SampleRouters(FabricConfig config, LabLayout layout, Dictionary<string, double> cpu, Dictionary<string, RouterMemory> memory)
    {
        var nodes = config.Routers.SelectMany(r => r.Nodes).Select(n => n.Name).ToList();
        var pids = layout.PidFiles().Where(p => nodes.Contains(p.Process)).ToList();
        var before = pids.ToDictionary(p => p.Process, p => CpuTicks(p.Pid));
        var clock = Stopwatch.StartNew();
        Thread.Sleep(IdleSample);
        var seconds = clock.Elapsed.TotalSeconds;
        foreach (var (node, pid) in pids)
        {
            if (before[node] is { } start && CpuTicks(pid) is { } end)
            {
                cpu[node] = (end - start) / 100.0 / seconds * 100;
            }

            if (MemoryKilobytes($"/proc/{pid}/status", "VmRSS:") is { } resident && MemoryKilobytes($"/proc/{pid}/smaps_rollup", "Pss:") is { } proportional)
            {
                memory[node] = new RouterMemory(resident / 1024.0, proportional / 1024.0);
            }
        }
    }

    /// <summary>utime + stime of a process in clock ticks (USER_HZ, 100 on Linux), or null when it is gone.</summary>
    private static long? CpuTicks(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>The kilobytes on the line of <paramref name="file"/> (a /proc file of "Name: N kB" lines) that starts with <paramref name="field"/>, or null when the process is gone.</summary>
    private static long? MemoryKilobytes(string file, string field)
    {
        try
        {
            var line = File.ReadLines(file).FirstOrDefault(l => l.StartsWith(field, StringComparison.Ordinal));
            return line is null ? null : long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>
    /// UDP round trips from the client to an echo in the server container: <paramref name="count"/> probes, or, with a
    /// <paramref name="load"/>, probes for as long as the load runs (on this thread) and then stop.
    /// </summary>
    private static List<double> Probe(string clientNs, string serverNs, IPEndPoint target, int count, TimeSpan interval, Action? load, List<string> problems)
    {
        using var echo = NamespaceConnections.Create(serverNs, AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        echo.Bind(new IPEndPoint(IPAddress.Any, target.Port));
        using var prober = NamespaceConnections.Create(clientNs, AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        prober.Connect(target);
        using var stop = new CancellationTokenSource();
        var echoing = new Thread(() => UdpProbes.Echo(echo, stop.Token)) { IsBackground = true, Name = "bench-echo" };
        echoing.Start();
        var lost = 0;
        var times = new List<double>();
        var probing = new Thread(() => times = UdpProbes.RoundTrips(prober, count, interval, stop.Token, out lost)) { IsBackground = true, Name = "bench-probe" };
        probing.Start();
        if (load is not null)
        {
            load();
            stop.Cancel();
        }

        probing.Join();
        stop.Cancel();
        echoing.Join();
        if (times.Count == 0)
        {
            problems.Add($"no UDP round trip to {target} was answered ({lost} lost)");
        }

        return times;
    }

    /// <summary>
    /// 64-byte UDP from a transmit-ring sender on the client's interface to a counting receiver in the server: (received,
    /// offered) per second. A first datagram from an ordinary UDP socket opens the session and resolves the gateway before
    /// the clock starts; the ring then sends that same datagram (same addresses and ports) as fast as the interface takes it.
    /// </summary>
    private static (double? Received, double? Offered) SmallPackets(string clientNs, string serverNs, IPEndPoint target, TimeSpan duration, List<string> problems)
    {
        using var receiver = NamespaceConnections.Create(serverNs, AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        receiver.ReceiveBufferSize = 8 << 20;
        receiver.Bind(new IPEndPoint(IPAddress.Any, target.Port));
        using var opener = NamespaceConnections.Create(clientNs, AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        opener.Connect(target);
        using var stop = new CancellationTokenSource();
        long received = 0;
        var counting = new Thread(() => received = UdpProbes.Count(receiver, stop.Token)) { IsBackground = true, Name = "bench-receiver" };
        counting.Start();
        long sent = 0;
        var seconds = 0.0;
        try
        {
            opener.Send(new byte[SmallPacketBytes]);
            Thread.Sleep(200);
            var link = ClientLink.Resolve(clientNs, target.Address);
            var frame = PacketRingSender.UdpFrame(link.Mac, link.NextHopMac, (IPEndPoint)opener.LocalEndPoint!, target, SmallPacketBytes);
            using var sender = PacketRingSender.Open(
                NamespaceConnections.Create(clientNs, AddressFamily.Packet, SocketType.Raw, ProtocolType.Unspecified), link.Index, frame);
            var sending = new Thread(() =>
            {
                var clock = Stopwatch.StartNew();
                sent = sender.Blast(duration);
                seconds = clock.Elapsed.TotalSeconds;
            }) { IsBackground = true, Name = "bench-sender" };
            sending.Start();
            sending.Join();
            Thread.Sleep(200);
        }
        finally
        {
            stop.Cancel();
            counting.Join();
        }

        if (received == 0)
        {
            problems.Add($"no 64-byte UDP datagram reached {target}");
            return (null, sent / seconds);
        }

        return (Math.Max(0, received - 1) / seconds, sent / seconds);
    }

    private static (JsonElement? Root, string? Problem) Iperf(string ns, string[] arguments)
    {
        var result = ExternalCommand.Run(TimeSpan.FromMinutes(2), "ip", ["netns", "exec", ns, "iperf3", .. arguments]);
        try
        {
            using var json = JsonDocument.Parse(result.Output);
            if (json.RootElement.TryGetProperty("error", out var error))
            {
                return (null, $"iperf3: {error.GetString()}");
            }

            return (json.RootElement.Clone(), null);
        }
        catch (JsonException)
        {
            return (null, $"iperf3 printed no result (exit {result.ExitCode}): {result.Error.Trim()}");
        }
    }
}
