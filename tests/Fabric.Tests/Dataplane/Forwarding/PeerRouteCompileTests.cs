using Fabric.Dataplane.Forwarding;
using Fabric.Dataplane.Wire;
using Fabric.Tests.Dataplane.Routing;
using Fabric.Tests.Support;

namespace Fabric.Tests.Dataplane.Forwarding;

/// <summary>Service routes to peer routers over shared neighborhoods, as the snapshot compiler builds them from hocon/lab.conf.</summary>
public sealed class PeerRouteCompileTests
{
    private static ForwardingSnapshot Compile(string router, string[] devices, string? edit = null)
    {
        var text = Repository.Read("hocon/lab.conf");
        var model = RouterFixture.Load(edit is null ? text : text.Replace("wan {}", edit));
        return SnapshotCompiler.Compile(model, router, devices, 1, 1_000_000, new ServiceRuntimes(), 0);
    }

    [Fact]
    public void Branch_ServiceHostedAtDatacenter_RoutesToItsWaypointOverTheSharedNeighborhood()
    {
        var br1 = Compile("br1", ["wan0", "eng1", "guest1"]);

        var web = br1.Services[br1.ServiceIndex("web")];
        Assert.Empty(web.Instances);
        var path = Assert.Single(web.PeerPaths);
        Assert.Equal("dc1", path.PeerRouter);
        Assert.Equal("wan", path.Neighborhood);
        Assert.Equal(0, path.Port);
        Assert.Equal(IpAddressConversions.ParseIpv4("172.16.0.2"), path.LocalAddress);
        Assert.Equal(IpAddressConversions.ParseIpv4("172.16.0.1"), path.PeerAddress);
        Assert.Equal(50_000, path.Waypoints.Capacity);
        Assert.True(br1.Ports[0].IsWaypoint(path.LocalAddress, path.IsIpv6, 16384));
        Assert.False(br1.Ports[0].IsWaypoint(path.LocalAddress, path.IsIpv6, 16383));
    }

    [Fact]
    public void Datacenter_LocalInstances_NoPeerRoute()
    {
        var dc1 = Compile("dc1", ["wan0", "svc"]);

        var web = dc1.Services[dc1.ServiceIndex("web")];
        Assert.Equal(2, web.Instances.Length);
        Assert.Empty(web.PeerPaths);
        // Paths to both branches exist; no service here needs them.
        Assert.Equal(["br1", "br2"], dc1.PeerPaths.Select(p => p.PeerRouter));
    }

    [Fact]
    public void Neighborhood_RangeAndMax_SizeThePool_KeptAcrossCompiles()
    {
        var runtimes = new ServiceRuntimes();
        var text = Repository.Read("hocon/lab.conf").Replace("wan {}", "wan { waypoint-ports = \"20000-20009\", max-waypoints = 3 }");
        var model = RouterFixture.Load(text);
        var first = SnapshotCompiler.Compile(model, "br1", ["wan0"], 1, 1_000_000, runtimes, 0);
        var second = SnapshotCompiler.Compile(model, "br1", ["wan0"], 2, 1_000_000, runtimes, 0);

        var pool = first.PeerPaths[0].Waypoints;
        Assert.Equal(3, pool.Capacity);
        Assert.Same(pool, second.PeerPaths[0].Waypoints);
        Assert.True(pool.TryAllocate(out var local, out var peer));
        Assert.InRange(local, 20000, 20009);
        Assert.InRange(peer, 20000, 20009);
    }

    /// <summary>
    /// A path's waypoints are IPv4 when both interfaces have an IPv4 address (a dual-stack neighborhood makes one IPv4
    /// path), else IPv6 addresses that are not link-local when both have one, else there is no path.
    /// </summary>
    [Theory]
    [InlineData("\"172.16.0.1/24\", \"fd00:16::1/64\"", "\"172.16.0.2/24\", \"fd00:16::2/64\"", "172.16.0.1")]
    [InlineData("\"fd00:16::1/64\"", "\"fd00:16::2/64\"", "fd00:16::1")]
    [InlineData("\"fe80::1/64\", \"fd00:16::1/64\"", "\"fe80::2/64\", \"fd00:16::2/64\"", "fd00:16::1")]
    [InlineData("\"fd00:16::1/64\"", "\"172.16.0.2/24\"", null)]
    public void PeerPath_WaypointFamily_Ipv4WhenBothHaveOne_ElseIpv6NotLinkLocal_ElseNone(string dc1Addresses, string br1Addresses, string? peerWaypoint)
    {
        var text = Repository.Read("hocon/lab.conf")
            .Replace("addresses = [\"172.16.0.1/24\"]", $"addresses = [{dc1Addresses}]", StringComparison.Ordinal)
            .Replace("addresses = [\"172.16.0.2/24\"]", $"addresses = [{br1Addresses}]", StringComparison.Ordinal);
        var br1 = SnapshotCompiler.Compile(RouterFixture.Load(text), "br1", ["wan0", "eng1", "guest1"], 1, 1_000_000, new ServiceRuntimes(), 0);

        var path = Array.Find(br1.PeerPaths, p => p.PeerRouter == "dc1");
        Assert.Equal(peerWaypoint, path?.PeerIPAddress.ToString());
        Assert.Equal(peerWaypoint?.Contains(':', StringComparison.Ordinal), path?.IsIpv6);
    }
}
