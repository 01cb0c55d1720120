using Fabric.Config;
using Fabric.Model;
using Fabric.Tests.Support;

namespace Fabric.Tests.Config;

/// <summary>A router's <c>high-availability</c> settings (the HA pair's heartbeat): defaults, read values, canonical form, validation with paths.</summary>
public sealed class PairLivenessConfigTests
{
    private static string LabWith(string block) => Repository.Read("hocon/lab.conf").Replace("    dc1 {\n", $"    dc1 {{\n      high-availability {block}\n", StringComparison.Ordinal);

    [Fact]
    public void HighAvailability_NotGiven_Defaults()
    {
        var config = FabricConfigLoader.Load(Repository.Read("hocon/lab.conf")).Config!;

        var liveness = config.FindRouter("dc1")!.HighAvailability;
        Assert.Equal(TimeSpan.FromMilliseconds(100), liveness.HeartbeatInterval);
        Assert.Equal(TimeSpan.FromSeconds(1), liveness.DeadInterval);
        Assert.Equal(4054, liveness.Port);
    }

    [Fact]
    public void HighAvailability_Given_ReadAndSurvivesTheCanonicalForm()
    {
        var result = FabricConfigLoader.Load(LabWith("{ heartbeat-interval = 50ms, dead-interval = 400ms, heartbeat-port = 5000 }"));
        Assert.True(result.IsValid, string.Join("\n", result.Errors));
        var expected = new PairLiveness(TimeSpan.FromMilliseconds(50), TimeSpan.FromMilliseconds(400), 5000);
        Assert.Equal(expected, result.Config!.FindRouter("dc1")!.HighAvailability);
        Assert.Equal(PairLiveness.Default, result.Config.FindRouter("br1")!.HighAvailability);

        var again = FabricConfigLoader.Load(Fabric.Config.Canonical.HoconWriter.ToHocon(Fabric.Config.Canonical.CanonicalTree.Of(result.Config)));
        Assert.True(again.IsValid, string.Join("\n", again.Errors));
        Assert.Equal(expected, again.Config!.FindRouter("dc1")!.HighAvailability);
    }

    [Theory]
    [InlineData("{ heartbeat-interval = 5ms }", "fabric.routers.dc1.high-availability.heartbeat-interval", "at least 10ms")]
    [InlineData("{ heartbeat-interval = 100ms, dead-interval = 150ms }", "fabric.routers.dc1.high-availability.dead-interval", "make it at least 200 ms")]
    [InlineData("{ dead-interval = 2m }", "fabric.routers.dc1.high-availability.dead-interval", "longer than 60 s")]
    [InlineData("{ heartbeat-port = 0 }", "fabric.routers.dc1.high-availability.heartbeat-port", "")]
    [InlineData("{ heartbeat-intervall = 1s }", "fabric.routers.dc1.high-availability", "heartbeat-intervall")]
    public void HighAvailability_Wrong_ErrorWithItsPath(string block, string path, string message)
    {
        var result = FabricConfigLoader.Load(LabWith(block));

        var error = Assert.Single(result.Errors);
        Assert.StartsWith(path, error.Path, StringComparison.Ordinal);
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }
}
