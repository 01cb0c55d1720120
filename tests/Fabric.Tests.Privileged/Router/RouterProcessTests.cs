using System.Diagnostics;
using System.Text.Json;
using Fabric.Router;
using Fabric.Config;
using Fabric.Model;
using Fabric.Tests.Support;

namespace Fabric.Tests.Router;

/// <summary>
/// <c>fabric router</c>'s host on real interfaces: a client and a server namespace on veth pairs whose
/// router ends the node opens by the names in the document. Runs as root, as CI does.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class RouterProcessTests : IDisposable
{
    private static readonly string Suffix = NetworkNamespaces.Suffix;
    private static readonly string Client = $"fabr-c1-{Suffix}";
    private static readonly string Server = $"fabr-s1-{Suffix}";
    private static readonly string ClientPort = $"rc1-{Suffix}";
    private static readonly string ServerPort = $"rs1-{Suffix}";
    private static readonly string RouterHost = $"fabr-r1-{Suffix}";
    private readonly NetworkNamespaces _namespaces = new();
    private readonly string _dir = Directory.CreateTempSubdirectory("fabric-router-").FullName;

    public RouterProcessTests()
    {
        _namespaces.AddNamespace(Client);
        _namespaces.AddNamespace(Server);
        _namespaces.AddContainer(Client, ClientPort, "10.20.1.10/24", "10.20.1.1");
        _namespaces.AddContainer(Server, ServerPort, "10.10.1.11/24", "10.10.1.1");
    }

    public void Dispose()
    {
        _namespaces.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    private RouterProcessOptions Options => new(Path.Combine(_dir, "state"), Path.Combine(_dir, "admin.sock"));

    private static FabricConfig Config(string serverDevice, string moreTenants = "") => Load($$"""
        fabric {
          tenants { engineering {}, {{moreTenants}} }
          services {
            web {
              addresses = ["10.200.0.80/32"]
              transports = [{ protocol = icmp }]
              access = [engineering]
              instances = [{ container = web1 }]
            }
          }
          routers {
            lab {
              nodes { laba { management-address = "10.99.0.11" } }
              networks {
                servers { device = "{{serverDevice}}", gateways = ["10.10.1.1/24"], containers { web1 { addresses = ["10.10.1.11"] } } }
                clients {
                  model = host-based
                  gateways = ["10.20.1.1/24"]
                  containers { "{{ClientPort}}" { addresses = ["10.20.1.10"], tenant = engineering } }
                }
              }
            }
          }
        }
        """);

    private static FabricConfig Load(string text)
    {
        var result = FabricConfigLoader.Load(text);
        Assert.True(result.IsValid, string.Join("\n", result.Errors));
        return result.Config!;
    }

    [Fact]
    public void Node_OnRealInterfaces_ForwardsKeepsConfigAndServesCounters()
    {
        var config = Config(ServerPort);
        using (var node = RouterProcess.Start(config, "laba", Options))
        {
            Assert.Equal([ServerPort, ClientPort], node.Devices());
            var ping = ExternalCommand.InNamespace(Client, "ping", "-n", "-c", "3", "-W", "1", "10.200.0.80");
            Assert.True(ping.Succeeded, ping.ToString());

            using var counters = JsonDocument.Parse(RouterProcess.ReadCounters(Options.AdminSocket));
            var root = counters.RootElement;
            Assert.Equal("laba", root.GetProperty("node").GetString());
            Assert.Equal(1, root.GetProperty("sessions_created").GetInt64());
            // Three requests and three replies crossed; the first request waited for the server's ARP
            // answer and left as a frame the router released itself, so five count as forwarded.
            Assert.True(root.GetProperty("forwarded").GetInt64() >= 5, root.ToString());
            Assert.Equal(0, root.GetProperty("drops").GetProperty("AccessDenied").GetInt64());

            // The counters' names and order, as readers (the lab, scripts) take them.
            Assert.Equal(
                [
                    "node", "router", "version", "devices", "workers", "workers_wanted", "received", "forwarded", "dropped", "generated",
                    "super_packets", "super_packets_cut", "kernel_drops", "sessions", "handed_off", "sessions_created", "sessions_moved",
                    "sessions_revoked", "redirects_sent", "redirects_without_packet", "redirects_relayed", "redirects_followed",
                    "redirected_packets_resent", "redirects_refused", "sessions_made_local", "sessions_made_remote", "instance_pins_honoured",
                    "instance_pins_unmatched", "session_resets", "revoked", "icmp_errors_sent", "icmp_errors_suppressed", "metadata_announcements",
                    "metadata_acknowledgements", "ha", "control_plane", "peer_paths", "instances", "tenant_limits", "traffic", "drops", "faults", "recent_drops",
                ],
                root.EnumerateObject().Select(p => p.Name));
            Assert.Equal($$"""{"{{ServerPort}}":0,"{{ClientPort}}":0}""", root.GetProperty("kernel_drops").GetRawText());
            Assert.Equal(
                """{"partner":"","role":"alone","takeovers":0,"announcements":0,"standby_ignored":0,"sessions_replicated_out":0,"sessions_replicated_in":0,"replicas_refused_version":0,"replicas_refused_shape":0,"replicas_refused_table_full":0,"heartbeats":{}}""",
                root.GetProperty("ha").GetRawText());
            Assert.Equal(
                """[{"service":"web","instance":"web1","state":"unchecked","sessions":1,"probes_sent":0,"probes_succeeded":0,"probes_failed":0,"last_failure":"","downs":0}]""",
                root.GetProperty("instances").GetRawText());

            // What the node keeps and serves is its owner's alone.
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(Options.StateDirectory, RouterProcess.RunningFileName)));
            Assert.Equal(UnixFileMode.None, File.GetUnixFileMode(Options.AdminSocket) & (UnixFileMode)0b000_111_111);
        }

        Assert.False(File.Exists(Options.AdminSocket), "the admin socket is removed on stop");
        Assert.Equal(config, RouterProcess.LoadRunning(Options));
    }

    /// <summary>Starts <c>fabric router</c> as a process in its own namespace, on a device that exists only there.</summary>
    private Process StartRouterProcess()
    {
        _namespaces.AddNamespace(RouterHost);
        Assert.True(ExternalCommand.InNamespace(RouterHost, "ip", "link", "add", ClientPort, "type", "veth", "peer", "name", "peer0").Succeeded);
        Assert.True(ExternalCommand.InNamespace(RouterHost, "ip", "link", "set", "dev", ClientPort, "up").Succeeded);
        var config = Path.Combine(_dir, "router.conf");
        File.WriteAllText(config, $$"""
            fabric {
              tenants { engineering {} }
              routers { lab { nodes { laba { management-address = "10.99.0.11" } }, interfaces { wan0 { device = "{{ClientPort}}", addresses = ["172.16.0.1/24"] } } } }
            }
            """);
        return _namespaces.Start(RouterHost, [.. FabricExecutable.CommandLine(), "router", "--config", config, "--node", "laba", "--state-dir", Options.StateDirectory, "--admin-socket", Options.AdminSocket]);
    }

    [Fact]
    public async Task AdminSocket_ClientsLeaveBeforeTheReply_NodeKeepsRunningAndAnswering()
    {
        var process = StartRouterProcess();
        var output = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        Assert.True(Eventually(() => File.Exists(Options.AdminSocket) || process.HasExited, TimeSpan.FromSeconds(30)), "the node never opened its admin socket");

        // Each client hangs up before the node has written its counters: the write finds no reader.
        for (var i = 0; i < 20; i++)
        {
            using var client = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
            client.Connect(new System.Net.Sockets.UnixDomainSocketEndPoint(Options.AdminSocket));
            client.Close();
        }

        Thread.Sleep(500);
        if (process.HasExited)
        {
            Assert.Fail($"the node exited: {await process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken)}");
        }

        using (var counters = JsonDocument.Parse(RouterProcess.ReadCounters(Options.AdminSocket)))
        {
            Assert.Equal("laba", counters.RootElement.GetProperty("node").GetString());
        }

        Assert.True(Fabric.Lab.LabProcesses.Signal("TERM", [process.Id]).Succeeded);
        Assert.True(process.WaitForExit(TimeSpan.FromSeconds(5)), "the node did not stop within 5 s of SIGTERM");
        Assert.Equal(0, process.ExitCode);
        Assert.Contains("event=stopped node=laba", await output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task FabricRouter_SigtermAsSoonAsItAnswers_ExitsZeroAndRemovesItsSocket()
    {
        // The node runs as the real fabric command in its own namespace, on a device that exists only there.
        var process = StartRouterProcess();
        var output = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);

        // SIGTERM the moment the socket exists: the signal lands while the node may still be starting.
        Assert.True(Eventually(() => File.Exists(Options.AdminSocket) || process.HasExited, TimeSpan.FromSeconds(30)), "the node never opened its admin socket");
        if (process.HasExited)
        {
            Assert.Fail($"the node exited on its own: {await process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken)}");
        }

        Assert.True(Fabric.Lab.LabProcesses.Signal("TERM", [process.Id]).Succeeded);

        Assert.True(process.WaitForExit(TimeSpan.FromSeconds(5)), "the node did not stop within 5 s of SIGTERM");
        Assert.Equal(0, process.ExitCode);
        Assert.False(File.Exists(Options.AdminSocket), "the admin socket is removed on stop");
        Assert.Contains("event=stopped node=laba", await output, StringComparison.Ordinal);
    }

    /// <summary>Polls <paramref name="condition"/> until it holds or the deadline passes.</summary>
    private static bool Eventually(Func<bool> condition, TimeSpan deadline)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed > deadline)
            {
                return false;
            }

            Thread.Sleep(10);
        }

        return true;
    }

    [Fact]
    public void Apply_RunningFileCannotBeWritten_VersionForwardsAndTheExceptionSaysItWasNotKept()
    {
        var config = Config(ServerPort);
        using var node = RouterProcess.Start(config, "laba", Options);
        // The file the node writes before it replaces running.conf is in the way.
        Directory.CreateDirectory(Path.Combine(Options.StateDirectory, RouterProcess.RunningFileName + ".tmp"));
        var changed = Config(ServerPort, "hr {}");

        var error = Assert.Throws<Fabric.Actors.Configuration.ConfigNotKeptException>(() => node.Apply(changed, version: 2));
        Assert.StartsWith($"version 2 forwards, but was not kept in {Path.Combine(Options.StateDirectory, RouterProcess.RunningFileName)}", error.Message, StringComparison.Ordinal);
        Assert.Equal(2, node.Engine.AppliedVersion);
        Assert.Contains("hr", node.Engine.Snapshot.Tenants);
        Assert.Equal(config, RouterProcess.LoadRunning(Options));
    }

    [Fact]
    public void Start_UnknownNode_SaysWhichNodesExist()
    {
        var error = Assert.Throws<RouterStartException>(() => RouterProcess.Start(Config(ServerPort), "nope", Options));
        Assert.Equal("no router has a node named \"nope\" (nodes: laba)", error.Message);
    }

    [Fact]
    public void Start_MissingDevice_NamesIt_AndOpensNothing()
    {
        var error = Assert.Throws<RouterStartException>(() => RouterProcess.Start(Config("nosuchdev0"), "laba", Options));
        Assert.Contains("no interface named nosuchdev0", error.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(Options.AdminSocket));
    }
}
