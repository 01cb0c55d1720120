using System.Text.Json;
using Fabric.Lab;
using Fabric.Config;

namespace Fabric.Tests.Lab;

/// <summary>
/// <c>fabric trace</c> against <c>lab verify</c>: every cell of the verify grid (a client container × a service port,
/// probed with a real connection) traced with the CLI from the same container to the same address and port, and the
/// trace's verdict (forwarded or dropped) compared with what the connection did.
/// </summary>
public static class TraceAgreement
{
    public static void AssertEveryCellAgrees(LabRun run)
    {
        ArgumentNullException.ThrowIfNull(run);
        var layout = new LabLayout(run.Name, run.StateRoot);
        var config = FabricConfigLoader.LoadFile(layout.Topology).Config!;
        var plan = LabVerifier.Plan(LabConductor.Running(layout, config));
        Assert.NotEmpty(plan);
        var observed = LabVerifier.Run(plan, layout);
        var disagreements = new List<string>();
        var disagreeing = new List<LabProbe>();
        foreach (var probe in observed)
        {
            var separator = probe.Target.LastIndexOf(':');
            var (address, port) = (probe.Target[..separator], probe.Target[(separator + 1)..]);
            var icmp = port == "icmp";
            var trace = LabRun.Fabric(
                "trace", "--from", probe.Client, "--to", icmp ? address : $"{address}:{port}", "--protocol", icmp ? "icmp" : "tcp", "--json",
                "--lab", run.Name, "--state-dir", run.StateRoot);
            Assert.True(trace.ExitCode is 0 or 1, $"{probe.Client} -> {probe.Target}: {trace}");
            using var answer = JsonDocument.Parse(trace.Output);
            var verdict = answer.RootElement.GetProperty("verdict").GetString();
            var line = answer.RootElement.GetProperty("verdict_line").GetString();
            Assert.Equal(verdict == "forwarded" ? 0 : 1, trace.ExitCode);
            if ((verdict == "forwarded") != (probe.Reached == true))
            {
                disagreeing.Add(probe);
                disagreements.Add($"{probe.Client} ({probe.Tenant}) -> {probe.Service} {probe.Target}: the connection {(probe.Reached == true ? "got through" : $"was blocked ({probe.Failure})")}, the trace says {line}");
            }
        }

        if (disagreements.Count > 0)
        {
            // What the routers dropped, with reasons and 5-tuples, and each disagreeing cell probed once more: whether a
            // blocked connection was a passing loss or the fabric's answer. Diagnosis only: the verdict stays failed.
            var again = LabVerifier.Run(disagreeing, layout);
            var drops = LabRun.Fabric("drops", "--limit", "50", "--lab", run.Name, "--state-dir", run.StateRoot);
            Assert.Fail(
                $"{disagreements.Count} of {observed.Count} cells disagree:\n{string.Join('\n', disagreements)}\n"
                + $"probed again: {string.Join(", ", again.Select(p => $"{p.Client} -> {p.Target} {(p.Reached == true ? "reached" : $"blocked ({p.Failure})")}"))}\n"
                + $"fabric drops:\n{drops.Output}");
        }
    }
}
