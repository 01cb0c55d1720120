using Fabric.Dataplane.Wire;

namespace Fabric.Tests.Dataplane.Wire;

/// <summary>
/// Every wire view's <c>FromValidated</c> (for bytes its <c>TryCreate</c> accepted) is the same view as the checked one:
/// same bytes, same fields, same upper layer.
/// </summary>
public class FromValidatedTests
{
    [Theory]
    [InlineData(Fixtures.Icmpv4EchoRequest)]
    [InlineData(Fixtures.TcpSyn)]
    [InlineData(Fixtures.UdpDnsQuery)]
    [InlineData(Fixtures.Icmpv4PortUnreachable)]
    public void FromValidated_Ipv4Fixture_SameViewAsTryCreate(string hex)
    {
        var frame = Fixtures.Bytes(hex);
        Assert.True(EthernetFrame.TryCreate(frame, out var checkedFrame));
        var ethernet = EthernetFrame.FromValidated(frame);
        Assert.True(Ipv4Packet.TryCreate(checkedFrame.Payload, out var checkedIp));

        var ip = Ipv4Packet.FromValidated(ethernet.Payload);

        Assert.Equal(checkedFrame.Bytes.Length, ethernet.Bytes.Length);
        Assert.Equal(checkedFrame.Source, ethernet.Source);
        Assert.Equal(checkedFrame.EtherType, ethernet.EtherType);
        Assert.Equal(checkedIp.Bytes.Length, ip.Bytes.Length);
        Assert.Equal(checkedIp.Payload.Length, ip.Payload.Length);
        Assert.Equal(checkedIp.PseudoHeaderSum(), ip.PseudoHeaderSum());
        switch (ip.Protocol)
        {
            case IpProtocol.Tcp:
                Assert.True(TcpSegment.TryCreate(checkedIp.Payload, out var checkedTcp));
                var tcp = TcpSegment.FromValidated(ip.Payload);
                Assert.Equal(checkedTcp.HeaderLength, tcp.HeaderLength);
                Assert.True(tcp.IsChecksumValid(ip.PseudoHeaderSum()));
                break;
            case IpProtocol.Udp:
                Assert.True(UdpDatagram.TryCreate(checkedIp.Payload, out var checkedUdp));
                var udp = UdpDatagram.FromValidated(ip.Payload);
                Assert.Equal(checkedUdp.Length, udp.Length);
                Assert.True(udp.IsChecksumValid(ip.PseudoHeaderSum()));
                break;
            case IpProtocol.Icmp:
                Assert.True(Icmpv4Packet.TryCreate(checkedIp.Payload, out var checkedIcmp));
                var icmp = Icmpv4Packet.FromValidated(ip.Payload);
                Assert.Equal(checkedIcmp.Type, icmp.Type);
                Assert.True(icmp.IsChecksumValid);
                if (icmp.IsError)
                {
                    Assert.True(Ipv4Packet.TryCreateQuoted(icmp.Body, out var checkedQuoted, out _));
                    var quoted = Ipv4Packet.FromValidatedQuoted(icmp.Body);
                    Assert.Equal(checkedQuoted.TotalLength, quoted.TotalLength);
                    Assert.Equal(checkedQuoted.Payload.Length, quoted.Payload.Length);
                }

                break;
        }
    }

    [Theory]
    [InlineData(Fixtures.Icmpv6EchoRequest)]
    [InlineData(Fixtures.Icmpv6NeighborSolicitation)]
    [InlineData(Fixtures.Ipv6MulticastListenerReport)]
    [InlineData(Fixtures.Ipv6HopByHopLastFragment)]
    public void FromValidated_Ipv6Fixture_SameViewAsTryCreate(string hex)
    {
        var bytes = Fixtures.Bytes(hex).AsSpan(EthernetFrame.UntaggedHeaderLength);
        Assert.True(Ipv6Packet.TryCreate(bytes, out var checkedIp));

        var ip = Ipv6Packet.FromValidated(bytes);

        Assert.Equal(checkedIp.Bytes.Length, ip.Bytes.Length);
        Assert.Equal(checkedIp.UpperLayerOffset, ip.UpperLayerOffset);
        Assert.Equal(checkedIp.UpperLayerProtocol, ip.UpperLayerProtocol);
        Assert.Equal(checkedIp.IsFragment, ip.IsFragment);
        Assert.Equal(checkedIp.FragmentOffset, ip.FragmentOffset);
        Assert.Equal(checkedIp.PseudoHeaderSum(), ip.PseudoHeaderSum());
        if (ip.UpperLayerProtocol == IpProtocol.Icmpv6 && ip.HasUpperLayerHeader)
        {
            Assert.True(Icmpv6Packet.TryCreate(checkedIp.UpperLayer, out var checkedIcmp));
            var icmp = Icmpv6Packet.FromValidated(ip.UpperLayer);
            Assert.Equal(checkedIcmp.Type, icmp.Type);
            Assert.True(icmp.IsChecksumValid(ip.PseudoHeaderSum()));
        }
    }

    [Fact]
    public void FromValidated_ArpWithPadding_SameViewAsTryCreate()
    {
        var frame = Fixtures.Bytes(Fixtures.ArpRequest + "000000000000000000000000000000000000");
        var payload = frame.AsSpan(EthernetFrame.UntaggedHeaderLength);
        Assert.True(ArpPacket.TryCreate(payload, out var checkedArp));

        var arp = ArpPacket.FromValidated(payload);

        Assert.Equal(checkedArp.Bytes.Length, arp.Bytes.Length);
        Assert.Equal(checkedArp.SenderProtocolAddress, arp.SenderProtocolAddress);
        Assert.Equal(checkedArp.TargetProtocolAddress, arp.TargetProtocolAddress);
    }
}
