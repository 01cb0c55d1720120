using System.CommandLine;
using System.Text.Json;
using Fabric.Bench;
using Fabric.Router;

namespace Fabric.Cli.Commands;

/// <summary><c>fabric bench</c>: measurements of this build on this machine, each beside a baseline from the same run.</summary>
public static class BenchCommands
{
    public static Command Create()
    {
        var bench = new Command("bench", "Measure Fabric on this machine; every figure comes with a baseline measured in the same run.");
        bench.Subcommands.Add(Dataplane());
        bench.Subcommands.Add(Svr());
        bench.Subcommands.Add(ControlPlane());
        bench.Subcommands.Add(LabPaths());
        return bench;
    }

    private static Command ControlPlane()
    {
        var quick = new Option<bool>("--quick") { Description = "5 timed commits per fabric size instead of 20." };
        var json = new Option<bool>("--json") { Description = "Print one JSON object instead of a table." };
        var command = new Command(
            "control-plane",
            "Measure commit-to-applied latency for 10 and 50 routers simulated in this process (a conductor and 5 router actor systems on loopback, real remoting and Distributed Data).")
        {
            quick,
            json,
        };
        command.SetAction(parse =>
        {
            var output = parse.InvocationConfiguration.Output;
            var error = parse.InvocationConfiguration.Error;
            var results = ControlPlaneBench.Run(parse.GetValue(quick), message => error.WriteLine($"bench: {message}")).GetAwaiter().GetResult();
            if (parse.GetValue(json))
            {
                output.WriteLine(JsonSerializer.Serialize(results.ToDictionary(
                    r => $"routers_{r.Routers}",
                    r => new Dictionary<string, object>
                    {
                        ["commits"] = r.Commits,
                        ["applied_median_ms"] = Math.Round(r.AppliedMedianMs, 1),
                        ["applied_p95_ms"] = Math.Round(r.AppliedP95Ms, 1),
                        ["applied_max_ms"] = Math.Round(r.AppliedMaxMs, 1),
                        ["acked_median_ms"] = Math.Round(r.AckedMedianMs, 1),
                        ["acked_p95_ms"] = Math.Round(r.AckedP95Ms, 1),
                        ["baseline_compile_all_sequential_ms"] = Math.Round(r.CompileAllMs, 1),
                    })));
                return 0;
            }

            foreach (var r in results)
            {
                output.WriteLine($"{r.Routers,3} routers, {r.Commits} commits: applied everywhere median {r.AppliedMedianMs,6:F0} ms  p95 {r.AppliedP95Ms,6:F0} ms  max {r.AppliedMaxMs,6:F0} ms;  " +
                    $"conductor sees every ack median {r.AckedMedianMs,6:F0} ms  p95 {r.AckedP95Ms,6:F0} ms   (baseline: compiling all {r.Routers} snapshots on one thread {r.CompileAllMs:F0} ms)");
            }

            return 0;
        });
        return command;
    }

