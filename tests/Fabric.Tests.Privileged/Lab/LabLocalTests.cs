using System.Text.Json;
using Fabric.Router;

namespace Fabric.Tests.Lab;

/// <summary>One lab for the class: a router whose services and clients are all local (no SVR between routers needed).</summary>
public sealed class LocalLab : IDisposable
{
    /// <summary>
    /// One router r1: web (two instances on the bridged network svc), a host-based engineering client
    /// hc1, a host-based guest hg1 (not allowed to web) and an engineering client bc1 on a second
    /// bridged network lan.
    /// </summary>
    public const string Topology = """
        fabric {
          name = local
          tenants { engineering {}, guest {} }
          services {
            web {
              addresses = ["10.200.0.80/32"]
              transports = [{ protocol = tcp, ports = ["80"] }]
              access = [engineering]
              instances = [{ container = web1 }, { container = web2 }]
            }
          }
          routers {
            r1 {
              nodes { r1a { management-address = "10.99.0.11" } }
              networks {
                svc {
                  gateways = ["10.10.1.1/24"]
                  containers { web1 { addresses = ["10.10.1.11"] }, web2 { addresses = ["10.10.1.12"] } }
                }
                hosts {
                  model = host-based
                  gateways = ["10.20.1.1/24"]
                  containers { hc1 { addresses = ["10.20.1.10"], tenant = engineering }, hg1 { addresses = ["10.20.1.20"], tenant = guest } }
                }
                lan {
                  gateways = ["10.30.1.1/24"]
                  containers { bc1 { addresses = ["10.30.1.10"], tenant = engineering } }
                }
              }
            }
          }
          conductor { addresses = ["10.99.0.2"] }
        }
        """;

    public LocalLab()
    {
        Run = new LabRun("t", Topology);
        UpResult = Run.Up();
        if (!UpResult.Succeeded)
        {
            Run.Dispose();
            throw new InvalidOperationException($"lab up failed: {UpResult}");
        }
    }

    public LabRun Run { get; }

    public CommandResult UpResult { get; }

    public void Dispose() => Run.Dispose();
}

/// <summary><c>fabric lab</c> on a one-router topology, with real ping, curl and the real router process.</summary>
[Collection(LabCollection.Name)]
public sealed partial class LabLocalTests(LocalLab lab) : IClassFixture<LocalLab>
{
    private readonly LabRun _run = lab.Run;

