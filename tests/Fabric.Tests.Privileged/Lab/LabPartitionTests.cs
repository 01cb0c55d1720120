using System.Diagnostics;
using System.Text.Json;
using Fabric.Router;

namespace Fabric.Tests.Lab;

/// <summary>One lab for the class: the conductor and two routers, each with a client, joined over the management network.</summary>
public sealed class PartitionLab : IDisposable
{
    public static string Topology(string extraTenant) => $$"""
        fabric {
          name = partition
          tenants { engineering {}{{extraTenant}} }
          routers {
            r1 {
              nodes { r1a { management-address = "10.99.0.11" } }
              networks { hosts { model = host-based, gateways = ["10.20.1.1/24"], containers { c1 { addresses = ["10.20.1.10"], tenant = engineering } } } }
            }
            r2 {
              nodes { r2a { management-address = "10.99.0.12" } }
              networks { hosts { model = host-based, gateways = ["10.30.1.1/24"], containers { c2 { addresses = ["10.30.1.10"], tenant = engineering } } } }
            }
          }
          conductor { addresses = ["10.99.0.2"] }
        }
        """;

    public LabRun Run { get; } = LabRun.Started("p", Topology(""));

    public void Dispose() => Run.Dispose();
}

/// <summary>
/// A partition of the management network with separate processes: router node r2a's management link
/// goes down. The minority side (r2a alone) is downed by the keep-majority split-brain resolver, keeps
/// forwarding and tries to join again; the majority (conductor and r1a) keeps applying commits; when
/// the link returns r2a joins as a new incarnation and catches up with the running version.
/// </summary>
[Collection(LabCollection.Name)]
public sealed class LabPartitionTests(PartitionLab lab) : IClassFixture<PartitionLab>
{
    // Failure detection and the resolver's stable-after (7 s) take about 15 s; the rest is a slow machine's margin.
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(90);
    private readonly LabRun _run = lab.Run;

    [Fact]
    public void ManagementLinkDown_MinorityDownsItself_MajorityApplies_LinkUp_Heals()
    {
        var minorityLog = Path.Combine(_run.StateRoot, _run.Name, "r2a.log");
        var minorityPid = int.Parse(File.ReadAllText(Path.Combine(_run.StateRoot, _run.Name, "r2a.pid")).Trim(), System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(1, Version("r2a"));

        SetManagementLink("r2a", "down");
        try
        {
            Until("r2a, on the minority side, is downed and starts to rejoin", () => File.ReadAllText(minorityLog).Contains("event=rejoining node=r2a reason=removed-from-cluster", StringComparison.Ordinal));

            var next = Path.Combine(_run.StateRoot, "v2.conf");
            File.WriteAllText(next, PartitionLab.Topology(", hr {}"));
            var commit = Config("commit", next, "-m", "during the partition");
            Assert.True(commit.Succeeded, commit.ToString());
            Assert.Contains("version 2 committed", commit.Output, StringComparison.Ordinal);
            Until("the majority's router r1a applies version 2", () => Version("r1a") == 2);
            var status = Config("status");
            Assert.Equal(1, status.ExitCode); // r2a drifts while it is cut off
            Assert.Matches(@"r1a\s+r1\s+applied 2\s+ok", status.Output);
            Assert.Matches(@"r2a\s+r2\s+applied 1\s+drift", status.Output);

            Assert.True(Fabric.Lab.LabProcesses.IsAlive(minorityPid), "the downed router process keeps running");
            Assert.Equal(1, Version("r2a"));
            var ping = _run.Exec("c2", "ping", "-n", "-c", "1", "-W", "2", "10.30.1.1");
            Assert.True(ping.Succeeded, $"r2a keeps forwarding while cut off from the control plane: {ping}");
        }
        finally
        {
            SetManagementLink("r2a", "up");
        }

        Until("r2a rejoins and applies the running version 2", () => Version("r2a") == 2 && Config("status").Succeeded);
        Assert.Equal(minorityPid, int.Parse(File.ReadAllText(Path.Combine(_run.StateRoot, _run.Name, "r2a.pid")).Trim(), System.Globalization.CultureInfo.InvariantCulture));
        Assert.True(_run.Status().Succeeded);
    }

    private void SetManagementLink(string node, string state)
    {
        var set = ExternalCommand.Run("ip", "-n", _run.NamespaceOf(node), "link", "set", "dev", "mgmt0", state);
        Assert.True(set.Succeeded, set.ToString());
    }

    private long Version(string node)
    {
        using var counters = JsonDocument.Parse(Fabric.Router.RouterProcess.ReadCounters(_run.AdminSocketOf(node)));
        return counters.RootElement.GetProperty("version").GetInt64();
    }

    private CommandResult Config(params string[] arguments) => LabRun.Fabric(["config", .. arguments, "--lab", _run.Name, "--state-dir", _run.StateRoot]);

    /// <summary>Polls <paramref name="condition"/> every 200 ms; fails the test after the deadline.</summary>
    private static void Until(string what, Func<bool> condition)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(clock.Elapsed < Deadline, $"not within {Deadline.TotalSeconds} s: {what}");
            Thread.Sleep(200);
        }
    }
}
