using Fabric.Config;
using Fabric.Dataplane.Routing;
using Fabric.Model;
using Fabric.Tests.Dataplane.Routing;

namespace Fabric.Tests.Config;

/// <summary>The session table's size, the tenant share and the half-open timeout come from the document, with defaults.</summary>
public sealed class SessionTableConfigTests
{
    private const string RouterStart = "dc1 {";

    [Fact]
    public void RouterSessions_Given_ReachTheRouterOptions()
    {
        var text = RouterFixture.Config.Replace(RouterStart, "dc1 { sessions { capacity = 4096, max-tenant-share = 25 }", StringComparison.Ordinal);
        var config = RouterFixture.Load(text);

        var options = RouterOptions.From(config.Routers[0].Sessions);

        Assert.Equal(4096, options.SessionCapacity);
        Assert.Equal(1024, options.MaxSessionsPerTenant);
    }

    [Fact]
    public void RouterSessions_Omitted_DefaultTableAndHalfOfItPerTenant()
    {
        var config = RouterFixture.Load(RouterFixture.Config);

        Assert.Equal(new SessionTableSettings(65_536, 50), config.Routers[0].Sessions);
        Assert.Equal(32_768, RouterOptions.From(config.Routers[0].Sessions).MaxSessionsPerTenant);
        Assert.Equal(TimeSpan.FromSeconds(20), config.ServicePolicies[0].IdleTimeouts.HalfOpen);
    }

    [Theory]
    [InlineData("capacity = 1")]
    [InlineData("capacity = 100000000")]
    [InlineData("max-tenant-share = 0")]
    [InlineData("max-tenant-share = 101")]
    [InlineData("size = 10")]
    public void RouterSessions_OutOfRangeOrUnknown_RefusedWithPath(string setting)
    {
        var text = RouterFixture.Config.Replace(RouterStart, $"dc1 {{ sessions {{ {setting} }}", StringComparison.Ordinal);

        var result = FabricConfigLoader.Load(text);

        Assert.False(result.IsValid);
        Assert.Contains(result.Errors, e => e.ToString().Contains("routers.dc1.sessions", StringComparison.Ordinal));
    }
}