    [Fact]
    public void Up_CreatesANamespacePerMember_RouterRuns_AndSaysWhatToTry()
    {
        var namespaces = ExternalCommand.Run("ip", "netns", "list").Output;
        foreach (var member in new[] { "r1a", "web1", "web2", "hc1", "hg1", "bc1", "conductor" })
        {
            Assert.Contains(_run.NamespaceOf(member), namespaces, StringComparison.Ordinal);
        }

        var status = _run.Status();
        Assert.True(status.Succeeded, status.ToString());
        Assert.Matches(@"r1a\s+pid \d+\s+running", status.Output);
        Assert.Contains("router r1a: version 1, received", status.Output, StringComparison.Ordinal);
        Assert.Contains($"lab \"{_run.Name}\" is up: 1 routers, 5 containers, 2 servers", lab.UpResult.Output, StringComparison.Ordinal);
        Assert.Contains("Try next:", lab.UpResult.Output, StringComparison.Ordinal);
        Assert.Contains("hc1 -- curl -s http://10.200.0.80/", lab.UpResult.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void Ping_Gateway_AnsweredByFabric_TheKernelHasNoAddressThere()
    {
        var addresses = ExternalCommand.Run("ip", "-n", _run.NamespaceOf("r1a"), "-o", "address", "show", "dev", "hc1");
        Assert.True(addresses.Succeeded, addresses.ToString());
        Assert.Empty(addresses.Output.Trim());
        var generatedBefore = Counter("generated");

        var ping = _run.Exec("hc1", "ping", "-n", "-c", "3", "-W", "2", "10.20.1.1");

        Assert.True(ping.Succeeded, ping.ToString());
        Assert.Contains("3 received", ping.Output, StringComparison.Ordinal);
        Assert.True(Counter("generated") >= generatedBefore + 3, "the router itself sent the echo replies");
    }

    [Fact]
    public void Curl_HostBasedAndBridgedClients_ReachTheLocalService_OnBothInstances()
    {
        _run.AssertEachReachesEveryInstance(["hc1", "bc1", "hc1", "bc1", "hc1", "bc1"], "http://10.200.0.80/", "web1", "web2");
    }

    [Fact]
    public void Curl_GuestToWeb_IsRefused_AndCountedAsAccessDenied()
    {
        var deniedBefore = Counter("drops", "AccessDenied");

        var curl = _run.Exec("hg1", "curl", "-s", "-m", "2", "http://10.200.0.80/");

        Assert.False(curl.Succeeded, curl.ToString());
        Assert.True(Counter("drops", "AccessDenied") > deniedBefore);
    }

    [Fact]
    public void Exec_ReturnsTheCommandsExitCode_AndNamesUnknownContainers()
    {
        Assert.Equal(7, _run.Exec("hc1", "sh", "-c", "exit 7").ExitCode);
        var inside = _run.Exec("hc1", "ip", "-o", "-4", "address", "show", "dev", "eth0");
        Assert.Contains("10.20.1.10/24", inside.Output, StringComparison.Ordinal);

        var unknown = _run.Exec("nosuch", "true");
        Assert.Equal(2, unknown.ExitCode);
        Assert.Contains("has no container named \"nosuch\"", unknown.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void Verify_ProbesEveryClientAndPort_AgreesWithTheAccessPolicy()
    {
        var verify = _run.Verify();

        Assert.True(verify.Succeeded, verify.ToString());
        Assert.Contains("observed (real connections):\n                     web:80\n  hc1 (engineering)  .\n  hg1 (guest)        X\n  bc1 (engineering)  .\n", verify.Output, StringComparison.Ordinal);
        Assert.EndsWith("3 correct, 0 wrong\n", verify.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void Router_KilledWithSigkill_TheLabStartsItAgain_TrafficFlows_StatusSaysHowItEnded()
    {
        var pidFile = Path.Combine(_run.StateRoot, _run.Name, "r1a.pid");
        var killed = Fabric.Lab.LabProcesses.ReadPid(pidFile)!.Value;

        System.Diagnostics.Process.GetProcessById(killed).Kill(); // SIGKILL: the router has no say

        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (Fabric.Lab.LabProcesses.ReadPid(pidFile) is not { } pid || pid == killed || !Answers())
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(60), $"r1a was not started again within 60 s:\n{_run.Status()}");
            Thread.Sleep(100);
        }

        _run.AssertEachReachesEveryInstance(["hc1", "bc1", "hc1", "bc1", "hc1", "bc1"], "http://10.200.0.80/", "web1", "web2");
        // Healthy again once the new process has joined the cluster and reported its version to the conductor.
        var status = _run.Status();
        while (!status.Succeeded)
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(90), $"lab status not healthy again within 90 s:\n{status}");
            Thread.Sleep(500);
            status = _run.Status();
        }

        // And the conductor reaches the new process's actors again: a trace through r1a gets its verdict.
        var trace = LabRun.Fabric("trace", "--from", "hc1", "--to", "10.200.0.80:80", "--protocol", "tcp", "--lab", _run.Name, "--state-dir", _run.StateRoot);
        while (trace.ExitCode != 0)
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(120), $"no trace through the restarted r1a within 120 s:\n{trace}");
            Thread.Sleep(500);
            trace = LabRun.Fabric("trace", "--from", "hc1", "--to", "10.200.0.80:80", "--protocol", "tcp", "--lab", _run.Name, "--state-dir", _run.StateRoot);
        }

        Assert.Matches(@"r1a\s+pid \d+\s+running .*restarts 1 \(last exit: killed by signal 9 \(SIGKILL\) after [0-9.]+ s at ", status.Output);
        Assert.Matches(@"supervisor\s+pid \d+\s+running", status.Output);
    }

