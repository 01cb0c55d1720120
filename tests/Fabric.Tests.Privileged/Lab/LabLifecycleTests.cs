using System.Diagnostics;
using Fabric.Router;

namespace Fabric.Tests.Lab;

/// <summary>
/// <c>fabric lab up</c> then <c>down</c>: everything the lab made is gone, and nothing else on the machine is
/// touched (a pid file naming another program's process, a name that would leave the state root).
/// </summary>
[Collection(LabCollection.Name)]
public sealed class LabLifecycleTests
{
    [Fact]
    public void Down_AfterUp_LeavesNothingOfTheLab_AndASecondDownIsFine()
    {
        using var run = new LabRun("d", File.ReadAllText(Support.Repository.PathOf("hocon/lab.conf")));
        var before = run.Traces();

        var up = run.Up();
        Assert.True(up.Succeeded, up.ToString());
        Assert.Contains($"netns {run.NamespaceOf("dc1a")}", run.Traces());
        var ping = run.Exec("fin1", "ping", "-n", "-c", "1", "-W", "2", "10.30.1.1");
        Assert.True(ping.Succeeded, ping.ToString());

        var down = run.Down();
        Assert.True(down.Succeeded, down.ToString());
        // 3 routers, their supervisor, 4 servers and the conductor.
        Assert.Contains("is down: stopped 9 processes, removed 13 namespaces", down.Output, StringComparison.Ordinal);
        Assert.Empty(run.Traces().Except(before));

        var again = run.Down();
        Assert.True(again.Succeeded, again.ToString());
        Assert.Contains("is not up; nothing to remove", again.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void Down_PidFileNamesAnotherProgramsProcess_LeavesItRunning()
    {
        // As after a reboot: the state directory's pid files remain, the namespaces are gone, and the pid now
        // belongs to some other program (here a sleep of this test's, outside every lab namespace).
        using var run = new LabRun("k", "fabric { name = k }");
        using var other = Process.Start(ExternalCommand.Info("sleep", ["300"]))!;
        try
        {
            Directory.CreateDirectory(Path.Combine(run.StateRoot, run.Name));
            File.WriteAllText(Path.Combine(run.StateRoot, run.Name, "r1a.pid"), $"{other.Id}\n");

            var status = run.Status();
            var down = run.Down();

            Assert.False(other.HasExited, $"lab down killed pid {other.Id}, which was not the lab's: {down}");
            Assert.True(down.Succeeded, down.ToString());
            Assert.Contains($"r1a.pid names pid {other.Id}, which runs outside the lab's namespaces (another program's now): not signalled.", down.Output, StringComparison.Ordinal);
            Assert.Equal(1, status.ExitCode);
        }
        finally
        {
            other.Kill();
        }
    }

    [Fact]
    public void Up_NameNotALabName_RefusedBeforeAnythingIsMade()
    {
        using var run = new LabRun("n", File.ReadAllText(Support.Repository.PathOf("hocon/lab.conf")));
        // A name that climbs out of the state root lands in a fresh directory beside it (never a real one: a lab
        // clears its state directory's files when it starts).
        var escape = $"../fabric-escape-{Environment.ProcessId}";
        var escaped = Path.GetFullPath(Path.Combine(run.StateRoot, escape));

        foreach (var name in new[] { escape, "a-b", "", new string('x', 33) })
        {
            var up = LabRun.Fabric("lab", "up", "--topology", run.TopologyFile, "--name", name, "--state-dir", run.StateRoot);

            Assert.Equal(2, up.ExitCode);
            Assert.Contains($"--name: \"{name}\" cannot name a lab: give 1 to 32 letters, digits or '_'", up.Error, StringComparison.Ordinal);
            foreach (var verb in new[] { "down", "status", "verify" })
            {
                var refused = LabRun.Fabric("lab", verb, "--name", name, "--state-dir", run.StateRoot);
                Assert.Equal(2, refused.ExitCode);
                Assert.Contains("cannot name a lab", refused.Error, StringComparison.Ordinal);
            }
        }

        Assert.False(Directory.Exists(escaped), $"lab up wrote outside its state root: {escaped}");
        Assert.DoesNotContain("fab-../", ExternalCommand.Run("ip", "netns", "list").Output, StringComparison.Ordinal);
    }

    /// <summary>
    /// Devices named like iproute2's own words: a bridged network <c>dev</c> (device <c>dev</c>), an interface on
    /// device <c>up</c> in neighborhood <c>master</c> (its bridge's name), a host-based network <c>name</c> whose
    /// container <c>type</c> is also its device's name, a container <c>peer</c> on the bridge.
    /// </summary>
    private const string KeywordTopology = """
        fabric {
          name = keywords
          tenants { engineering {} }
          services {
            web {
              addresses = ["10.10.1.11/32"]
              transports = [{ protocol = tcp, ports = ["80"] }]
              access = [engineering]
              instances = [{ container = peer }]
            }
          }
          neighborhoods { master {} }
          routers {
            r1 {
              nodes { r1a { management-address = "10.99.0.11" } }
              interfaces { up { device = up, addresses = ["172.16.0.1/24"], neighborhoods = [master] } }
              networks {
                dev { model = bridged, gateways = ["10.10.1.1/24"], containers { peer { addresses = ["10.10.1.11"] } } }
                name { model = host-based, gateways = ["10.20.1.1/24"], containers { type { addresses = ["10.20.1.10"], tenant = engineering } } }
              }
            }
          }
        }
        """;

    [Fact]
    public void Up_DevicesNamedLikeIproute2Keywords_BuildsAndForwards()
    {
        using var run = new LabRun("w", KeywordTopology);

        var up = run.Up();

        Assert.True(up.Succeeded, up.ToString());
        var links = ExternalCommand.Run("ip", "-n", run.NamespaceOf("r1a"), "-o", "link", "show").Output;
        foreach (var device in new[] { "dev", "up", "type" })
        {
            Assert.Contains($": {device}@", links, StringComparison.Ordinal);
        }

        var curl = run.Exec("type", "curl", "-s", "-m", "5", "http://10.10.1.11/");
        Assert.True(curl.Succeeded, curl.ToString());
        Assert.Equal("peer", curl.Output.Trim());
    }

    [Fact]
    public void BenchLab_OneRouter_PrintsBothPathsWithTheirRatios_AndLeavesNothingBehind()
    {
        using var run = new LabRun("b", LocalLab.Topology.Replace(
            "instances = [{ container = web1 }, { container = web2 }]",
            "instances = [{ container = web1 }, { container = web2 }]\n    }\n    bulk {\n      addresses = [\"10.10.1.30/32\"]\n      transports = [{ protocol = tcp, ports = [\"5201\"] }, { protocol = udp, ports = [\"5201\"] }]\n      access = [engineering]\n      instances = [{ container = bulk1 }]",
            StringComparison.Ordinal).Replace("web2 { addresses = [\"10.10.1.12\"] }", "web2 { addresses = [\"10.10.1.12\"] }, bulk1 { addresses = [\"10.10.1.30\"] }", StringComparison.Ordinal));
        var before = run.Traces();

        var bench = LabRun.Fabric("bench", "lab", "--topology", run.TopologyFile, "--seconds", "1", "--settle", "2", "--name", run.Name, "--state-dir", run.StateRoot);

        var lines = bench.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        // TCP through Fabric stalls on GSO super-frames (dropped as TooBig, docs/benchmarks.md), so its
        // figure may be missing ("n/a"); the kernel baseline and the line's shape may not.
        Assert.Matches(@"^tcp \(single stream, hc1 -> bulk1\): fabric .+, kernel forwarding [1-9][0-9.]* Mbit/s, tcp ratio: (\d+\.\d\d|n/a)$", lines[^2]);
        Assert.Matches(@"^small packets \(64-byte UDP received(, sender-bound)?\): fabric .+ of .+ offered, kernel forwarding [1-9][0-9.]* kpps, small-packet ratio: (\d+\.\d\d|n/a)$", lines[^1]);
        Assert.Empty(run.Traces().Except(before));
    }

    [Fact]
    public void Up_InvalidTopology_PrintsEveryErrorWithItsPath_AndBuildsNothing()
    {
        using var run = new LabRun("v", File.ReadAllText(Support.Repository.PathOf("hocon/lab.conf")).Replace("access = [finance]", "access = [finanse]", StringComparison.Ordinal));
        var before = run.Traces();

        var up = run.Up();

        Assert.Equal(2, up.ExitCode);
        Assert.Contains("fabric.services.db.access[0]: unknown tenant \"finanse\"", up.Error, StringComparison.Ordinal);
        Assert.Empty(run.Traces().Except(before));
    }
}
