using System.Diagnostics;
using System.Text.Json;
using Fabric.Tests.Support;

namespace Fabric.Tests.Router;

/// <summary>
/// <c>fabric router --seed</c> joined to a running <c>fabric conductor</c>: separate processes, the
/// cluster on loopback, the router on a real veth device. What the conductor commits is what the router
/// forwards with and keeps on disk. Runs as root, as CI does.
/// </summary>
public sealed class RouterClusterTests : IDisposable
{
    private static readonly string Device = $"rw1-{NetworkNamespaces.Suffix}";
    private static readonly TimeSpan Deadline = FabricProcesses.Deadline;
    private readonly NetworkNamespaces _namespaces = new();
    private readonly string _dir = Directory.CreateTempSubdirectory("fabric-router-cluster-").FullName;
    private readonly FabricProcesses _fabric;

    public RouterClusterTests()
    {
        _fabric = new FabricProcesses(_dir);
        _namespaces.AddVethPair(Device, $"rw2-{NetworkNamespaces.Suffix}");
    }

    public void Dispose()
    {
        _namespaces.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    private static string Document(string extraTenant) => $$"""
        fabric {
          tenants { engineering {}{{extraTenant}} }
          routers {
            lab {
              nodes { laba { management-address = "127.0.0.2" } }
              interfaces { wan0 { device = "{{Device}}", addresses = ["172.16.0.1/24"] } }
            }
          }
          conductor { addresses = ["127.0.0.1"], storage { path = "conductor.db" } }
        }
        """;

    /// <summary>A service whose one instance is an address behind the router's wan0.</summary>
    private const string Web = """
          services {
            web {
              addresses = ["10.200.0.80/32"]
              transports = [{ protocol = tcp, ports = ["80"] }]
              access = [engineering]
              instances = [{ router = lab, address = "172.16.0.9" }]
            }
          }
        """;

    [Fact]
    public async Task Router_SeedWithoutClusterTlsOrInsecure_RefusesToStartAndOpensNothing()
    {
        File.WriteAllText(Path.Combine(_dir, "v2.conf"), Document(""));
        var (exit, error) = await _fabric.Run(
            "router", "--config", "v2.conf", "--node", "laba", "--state-dir", "state", "--admin-socket", "admin.sock",
            "--seed", $"akka.tcp://fabric@127.0.0.1:{ControlPlaneNodes.FreePort()}", "--cluster-port", "0");
        Assert.Equal(2, exit);
        Assert.StartsWith("fabric router: cluster TLS is off: a node joins the cluster only with a certificate of the fabric's CA", error, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(_dir, "admin.sock")));

        // Insecure, but without the conductor's key: it would not know whose configuration to apply.
        (exit, error) = await _fabric.Run(
            "router", "--config", "v2.conf", "--node", "laba", "--state-dir", "state", "--admin-socket", "admin.sock",
            "--seed", $"akka.tcp://fabric@127.0.0.1:{ControlPlaneNodes.FreePort()}", "--cluster-port", "0", "--insecure");
        Assert.Equal(2, exit);
        Assert.StartsWith("fabric router: --seed needs the conductor's public key, to apply only what the conductor signed: give --conductor-key KEY", error, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(_dir, "admin.sock")));
    }

    [Fact]
    public async Task Router_ClusterPortHeldAtStart_RunsItsRouterAndTriesAgain_JoinsOnceThePortIsFree()
    {
        File.WriteAllText(Path.Combine(_dir, "v1.conf"), Document(", hr {}"));
        File.WriteAllText(Path.Combine(_dir, "v2.conf"), Document(""));
        var (clusterPort, apiPort, adminPort, routerPort) = (ControlPlaneNodes.FreePort(), ControlPlaneNodes.FreePort(), ControlPlaneNodes.FreePort(), ControlPlaneNodes.FreePort());
        var conductor = $"http://127.0.0.1:{apiPort}";
        Assert.Equal(0, (await _fabric.Run("conductor", "token", "create", "--config", "v2.conf", "--owner", "operator", "--out", "token")).Item1);
        var (keyExit, conductorKey) = await _fabric.Run("keys", "conductor", "--out", "conductor.key");
        Assert.Equal(0, keyExit);
        conductorKey = conductorKey.Split('\n')[0];

        // Something else holds the router node's cluster port on its management address when it starts.
        var held = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Parse("127.0.0.2"), routerPort);
        held.Start();
        using var conductorProcess = _fabric.Start("conductor", "--config", "v2.conf", "--cluster-port", clusterPort.ToString(), "--api-port", apiPort.ToString(), "--insecure");
        using var conductorOutput = new FabricProcesses.OutputLines(conductorProcess, Deadline);
        using var router = _fabric.Start(
            "router", "--config", "v2.conf", "--node", "laba", "--state-dir", "state", "--admin-socket", "admin.sock",
            "--seed", $"akka.tcp://fabric@127.0.0.1:{clusterPort}", "--cluster-port", routerPort.ToString(), "--admin-port", adminPort.ToString(), "--insecure", "--conductor-key", conductorKey);
        using var routerOutput = new FabricProcesses.OutputLines(router, Deadline);
        try
        {
            await conductorOutput.WaitFor($"conductor-key={conductorKey}");

            // The node runs its router without the cluster: it started, answers on its admin socket, says why it is not ready,
            // and tries to join again.
            await routerOutput.WaitFor("event=started node=laba");
            await routerOutput.WaitFor("event=join-failed node=laba");
            Assert.False(router.HasExited);
            Assert.Equal(JsonValueKind.Object, Counters().GetProperty("traffic").ValueKind);
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.2:{adminPort}/") };
            var unready = await http.GetAsync("readyz", TestContext.Current.CancellationToken);
            Assert.Equal(System.Net.HttpStatusCode.ServiceUnavailable, unready.StatusCode);
            Assert.Contains("not in the cluster", await unready.Content.ReadAsStringAsync(TestContext.Current.CancellationToken), StringComparison.Ordinal);

            // The port is freed: a later try joins, and the node applies what the conductor commits.
            held.Stop();
            Assert.Equal((0, "version 1 committed"), await _fabric.Run("config", "commit", "v1.conf", "-m", "add hr", "--conductor", conductor, "--token-file", "token"));
            await Converged(conductor, 1);
            Assert.Equal(1, Counters().GetProperty("version").GetInt64());
        }
        finally
        {
            held.Stop();
            await Stop(router);
            await Stop(conductorProcess);
        }
    }

    [Fact]
    public async Task Router_JoinedToConductor_AppliesEachCommit_AndKeepsItOnDisk_ItsInstanceInTheRegistry()
    {
        File.WriteAllText(Path.Combine(_dir, "v1.conf"), Document(", hr {}").Replace("  routers {", Web + "\n  routers {", StringComparison.Ordinal));
        File.WriteAllText(Path.Combine(_dir, "v2.conf"), Document(""));
        var (clusterPort, apiPort, adminPort) = (ControlPlaneNodes.FreePort(), ControlPlaneNodes.FreePort(), ControlPlaneNodes.FreePort());
        var conductor = $"http://127.0.0.1:{apiPort}";
        var running = Path.Combine(_dir, "state", "running.conf");
        Assert.Equal(0, (await _fabric.Run("conductor", "token", "create", "--config", "v2.conf", "--owner", "operator", "--out", "token")).Item1);

        // The operator draws the conductor's key first and gives the router its public half.
        var (keyExit, conductorKey) = await _fabric.Run("keys", "conductor", "--out", "conductor.key");
        Assert.Equal(0, keyExit);
        conductorKey = conductorKey.Split('\n')[0];
        using var conductorProcess = _fabric.Start("conductor", "--config", "v2.conf", "--cluster-port", clusterPort.ToString(), "--api-port", apiPort.ToString(), "--insecure");
        using var conductorOutput = new FabricProcesses.OutputLines(conductorProcess, Deadline);
        using var router = _fabric.Start(
            "router", "--config", "v2.conf", "--node", "laba", "--state-dir", "state", "--admin-socket", "admin.sock",
            "--seed", $"akka.tcp://fabric@127.0.0.1:{clusterPort}", "--cluster-port", "0", "--admin-port", adminPort.ToString(), "--insecure", "--conductor-key", conductorKey);
        using var routerOutput = new FabricProcesses.OutputLines(router, Deadline);
        try
        {
            await conductorOutput.WaitFor($"conductor-key={conductorKey}");
            await routerOutput.WaitFor($"conductor-key={conductorKey}");
            Assert.Equal(conductorKey, File.ReadAllText(Path.Combine(_dir, "state", "conductor.pub")).Trim());

            Assert.Equal((0, "version 1 committed"), await _fabric.Run("config", "commit", "v1.conf", "-m", "add hr", "--conductor", conductor, "--token-file", "token"));
            await Converged(conductor, 1);
            Assert.Equal(1, Counters().GetProperty("version").GetInt64());

            // The router's own HTTP listener on its management address: its counters as Prometheus metrics, and ready.
            using (var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.2:{adminPort}/") })
            {
                var metrics = PrometheusText.Parse(await http.GetStringAsync("metrics", TestContext.Current.CancellationToken));
                Assert.NotNull(PrometheusText.Value(metrics, "fabric_packets_received_total", ("router", "lab"), ("node", "laba")));
                // Ready once the node also sees itself Up in the cluster, which may come a gossip round after its first ack.
                var deadline = DateTime.UtcNow + Deadline;
                System.Net.HttpStatusCode ready;
                while ((ready = (await http.GetAsync("readyz", TestContext.Current.CancellationToken)).StatusCode) != System.Net.HttpStatusCode.OK && DateTime.UtcNow < deadline)
                {
                    await Task.Delay(100, TestContext.Current.CancellationToken);
                }

                Assert.Equal(System.Net.HttpStatusCode.OK, ready);
            }

            Assert.Contains("hr", File.ReadAllText(running), StringComparison.Ordinal);

            // The router's service actor registers its instance; the conductor lists it (fabric services).
            var listed = await Services(conductor, output => output.Contains("lab/172.16.0.9", StringComparison.Ordinal));
            Assert.Matches(@"web +lab/172\.16\.0\.9 +lab +laba +up +0  172\.16\.0\.9", listed);
            Assert.Equal(JsonValueKind.Object, Counters().GetProperty("traffic").GetProperty("services").GetProperty("web").ValueKind);

            Assert.Equal((0, "version 2 committed"), await _fabric.Run("config", "commit", "v2.conf", "-m", "drop hr", "--conductor", conductor, "--token-file", "token"));
            await Converged(conductor, 2);
            Assert.Equal(2, Counters().GetProperty("version").GetInt64());
            Assert.DoesNotContain("hr", File.ReadAllText(running), StringComparison.Ordinal);
            await Services(conductor, output => output.Contains("no instance registered", StringComparison.Ordinal));
        }
        finally
        {
            await Stop(router);
            await Stop(conductorProcess);
        }

        Assert.Equal((0, 0), (router.ExitCode, conductorProcess.ExitCode));
    }

    /// <summary>Runs <c>fabric services</c> until its output satisfies <paramref name="done"/>; returns that output.</summary>
    private async Task<string> Services(string conductor, Func<string, bool> done)
    {
        var deadline = DateTime.UtcNow + Deadline;
        (int Exit, string Output) listed;
        do
        {
            listed = await _fabric.Run("services", "--conductor", conductor, "--token-file", "token");
            if (done(listed.Output))
            {
                return listed.Output;
            }

            await Task.Delay(100, TestContext.Current.CancellationToken);
        }
        while (DateTime.UtcNow < deadline);

        Assert.Fail($"fabric services did not show what was expected within {Deadline.TotalSeconds} s:\n{listed.Output}");
        return listed.Output;
    }

    private JsonElement Counters()
    {
        using var counters = JsonDocument.Parse(Fabric.Router.RouterProcess.ReadCounters(Path.Combine(_dir, "admin.sock")));
        return counters.RootElement.Clone();
    }

    /// <summary>Waits until <c>fabric config status</c> says every node runs <paramref name="version"/>.</summary>
    private async Task Converged(string conductor, long version)
    {
        var deadline = DateTime.UtcNow + Deadline;
        (int Exit, string Output) status;
        do
        {
            status = await _fabric.Run("config", "status", "--conductor", conductor, "--token-file", "token");
            if (status.Exit == 0 && status.Output.Contains($"running version {version}", StringComparison.Ordinal))
            {
                return;
            }

            await Task.Delay(100, TestContext.Current.CancellationToken);
        }
        while (DateTime.UtcNow < deadline);

        Assert.Fail($"the router did not ack version {version} within {Deadline.TotalSeconds} s:\n{status.Output}");
    }

    private static async Task Stop(Process process)
    {
        FabricProcesses.Signal(process);
        await process.WaitForExitAsync(TestContext.Current.CancellationToken).WaitAsync(Deadline, TestContext.Current.CancellationToken);
    }
}
