using Fabric.Dataplane.Wire;
using Fabric.Tests.Dataplane.Routing;

namespace Fabric.Tests.Dataplane.Pipeline;

/// <summary>What the router learns about its neighbours from the frames it receives.</summary>
public sealed class GatewayStageTests
{
    [Fact]
    public void IcmpError_QuotingOtherAddresses_NeitherQuotedAddressLearnedForTheSender()
    {
        using var lab = new RouterFixture();
        var quotedSource = IpAddressConversions.ParseIpv4("10.30.1.77");
        var quotedDestination = IpAddressConversions.ParseIpv4("10.30.1.88");
        var quoted = Packets.Udp(quotedSource, quotedDestination, 1000, 2000, new byte[8])[..28];

        lab.Eng2.SendIp(Packets.Icmp(lab.Eng2.Address, quotedSource, Icmpv4Type.DestinationUnreachable, 0, 0, quoted));
        lab.Pump();

        var neighbors = lab.Router.Worker.Neighbors;
        Assert.True(neighbors.TryGet(3, lab.Eng2.Address, out _), "the sender itself was not learned from its ARP");
        Assert.False(neighbors.TryGet(3, quotedSource, out _));
        Assert.False(neighbors.TryGet(3, quotedDestination, out _));
    }
}
