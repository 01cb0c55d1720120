using System.Net;
using Fabric.Bench;
using Fabric.Dataplane.Wire;

namespace Fabric.Tests.Bench;

/// <summary>The frame the bench's transmit-ring sender repeats: the datagram a UDP socket would send, checksums right.</summary>
public sealed class PacketRingSenderTests
{
    [Fact]
    public void UdpFrame_FromFields_ParsesAsTheDatagramWithValidChecksums()
    {
        var source = MacAddress.Parse("02:00:00:00:00:01");
        var gateway = MacAddress.Parse("02:00:00:00:00:fe");
        var from = new IPEndPoint(IPAddress.Parse("10.1.0.2"), 40001);
        var to = new IPEndPoint(IPAddress.Parse("100.64.0.9"), 5201);

        var frame = PacketRingSender.UdpFrame(source, gateway, from, to, 64);

        Assert.Equal(14 + 20 + 8 + 64, frame.Length);
        Assert.True(EthernetFrame.TryCreate(frame, out var ethernet));
        Assert.Equal(gateway, ethernet.Destination);
        Assert.Equal(source, ethernet.Source);
        Assert.Equal(EtherType.Ipv4, ethernet.EtherType);
        Assert.True(Ipv4Packet.TryCreate(ethernet.Payload, out var packet));
        Assert.True(packet.IsHeaderChecksumValid);
        Assert.True(packet.DontFragment);
        Assert.Equal(64, packet.Ttl);
        Assert.Equal(IpProtocol.Udp, packet.Protocol);
        Assert.Equal(from.Address, IpAddressConversions.ToIPAddress(packet.Source));
        Assert.Equal(to.Address, IpAddressConversions.ToIPAddress(packet.Destination));
        Assert.True(UdpDatagram.TryCreate(packet.Payload, out var datagram));
        Assert.True(datagram.IsChecksumValid(packet.PseudoHeaderSum()));
        Assert.Equal(40001, datagram.SourcePort);
        Assert.Equal(5201, datagram.DestinationPort);
        Assert.Equal(8 + 64, datagram.Length);
    }
}
