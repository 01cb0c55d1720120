using Fabric.Config;
using Fabric.Config.Canonical;
using Fabric.Config.Reading;
using Fabric.Model;
using Fabric.Tests.Support;

namespace Fabric.Tests.Config;

/// <summary>A router's <c>dataplane</c> settings (workers, busy polling): defaults, read values, canonical form, validation with paths.</summary>
public sealed class DataplaneConfigTests
{
    private static string LabWith(string block) => Repository.Read("hocon/lab.conf").Replace("    dc1 {\n", $"    dc1 {{\n      dataplane {block}\n", StringComparison.Ordinal);

    [Fact]
    public void Dataplane_NotGiven_WorkersFollowTheCoresAndBusyPollIsOff()
    {
        var config = FabricConfigLoader.Load(Repository.Read("hocon/lab.conf")).Config!;

        var settings = config.FindRouter("dc1")!.Dataplane;
        Assert.Null(settings.Workers);
        Assert.Equal(TimeSpan.Zero, settings.BusyPoll);
        Assert.Equal(PacketIo.Recvmmsg, settings.Io);
        Assert.Equal(1, settings.WorkersFor(1));
        Assert.Equal(1, settings.WorkersFor(2));
        Assert.Equal(3, settings.WorkersFor(4));
        Assert.Equal(15, settings.WorkersFor(16));
    }

    [Fact]
    public void Dataplane_Given_ReadAndSurvivesTheCanonicalForm()
    {
        var result = FabricConfigLoader.Load(LabWith("{ workers = 2, busy-poll = 50us, io = ring }"));
        Assert.True(result.IsValid, string.Join("\n", result.Errors));
        var expected = new DataplaneSettings(2, TimeSpan.FromMicroseconds(50), PacketIo.Ring);
        Assert.Equal(expected, result.Config!.FindRouter("dc1")!.Dataplane);
        Assert.Equal(2, expected.WorkersFor(16));
        Assert.Equal(DataplaneSettings.Default, result.Config.FindRouter("br1")!.Dataplane);

        var text = HoconWriter.ToHocon(CanonicalTree.Of(result.Config));
        Assert.Contains("busy-poll = \"50us\"", text, StringComparison.Ordinal);
        Assert.Contains("io = ring", text, StringComparison.Ordinal);
        var again = FabricConfigLoader.Load(text);
        Assert.True(again.IsValid, string.Join("\n", again.Errors));
        Assert.Equal(expected, again.Config!.FindRouter("dc1")!.Dataplane);
        Assert.Equal(DataplaneSettings.Default, again.Config.FindRouter("br1")!.Dataplane);
    }

    [Theory]
    [InlineData("{ workers = 0 }", "fabric.routers.dc1.dataplane.workers", "")]
    [InlineData("{ workers = 65 }", "fabric.routers.dc1.dataplane.workers", "")]
    [InlineData("{ workers = two }", "fabric.routers.dc1.dataplane.workers", "")]
    [InlineData("{ busy-poll = 1ms }", "fabric.routers.dc1.dataplane.busy-poll", "longer than 100 us")]
    [InlineData("{ busy-poll = 101us }", "fabric.routers.dc1.dataplane.busy-poll", "longer than 100 us")]
    [InlineData("{ busy-poll = 50 }", "fabric.routers.dc1.dataplane.busy-poll", "expected a duration")]
    [InlineData("{ busy-pol = 50us }", "fabric.routers.dc1.dataplane", "busy-pol")]
    [InlineData("{ io = rings }", "fabric.routers.dc1.dataplane.io", "expected one of recvmmsg, ring")]
    public void Dataplane_Wrong_ErrorWithItsPath(string block, string path, string message)
    {
        var result = FabricConfigLoader.Load(LabWith(block));

        var error = Assert.Single(result.Errors);
        Assert.StartsWith(path, error.Path, StringComparison.Ordinal);
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Dataplane_SeveralWorkersOnAnHaPair_ErrorWithItsPath()
    {
        var pair = LabWith("{ workers = 2 }").Replace(
            "nodes { dc1a { management-address = \"10.99.0.11\" } }",
            "nodes { dc1a { management-address = \"10.99.0.11\" }, dc1b { management-address = \"10.99.0.21\" } }",
            StringComparison.Ordinal);

        var result = FabricConfigLoader.Load(pair);

        var error = Assert.Single(result.Errors);
        Assert.Equal("fabric.routers.dc1.dataplane.workers", error.Path);
        Assert.Contains("is an HA pair, whose nodes run one worker each", error.Message, StringComparison.Ordinal);
        Assert.True(FabricConfigLoader.Load(pair.Replace("workers = 2", "workers = 1", StringComparison.Ordinal)).IsValid);
    }

    [Theory]
    [InlineData("50us", 50L)]
    [InlineData("100ms", 100_000L)]
    [InlineData("30s", 30_000_000L)]
    [InlineData("1d", 86_400_000_000L)]
    public void Durations_Microseconds_ParsedAndFormattedExactly(string text, long microseconds)
    {
        Assert.True(Durations.TryParse(text, out var value));
        Assert.Equal(TimeSpan.FromMicroseconds(microseconds), value);
        Assert.Equal(text, Durations.Format(value));
    }

    [Fact]
    public void Durations_PastTheRangeOfTime_Refused()
    {
        Assert.False(Durations.TryParse("999999999999d", out _));
    }
}
