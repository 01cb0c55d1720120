using System.Buffers.Binary;
using Fabric.Dataplane.Pipeline;
using Fabric.Dataplane.Wire;
using Fabric.Tests.Dataplane.Routing;

namespace Fabric.Tests.Dataplane.Pipeline;

/// <summary>What the router learns about its neighbours from the frames it receives.</summary>
public sealed class GatewayStageTests
{
    // The fixture's ports: the service LAN, eng1's and guest1's host-based links, the client LAN.
    private const int SvcPort = 0;
    private const int Guest1Port = 2;
    private const int LanPort = 3;

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
        var now = lab.Time.GetTimestamp();
        Assert.True(neighbors.TryGet(LanPort, lab.Eng2.Address, isIpv6: false, now, out _), "the sender itself was not learned from its ARP");
        Assert.False(neighbors.TryGet(LanPort, quotedSource, isIpv6: false, now, out _));
        Assert.False(neighbors.TryGet(LanPort, quotedDestination, isIpv6: false, now, out _));
    }

    [Fact]
    public void Ipv6FrameFromIpv4NeighborsAddress_TrafficToThatNeighborStillReachesIt()
    {
        using var lab = new RouterFixture();

        // sink1, on the same LAN as db1, sends an IPv6 datagram whose source has the value of db1's IPv4 address
        // (::10.10.1.20): off-link for the LAN's fd00:10:1::/64, and another family than db1's entry.
        TrafficToDb1StillReachesItAfter(lab, () =>
            lab.Sink1.SendIpv6(lab.Router.Ports[SvcPort].Mac, Packets.Udp6(lab.Db1.Address, IpAddressConversions.ParseIpv6("fd00:10:1::11"), 7, 7, [1, 2, 3, 4])));
    }

    [Fact]
    public void NeighborSolicitationFromIpv6FormOfIpv4NeighborsAddress_TrafficToThatNeighborStillReachesIt()
    {
        using var lab = new RouterFixture();

        // Neighbour discovery is learned whatever its source: sink1 solicits the router from ::10.10.1.20, whose
        // value is db1's IPv4 address. Its entry is an IPv6 neighbour's; db1's IPv4 entry stays as it was.
        TrafficToDb1StillReachesItAfter(lab, () =>
        {
            var frame = new byte[128];
            var length = ControlMessages.NeighborSolicitation(frame, lab.Sink1.Mac, lab.Db1.Address, IpAddressConversions.ParseIpv6("fd00:10:1::1"));
            lab.Sink1.SendIpv6(lab.Router.Ports[SvcPort].Mac, frame[EthernetFrame.UntaggedHeaderLength..length]);
        });

        Assert.True(lab.Router.Worker.Neighbors.TryGet(SvcPort, lab.Db1.Address, isIpv6: true, lab.Time.GetTimestamp(), out var learned));
        Assert.Equal(lab.Sink1.Mac, learned);
    }

    [Theory]
    [InlineData(255, 0, true)]
    [InlineData(254, 0, false)]
    [InlineData(64, 0, false)]
    [InlineData(255, 1, false)]
    public void NeighborSolicitation_IsAnsweredOnlyWithHopLimit255AndCode0(byte hopLimit, byte code, bool answered)
    {
        using var lab = new RouterFixture();
        var web1 = lab.Hosts.Single(h => h.Name == "web1");
        var frame = new byte[128];
        var length = ControlMessages.NeighborSolicitation(frame, web1.Mac, web1.Address6!.Value, IpAddressConversions.ParseIpv6("fd00:10:1::1"));
        var packet = frame[EthernetFrame.UntaggedHeaderLength..length];
        packet[Ipv6Packet.HopLimitOffset] = hopLimit;
        var icmp = packet.AsSpan(Ipv6Packet.HeaderLength);
        if (code != 0)
        {
            // A code the sender set, with a checksum that verifies: only the code is wrong.
            icmp[1] = code;
            BinaryPrimitives.WriteUInt16BigEndian(icmp[2..], 0);
            BinaryPrimitives.WriteUInt16BigEndian(icmp[2..], Checksum.Finish(Checksum.Add(Ipv6Packet.FromValidated(packet).PseudoHeaderSum(), icmp)));
        }

        web1.SendIpv6(lab.Router.Ports[SvcPort].Mac, packet);
        lab.Pump();

        var advertisements = web1.Received6.Count(p => p[Ipv6Packet.HeaderLength] == Icmpv6Type.NeighborAdvertisement);
        Assert.Equal(answered ? 1 : 0, advertisements);
        Assert.Equal(answered ? 0 : 1, lab.Router.Worker.Drops.Total(DropReason.NeighborDiscoveryOffLink));
    }

    [Fact]
    public void FramesFromOffLinkSources_TeachNothing()
    {
        using var lab = new RouterFixture();
        var neighbors = lab.Router.Worker.Neighbors;
        lab.Guest1.SendUdp("10.200.0.80", 1000, 53, [1]);
        lab.Pump();
        var before = neighbors.Count;

        // guest1's link holds 10.20.1.0/24: sources outside it (another tenant's LAN, the service LAN, anywhere)
        // are forged or routed; none may take a slot or stand for a host.
        uint[] foreign =
        [
            IpAddressConversions.ParseIpv4("10.10.1.20"), IpAddressConversions.ParseIpv4("10.30.1.10"),
            IpAddressConversions.ParseIpv4("10.21.1.20"), IpAddressConversions.ParseIpv4("192.0.2.1"),
        ];
        for (var i = 0; i < 200; i++)
        {
            var source = i < foreign.Length ? foreign[i] : IpAddressConversions.ParseIpv4("198.51.100.0") + (uint)i;
            lab.Guest1.SendIp(Packets.Udp(source, IpAddressConversions.ParseIpv4("10.99.99.99"), 1000, 53, [1]));
        }

        lab.Pump();

        var now = lab.Time.GetTimestamp();
        Assert.True(neighbors.TryGet(Guest1Port, lab.Guest1.Address, isIpv6: false, now, out var mac), "the on-link sender was not learned");
        Assert.Equal(lab.Guest1.Mac, mac);
        foreach (var source in foreign)
        {
            Assert.False(neighbors.TryGet(Guest1Port, source, isIpv6: false, now, out _));
        }

        Assert.Equal(before, neighbors.Count);
    }

    [Fact]
    public void NeighborSilentForReachableTime_IsAskedAgainAndItsNewMacUsed()
    {
        using var lab = new RouterFixture();
        var others = lab.Hosts.Where(h => h != lab.Sink1).ToArray();
        lab.Eng1.SendUdp("10.10.1.30", 1000, 5201, [1]);
        lab.Pump();
        Assert.Single(lab.Sink1.Received);

        // sink1's container is replaced: same address, new MAC, and it announces nothing. The old one is gone (never
        // answers again), and the router has had no word from sink1's address since it answered the first ARP.
        var mac = new MacAddress(0x02_00_00_00_0E_01);
        var replaced = new TestHost("sink1-new", lab.Svc.Attach("sink1-new", mac), mac, "10.10.1.40", "10.10.1.1");
        TestHost[] hosts = [.. others, replaced];

        lab.Time.Advance(NeighborTableSeconds(-1));
        lab.Eng1.SendUdp("10.10.1.30", 1001, 5201, [2]);
        FramePump.Run([lab.Router], hosts);
        Assert.Empty(replaced.Received);

        lab.Time.Advance(TimeSpan.FromSeconds(2));
        lab.Eng1.SendUdp("10.10.1.30", 1002, 5201, [3]);
        FramePump.Run([lab.Router], hosts);

        Assert.Single(replaced.Received);
        lab.Sink1.Process();
        Assert.Equal(2, lab.Sink1.Received.Count);
    }

    /// <summary>
    /// fin1 opens a session to db (db1 gets it), sink1 sends what <paramref name="forge"/> sends, and fin1 opens another:
    /// it must reach db1 too, and nothing of it sink1.
    /// </summary>
    private static void TrafficToDb1StillReachesItAfter(RouterFixture lab, Action forge)
    {
        lab.Fin1.SendTcp("10.10.1.20", 40000, 5432, TcpFlags.Syn, 1, 0, []);
        lab.Pump();
        Assert.Single(lab.Db1.Received);

        forge();
        lab.Pump();
        lab.Fin1.SendTcp("10.10.1.20", 40001, 5432, TcpFlags.Syn, 1, 0, []);
        lab.Pump();

        Assert.Equal(2, lab.Db1.Received.Count);
        Assert.Empty(lab.Sink1.Received);
    }

    /// <summary>The reachable time plus <paramref name="offset"/> seconds.</summary>
    private static TimeSpan NeighborTableSeconds(int offset) =>
        Fabric.Dataplane.Neighbors.NeighborTable.ReachableTime + TimeSpan.FromSeconds(offset);
}
