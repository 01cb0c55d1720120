using Fabric.Conductor.Api;
using Fabric.Conductor.Telemetry;

namespace Fabric.Tests.Conductor.Api;

/// <summary>
/// <c>GET /v1/paths</c> reads each router node's peer paths from its telemetry (<see cref="PeerPathViews"/>), the names
/// of this release (<c>path.P/N/F</c>) and, during a rolling upgrade, of the previous one (<c>path.P/N</c>, every path IPv4).
/// </summary>
public sealed class PeerPathViewsTests
{
    [Fact]
    public void Of_SampleOfARouterOfThePreviousRelease_PathWithoutFamily_ReadsAsIpv4WithItsCounters()
    {
        var sample = new TelemetryPoint(1_000, new Dictionary<string, long>
        {
            ["path.dc1/wan.up"] = 1,
            ["path.dc1/wan.sessions"] = 3,
            ["path.dc1/wan.rtt-us"] = 2_000,
            ["path.dc1/wan.jitter-us"] = 500,
            ["path.dc1/wan.loss-bp"] = 150,
            ["forwarded"] = 7,
        });

        var path = Assert.Single(PeerPathViews.Of("br1", "br1a", sample));

        Assert.Equal(new PeerPathView("br1", "br1a", "dc1", "wan", "ipv4", true, 2.0, 0.5, 1.5, 3, 1_000), path);
    }

    [Fact]
    public void Of_SampleOfThisRelease_EachFamilyAPath()
    {
        var sample = new TelemetryPoint(1_000, new Dictionary<string, long>
        {
            ["path.dc1/wan/ipv6.up"] = 0,
            ["path.dc1/wan/ipv6.sessions"] = 1,
            ["path.dc1/wan/ipv4.up"] = 1,
        });

        var paths = PeerPathViews.Of("br1", "br1a", sample).ToList();

        Assert.Equal([("dc1", "wan", "ipv4", true, 0L), ("dc1", "wan", "ipv6", false, 1L)], paths.Select(p => (p.Peer, p.Neighborhood, p.Family, p.Up, p.Sessions)));
        Assert.All(paths, p => Assert.Null(p.RttMilliseconds));
    }
}
