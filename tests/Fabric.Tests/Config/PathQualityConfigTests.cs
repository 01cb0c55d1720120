using Fabric.Config;
using Fabric.Model;
using Fabric.Tests.Support;

namespace Fabric.Tests.Config;

/// <summary>A service policy's path quality and path choice: defaults, read values, canonical form, validation with paths.</summary>
public sealed class PathQualityConfigTests
{
    private static string LabWithWebPolicy(string keys) =>
        Repository.Read("hocon/lab.conf").Replace("    web {\n      load-balancing = proportional\n", $"    web {{\n      load-balancing = proportional\n      {keys}\n");

    [Fact]
    public void PathQuality_NotGiven_NoBoundsAndOrderedChoice()
    {
        var policy = FabricConfigLoader.Load(LabWithWebPolicy("")).Config!.FindServicePolicy("web")!;

        Assert.Equal(PathQuality.Any, policy.PathQuality);
        Assert.False(policy.PathQuality.IsBounded);
        Assert.Equal(PathChoice.Ordered, policy.PathChoice);
    }

    [Theory]
    [InlineData("path-quality { max-latency = 150ms, max-jitter = 30ms, max-loss = 5 }\n      path-choice = balance", 150.0, 30.0, 5, PathChoice.Balance)]
    [InlineData("path-quality { max-loss = 0 }", null, null, 0, PathChoice.Ordered)]
    [InlineData("path-quality { max-jitter = 500us }", null, 0.5, null, PathChoice.Ordered)]
    public void PathQuality_Given_ReadAndSurvivesTheCanonicalForm(string keys, double? latencyMs, double? jitterMs, int? loss, PathChoice choice)
    {
        var result = FabricConfigLoader.Load(LabWithWebPolicy(keys));
        Assert.True(result.IsValid, string.Join("\n", result.Errors));
        var expected = new PathQuality(
            latencyMs is { } l ? TimeSpan.FromMilliseconds(l) : null, jitterMs is { } j ? TimeSpan.FromMilliseconds(j) : null, loss);
        var policy = result.Config!.FindServicePolicy("web")!;
        Assert.Equal(expected, policy.PathQuality);
        Assert.Equal(choice, policy.PathChoice);

        var again = FabricConfigLoader.Load(Fabric.Config.Canonical.HoconWriter.ToHocon(Fabric.Config.Canonical.CanonicalTree.Of(result.Config)));
        Assert.True(again.IsValid, string.Join("\n", again.Errors));
        Assert.Equal(expected, again.Config!.FindServicePolicy("web")!.PathQuality);
        Assert.Equal(choice, again.Config!.FindServicePolicy("web")!.PathChoice);
    }

    [Theory]
    [InlineData("path-quality { max-loss = 150 }", "fabric.service-policies.web.path-quality.max-loss", "out of range")]
    [InlineData("path-quality { max-loss = 2.5 }", "fabric.service-policies.web.path-quality.max-loss", "whole number")]
    [InlineData("path-quality { max-latency = fast }", "fabric.service-policies.web.path-quality.max-latency", "duration")]
    [InlineData("path-quality { max-latency = 0ms }", "fabric.service-policies.web.path-quality.max-latency", "at least")]
    [InlineData("path-quality { max-jiter = 5ms }", "fabric.service-policies.web.path-quality", "max-jiter")]
    [InlineData("path-choice = random", "fabric.service-policies.web.path-choice", "random")]
    public void PathQuality_Wrong_ErrorWithItsPath(string keys, string path, string message)
    {
        var result = FabricConfigLoader.Load(LabWithWebPolicy(keys));

        var error = Assert.Single(result.Errors);
        Assert.StartsWith(path, error.Path, StringComparison.Ordinal);
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }
}