    private static Command Svr()
    {
        var quick = new Option<bool>("--quick") { Description = "Fewer sessions and packets (a few seconds)." };
        var json = new Option<bool>("--json") { Description = "Print one JSON object instead of a table." };
        var command = new Command(
            "svr",
            "Measure SVR between two routers in memory: per-packet cost on an established session plain and encrypted (1400-byte frames), session setup with metadata both ways, and bytes added on the wire per packet.")
        {
            quick,
            json,
        };
        command.SetAction(parse =>
        {
            var output = parse.InvocationConfiguration.Output;
            var error = parse.InvocationConfiguration.Error;
            var result = SvrBench.Run(parse.GetValue(quick), message => error.WriteLine($"bench: {message}"));
            if (parse.GetValue(json))
            {
                output.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
                {
                    ["ns_per_packet_plain"] = Math.Round(result.NsPerPacketPlain, 1),
                    ["ns_per_packet_encrypted"] = Math.Round(result.NsPerPacketEncrypted, 1),
                    ["session_setup_ns"] = Math.Round(result.SessionSetupNs, 1),
                    ["overhead_bytes_per_packet_plain"] = result.OverheadBytesPerPacketPlain,
                    ["overhead_bytes_per_packet_encrypted"] = result.OverheadBytesPerPacketEncrypted,
                    ["alloc_bytes_per_packet"] = Math.Round(result.AllocBytesPerPacket, 3),
                    ["aes_gcm_baseline_ns"] = Math.Round(result.AesGcmBaselineNs, 1),
                    ["frame_bytes"] = SvrBench.FrameSize,
                    ["sessions"] = result.Sessions,
                    ["packets"] = result.Packets,
                    ["quick"] = result.Quick,
                }));
                return 0;
            }

            output.WriteLine($"established, plain, per router pass      {result.NsPerPacketPlain,8:F0} ns   {result.OverheadBytesPerPacketPlain} bytes added per packet");
            output.WriteLine($"established, AES-GCM, per router pass    {result.NsPerPacketEncrypted,8:F0} ns   {result.OverheadBytesPerPacketEncrypted} bytes added per packet   (baseline: AesGcm.Encrypt of the payload alone {result.AesGcmBaselineNs:F0} ns)");
            output.WriteLine($"session setup, metadata both ways        {result.SessionSetupNs,8:F0} ns   (SYN and SYN-ACK through both routers: four passes)");
            output.WriteLine($"allocated per packet                     {result.AllocBytesPerPacket,8:F3} bytes");
            return 0;
        });
        return command;
    }

    private static Command Dataplane()
    {
        var quick = new Option<bool>("--quick") { Description = "Fewer iterations (well under a minute); the tables keep their full size." };
        var json = new Option<bool>("--json") { Description = "Print one JSON object instead of a table." };
        var command = new Command(
            "dataplane",
            "Measure the forwarding engine: LPM over 1 M Internet-shaped IPv4 prefixes, session lookups with 1 M sessions, first-packet and established-packet cost through the pipeline, and bytes allocated per packet.")
        {
            quick,
            json,
        };
        command.SetAction(parse =>
        {
            var output = parse.InvocationConfiguration.Output;
            var error = parse.InvocationConfiguration.Error;
            var document = LabCommands.FindDefaultTopology() is { } topology ? ConfigCommands.Load(topology, error) : null;
            var result = DataplaneBench.Run(parse.GetValue(quick), message => error.WriteLine($"bench: {message}"), document);
            if (parse.GetValue(json))
            {
                output.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
                {
                    ["lpm_ns_per_lookup"] = Math.Round(result.LpmNsPerLookup, 2),
                    ["lpm_table_bytes"] = result.LpmTableBytes,
                    ["lpm_prefixes"] = result.Prefixes,
                    ["lpm_baseline_dictionary_ns_per_lookup"] = Math.Round(result.LpmBaselineNsPerLookup, 2),
                    ["session_lookups_per_sec"] = Math.Round(result.SessionLookupsPerSec),
                    ["session_baseline_dictionary_lookups_per_sec"] = Math.Round(result.SessionBaselineLookupsPerSec),
                    ["sessions"] = result.Sessions,
                    ["bytes_per_session"] = Math.Round(result.BytesPerSession, 1),
                    ["first_packet_ns"] = Math.Round(result.FirstPacketNs, 1),
                    ["established_ns_per_packet"] = Math.Round(result.EstablishedNsPerPacket, 1),
                    ["copy_baseline_ns_per_packet"] = Math.Round(result.CopyBaselineNsPerPacket, 1),
                    ["established_65k_flows_ns_per_packet"] = Math.Round(result.EstablishedManyFlowsNsPerPacket, 1),
                    ["copy_baseline_65k_flows_ns_per_packet"] = Math.Round(result.CopyManyFlowsNsPerPacket, 1),
                    ["alloc_bytes_per_packet"] = Math.Round(result.AllocBytesPerPacket, 3),
                    ["memory_latency_ns"] = Math.Round(result.MemoryLatencyNs, 1),
                    ["snapshot_compile_router"] = result.Compile?.Router ?? "",
                    ["snapshot_compile_us"] = Math.Round(result.Compile?.MedianMicroseconds ?? 0, 1),
                    ["snapshot_compile_bytes"] = result.Compile?.AllocatedBytes ?? 0,
                    ["quick"] = result.Quick,
                }));
                return 0;
            }

            output.WriteLine($"LPM, {result.Prefixes:N0} IPv4 prefixes     {result.LpmNsPerLookup,8:F1} ns/lookup   table {result.LpmTableBytes / 1048576.0:F1} MiB   (baseline: /24 dictionary probe {result.LpmBaselineNsPerLookup:F1} ns)");
            output.WriteLine($"session table, {result.Sessions:N0} sessions  {result.SessionLookupsPerSec / 1e6,8:F1} M lookups/s  {result.BytesPerSession:F0} bytes/session   (baseline: Dictionary {result.SessionBaselineLookupsPerSec / 1e6:F1} M/s)");
            output.WriteLine($"first packet of a session          {result.FirstPacketNs,8:F0} ns");
            output.WriteLine($"established, 64 flows, per packet  {result.EstablishedNsPerPacket,8:F0} ns        (of which copying the 1400-byte frame in: {result.CopyBaselineNsPerPacket:F0} ns)");
            output.WriteLine($"established, 65,536 flows          {result.EstablishedManyFlowsNsPerPacket,8:F0} ns        (of which copying the frame in: {result.CopyManyFlowsNsPerPacket:F0} ns)");
            output.WriteLine($"allocated per packet               {result.AllocBytesPerPacket,8:F3} bytes");
            output.WriteLine($"baseline: one memory miss          {result.MemoryLatencyNs,8:F0} ns        (dependent random reads in 256 MiB)");
            if (result.Compile is { } compile)
            {
                output.WriteLine($"snapshot compile, lab document     {compile.MedianMicroseconds / 1000,8:F2} ms        {compile.AllocatedBytes / 1024.0:F0} KiB allocated (router {compile.Router}, median)");
            }
            return 0;
        });
        return command;
    }

    private static Command LabPaths()
    {
        var topology = new Option<FileInfo?>("--topology") { Description = "The topology document (default hocon/lab.conf)." };
        var seconds = new Option<int>("--seconds") { Description = "How long the TCP and the small-packet runs each last.", DefaultValueFactory = _ => 8 };
        var settle = new Option<int>("--settle")
        {
            Description = "Seconds Fabric's routers run before their idle CPU is sampled (for 10 s): a minute by default, so start-up work is done.",
            DefaultValueFactory = _ => 60,
        };
        var json = new Option<bool>("--json") { Description = "Print one JSON object instead of lines." };
        var workers = new Option<int?>("--workers")
        {
            Description = $"Packet workers per Fabric router node (dataplane.workers, 1-{Model.DataplaneSettings.MaximumWorkers}) in place of what the topology gives.",
        };
        workers.Validators.Add(result =>
        {
            if (result.GetValue(workers) is { } count && count is < 1 or > Model.DataplaneSettings.MaximumWorkers)
            {
                result.AddError($"--workers must be 1-{Model.DataplaneSettings.MaximumWorkers}");
            }
        });
        var name = LabCommands.CheckedLabName(new Option<string?>("--name") { Description = "The name of the lab the bench builds (namespaces fab-NAME-...).", DefaultValueFactory = _ => "bench" });
        var state = new Option<DirectoryInfo?>("--state-dir") { Description = $"Where the bench lab keeps its state (default {Lab.LabLayout.DefaultStateRoot})." };
        var command = new Command(
            "lab",
            "Through Fabric routers, the same namespaces with kernel IP forwarding, and kernel forwarding over a VXLAN overlay between the routers: " +
            "single-stream iperf3 TCP, 64-byte UDP from a built-in transmit-ring sender, UDP round trips idle and under the TCP load, and each Fabric " +
            "router's idle CPU and memory; prints the figures and their ratios. Needs root; builds its own lab (default name \"bench\") once per path.")
        {
            topology,
            seconds,
            settle,
            json,
            workers,
            name,
            state,
        };
        command.SetAction(parse =>
        {
            var output = parse.InvocationConfiguration.Output;
            var error = parse.InvocationConfiguration.Error;
            if (!Environment.IsPrivilegedProcess)
            {
                error.WriteLine("fabric bench lab: building network namespaces needs root; run it with sudo.");
                return 1;
            }

            if (ExternalCommand.FindOnPath("iperf3") is null)
            {
                error.WriteLine("fabric bench lab: iperf3 is not installed; install the Debian package iperf3 (apt-get install iperf3).");
                return 1;
            }

            var path = parse.GetValue(topology)?.FullName ?? LabCommands.FindDefaultTopology();
            if (path is null || ConfigCommands.Load(path, error) is not { } config)
            {
                return FabricCommandLine.UsageOrInvalid;
            }

            if (parse.GetValue(workers) is { } workerCount)
            {
                config = LabBench.WithWorkers(config, workerCount);
            }

            if (LabBench.Pick(config) is not var (client, server))
            {
                error.WriteLine("fabric bench lab: the topology has no iperf3 service (TCP 5201) with an allowed client container");
                return FabricCommandLine.UsageOrInvalid;
            }

            var layout = new Lab.LabLayout(parse.GetValue(name)!, parse.GetValue(state)?.FullName ?? Lab.LabLayout.DefaultStateRoot);
            if (layout.ExistingNamespaces().Count > 0)
            {
                error.WriteLine($"fabric bench lab: a lab named \"{layout.Name}\" is up; run ./fabric lab down --name {layout.Name} first.");
                return 1;
            }

            var time = parse.GetValue(seconds);
            var settleTime = TimeSpan.FromSeconds(parse.GetValue(settle));
            var fabric = LabBench.Measure(config, layout, client, server, LabPath.Fabric, time, settleTime, error);
            var kernel = LabBench.Measure(config, layout, client, server, LabPath.Kernel, time, settleTime, error);
            var vxlan = LabBench.Measure(config, layout, client, server, LabPath.Vxlan, time, settleTime, error);
            // Sender-bound: the sender offered less than three times what Fabric forwarded, so it may be what limits Fabric's figure.
            var senderBound = fabric.SmallPacketsOfferedPerSecond is not { } offered || fabric.SmallPacketsReceivedPerSecond is not { } forwarded || offered < 3 * forwarded;
            if (parse.GetValue(json))
            {
                output.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object?>
                {
                    ["tcp_mbps_fabric"] = Round(fabric.TcpBitsPerSecond / 1e6),
                    ["tcp_mbps_kernel"] = Round(kernel.TcpBitsPerSecond / 1e6),
                    ["tcp_mbps_vxlan"] = Round(vxlan.TcpBitsPerSecond / 1e6),
                    ["tcp_ratio"] = RatioValue(fabric.TcpBitsPerSecond, kernel.TcpBitsPerSecond),
                    ["vxlan_ratio"] = RatioValue(fabric.TcpBitsPerSecond, vxlan.TcpBitsPerSecond),
                    ["small_kpps_fabric"] = Round(fabric.SmallPacketsReceivedPerSecond / 1e3),
                    ["small_kpps_kernel"] = Round(kernel.SmallPacketsReceivedPerSecond / 1e3),
                    ["small_kpps_vxlan"] = Round(vxlan.SmallPacketsReceivedPerSecond / 1e3),
                    ["small_kpps_offered_fabric"] = Round(fabric.SmallPacketsOfferedPerSecond / 1e3),
                    ["small_kpps_offered_kernel"] = Round(kernel.SmallPacketsOfferedPerSecond / 1e3),
                    ["small_packet_ratio"] = RatioValue(fabric.SmallPacketsReceivedPerSecond, kernel.SmallPacketsReceivedPerSecond),
                    ["sender_bound"] = senderBound,
                    ["rtt_us_p50_fabric"] = Round(fabric.RttP50Microseconds),
                    ["rtt_us_p99_fabric"] = Round(fabric.RttP99Microseconds),
                    ["rtt_us_p50_kernel"] = Round(kernel.RttP50Microseconds),
                    ["rtt_us_p99_kernel"] = Round(kernel.RttP99Microseconds),
                    ["rtt_us_p50_vxlan"] = Round(vxlan.RttP50Microseconds),
                    ["rtt_us_p99_fabric_loaded"] = Round(fabric.RttP99LoadedMicroseconds),
                    ["rtt_us_p99_kernel_loaded"] = Round(kernel.RttP99LoadedMicroseconds),
                    ["router_idle_cpu_percent"] = fabric.RouterIdleCpuPercent.ToDictionary(p => p.Key, p => Math.Round(p.Value, 2)),
                    ["router_rss_mb"] = fabric.RouterMemory.ToDictionary(p => p.Key, p => Math.Round(p.Value.ResidentMegabytes, 1)),
                    ["router_pss_mb"] = fabric.RouterMemory.ToDictionary(p => p.Key, p => Math.Round(p.Value.ProportionalMegabytes, 1)),
                    ["problems"] = fabric.Problems.Select(p => $"fabric: {p}").Concat(kernel.Problems.Select(p => $"kernel: {p}")).Concat(vxlan.Problems.Select(p => $"vxlan: {p}")).ToArray(),
                }));
            }
            else
            {
                foreach (var result in new[] { fabric, kernel, vxlan })
                {
                    foreach (var problem in result.Problems)
                    {
                        output.WriteLine($"{LabBench.Describe(result.Path)}: {problem}");
                    }
                }

                foreach (var node in fabric.RouterIdleCpuPercent.Keys.Order(StringComparer.Ordinal))
                {
                    output.WriteLine($"router {node} at rest: {fabric.RouterIdleCpuPercent[node]:F2}% of a core, {fabric.RouterMemory.GetValueOrDefault(node)?.ResidentMegabytes:F0} MB resident ({fabric.RouterMemory.GetValueOrDefault(node)?.ProportionalMegabytes:F0} MB proportional)");
                }

                output.WriteLine($"udp round trip (64 bytes, {client} -> {server.Container}): fabric p50 {Micros(fabric.RttP50Microseconds)} p99 {Micros(fabric.RttP99Microseconds)} (under TCP load p99 {Micros(fabric.RttP99LoadedMicroseconds)}), kernel forwarding p50 {Micros(kernel.RttP50Microseconds)} p99 {Micros(kernel.RttP99Microseconds)} (loaded p99 {Micros(kernel.RttP99LoadedMicroseconds)}), vxlan p50 {Micros(vxlan.RttP50Microseconds)}");
                output.WriteLine($"vxlan overlay: tcp {Rate(vxlan.TcpBitsPerSecond / 1e6, "Mbit/s")}, small packets {Rate(vxlan.SmallPacketsReceivedPerSecond / 1e3, "kpps")}, fabric / vxlan tcp ratio: {Ratio(fabric.TcpBitsPerSecond, vxlan.TcpBitsPerSecond)}");
                output.WriteLine($"tcp (single stream, {client} -> {server.Container}): fabric {Rate(fabric.TcpBitsPerSecond / 1e6, "Mbit/s")}, kernel forwarding {Rate(kernel.TcpBitsPerSecond / 1e6, "Mbit/s")}, tcp ratio: {Ratio(fabric.TcpBitsPerSecond, kernel.TcpBitsPerSecond)}");
                output.WriteLine($"small packets ({LabBench.SmallPacketBytes}-byte UDP received{(senderBound ? ", sender-bound" : "")}): fabric {Rate(fabric.SmallPacketsReceivedPerSecond / 1e3, "kpps")} of {Rate(fabric.SmallPacketsOfferedPerSecond / 1e3, "kpps")} offered, kernel forwarding {Rate(kernel.SmallPacketsReceivedPerSecond / 1e3, "kpps")}, small-packet ratio: {Ratio(fabric.SmallPacketsReceivedPerSecond, kernel.SmallPacketsReceivedPerSecond)}");
            }

            return fabric.TcpBitsPerSecond is null || kernel.TcpBitsPerSecond is null || fabric.SmallPacketsReceivedPerSecond is null || kernel.SmallPacketsReceivedPerSecond is null ? 1 : 0;
        });
        return command;
    }

    private static double? Round(double? value) => value is { } v ? Math.Round(v, 1) : null;

    private static double? RatioValue(double? fabric, double? baseline) => fabric is { } f && baseline is { } b && b > 0 ? Math.Round(f / b, 3) : null;

    private static string Micros(double? value) => value is { } v ? $"{v:F0} us" : "n/a";

    private static string Rate(double? value, string unit) => value is { } v ? $"{v:F1} {unit}" : "no result";

    private static string Ratio(double? fabric, double? kernel) => fabric is { } f && kernel is { } k && k > 0 ? $"{f / k:F2}" : "n/a";
}
