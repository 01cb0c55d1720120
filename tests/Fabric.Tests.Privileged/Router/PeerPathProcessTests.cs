using System.Diagnostics;
using System.Text.Json;
using Fabric.Router;
using Fabric.Config;
using Fabric.Tests.Support;

namespace Fabric.Tests.Router;

/// <summary>
/// Two <c>fabric router</c> nodes on a real veth wire: their worker loops run peer path monitoring on their own
/// (probes and echo bursts on the wire), the counters show the path up with measured figures, and a wire taken
/// down shows the path down after the missed probes. Runs as root, as CI does.
/// </summary>
public sealed class PeerPathProcessTests : IDisposable
{
    private static readonly string Suffix = NetworkNamespaces.Suffix;
    private static readonly string EndA = $"ppa-{Suffix}";
    private static readonly string EndB = $"ppb-{Suffix}";
    private readonly NetworkNamespaces _namespaces = new();
    private readonly string _dir = Directory.CreateTempSubdirectory("fabric-paths-").FullName;

    public PeerPathProcessTests() => _namespaces.AddVethPair(EndA, EndB);

    public void Dispose()
    {
        _namespaces.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public void TwoNodes_OnAVethWire_MonitorTheirPath_UpWithFigures_DownWhenTheWireIs()
    {
        var result = FabricConfigLoader.Load($$"""
            fabric {
              tenants { engineering {} }
              neighborhoods { wire { path-monitoring { interval = 200ms, multiplier = 3, hold-down = 1s, echo-interval = 1s, echo-burst = 5 } } }
              routers {
                ra { nodes { raa { management-address = "10.99.0.21" } }, interfaces { wan0 { device = "{{EndA}}", addresses = ["172.31.7.1/24"], neighborhoods = [wire] } } }
                rb { nodes { rba { management-address = "10.99.0.22" } }, interfaces { wan0 { device = "{{EndB}}", addresses = ["172.31.7.2/24"], neighborhoods = [wire] } } }
              }
            }
            """);
        Assert.True(result.IsValid, string.Join("\n", result.Errors));
        var optionsA = new RouterProcessOptions(Path.Combine(_dir, "a"), Path.Combine(_dir, "a.sock"));
        var optionsB = new RouterProcessOptions(Path.Combine(_dir, "b"), Path.Combine(_dir, "b.sock"));
        using var a = RouterProcess.Start(result.Config!, "raa", optionsA);
        using var b = RouterProcess.Start(result.Config!, "rba", optionsB);

        Assert.True(Eventually(() => FirstPath(optionsA) is { } p && p.GetProperty("state").GetString() == "up"
            && p.GetProperty("probes_received").GetInt64() >= 5 && p.GetProperty("loss_basis_points").GetInt64() == 0, TimeSpan.FromSeconds(20)),
            $"the path never showed up with a complete burst: {RouterProcess.ReadCounters(optionsA.AdminSocket)}");
        var path = FirstPath(optionsA)!.Value;
        Assert.Equal("rb", path.GetProperty("peer").GetString());
        Assert.Equal("172.31.7.2", path.GetProperty("remote").GetString());
        Assert.InRange(path.GetProperty("latency_us").GetInt64(), 0, 1_000_000);
        Assert.True(path.GetProperty("jitter_us").GetInt64() >= 0);
        // rb's node starts after ra's: ra may have seen the path down before rb's first probe came.
        var downs = path.GetProperty("downs").GetInt64();

        Assert.True(ExternalCommand.Run("ip", "link", "set", "dev", EndB, "down").Succeeded);
        Assert.True(Eventually(() => FirstPath(optionsA) is { } p && p.GetProperty("state").GetString() == "down", TimeSpan.FromSeconds(20)),
            $"the path never went down: {RouterProcess.ReadCounters(optionsA.AdminSocket)}");
        Assert.Equal(downs + 1, FirstPath(optionsA)!.Value.GetProperty("downs").GetInt64());
    }

    private static JsonElement? FirstPath(RouterProcessOptions options)
    {
        using var counters = JsonDocument.Parse(RouterProcess.ReadCounters(options.AdminSocket));
        foreach (var path in counters.RootElement.GetProperty("peer_paths").EnumerateArray())
        {
            return path.Clone();
        }

        return null;
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

            Thread.Sleep(50);
        }

        return true;
    }
}
