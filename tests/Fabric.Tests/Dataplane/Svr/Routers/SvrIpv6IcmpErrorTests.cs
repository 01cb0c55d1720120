using System.Buffers.Binary;
using Fabric.Dataplane.Pipeline;
using Fabric.Dataplane.Svr.Security;
using Fabric.Dataplane.Wire;
using Fabric.Tests.Dataplane.Routing;

namespace Fabric.Tests.Dataplane.Svr.Routers;

/// <summary>
/// ICMP errors about the packets of sessions of or over IPv6 (the dual-stack lab fabric, <see cref="SvrFabric.DualStack"/>,
/// over its IPv4 WAN or an IPv6 one, <see cref="SvrFabric.Ipv6Wan"/>), generated beyond the egress router or by it, reach
/// the client as errors of the client's family about its own packet, from the service address: the path-MTU discovery of
/// an IPv6 client works when the bottleneck is behind dc1.
/// </summary>
public sealed class SvrIpv6IcmpErrorTests
{
    private static readonly UInt128 Web6 = IpAddressConversions.ParseIpv6("fd00:200::80");
    private static readonly UInt128 Eng1 = IpAddressConversions.ParseIpv6("fd00:20:1::10");
    private const string Web4 = "10.200.0.80";

    private static readonly Func<string, string> Ipv6WanDualStack = text => SvrFabric.Ipv6Wan(SvrFabric.DualStack(text));

    private static Func<string, string> Wan(bool ipv6Wan) => ipv6Wan ? Ipv6WanDualStack : SvrFabric.DualStack;

    private static Func<string, string> Encrypted(bool ipv6Wan) => text => Wan(ipv6Wan)(text).Replace(
        "load-balancing = proportional", "load-balancing = proportional\n      encryption = required", StringComparison.Ordinal);

