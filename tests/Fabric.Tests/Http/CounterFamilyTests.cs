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

    [Theory]
    [InlineData("path.dc1/wan.up")]
    [InlineData("path.dc1//ipv4.up")]
    [InlineData("path.dc1/wan/.up")]
    [InlineData("path.dc1/wan/ipv4.sessions")]
    public void PeerPath_AnotherShape_IsNotOfTheFamily(string counter) =>
        Assert.Null(Family("fabric.peer_path.up").Match(counter));

    [Fact]
    public void TenantLimit_TenantNameWithDots_StaysWhole() =>
        Assert.Equal(["web", "eng.dev"], Family("fabric.tenant_limit.rate").Match("tenant-limit.web.eng.dev.rate") ?? []);
}
