using Fabric.Config;
using Fabric.Model;
using Fabric.Tests.Support;

namespace Fabric.Tests.Config;

/// <summary>Peer path monitoring per neighborhood: defaults, read values, canonical form, validation with paths.</summary>
public sealed class PathMonitoringConfigTests
{
    private static string LabWith(string wan) => Repository.Read("hocon/lab.conf").Replace("neighborhoods {\n    wan {}\n  }", $"neighborhoods {{\n    wan {wan}\n  }}");

    [Fact]
    public void PathMonitoring_NotGiven_SvrDefaults()
    {
        var config = FabricConfigLoader.Load(LabWith("{}")).Config!;

        var monitoring = config.FindNeighborhood("wan")!.Monitoring;
        Assert.Equal(TimeSpan.FromSeconds(1), monitoring.Interval);
        Assert.Equal(3, monitoring.Multiplier);
        Assert.Equal(TimeSpan.FromSeconds(5), monitoring.HoldDown);
        Assert.Equal(TimeSpan.FromSeconds(10), monitoring.EchoInterval);
        Assert.Equal(10, monitoring.EchoBurst);
    }

    [Fact]
    public void PathMonitoring_Given_ReadAndSurvivesTheCanonicalForm()
    {
        var result = FabricConfigLoader.Load(LabWith(
            "{ path-monitoring { interval = 300ms, multiplier = 5, hold-down = 20s, echo-interval = 1m, echo-burst = 4 } }"));
        Assert.True(result.IsValid, string.Join("\n", result.Errors));
        var expected = new PathMonitoring(TimeSpan.FromMilliseconds(300), 5, TimeSpan.FromSeconds(20), TimeSpan.FromMinutes(1), 4);
        Assert.Equal(expected, result.Config!.FindNeighborhood("wan")!.Monitoring);

        var again = FabricConfigLoader.Load(Fabric.Config.Canonical.HoconWriter.ToHocon(Fabric.Config.Canonical.CanonicalTree.Of(result.Config)));
        Assert.True(again.IsValid, string.Join("\n", again.Errors));
        Assert.Equal(expected, again.Config!.FindNeighborhood("wan")!.Monitoring);
    }

    [Theory]
    [InlineData("{ path-monitoring { interval = 5ms } }", "fabric.neighborhoods.wan.path-monitoring.interval", "at least 10ms")]
    [InlineData("{ path-monitoring { multiplier = 0 } }", "fabric.neighborhoods.wan.path-monitoring.multiplier", "")]
    [InlineData("{ path-monitoring { interval = 20s } }", "fabric.neighborhoods.wan.path-monitoring.echo-interval", "at least interval")]
    [InlineData("{ path-monitoring { intervall = 2s } }", "fabric.neighborhoods.wan.path-monitoring", "intervall")]
    [InlineData("{ waypoint-ports = \"1200-2000\" }", "fabric.neighborhoods.wan.waypoint-ports", "UDP 1280")]
    public void PathMonitoring_Wrong_ErrorWithItsPath(string wan, string path, string message)
    {
        var result = FabricConfigLoader.Load(LabWith(wan));

        var error = Assert.Single(result.Errors);
        Assert.StartsWith(path, error.Path, StringComparison.Ordinal);
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }
}