    private static Func<string, string> WithDns(bool ipv6Wan) => text => Wan(ipv6Wan)(text).Replace(
        "transports = [{ protocol = tcp, ports = [\"80\"] }]", "transports = [{ protocol = tcp, ports = [\"80\"] }, { protocol = udp, ports = [\"53\"] }]",
        StringComparison.Ordinal);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void PacketTooBig6_FromInstanceBeyondEgress_ReachesClientFromServiceAboutItsOwnSegment(bool ipv6Wan)
    {
        using var fabric = new SvrFabric(Wan(ipv6Wan));
        var (server, syn) = OpenTcp6(fabric);

        server.SendIpv6(fabric.Dc1.Ports[1].Mac, ErrorAbout(server.Address6!.Value, syn, Icmpv6Type.PacketTooBig, 0, 1400));
        fabric.Pump();

        var error = Assert.Single(fabric.Eng1.Received6, IsIcmpv6Error);
        Assert.Equal(1400u, AssertErrorAboutClientFlow(error, IpProtocol.Tcp, 40000, 80, Icmpv6Type.PacketTooBig, 0));

        // Between the routers it crossed in the WAN's family, about the waypoint packet, from dc1's waypoint: over the IPv4
        // WAN as fragmentation-needed for 20 octets less (the IPv4 header of the waypoint packet is 20 octets shorter).
        if (ipv6Wan)
        {
            var crossed = Assert.Single(Ipv6Packets(fabric.BrWan.Received), IsIcmpv6Error);
            Assert.True(Packets.ChecksumsValid6(crossed));
            Assert.Equal(IpAddressConversions.ParseIpv6("fd00:16::1"), BinaryPrimitives.ReadUInt128BigEndian(crossed.AsSpan(8)));
            Assert.Equal(1400u, BinaryPrimitives.ReadUInt32BigEndian(crossed.AsSpan(40 + 4)));
        }
        else
        {
            var crossed = Assert.Single(Ipv4Packets(fabric.BrWan.Received), ip => ip[9] == IpProtocol.Icmp);
            Assert.True(Packets.ChecksumsValid(crossed));
            Assert.Equal("172.16.0.1", Packets.Source(crossed).ToString());
            Assert.Equal((Icmpv4Type.DestinationUnreachable, Icmpv4Code.FragmentationNeeded), (crossed[20], crossed[21]));
            Assert.Equal(1380, BinaryPrimitives.ReadUInt16BigEndian(crossed.AsSpan(26)));
        }

        Assert.Equal(0, fabric.Dc1.Worker.Counters.Dropped);
        Assert.Equal(0, fabric.Br1.Worker.Counters.Dropped);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void PacketTooBig6_SealedSession_MtuLoweredByTheTrailerOnTheWayToTheClient(bool ipv6Wan)
    {
        using var fabric = new SvrFabric(Encrypted(ipv6Wan));
        fabric.ShareKeys(fabric.Br1, fabric.Dc1, epoch: 1);
        fabric.Pump();
        var (server, syn) = OpenTcp6(fabric);

        server.SendIpv6(fabric.Dc1.Ports[1].Mac, ErrorAbout(server.Address6!.Value, syn, Icmpv6Type.PacketTooBig, 0, 1400));
        fabric.Pump();

        var error = Assert.Single(fabric.Eng1.Received6, IsIcmpv6Error);
        Assert.Equal((uint)(1400 - PacketSealer.TrailerLength), AssertErrorAboutClientFlow(error, IpProtocol.Tcp, 40000, 80, Icmpv6Type.PacketTooBig, 0));
    }

    [Fact]
    public void PacketTooBig6_LoweredBelowTheIpv6Minimum_ReachesClientAs1280()
    {
        using var fabric = new SvrFabric(Encrypted(ipv6Wan: true));
        fabric.ShareKeys(fabric.Br1, fabric.Dc1, epoch: 1);
        fabric.Pump();
        var (server, syn) = OpenTcp6(fabric);

        server.SendIpv6(fabric.Dc1.Ports[1].Mac, ErrorAbout(server.Address6!.Value, syn, Icmpv6Type.PacketTooBig, 0, 1290));
        fabric.Pump();

        var error = Assert.Single(fabric.Eng1.Received6, IsIcmpv6Error);
        Assert.Equal(1280u, AssertErrorAboutClientFlow(error, IpProtocol.Tcp, 40000, 80, Icmpv6Type.PacketTooBig, 0));
    }

    /// <summary>
    /// dc1's link toward the instances has a smaller MTU than the WAN: a full-size segment of an IPv6 client is answered
    /// by dc1 (fragmentation-needed about the IPv4 waypoint packet, or packet-too-big about the IPv6 one), eng1 gets a
    /// packet-too-big for exactly that MTU, and a segment of that size then reaches the instance whole.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ServiceLanSmallerThanWan_FullSizeSegment6_ClientLearnsItsMtu_ThenThatSizeCrosses(bool ipv6Wan)
    {
        using var fabric = new SvrFabric(Wan(ipv6Wan), serviceLanMtu: 1400);
        var (server, _) = OpenTcp6(fabric);

        Send6(fabric, Packets.Tcp6(Eng1, Web6, 40000, 80, TcpFlags.Ack | TcpFlags.Psh, 101, 5001, new byte[1500 - 60]));
        fabric.Pump();

        var error = Assert.Single(fabric.Eng1.Received6, IsIcmpv6Error);
        var mtu = AssertErrorAboutClientFlow(error, IpProtocol.Tcp, 40000, 80, Icmpv6Type.PacketTooBig, 0);
        Assert.Equal(1400u, mtu);
        Assert.Equal(1, SvrFabric.Drops(fabric.Dc1, DropReason.TooBig));
        Assert.Single(server.Received6);

        Send6(fabric, Packets.Tcp6(Eng1, Web6, 40000, 80, TcpFlags.Ack | TcpFlags.Psh, 101, 5001, new byte[mtu - 60]));
        fabric.Pump();

        Assert.Equal(2, server.Received6.Count);
        Assert.Equal((int)mtu, server.Received6[^1].Length);
        Assert.True(Packets.ChecksumsValid6(server.Received6[^1]));
        Assert.Equal(1, SvrFabric.Drops(fabric.Dc1, DropReason.TooBig));
    }

    /// <summary>
    /// An IPv4 session over the IPv6 WAN whose instances' link is smaller: a segment as large as the WAN takes is refused by dc1 (a
    /// packet-too-big about the IPv6 waypoint packet, 20 octets longer than the segment it carries), eng1 gets
    /// fragmentation-needed for exactly that link's MTU, and a segment of that size then reaches the instance whole.
    /// </summary>
    [Fact]
    public void ServiceLanSmallerThanWan_FullSizeSegment4_OverIpv6Wan_ClientLearnsItsMtu_ThenThatSizeCrosses()
    {
        using var fabric = new SvrFabric(Ipv6WanDualStack, serviceLanMtu: 1400);
        fabric.Eng1.SendTcp(Web4, 40000, 80, TcpFlags.Syn, 100, 0, []);
        fabric.Pump();
        var server = fabric.Web1.Received.Count > 0 ? fabric.Web1 : fabric.Web2;
        Assert.Single(server.Received);
        var before = fabric.Eng1.Received.Count;

        // As large as br1 sends over the IPv6 WAN (1 500 octets there).
        fabric.Eng1.SendTcp(Web4, 40000, 80, TcpFlags.Ack | TcpFlags.Psh, 101, 5001, new byte[1480 - 40]);
        fabric.Pump();

        var error = Assert.Single(fabric.Eng1.Received.Skip(before));
        SvrIcmpErrorTests.AssertErrorAboutClientFlow(error, Web4, fabric.Eng1.Address, IpProtocol.Tcp, 40000, Web4, 80, type: 3, code: 4);
        int mtu = BinaryPrimitives.ReadUInt16BigEndian(error.AsSpan(26));
        Assert.Equal(1400, mtu);
        Assert.Equal(1, SvrFabric.Drops(fabric.Dc1, DropReason.TooBig));

        fabric.Eng1.SendTcp(Web4, 40000, 80, TcpFlags.Ack | TcpFlags.Psh, 101, 5001, new byte[mtu - 40]);
        fabric.Pump();

        Assert.Equal(2, server.Received.Count);
        Assert.Equal(mtu, server.Received[^1].Length);
        Assert.True(Packets.ChecksumsValid(server.Received[^1]));
        Assert.Equal(1, SvrFabric.Drops(fabric.Dc1, DropReason.TooBig));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void HopLimitExpiringAtEgressRouter_TimeExceeded6ReachesClientAboutItsOwnSegment(bool ipv6Wan)
    {
        using var fabric = new SvrFabric(Wan(ipv6Wan));
        OpenTcp6(fabric);

        // Hop limit 2: br1 takes one, dc1 cannot forward it.
        var segment = Packets.Tcp6(Eng1, Web6, 40000, 80, TcpFlags.Ack | TcpFlags.Psh, 101, 5001, [9, 9]);
        segment[Ipv6Packet.HopLimitOffset] = 2;
        Send6(fabric, segment);
        fabric.Pump();

        var error = Assert.Single(fabric.Eng1.Received6, IsIcmpv6Error);
        AssertErrorAboutClientFlow(error, IpProtocol.Tcp, 40000, 80, Icmpv6Type.TimeExceeded, 0);
        Assert.Equal(1, SvrFabric.Drops(fabric.Dc1, DropReason.TtlExpired));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void PortUnreachable6_FromInstance_ReachesClientAboutItsOwnDatagram(bool ipv6Wan)
    {
        using var fabric = new SvrFabric(WithDns(ipv6Wan));
        Send6(fabric, Packets.Udp6(Eng1, Web6, 5000, 53, [1, 2, 3]));
        fabric.Pump();
        var server = fabric.Web1.Received6.Count > 0 ? fabric.Web1 : fabric.Web2;
        var datagram = Assert.Single(server.Received6);

        server.SendIpv6(fabric.Dc1.Ports[1].Mac, ErrorAbout(server.Address6!.Value, datagram, Icmpv6Type.DestinationUnreachable, Icmpv6Code.PortUnreachable, 0));
        fabric.Pump();

        var error = Assert.Single(fabric.Eng1.Received6, IsIcmpv6Error);
        AssertErrorAboutClientFlow(error, IpProtocol.Udp, 5000, 53, Icmpv6Type.DestinationUnreachable, Icmpv6Code.PortUnreachable);
    }

    /// <summary>An IPv4 session over the IPv6 WAN: the error crosses as ICMPv6 and reaches the client as the ICMPv4 it was.</summary>
    [Fact]
    public void PortUnreachable4_FromInstance_OverIpv6Wan_CrossesAsIcmpv6_ReachesClientAboutItsOwnDatagram()
    {
        using var fabric = new SvrFabric(WithDns(ipv6Wan: true));
        fabric.Eng1.SendUdp(Web4, 5000, 53, [1, 2, 3]);
        fabric.Pump();
        var server = fabric.Web1.Received.Count > 0 ? fabric.Web1 : fabric.Web2;
        var datagram = Assert.Single(server.Received);
        var before = fabric.Eng1.Received.Count;

        server.SendIp(SvrIcmpErrorTests.Unreachable(server.Address, datagram, code: Icmpv4Code.PortUnreachable));
        fabric.Pump();

        var error = Assert.Single(fabric.Eng1.Received.Skip(before));
        SvrIcmpErrorTests.AssertErrorAboutClientFlow(error, Web4, fabric.Eng1.Address, IpProtocol.Udp, 5000, Web4, 53, type: 3, code: 3);
        var crossed = Assert.Single(Ipv6Packets(fabric.BrWan.Received), IsIcmpv6Error);
        Assert.True(Packets.ChecksumsValid6(crossed));
        Assert.Equal((Icmpv6Type.DestinationUnreachable, Icmpv6Code.PortUnreachable), (crossed[40], crossed[41]));
    }

    /// <summary>An IPv4 session over the IPv6 WAN whose instance's link is smaller: fragmentation-needed reaches the client for that MTU.</summary>
    [Fact]
    public void FragmentationNeeded4_FromInstance_OverIpv6Wan_ReachesClientWithItsMtu()
    {
        using var fabric = new SvrFabric(Ipv6WanDualStack);
        fabric.Eng1.SendTcp(Web4, 40000, 80, TcpFlags.Syn, 100, 0, []);
        fabric.Pump();
        var server = fabric.Web1.Received.Count > 0 ? fabric.Web1 : fabric.Web2;
        var syn = Assert.Single(server.Received);
        var before = fabric.Eng1.Received.Count;

        server.SendIp(SvrIcmpErrorTests.Unreachable(server.Address, syn, code: Icmpv4Code.FragmentationNeeded, mtu: 1300));
        fabric.Pump();

        var error = Assert.Single(fabric.Eng1.Received.Skip(before));
        SvrIcmpErrorTests.AssertErrorAboutClientFlow(error, Web4, fabric.Eng1.Address, IpProtocol.Tcp, 40000, Web4, 80, type: 3, code: 4);
        Assert.Equal(1300, BinaryPrimitives.ReadUInt16BigEndian(error.AsSpan(26)));
        var crossed = Assert.Single(Ipv6Packets(fabric.BrWan.Received), IsIcmpv6Error);
        Assert.Equal(Icmpv6Type.PacketTooBig, crossed[40]);
        Assert.Equal(1320u, BinaryPrimitives.ReadUInt32BigEndian(crossed.AsSpan(44)));
    }

    /// <summary>
    /// A ping of either family over a WAN of either family that a host beyond dc1 refuses (an IPv6 administratively-prohibited,
    /// which RFC 7915 maps both ways; an IPv4 host-unreachable), quoting the echo request as it got it, to the instance's
    /// address: eng1 gets an error of its own family from the service address quoting its own echo request as it sent it
    /// (its addresses, echo type, identifier, sequence, data and checksum).
    /// </summary>
    [Theory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public void Unreachable_AboutPing_FromInstanceBeyondEgress_ReachesClientQuotingItsOwnEcho(bool ipv6Client, bool ipv6Wan)
    {
        using var fabric = new SvrFabric(WithPing(ipv6Wan));
        var request = Echo(fabric, ipv6Client, 84);
        SendEcho(fabric, ipv6Client, request);
        fabric.Pump();
        var server = ipv6Client ? (fabric.Web1.Received6.Count > 0 ? fabric.Web1 : fabric.Web2) : (fabric.Web1.Received.Count > 0 ? fabric.Web1 : fabric.Web2);
        var echo = Assert.Single(ipv6Client ? server.Received6 : server.Received);
        var before = ClientErrors(fabric, ipv6Client).Count();

        if (ipv6Client)
        {
            server.SendIpv6(fabric.Dc1.Ports[1].Mac, ErrorAbout(server.Address6!.Value, echo, Icmpv6Type.DestinationUnreachable, Icmpv6Code.AdministrativelyProhibited, 0));
        }
        else
        {
            server.SendIp(SvrIcmpErrorTests.Unreachable(server.Address, echo, Icmpv4Code.HostUnreachable, quoted: echo.Length));
        }

        fabric.Pump();

        var error = Assert.Single(ClientErrors(fabric, ipv6Client).Skip(before));
        AssertErrorQuotingClientEcho(fabric, error, request, ipv6Client,
            ipv6Client ? (Icmpv6Type.DestinationUnreachable, Icmpv6Code.AdministrativelyProhibited) : (Icmpv4Type.DestinationUnreachable, Icmpv4Code.HostUnreachable));
        Assert.Equal(0, fabric.Dc1.Worker.Counters.Dropped);
        Assert.Equal(0, fabric.Br1.Worker.Counters.Dropped);
    }

    /// <summary>
    /// A don't-fragment ping (<c>ping -M do</c>) to web, big enough for the WAN with what SVR adds but not for the link
    /// web's instances sit behind: dc1 cannot deliver it and says so about the waypoint packet, and eng1 gets
    /// fragmentation-needed (packet-too-big) from the service address quoting its own echo request, for an MTU a ping
    /// of which then reaches the instance and is answered.
    /// </summary>
    [Theory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public void BigPing_ServiceLanSmallerThanWan_ClientToldItsMtuAboutItsOwnEcho_ThenThatSizeIsAnswered(bool ipv6Client, bool ipv6Wan)
    {
        using var fabric = new SvrFabric(WithPing(ipv6Wan), serviceLanMtu: 1300);
        SendEcho(fabric, ipv6Client, Echo(fabric, ipv6Client, 84));
        fabric.Pump();
        Assert.Single(Instances(fabric, ipv6Client));
        var growth = SvrStage.GrowthToPeer(fabric.Br1.Snapshot, SvrFabric.OnlySession(fabric.Br1));
        var request = Echo(fabric, ipv6Client, 1500 - growth - 40);
        Assert.True(request.Length > 1300);

        SendEcho(fabric, ipv6Client, request);
        fabric.Pump();

        var error = Assert.Single(ClientErrors(fabric, ipv6Client));
        var rest = AssertErrorQuotingClientEcho(fabric, error, request, ipv6Client,
            ipv6Client ? (Icmpv6Type.PacketTooBig, (byte)0) : (Icmpv4Type.DestinationUnreachable, Icmpv4Code.FragmentationNeeded));
        var mtu = (int)(ipv6Client ? rest : rest & 0xFFFF);
        Assert.InRange(mtu, ipv6Client ? 1280 : 576, 1300);
        Assert.Equal(1, SvrFabric.Drops(fabric.Dc1, DropReason.TooBig));
        Assert.Single(Instances(fabric, ipv6Client));

        SendEcho(fabric, ipv6Client, Echo(fabric, ipv6Client, mtu));
        fabric.Pump();

        Assert.Equal(2, Instances(fabric, ipv6Client).Count());
        var reply = (ipv6Client ? fabric.Eng1.Received6 : fabric.Eng1.Received)[^1];
        Assert.Equal(mtu, reply.Length);
        Assert.Equal(ipv6Client ? Icmpv6Type.EchoReply : Icmpv4Type.EchoReply, reply[ipv6Client ? 40 : 20]);
        Assert.Equal(1, SvrFabric.Drops(fabric.Dc1, DropReason.TooBig));
    }

    /// <summary>
    /// A ping as big as the link web's instances sit behind (1 280 octets, the IPv6 minimum) reaches the instance and is
    /// answered: dc1 counts the UDP header the message crossed in as left behind when it measures the waypoint packet
    /// against that link.
    /// </summary>
    [Theory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public void Ping_AsBigAsTheServiceLan_ReachesTheInstanceAndIsAnswered(bool ipv6Client, bool ipv6Wan)
    {
        using var fabric = new SvrFabric(WithPing(ipv6Wan), serviceLanMtu: 1280);
        var request = Echo(fabric, ipv6Client, 1280);

        SendEcho(fabric, ipv6Client, request);
        fabric.Pump();

        Assert.Equal(1280, Assert.Single(Instances(fabric, ipv6Client)).Length);
        Assert.Equal(1280, Assert.Single(ipv6Client ? fabric.Eng1.Received6 : fabric.Eng1.Received).Length);
        Assert.Equal(0, fabric.Dc1.Worker.Counters.Dropped);
    }

    /// <summary>
    /// The reverse way: eng1's host answers that a port is unreachable about a ping reply it got (quoting it as it got it,
    /// from the service address); the instance gets an error from eng1 quoting its own reply as it sent it.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Unreachable6_AboutPingReply_FromClient_ReachesInstanceQuotingItsOwnReply(bool ipv6Wan)
    {
        using var fabric = new SvrFabric(WithPing(ipv6Wan));
        var request = Echo(fabric, ipv6Client: true, 84);
        SendEcho(fabric, ipv6Client: true, request);
        fabric.Pump();
        var server = fabric.Web1.Received6.Count > 0 ? fabric.Web1 : fabric.Web2;
        var sentReply = Packets.Icmp6(server.Address6!.Value, Eng1, Icmpv6Type.EchoReply, 7, 1, request[48..]);
        var reply = Assert.Single(fabric.Eng1.Received6);

        Send6(fabric, ErrorAbout(Eng1, reply, Icmpv6Type.DestinationUnreachable, Icmpv6Code.PortUnreachable, 0));
        fabric.Pump();

        var error = Assert.Single(server.Received6, IsIcmpv6Error);
        Assert.True(Packets.ChecksumsValid6(error));
        Assert.True(Ipv6Packet.TryCreate(error, out var outer));
        Assert.Equal((Eng1, server.Address6!.Value), (outer.Source, outer.Destination));
        Assert.True(Icmpv6Packet.TryCreate(outer.UpperLayer, out var icmp));
        Assert.Equal((Icmpv6Type.DestinationUnreachable, Icmpv6Code.PortUnreachable), (icmp.Type, icmp.Code));
        Assert.True(Ipv6Packet.TryCreateQuoted(icmp.Body, out var quoted, out _));
        Assert.Equal((server.Address6!.Value, Eng1, IpProtocol.Icmpv6), (quoted.Source, quoted.Destination, quoted.UpperLayerProtocol));
        Assert.Equal(sentReply[40..], quoted.UpperLayer.ToArray());
        Assert.Equal(0, fabric.Dc1.Worker.Counters.Dropped);
        Assert.Equal(0, fabric.Br1.Worker.Counters.Dropped);
    }

    [Fact]
    public void PacketTooBig6_QuotingTooLittleOfTheSegment_DroppedAsMalformed()
    {
        using var fabric = new SvrFabric(SvrFabric.DualStack);
        var (server, syn) = OpenTcp6(fabric);

        // The quoted packet ends within the ports: nothing says whose flow it is.
        server.SendIpv6(fabric.Dc1.Ports[1].Mac, ErrorAbout(server.Address6!.Value, syn[..42], Icmpv6Type.PacketTooBig, 0, 1400));
        fabric.Pump();

        Assert.DoesNotContain(fabric.Eng1.Received6, IsIcmpv6Error);
        Assert.Equal(1, SvrFabric.Drops(fabric.Dc1, DropReason.Malformed));
    }

    private static Func<string, string> WithPing(bool ipv6Wan) => text => Wan(ipv6Wan)(text).Replace(
        "transports = [{ protocol = tcp, ports = [\"80\"] }]", "transports = [{ protocol = tcp, ports = [\"80\"] }, { protocol = icmp }]",
        StringComparison.Ordinal);

    /// <summary>An echo request of <paramref name="totalLength"/> octets from eng1 to web's address of the family (IPv4 with don't-fragment).</summary>
    private static byte[] Echo(SvrFabric fabric, bool ipv6Client, int totalLength) => ipv6Client
        ? Packets.Icmp6(Eng1, Web6, Icmpv6Type.EchoRequest, 7, 1, Enumerable.Range(0, totalLength - 48).Select(i => (byte)i).ToArray())
        : Packets.Icmp(fabric.Eng1.Address, IpAddressConversions.ParseIpv4(Web4), Icmpv4Type.EchoRequest, 7, 1, Enumerable.Range(0, totalLength - 28).Select(i => (byte)i).ToArray());

    private static void SendEcho(SvrFabric fabric, bool ipv6Client, byte[] request)
    {
        if (ipv6Client)
        {
            Send6(fabric, request);
        }
        else
        {
            fabric.Eng1.SendIp(request);
        }
    }

    private static IEnumerable<byte[]> Instances(SvrFabric fabric, bool ipv6Client) => ipv6Client
        ? fabric.Web1.Received6.Concat(fabric.Web2.Received6)
        : fabric.Web1.Received.Concat(fabric.Web2.Received);

    private static IEnumerable<byte[]> ClientErrors(SvrFabric fabric, bool ipv6Client) =>
        ipv6Client ? fabric.Eng1.Received6.Where(IsIcmpv6Error) : fabric.Eng1.Received.Where(packet => IsError(packet, ipv6: false));

    private static bool IsError(byte[] packet, bool ipv6) =>
        ipv6 ? IsIcmpv6Error(packet) : packet[9] == IpProtocol.Icmp && packet[20] is Icmpv4Type.DestinationUnreachable or Icmpv4Type.TimeExceeded;

    /// <summary>
    /// Checks that <paramref name="error"/> is an ICMP error of eng1's family (its checksums valid) of the given type and
    /// code from web's address to eng1, quoting eng1's own <paramref name="request"/>: its addresses and length, and its
    /// echo message as eng1 sent it, as far as the quote goes (a whole one verifies over eng1's pseudo-header). Returns the
    /// error's rest of header.
    /// </summary>
    private static uint AssertErrorQuotingClientEcho(SvrFabric fabric, byte[] error, byte[] request, bool ipv6, (byte Type, byte Code) expected)
    {
        Span<byte> message;
        uint rest;
        if (ipv6)
        {
            Assert.True(Packets.ChecksumsValid6(error));
            Assert.True(Ipv6Packet.TryCreate(error, out var outer));
            Assert.Equal((Web6, Eng1, IpProtocol.Icmpv6), (outer.Source, outer.Destination, outer.UpperLayerProtocol));
            Assert.True(Icmpv6Packet.TryCreate(outer.UpperLayer, out var icmp));
            Assert.Equal(expected, (icmp.Type, icmp.Code));
            Assert.True(Ipv6Packet.TryCreateQuoted(icmp.Body, out var quoted, out _));
            Assert.Equal((Eng1, Web6, IpProtocol.Icmpv6), (quoted.Source, quoted.Destination, quoted.UpperLayerProtocol));
            Assert.Equal(request.Length - 40, quoted.PayloadLength);
            Assert.True(error.Length <= 1280);
            message = quoted.UpperLayer;
            rest = icmp.RestOfHeader;
            if (message.Length == request.Length - 40)
            {
                Assert.True(Icmpv6Packet.FromValidated(message).IsChecksumValid(Checksum.PseudoHeaderIpv6(Eng1, Web6, IpProtocol.Icmpv6, message.Length)));
            }
        }
        else
        {
            Assert.True(Packets.ChecksumsValid(error));
            Assert.True(Ipv4Packet.TryCreate(error, out var outer));
            Assert.Equal((IpAddressConversions.ParseIpv4(Web4), fabric.Eng1.Address, IpProtocol.Icmp), (outer.Source, outer.Destination, outer.Protocol));
            Assert.True(Icmpv4Packet.TryCreate(outer.Payload, out var icmp));
            Assert.True(icmp.IsChecksumValid);
            Assert.Equal(expected, (icmp.Type, icmp.Code));
            Assert.True(Ipv4Packet.TryCreateQuoted(outer.Payload[8..], out var quoted, out _));
            Assert.True(quoted.IsHeaderChecksumValid);
            Assert.Equal((fabric.Eng1.Address, IpAddressConversions.ParseIpv4(Web4), IpProtocol.Icmp), (quoted.Source, quoted.Destination, quoted.Protocol));
            Assert.Equal(request.Length, quoted.TotalLength);
            Assert.True(error.Length <= 576);
            message = quoted.Payload;
            rest = icmp.RestOfHeader;
            if (message.Length == request.Length - 20)
            {
                Assert.Equal(0, Checksum.Compute(message));
            }
        }

        Assert.True(message.Length >= 8);
        Assert.Equal(request.AsSpan(ipv6 ? 40 : 20, message.Length).ToArray(), message.ToArray());
        return rest;
    }

    /// <summary>eng1 opens a TCP connection to web over IPv6; returns the instance that took it and the SYN as it got it.</summary>
    private static (TestHost Server, byte[] Syn) OpenTcp6(SvrFabric fabric)
    {
        Send6(fabric, Packets.Tcp6(Eng1, Web6, 40000, 80, TcpFlags.Syn, 100, 0, []));
        fabric.Pump();
        var server = fabric.Web1.Received6.Count > 0 ? fabric.Web1 : fabric.Web2;
        var syn = Assert.Single(server.Received6);
        Assert.Single(fabric.Eng1.Received6);
        return (server, syn);
    }

    private static void Send6(SvrFabric fabric, byte[] packet) => fabric.Eng1.SendIpv6(fabric.Br1.Ports[1].Mac, packet);

    /// <summary>An ICMPv6 error from <paramref name="from"/> to the sender of <paramref name="offending"/>, quoting it (as much as 1280 octets allow).</summary>
    private static byte[] ErrorAbout(UInt128 from, byte[] offending, byte type, byte code, uint rest)
    {
        var quote = offending[..Math.Min(offending.Length, 1280 - 48)];
        var packet = new byte[48 + quote.Length];
        new Ipv6Header(0, 0, (ushort)(8 + quote.Length), IpProtocol.Icmpv6, 64,
            IpAddressConversions.ToIPAddress(from), IpAddressConversions.ToIPAddress(BinaryPrimitives.ReadUInt128BigEndian(offending.AsSpan(8)))).Emit(packet);
        packet[40] = type;
        packet[41] = code;
        BinaryPrimitives.WriteUInt32BigEndian(packet.AsSpan(44), rest);
        quote.CopyTo(packet, 48);
        Ipv6Packet.TryCreate(packet, out var ip);
        Icmpv6Packet.TryCreate(ip.UpperLayer, out var message);
        message.UpdateChecksum(ip.PseudoHeaderSum());
        return packet;
    }

    /// <summary>
    /// Checks that <paramref name="error"/> is an ICMPv6 error of the given type and code from web's address to eng1 with
    /// a valid checksum, quoting eng1's own packet (its addresses, protocol and ports); returns its rest of header (the MTU
    /// of a packet-too-big).
    /// </summary>
    private static uint AssertErrorAboutClientFlow(byte[] error, byte protocol, ushort clientPort, ushort servicePort, byte type, byte code)
    {
        Assert.True(Packets.ChecksumsValid6(error));
        Assert.True(Ipv6Packet.TryCreate(error, out var outer));
        Assert.Equal((Web6, Eng1, IpProtocol.Icmpv6), (outer.Source, outer.Destination, outer.UpperLayerProtocol));
        Assert.True(Icmpv6Packet.TryCreate(outer.UpperLayer, out var icmp));
        Assert.Equal((type, code), (icmp.Type, icmp.Code));
        Assert.True(Ipv6Packet.TryCreateQuoted(icmp.Body, out var quoted, out _));
        Assert.Equal((Eng1, Web6, protocol), (quoted.Source, quoted.Destination, quoted.UpperLayerProtocol));
        Assert.Equal(clientPort, BinaryPrimitives.ReadUInt16BigEndian(quoted.UpperLayer));
        Assert.Equal(servicePort, BinaryPrimitives.ReadUInt16BigEndian(quoted.UpperLayer[2..]));
        Assert.True(error.Length <= 1280);
        return icmp.RestOfHeader;
    }

    private static bool IsIcmpv6Error(byte[] packet) =>
        Ipv6Packet.TryCreate(packet, out var ip) && ip.UpperLayerProtocol == IpProtocol.Icmpv6 && ip.UpperLayer.Length > 0 && ip.UpperLayer[0] < 128;

    private static IEnumerable<byte[]> Ipv6Packets(List<byte[]> frames) =>
        frames.Where(f => BinaryPrimitives.ReadUInt16BigEndian(f.AsSpan(12)) == EtherType.Ipv6).Select(f => f[EthernetFrame.UntaggedHeaderLength..]);

    private static IEnumerable<byte[]> Ipv4Packets(List<byte[]> frames) =>
        frames.Where(f => BinaryPrimitives.ReadUInt16BigEndian(f.AsSpan(12)) == EtherType.Ipv4).Select(f => f[EthernetFrame.UntaggedHeaderLength..]);
}
