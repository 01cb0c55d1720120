using System.Buffers.Binary;
using System.Net;
using Fabric.Dataplane.Pipeline;
using Fabric.Dataplane.Wire;

namespace Fabric.Tests.Dataplane.Routing;

/// <summary>The router's own answers: neighbour discovery and echo over IPv6, and ICMP errors carried back through NAT.</summary>
public sealed class RouterControlTests : IDisposable
{
    private static readonly UInt128 Gateway6 = IpAddressConversions.ParseIpv6("fd00:20:1::1");
    private static readonly UInt128 Eng1Address6 = IpAddressConversions.ParseIpv6("fd00:20:1::10");
    private readonly RouterFixture _lab = new();

    public void Dispose() => _lab.Dispose();

    private byte[] Ipv6Frame(MacAddress destination, UInt128 source, UInt128 target, byte[] icmp, byte hopLimit)
    {
        var frame = new byte[14 + 40 + icmp.Length];
        new EthernetHeader(destination, _lab.Eng1.Mac, EtherType.Ipv6).Emit(frame);
        new Ipv6Header(0, 0, (ushort)icmp.Length, IpProtocol.Icmpv6, hopLimit,
            IpAddressConversions.ToIPAddress(source), IpAddressConversions.ToIPAddress(target)).Emit(frame.AsSpan(14));
        icmp.CopyTo(frame, 54);
        Ipv6Packet.TryCreate(frame.AsSpan(14), out var ip);
        Icmpv6Packet.TryCreate(ip.UpperLayer, out var message);
        message.UpdateChecksum(ip.PseudoHeaderSum());
        return frame;
    }

    private List<byte[]> FramesAtEng1()
    {
        _lab.Router.RunOnce();
        var frames = new List<byte[]>();
        while (_lab.Eng1.Port.TryTake(out var frame))
        {
            frames.Add(frame);
        }

        return frames;
    }

    [Fact]
    public void NeighborSolicitation_ForGatewayAddress_AnsweredWithRouterMac()
    {
        var solicitation = new byte[new NeighborMessage(Icmpv6Type.NeighborSolicitation, IPAddress.Parse("fd00:20:1::1"), _lab.Eng1.Mac).EmitLength];
        new NeighborMessage(Icmpv6Type.NeighborSolicitation, IPAddress.Parse("fd00:20:1::1"), _lab.Eng1.Mac).Emit(solicitation);
        var solicitedNode = IpAddressConversions.ParseIpv6("ff02::1:ff00:1");
        _lab.Eng1.Port.Send(Ipv6Frame(new MacAddress(0x3333_ff00_0001), Eng1Address6, solicitedNode, solicitation, 255));

        var reply = Assert.Single(FramesAtEng1());
        EthernetFrame.TryCreate(reply, out var ethernet);
        Assert.Equal(_lab.Eng1.Mac, ethernet.Destination);
        Assert.True(Ipv6Packet.TryCreate(ethernet.Payload, out var ip));
        Assert.Equal((Gateway6, Eng1Address6, (byte)255), (ip.Source, ip.Destination, ip.HopLimit));
        Assert.True(Icmpv6Packet.TryCreate(ip.UpperLayer, out var advertisement));
        Assert.True(advertisement.IsChecksumValid(ip.PseudoHeaderSum()));
        Assert.True(advertisement.IsNeighborAdvertisement && advertisement.IsSolicited && advertisement.IsRouter);
        Assert.Equal(Gateway6, advertisement.TargetAddress);
        Assert.True(advertisement.TryGetTargetLinkLayerAddress(out var mac));
        Assert.Equal(_lab.Router.Ports[1].Mac, mac);
    }

    [Fact]
    public void NeighborSolicitation_ForOtherAddress_NotAnswered()
    {
        var solicitation = new byte[32];
        new NeighborMessage(Icmpv6Type.NeighborSolicitation, IPAddress.Parse("fd00:20:1::99"), _lab.Eng1.Mac).Emit(solicitation);
        _lab.Eng1.Port.Send(Ipv6Frame(new MacAddress(0x3333_ff00_0099), Eng1Address6, IpAddressConversions.ParseIpv6("ff02::1:ff00:99"), solicitation, 255));

        Assert.Empty(FramesAtEng1());
    }

