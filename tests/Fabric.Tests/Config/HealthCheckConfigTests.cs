using Fabric.Config;
using Fabric.Model;
using Fabric.Tests.Support;

namespace Fabric.Tests.Config;

/// <summary>Instance health checks in a service policy: off unless asked, defaults, read values, canonical form, validation with paths.</summary>
public sealed class HealthCheckConfigTests
{
    /// <summary>The lab document with <paramref name="check"/> as the web policy's health-check block (none when null).</summary>
    private static string LabWith(string? check)
    {
        var lab = Repository.Read("hocon/lab.conf");
        var block = "health-check {}";
        Assert.Contains(block, lab, StringComparison.Ordinal);
        return lab.Replace(block, check is null ? "" : $"health-check {check}", StringComparison.Ordinal);
    }

    [Fact]
    public void HealthCheck_NoBlock_Off()
    {
        var config = FabricConfigLoader.Load(LabWith(null)).Config!;

        Assert.Equal(HealthCheck.Off, config.FindServicePolicy("web")!.HealthCheck);
        Assert.False(HealthCheck.Off.Enabled);
        Assert.Equal(HealthCheck.Off, ServicePolicy.Default.HealthCheck);
    }

    [Fact]
    public void HealthCheck_EmptyBlock_OnWithDefaults()
    {
        var check = FabricConfigLoader.Load(LabWith("{}")).Config!.FindServicePolicy("web")!.HealthCheck;

        Assert.Equal(new HealthCheck(true, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1), 2, 3), check);
    }

    [Fact]
    public void HealthCheck_TurnedOff_IsNoCheck_WhateverElseItSays()
    {
        var check = FabricConfigLoader.Load(LabWith("{ enabled = false, interval = 5s }")).Config!.FindServicePolicy("web")!.HealthCheck;

        Assert.Equal(HealthCheck.Off, check);
    }

    [Fact]
    public void HealthCheck_Given_ReadAndSurvivesTheCanonicalForm()
    {
        var result = FabricConfigLoader.Load(LabWith("{ interval = 500ms, timeout = 200ms, healthy-threshold = 4, unhealthy-threshold = 1 }"));
        Assert.True(result.IsValid, string.Join("\n", result.Errors));
        var expected = new HealthCheck(true, TimeSpan.FromMilliseconds(500), TimeSpan.FromMilliseconds(200), 4, 1);
        Assert.Equal(expected, result.Config!.FindServicePolicy("web")!.HealthCheck);

        var again = FabricConfigLoader.Load(Fabric.Config.Canonical.HoconWriter.ToHocon(Fabric.Config.Canonical.CanonicalTree.Of(result.Config)));
        Assert.True(again.IsValid, string.Join("\n", again.Errors));
        Assert.Equal(expected, again.Config!.FindServicePolicy("web")!.HealthCheck);
        Assert.Equal(HealthCheck.Off, again.Config.FindServicePolicy("bulk")!.HealthCheck);
    }

    [Theory]
    [InlineData("{ interval = 50ms }", "fabric.service-policies.web.health-check.interval", "at least 100ms")]
    [InlineData("{ timeout = 2s }", "fabric.service-policies.web.health-check.timeout", "make timeout at most interval")]
    [InlineData("{ healthy-threshold = 0 }", "fabric.service-policies.web.health-check.healthy-threshold", "")]
    [InlineData("{ unhealthy-threshold = 101 }", "fabric.service-policies.web.health-check.unhealthy-threshold", "")]
    [InlineData("{ enabled = maybe }", "fabric.service-policies.web.health-check.enabled", "true or false")]
    [InlineData("{ intervall = 2s }", "fabric.service-policies.web.health-check", "intervall")]
    public void HealthCheck_Wrong_ErrorWithItsPath(string check, string path, string message)
    {
        var result = FabricConfigLoader.Load(LabWith(check));

        var error = Assert.Single(result.Errors);
        Assert.StartsWith(path, error.Path, StringComparison.Ordinal);
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }
}
