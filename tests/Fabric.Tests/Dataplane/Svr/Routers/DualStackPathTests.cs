using Fabric.Dataplane.Forwarding;
using Fabric.Dataplane.Routing;
using Fabric.Dataplane.Wire;

namespace Fabric.Tests.Dataplane.Svr.Routers;

/// <summary>
/// A dual-stack neighborhood makes two peer paths between the same interfaces, one of each family: br1 and dc1 of
/// <see cref="PathFabric"/> with wan0 given IPv6 addresses too (fd00:16::1 on dc1, ::2 on br1). Sessions take the IPv4
/// path first; when IPv4 stops crossing wan0 (the IPv6 path still does) a resilient session moves to the IPv6 path of
/// the same wire, not to the other WAN, and comes back when IPv4 returns.
/// </summary>
public sealed class DualStackPathTests
{
    private const string Web = "10.200.0.80";
    private const string Bulk = "10.10.1.30";

    private static string DualStackWan0(string text) => text
        .Replace("wan0 { addresses = [\"172.16.0.1/24\"]", "wan0 { addresses = [\"172.16.0.1/24\", \"fd00:16::1/64\"]", StringComparison.Ordinal)
        .Replace("wan0 { addresses = [\"172.16.0.2/24\"]", "wan0 { addresses = [\"172.16.0.2/24\", \"fd00:16::2/64\"]", StringComparison.Ordinal);

    [Fact]
    public void DualStackNeighborhood_TwoPaths_Ipv4First()
    {
        using var fabric = new PathFabric(edit: DualStackWan0);

        var toDc1 = fabric.Br1.Snapshot.PeerPaths.Where(p => p.PeerRouter == "dc1").Select(p => $"{p.Neighborhood}/{p.Family} {p.LocalIPAddress} > {p.PeerIPAddress}");
        Assert.Equal(["wan/ipv4 172.16.0.2 > 172.16.0.1", "wan/ipv6 fd00:16::2 > fd00:16::1", "wan2/ipv4 172.17.0.2 > 172.17.0.1"], toDc1);
        Assert.NotEqual(Ipv4Path(fabric.Br1).PoolId, Ipv6Path(fabric.Br1).PoolId);
        Assert.Equal(Ipv4Path(fabric.Br1).Port, Ipv6Path(fabric.Br1).Port);
    }

    [Fact]
    public void Failover_Ipv4StopsCrossingTheWire_SessionMovesToTheIpv6PathOfTheSameWire_AndBack()
    {
        using var fabric = new PathFabric("revertible-failover", edit: DualStackWan0);
        fabric.RunSeconds(2);
        var ipv4 = Ipv4Path(fabric.Br1);
        var ipv6 = Ipv6Path(fabric.Br1);
        Assert.True(ipv6.Health.IsUsable);
        fabric.Eng1.SendTcp(Web, 40000, 80, TcpFlags.Syn, 100, 0, []);
        fabric.Pump();
        fabric.Eng1.SendTcp(Web, 40000, 80, TcpFlags.Ack, 101, 5001, []);
        Exchange(fabric, 101, "before");
        Assert.Equal(ipv4.PoolId, SvrFabric.OnlySession(fabric.Br1).WaypointPool);

        BlockIpv4OnWan0(fabric, true);
        fabric.RunSeconds(3);
        Assert.False(ipv4.Health.IsUsable);
        Assert.True(ipv6.Health.IsUsable);

        Exchange(fabric, 107, "during");
        Assert.Equal(ipv6.PoolId, SvrFabric.OnlySession(fabric.Br1).WaypointPool);
        Assert.Contains(fabric.DcWan0.Received, IsIpv6);
        Assert.Equal(1, fabric.Br1.Worker.Counters.SessionsMoved);
        Assert.Equal(1, fabric.Dc1.Worker.Sessions.Count);

        BlockIpv4OnWan0(fabric, false);
        fabric.RunSeconds(6);
        Assert.True(ipv4.Health.IsUsable);
        Exchange(fabric, 113, "after!");
        Assert.Equal(ipv4.PoolId, SvrFabric.OnlySession(fabric.Br1).WaypointPool);
        Assert.Equal(2, fabric.Br1.Worker.Counters.SessionsMoved);

        fabric.AssertOneWebConnectionNeverReset();
    }

    [Fact]
    public void NewSession_Ipv4PathDown_OpensOnTheIpv6Path()
    {
        using var fabric = new PathFabric(edit: DualStackWan0);
        fabric.RunSeconds(2);
        BlockIpv4OnWan0(fabric, true);
        fabric.RunSeconds(3);
        fabric.Eng1.SendUdp(Bulk, 5002, 5201, [7]);
        fabric.Pump();

        Assert.Single(fabric.Eng1.Received);
        Assert.Equal(Ipv6Path(fabric.Br1).PoolId, SvrFabric.OnlySession(fabric.Br1).WaypointPool);
    }

    /// <summary>br1's IPv4 path to dc1 over wan0.</summary>
    private static PeerPath Ipv4Path(ForwardingEngine router) => Array.Find(router.Snapshot.PeerPaths, p => p.PeerRouter == "dc1" && p.Neighborhood == "wan" && !p.IsIpv6)!;

    /// <summary>br1's IPv6 path to dc1 over wan0.</summary>
    private static PeerPath Ipv6Path(ForwardingEngine router) => Array.Find(router.Snapshot.PeerPaths, p => p.PeerRouter == "dc1" && p.Neighborhood == "wan" && p.IsIpv6)!;

    /// <summary>Lets no IPv4 frame reach either router over wan0 (IPv6 and ARP still cross), or lets everything cross again.</summary>
    private static void BlockIpv4OnWan0(PathFabric fabric, bool block)
    {
        fabric.DcWan0.Tamper = block ? frame => !IsIpv4(frame) : null;
        fabric.BrWan0.Tamper = block ? frame => !IsIpv4(frame) : null;
    }

    private static bool IsIpv4(byte[] frame) => EthernetFrame.TryCreate(frame, out var ethernet) && ethernet.EtherType == EtherType.Ipv4;

    private static bool IsIpv6(byte[] frame) => EthernetFrame.TryCreate(frame, out var ethernet) && ethernet.EtherType == EtherType.Ipv6;

    /// <summary>Sends a data segment from eng1 on the web connection and checks the server's echo comes back whole.</summary>
    private static void Exchange(PathFabric fabric, uint sequence, string text) =>
        fabric.Eng1.AssertTcpEcho(Web, 40000, 80, sequence, text, fabric.Pump);
}
