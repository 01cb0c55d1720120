using System.CommandLine;
using System.Text.Json;
using Fabric.Cli.Bench;

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
        var seconds = new Option<int>("--seconds") { Description = "How long each iperf3 run lasts.", DefaultValueFactory = _ => 5 };
        var name = new Option<string>("--name") { Description = "The name of the lab the bench builds (namespaces fab-NAME-...).", DefaultValueFactory = _ => "bench" };
        var state = new Option<DirectoryInfo?>("--state-dir") { Description = $"Where the bench lab keeps its state (default {Lab.LabLayout.DefaultStateRoot})." };
        var command = new Command(
            "lab",
            "Single-stream iperf3 TCP and 64-byte UDP from a client container to the iperf3 service, through Fabric routers and through the " +
            "same namespaces wired with kernel IP forwarding; prints both and their ratios. Needs root; builds its own lab (default name \"bench\").")
        {
            topology,
            seconds,
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

            if (Hosting.ExternalCommand.FindOnPath("iperf3") is null)
            {
                error.WriteLine("fabric bench lab: iperf3 is not installed; install the Debian package iperf3 (apt-get install iperf3).");
                return 1;
            }

            var path = parse.GetValue(topology)?.FullName ?? LabCommands.FindDefaultTopology();
            if (path is null || ConfigCommands.Load(path, error) is not { } config)
            {
                return FabricCommandLine.UsageOrInvalid;
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
            var fabric = LabBench.Measure(config, layout, client, server, kernelForwarding: false, time, error);
            var kernel = LabBench.Measure(config, layout, client, server, kernelForwarding: true, time, error);
            foreach (var (name, result) in new[] { ("fabric", fabric), ("kernel forwarding", kernel) })
            {
                if (result.Problem is not null)
                {
                    output.WriteLine($"{name}: {result.Problem}");
                }
            }

            output.WriteLine($"tcp (single stream, {client} -> {server.Container}): fabric {Rate(fabric.TcpBitsPerSecond / 1e6, "Mbit/s")}, kernel forwarding {Rate(kernel.TcpBitsPerSecond / 1e6, "Mbit/s")}, tcp ratio: {Ratio(fabric.TcpBitsPerSecond, kernel.TcpBitsPerSecond)}");
            output.WriteLine($"small packets ({LabBench.SmallPacketBytes}-byte UDP received): fabric {Rate(fabric.SmallPacketsPerSecond / 1e3, "kpps")}, kernel forwarding {Rate(kernel.SmallPacketsPerSecond / 1e3, "kpps")}, small-packet ratio: {Ratio(fabric.SmallPacketsPerSecond, kernel.SmallPacketsPerSecond)}");
            return fabric.Problem is null && kernel.Problem is null ? 0 : 1;
        });
        return command;
    }

    private static string Rate(double? value, string unit) => value is { } v ? $"{v:F1} {unit}" : "no result";

    private static string Ratio(double? fabric, double? kernel) => fabric is { } f && kernel is { } k && k > 0 ? $"{f / k:F2}" : "n/a";
}
