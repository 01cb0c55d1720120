using System.Diagnostics;
using System.Text.Json;
using Fabric.Cli.Hosting;
using Fabric.Tests.Support;

namespace Fabric.Tests.Cli.Lab;

/// <summary>One lab for the class: the shipped two-WAN topology (hocon/lab-two-wan.conf).</summary>
public sealed class TwoWanLab : IDisposable
{
    public LabRun Run { get; } = LabRun.Started("w", Repository.Read("hocon/lab-two-wan.conf"));

    public void Dispose() => Run.Dispose();
}

/// <summary>
/// Paths by quality through real router processes: br1 reaches dc1 over inet (preferred) and mpls; web and bulk
/// require at most 20% loss and 50 ms latency. A wire is degraded inside the lab's wires namespace and br1's
/// counters (<c>fabric router counters</c>, <c>peer_paths</c>) show where sessions open and move.
/// </summary>
[Collection(LabCollection.Name)]
public sealed class LabTwoWanTests(TwoWanLab lab, ITestOutputHelper output) : IClassFixture<TwoWanLab>
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    /// <summary>The neighbourhoods' hold-down (the default): a path that is good again waits this long.</summary>
    private static readonly TimeSpan HoldDown = TimeSpan.FromSeconds(5);

    private readonly LabRun _run = lab.Run;

    [Fact]
    public void Verify_EveryCellAgreesWithThePolicy_OverTwoWans()
    {
        var verify = _run.Verify();

        Assert.True(verify.Succeeded, verify.ToString());
        Assert.Matches(@"\d+ correct, 0 wrong\n$", verify.Output);
    }

    [Fact]
    public void LossyInet_NewAndResilientSessionsMoveToMpls_AndComeBackAfterHoldDown()
    {
        Until("br1 measured both paths", () => Paths().All(p => p.Value.GetProperty("latency_us").GetInt64() >= 0));
        var start = Paths();

        // A steady bulk session (ping, revertible-failover) and three web sessions, all on inet (the first path).
        using var ping = Background("eng1", "ping", "-n", "-i", "0.2", "-w", "90", "10.10.1.30");
        Until("the ping session opened on inet", () => Delta(start, "inet", "sessions_opened") == 1);
        Curl(3);
        var before = Paths();
        Assert.Equal((4, 0), (Delta(start, before, "inet", "sessions_opened"), Delta(start, before, "mpls", "sessions_opened")));

        // 30% of the frames crossing inet lost (either way): about half of each echo burst.
        using (Degraded("inet", lossPercent: 30))
        {
            var degraded = Stopwatch.StartNew();
            Until("the ping session moved to mpls", () => Delta(before, "mpls", "sessions_moved_in") == 1);
            output.WriteLine($"the resilient session left inet {degraded.ElapsedMilliseconds} ms after the loss began");
            Assert.Equal(1, Delta(before, "inet", "sessions_moved_out"));
            Assert.True(Paths()["inet"].GetProperty("loss_basis_points").GetInt64() > 2_000 || Paths()["inet"].GetProperty("state").GetString() != "up");

            Curl(3);
            var during = Paths();
            Assert.Equal((0, 3), (Delta(before, during, "inet", "sessions_opened"), Delta(before, during, "mpls", "sessions_opened")));
            before = during;
        }

        var restored = Stopwatch.StartNew();
        Until("the ping session came back to inet", () => Delta(before, "inet", "sessions_moved_in") == 1);
        output.WriteLine($"the resilient session came back {restored.ElapsedMilliseconds} ms after the loss ended");
        Assert.True(restored.Elapsed >= HoldDown, $"back after {restored.Elapsed}, within the hold-down");
        Curl(3);
        var after = Paths();
        Assert.Equal((3, 0), (Delta(before, after, "inet", "sessions_opened"), Delta(before, after, "mpls", "sessions_opened")));
        Assert.Equal(1, Delta(before, after, "mpls", "sessions_moved_out"));
    }

    /// <summary>curls web from eng1 <paramref name="times"/> times: each a new session, each must succeed.</summary>
    private void Curl(int times)
    {
        for (var i = 0; i < times; i++)
        {
            var curl = _run.Exec("eng1", "curl", "-s", "-m", "5", "http://10.200.0.80/");
            Assert.True(curl.Succeeded, curl.ToString());
        }
    }

    /// <summary>br1's peer paths to dc1 by neighbourhood, as <c>fabric router counters</c> gives them.</summary>
    private Dictionary<string, JsonElement> Paths()
    {
        using var document = JsonDocument.Parse(RouterProcess.ReadCounters(_run.AdminSocketOf("br1a")));
        return document.RootElement.GetProperty("peer_paths").EnumerateArray()
            .ToDictionary(p => p.GetProperty("neighborhood").GetString()!, p => p.Clone());
    }

    private long Delta(Dictionary<string, JsonElement> from, string path, string counter) => Delta(from, Paths(), path, counter);

    private static long Delta(Dictionary<string, JsonElement> from, Dictionary<string, JsonElement> to, string path, string counter) =>
        to[path].GetProperty(counter).GetInt64() - from[path].GetProperty(counter).GetInt64();

    /// <summary>
    /// Loses <paramref name="lossPercent"/>% of the frames leaving the neighbourhood's bridge towards each router (an
    /// nftables ingress rule on each bridge port in the wires namespace) until disposed. The kernel here has no
    /// netem qdisc; nftables' random numbers give the same loss.
    /// </summary>
    private Restore Degraded(string neighborhood, int lossPercent)
    {
        var wires = $"fab-{_run.Name}";
        var ports = ExternalCommand.Run("ip", "-n", wires, "-o", "link", "show", "master", neighborhood).Output
            .Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(':')[1].Trim().Split('@')[0]).ToList();
        Assert.Equal(2, ports.Count);
        var chains = string.Concat(ports.Select(port =>
            $"chain {port} {{ type filter hook ingress device \"{port}\" priority 0; numgen random mod 100 < {lossPercent} drop; }}\n"));
        var table = $"fabric_{neighborhood}_loss";
        var script = Path.Combine(_run.StateRoot, table + ".nft");
        File.WriteAllText(script, $"table netdev {table} {{\n{chains}}}\n");
        var add = ExternalCommand.Run("ip", "netns", "exec", wires, "nft", "-f", script);
        Assert.True(add.Succeeded, add.ToString());
        return new Restore(() => Assert.True(ExternalCommand.Run("ip", "netns", "exec", wires, "nft", "delete", "table", "netdev", table).Succeeded));
    }

    /// <summary>Runs a command in a lab container in the background; disposing stops it.</summary>
    private Restore Background(string container, params string[] command)
    {
        // ip netns exec runs the command in its own process (the one started here), so killing it stops the command.
        var process = Process.Start(ExternalCommand.Info("ip", ["netns", "exec", _run.NamespaceOf(container), .. command]))!;
        return new Restore(() =>
        {
            process.Kill();
            process.WaitForExit(5_000);
            process.Dispose();
        });
    }

    private void Until(string what, Func<bool> condition)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed > Deadline)
            {
                Assert.Fail($"{what}: not within {Deadline.TotalSeconds} s\n{RouterProcess.ReadCounters(_run.AdminSocketOf("br1a"))}");
            }

            Thread.Sleep(100);
        }
    }

    private sealed class Restore(Action undo) : IDisposable
    {
        public void Dispose() => undo();
    }
}