    [Fact]
    public void Router_FrozenLongerThanTheResolverWaits_IsDownedAndRejoins_TheConductorStays()
    {
        var directory = Path.Combine(_run.StateRoot, _run.Name);
        var frozen = Fabric.Lab.LabProcesses.ReadPid(Path.Combine(directory, "r1a.pid"))!.Value;
        var conductor = Fabric.Lab.LabProcesses.ReadPid(Path.Combine(directory, "conductor.pid"))!.Value;
        var conductorLog = Path.Combine(directory, "conductor.log");
        var routerLog = Path.Combine(directory, "r1a.log");
        var rejoinsBefore = Occurrences(routerLog, "event=rejoining node=r1a");

        // The resolver may have decided before (a test that killed r1a and its lost incarnation was downed): only a decision
        // logged after the freeze is about it.
        var decisionsBefore = Occurrences(conductorLog, "SBR took decision");

        // SIGSTOP: the router neither answers nor exits, so the lab's supervisor does not restart it and the split-brain
        // resolver, after its stable-after, has to choose between one conductor and one router.
        ExternalCommand.Run("kill", "-STOP", frozen.ToString(System.Globalization.CultureInfo.InvariantCulture));
        var clock = System.Diagnostics.Stopwatch.StartNew();
        try
        {
            while (Occurrences(conductorLog, "SBR took decision") == decisionsBefore)
            {
                Assert.True(clock.Elapsed < TimeSpan.FromSeconds(60), $"the conductor's resolver decided nothing within 60 s:\n{File.ReadAllText(conductorLog)}");
                Thread.Sleep(250);
            }

            Thread.Sleep(TimeSpan.FromSeconds(3)); // a downed conductor logs its stop within a second of the decision
            Assert.DoesNotContain("event=stopping", File.ReadAllText(conductorLog), StringComparison.Ordinal);
            Assert.True(Fabric.Lab.LabProcesses.IsAlive(conductor), "the conductor process runs on");
        }
        finally
        {
            ExternalCommand.Run("kill", "-CONT", frozen.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        // The router learns it was downed, keeps its process and joins again as a new incarnation; the conductor reaches it.
        while (Occurrences(routerLog, "event=rejoining node=r1a") == rejoinsBefore)
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(120), $"r1a did not rejoin within 120 s:\n{File.ReadAllText(routerLog)}");
            Thread.Sleep(250);
        }

        Assert.Equal(frozen, Fabric.Lab.LabProcesses.ReadPid(Path.Combine(directory, "r1a.pid")));
        var trace = LabRun.Fabric("trace", "--from", "hc1", "--to", "10.200.0.80:80", "--protocol", "tcp", "--lab", _run.Name, "--state-dir", _run.StateRoot);
        while (trace.ExitCode != 0)
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(180), $"no trace through the rejoined r1a within 180 s:\n{trace}");
            Thread.Sleep(500);
            trace = LabRun.Fabric("trace", "--from", "hc1", "--to", "10.200.0.80:80", "--protocol", "tcp", "--lab", _run.Name, "--state-dir", _run.StateRoot);
        }

        _run.AssertEachReachesEveryInstance(["hc1", "bc1", "hc1", "bc1"], "http://10.200.0.80/", "web1", "web2");
    }

    private static int Occurrences(string file, string text) =>
        File.ReadAllText(file).Split(text).Length - 1;

    private bool Answers()
    {
        try
        {
            RouterProcess.ReadCounters(_run.AdminSocketOf("r1a"));
            return true;
        }
        catch (System.Net.Sockets.SocketException)
        {
            return false;
        }
    }

    private long Counter(params string[] path)
    {
        using var counters = JsonDocument.Parse(RouterProcess.ReadCounters(_run.AdminSocketOf("r1a")));
        var element = counters.RootElement;
        foreach (var name in path)
        {
            element = element.GetProperty(name);
        }

        return element.GetInt64();
    }
}
