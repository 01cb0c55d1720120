using Fabric.Http.Metrics;

namespace Fabric.Tests.Http;

/// <summary>
/// Telemetry counter names become metric labels (<see cref="CounterFamilies"/>): a peer path's counter carries its peer,
/// neighborhood and family, so the two paths of a dual-stack neighborhood are two series, not one overwriting the other;
/// a tenant name with dots stays whole.
/// </summary>
public sealed class CounterFamilyTests
{
    private static CounterFamily Family(string instrument) => CounterFamilies.All.Single(f => f.Instrument == instrument);

    [Theory]
    [InlineData("path.dc1/wan/ipv4.up", "dc1", "wan", "ipv4")]
    [InlineData("path.dc1/wan/ipv6.up", "dc1", "wan", "ipv6")]
    [InlineData("path.dc1-east/wan-b/ipv6.up", "dc1-east", "wan-b", "ipv6")]
    public void PeerPath_PeerNeighborhoodAndFamily(string counter, string peer, string neighborhood, string family) =>
        Assert.Equal([peer, neighborhood, family], Family("fabric.peer_path.up").Match(counter) ?? []);

    /// <summary>A router of the previous release names its peer paths without their family (all were IPv4): read as ipv4, in every peer path family.</summary>
    [Theory]
    [InlineData("fabric.peer_path.up", "path.dc1/wan.up")]
    [InlineData("fabric.peer_path.sessions", "path.dc1/wan.sessions")]
    [InlineData("fabric.peer_path.rtt", "path.dc1/wan.rtt-us")]
    [InlineData("fabric.peer_path.jitter", "path.dc1/wan.jitter-us")]
    [InlineData("fabric.peer_path.loss_ratio", "path.dc1/wan.loss-bp")]
    public void PeerPath_OfARouterOfThePreviousRelease_WithoutFamily_ReadsAsIpv4(string instrument, string counter) =>
        Assert.Equal(["dc1", "wan", "ipv4"], Family(instrument).Match(counter) ?? []);

    [Theory]
    [InlineData("path.dc1.up")]
    [InlineData("path.dc1/.up")]
    [InlineData("path.dc1//ipv4.up")]
    [InlineData("path.dc1/wan/.up")]
    [InlineData("path.dc1/wan/ipv4.sessions")]
    public void PeerPath_AnotherShape_IsNotOfTheFamily(string counter) =>
        Assert.Null(Family("fabric.peer_path.up").Match(counter));

    [Fact]
    public void TenantLimit_TenantNameWithDots_StaysWhole() =>
        Assert.Equal(["web", "eng.dev"], Family("fabric.tenant_limit.rate").Match("tenant-limit.web.eng.dev.rate") ?? []);
}