    [Fact]
    public void Ipv6Ping_ToGateway_Answered()
    {
        var echo = new byte[8 + 4];
        Icmpv6Header.Echo(Icmpv6Type.EchoRequest, 9, 1).Emit(echo);
        _lab.Eng1.Port.Send(Ipv6Frame(_lab.Router.Ports[1].Mac, Eng1Address6, Gateway6, echo, 64));

        var reply = Assert.Single(FramesAtEng1());
        EthernetFrame.TryCreate(reply, out var ethernet);
        Assert.True(Ipv6Packet.TryCreate(ethernet.Payload, out var ip));
        Assert.Equal((Gateway6, Eng1Address6), (ip.Source, ip.Destination));
        Assert.True(Icmpv6Packet.TryCreate(ip.UpperLayer, out var message));
        Assert.Equal((Icmpv6Type.EchoReply, (ushort)9), (message.Type, message.Identifier));
        Assert.True(message.IsChecksumValid(ip.PseudoHeaderSum()));
    }

    [Fact]
    public void IcmpErrorFromInstance_ReachesClientAboutItsOwnFlow()
    {
        _lab.Eng1.SendUdp("10.10.1.30", 33000, 5201, [1, 2, 3]);
        _lab.Pump();
        var atSink = Assert.Single(_lab.Sink1.Received);

        // The instance answers "port unreachable", quoting the packet as it received it (translated).
        var frame = new byte[200];
        var length = ControlMessages.Icmpv4Error(frame, _lab.Sink1.Mac, _lab.Router.Ports[0].Mac, _lab.Sink1.Address, atSink, Icmpv4Type.DestinationUnreachable, 3);
        _lab.Sink1.Port.Send(frame.AsSpan(0, length));
        _lab.Pump();

        var error = Assert.Single(_lab.Eng1.Received);
        Assert.True(Packets.ChecksumsValid(error));
        Assert.Equal("10.10.1.30", Packets.Source(error).ToString());
        Ipv4Packet.TryCreate(error, out var outer);
        Icmpv4Packet.TryCreate(outer.Payload, out var icmp);
        Assert.True(icmp.TryGetOriginalPacket(out var quoted));
        Assert.Equal((_lab.Eng1.Address, IpAddressConversions.ParseIpv4("10.10.1.30")), (quoted.Source, quoted.Destination));
        Assert.True(quoted.IsHeaderChecksumValid);
        Assert.Equal(5201, BinaryPrimitives.ReadUInt16BigEndian(quoted.Payload[2..]));
    }

    [Fact]
    public void IcmpError_AboutUnknownFlow_Dropped()
    {
        var offending = Packets.Udp(_lab.Sink1.Address, _lab.Eng1.Address, 1, 2, [0]);
        var frame = new byte[200];
        var length = ControlMessages.Icmpv4Error(frame, _lab.Sink1.Mac, _lab.Router.Ports[0].Mac, _lab.Sink1.Address, offending, Icmpv4Type.DestinationUnreachable, 3);
        _lab.Sink1.Port.Send(frame.AsSpan(0, length));
        _lab.Pump();

        Assert.Empty(_lab.Eng1.Received);
        Assert.Equal(1, _lab.Router.Worker.Drops.Total(DropReason.NoService));
    }

    [Fact]
    public void Ipv6Udp_ClientToServiceAddress_ReachesInstanceV6AddressAndComesBackFromService()
    {
        var service = IpAddressConversions.ParseIpv6("fd00:200::80");
        _lab.Eng1.SendIpv6(_lab.Router.Ports[1].Mac, Packets.Udp6(Eng1Address6, service, 36000, 53, [4, 2]));
        _lab.Pump();

        var server = _lab.Web1.Received6.Count > 0 ? _lab.Web1 : _lab.Web2;
        var atServer = Assert.Single(server.Received6);
        Assert.True(Ipv6Packet.TryCreate(atServer, out var inbound));
        Assert.Equal((Eng1Address6, server.Address6!.Value, (byte)63), (inbound.Source, inbound.Destination, inbound.HopLimit));
        Assert.True(UdpDatagram.TryCreate(inbound.UpperLayer, out var request) && request.IsChecksumValid(inbound.PseudoHeaderSum()));

        var back = Assert.Single(_lab.Eng1.Received6);
        Assert.True(Ipv6Packet.TryCreate(back, out var reply));
        Assert.Equal((service, Eng1Address6), (reply.Source, reply.Destination));
        Assert.True(UdpDatagram.TryCreate(reply.UpperLayer, out var udp));
        Assert.True(udp.IsChecksumValid(reply.PseudoHeaderSum()));
        Assert.Equal((53, 36000), (udp.SourcePort, udp.DestinationPort));
        Assert.Equal(new byte[] { 4, 2 }, udp.Payload.ToArray());
    }
}
