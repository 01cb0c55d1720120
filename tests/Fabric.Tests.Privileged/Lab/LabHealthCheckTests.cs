using System.Diagnostics;
using System.Text.Json;
using Fabric.Router;
using Fabric.Lab;
using Fabric.Config;

namespace Fabric.Tests.Lab;

/// <summary>
/// Health-checked load balancing on a default lab of its own, since it stops and starts one of web's servers (web's
/// policy checks web1 and web2 every second, down after three failures, up after two successes): a stopped server stops
/// getting sessions from every branch, a started one gets them again, within the time the policy promises, and the
/// router's counters say so.
/// </summary>
[Collection(LabCollection.Name)]
public sealed class LabHealthCheckTests(DefaultLab lab) : IClassFixture<DefaultLab>
{
    /// <summary>What the issue promises: interval × threshold (3 s down, 2 s up) and a probe interval's phase, well inside.</summary>
    private static readonly TimeSpan Within = TimeSpan.FromSeconds(5);

    private readonly LabRun _run = lab.Run;

    [Fact]
    public void Web1Stopped_WithinFiveSeconds_EveryCurlFromEachBranchAnsweredByWeb2_Started_BothAnswerAgain()
    {
        var layout = new LabLayout(_run.Name, _run.StateRoot);
        var server = LabServer.For(FabricConfigLoader.LoadFile(layout.Topology).Config!).Single(s => s.Container == "web1");
        Assert.Equal(["web1", "web2"], Answers("eng1", 20).Distinct().Order());

        Stop(layout.PidFileOf(server.ProcessName));
        var stopped = Stopwatch.StartNew();
        Thread.Sleep(Within - stopped.Elapsed);

        Assert.Equal(Enumerable.Repeat("web2", 20), Answers("eng1", 20));
        Assert.Equal(Enumerable.Repeat("web2", 20), Answers("eng2", 20));
        var web1 = Instance("web1");
        Assert.Equal("down", web1.GetProperty("state").GetString());
        Assert.Equal("refused", web1.GetProperty("last_failure").GetString());
        Assert.Equal("up", Instance("web2").GetProperty("state").GetString());

        LabProcesses.StartDetached(_run.NamespaceOf("web1"), layout.PidFileOf(server.ProcessName), layout.LogOf(server.ProcessName), server.Command());
        var started = Stopwatch.StartNew();
        Thread.Sleep(Within - started.Elapsed);

        // Every curl answered, and web1 takes sessions from each branch again. Proportional balancing over instances
        // without a capacity is least connections: web1 comes back with none, so it takes the new sessions until its
        // count catches up with web2's (which still holds the sessions of the curls above).
        Assert.Equal("up", Instance("web1").GetProperty("state").GetString());
        foreach (var client in new[] { "eng1", "eng2" })
        {
            var answers = Answers(client, 20);
            Assert.All(answers, a => Assert.Contains(a, new[] { "web1", "web2" }));
            Assert.Contains("web1", answers);
        }
    }

    /// <summary>What <paramref name="count"/> curls of web from <paramref name="client"/>, one after another, were answered with ("failed" for a curl that failed).</summary>
    private List<string> Answers(string client, int count)
    {
        // Each from a source port of its own (CurlSourcePorts): a reused one would continue a closed session to a stopped web1.
        var first = CurlSourcePorts.Take(count);
        var loop = _run.Exec(client, "bash", "-c", $"for p in $(seq {first} {first + count - 1}); do curl -s -m 5 --local-port $p http://10.200.0.80/ || echo failed; done");
        Assert.True(loop.Succeeded, loop.ToString());
        return [.. loop.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Trim())];
    }

    /// <summary>Ends the server whose pid file is <paramref name="pidFile"/>, and waits until it has ended.</summary>
    private static void Stop(string pidFile)
    {
        var pid = LabProcesses.ReadPid(pidFile) ?? throw new InvalidOperationException($"no pid in {pidFile}");
        using var process = Process.GetProcessById(pid);
        process.Kill();
        Assert.True(process.WaitForExit(TimeSpan.FromSeconds(5)), $"server {pid} did not end");
    }

    /// <summary>web's instance <paramref name="name"/> as dc1's counters show it.</summary>
    private JsonElement Instance(string name)
    {
        using var counters = JsonDocument.Parse(RouterProcess.ReadCounters(_run.AdminSocketOf("dc1a")));
        return counters.RootElement.GetProperty("instances").EnumerateArray()
            .Single(i => i.GetProperty("service").GetString() == "web" && i.GetProperty("instance").GetString() == name).Clone();
    }
}
