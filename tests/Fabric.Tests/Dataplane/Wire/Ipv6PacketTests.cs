using System.Net;
using Fabric.Dataplane.Wire;

namespace Fabric.Tests.Dataplane.Wire;

public class Ipv6PacketTests
{
    private static readonly UInt128 HostA = IpAddressConversions.ParseIpv6("fd00::1");
    private static readonly UInt128 HostB = IpAddressConversions.ParseIpv6("fd00::2");

    [Fact]
    public void Ipv6Packet_EchoRequestFixture_ReadsEveryField()
    {
        var bytes = Fixtures.Bytes(Fixtures.Icmpv6EchoRequest).AsSpan(14);

        Assert.True(Ipv6Packet.TryCreate(bytes, out var ip, out var error));

        Assert.Equal(WireError.None, error);
        Assert.Equal(6, ip.Version);
        Assert.Equal(0, ip.TrafficClass);
        Assert.Equal(0x6AC6Bu, ip.FlowLabel);
        Assert.Equal(20, ip.PayloadLength);
        Assert.Equal(IpProtocol.Icmpv6, ip.NextHeader);
        Assert.Equal(64, ip.HopLimit);
        Assert.Equal(HostA, ip.Source);
        Assert.Equal(HostB, ip.Destination);
        Assert.Equal(IpProtocol.Icmpv6, ip.UpperLayerProtocol);
        Assert.Equal(40, ip.UpperLayerOffset);
        Assert.Equal(20, ip.UpperLayer.Length);
        Assert.False(ip.IsFragment);
        Assert.True(ip.HasUpperLayerHeader);
    }

    [Theory]
    [InlineData(Fixtures.Icmpv6EchoRequest)]
    [InlineData(Fixtures.Icmpv6NeighborSolicitation)]
    [InlineData(Fixtures.Ipv6MulticastListenerReport)]
    [InlineData(Fixtures.Ipv6HopByHopLastFragment)]
    public void Ipv6Header_Fixture_EmitReproducesHeaderBytes(string hex)
    {
        var bytes = Fixtures.Bytes(hex).AsSpan(14);

        Assert.True(Ipv6Header.TryParse(bytes, out var header));
        var emitted = new byte[Ipv6Header.EmitLength];
        header.Emit(emitted);

        Assert.Equal(bytes[..40].ToArray(), emitted);
    }

    [Fact]
    public void Ipv6Header_BuiltFromFields_ParsesBackEqual()
    {
        var header = new Ipv6Header(0xB8, 0xFEDCB, 0, IpProtocol.Ipv6NoNextHeader, 1,
            IPAddress.Parse("2001:db8::1"), IPAddress.Parse("ff02::1:ff00:2"));
        var bytes = new byte[40];

        header.Emit(bytes);

        Assert.True(Ipv6Header.TryParse(bytes, out var parsed));
        Assert.Equal(header, parsed);
        Assert.True(Ipv6Packet.TryCreate(bytes, out var ip));
        Assert.Equal(0xB8, ip.TrafficClass);
        Assert.Equal(0xFEDCBu, ip.FlowLabel);
        Assert.Equal(IpProtocol.Ipv6NoNextHeader, ip.UpperLayerProtocol);
        Assert.False(ip.TryDecrementHopLimit());
    }

    [Fact]
    public void Ipv6Packet_MulticastListenerReportFixture_WalksHopByHopToIcmpv6()
    {
        var bytes = Fixtures.Bytes(Fixtures.Ipv6MulticastListenerReport).AsSpan(14);

        Assert.True(Ipv6Packet.TryCreate(bytes, out var ip));

        Assert.Equal(IpProtocol.HopByHopOptions, ip.NextHeader);
        Assert.Equal(IpProtocol.Icmpv6, ip.UpperLayerProtocol);
        Assert.Equal(48, ip.UpperLayerOffset);
        Assert.Equal(1, ip.HopLimit);
        Assert.Equal("3a00050200000100", Convert.ToHexStringLower(ip.Payload[..8]));
        Assert.True(Icmpv6Packet.TryCreate(ip.UpperLayer, out var icmp));
        Assert.Equal(143, icmp.Type);
        Assert.True(icmp.IsChecksumValid(ip.PseudoHeaderSum()));
    }

    [Fact]
    public void Ipv6Packet_FirstFragmentFixture_WalksHopByHopAndFragmentToUdp()
    {
        var bytes = Fixtures.Bytes(Fixtures.Ipv6HopByHopFirstFragment).AsSpan(14);

        Assert.True(Ipv6Packet.TryCreate(bytes, out var ip));

        Assert.Equal(1240, ip.PayloadLength);
        Assert.True(ip.IsFragment);
        Assert.Equal(0, ip.FragmentOffset);
        Assert.True(ip.MoreFragments);
        Assert.Equal(0x9636C7AFu, ip.FragmentIdentification);
        Assert.True(ip.HasUpperLayerHeader);
        Assert.Equal(IpProtocol.Udp, ip.UpperLayerProtocol);
        Assert.Equal(56, ip.UpperLayerOffset);
        Assert.False(UdpDatagram.TryCreate(ip.UpperLayer, out _, out var error));
        Assert.Equal(WireError.Truncated, error);
        Assert.True(UdpDatagram.TryCreateQuoted(ip.UpperLayer, out var udp));
        Assert.Equal(40002, udp.SourcePort);
        Assert.Equal(40003, udp.DestinationPort);
        Assert.Equal(1248, udp.Length);
    }

    [Fact]
    public void Ipv6Packet_LastFragmentFixture_StopsAtFragmentData()
    {
        var bytes = Fixtures.Bytes(Fixtures.Ipv6HopByHopLastFragment).AsSpan(14);

        Assert.True(Ipv6Packet.TryCreate(bytes, out var ip));

        Assert.True(ip.IsFragment);
        Assert.Equal(153, ip.FragmentOffset);
        Assert.False(ip.MoreFragments);
        Assert.Equal(0x9636C7AFu, ip.FragmentIdentification);
        Assert.False(ip.HasUpperLayerHeader);
        Assert.Equal(IpProtocol.Udp, ip.UpperLayerProtocol);
        Assert.Equal(56, ip.UpperLayerOffset);
        Assert.Equal(24, ip.UpperLayer.Length);
    }

    [Fact]
    public void Ipv6Packet_FixtureFragmentsReassembled_CarryAValidUdpChecksum()
    {
        var first = Fixtures.Bytes(Fixtures.Ipv6HopByHopFirstFragment).AsSpan(14);
        var last = Fixtures.Bytes(Fixtures.Ipv6HopByHopLastFragment).AsSpan(14);
        Assert.True(Ipv6Packet.TryCreate(first, out var head));
        Assert.True(Ipv6Packet.TryCreate(last, out var tail));
        var datagram = new byte[head.UpperLayer.Length + tail.UpperLayer.Length];
        head.UpperLayer.CopyTo(datagram);
        tail.UpperLayer.CopyTo(datagram.AsSpan(tail.FragmentOffset * 8));

        Assert.True(UdpDatagram.TryCreate(datagram, out var udp));
        Assert.True(udp.IsChecksumValid(Checksum.PseudoHeaderIpv6(HostA, HostB, IpProtocol.Udp, datagram.Length)));
        Assert.Equal(1240, udp.Payload.Length);
        Assert.Equal(7 * 1239 & 0xFF, udp.Payload[1239]);
    }

    [Theory]
    [InlineData(Fixtures.Icmpv6EchoRequest)]
    [InlineData(Fixtures.Ipv6MulticastListenerReport)]
    [InlineData(Fixtures.Ipv6HopByHopLastFragment)]
    public void Ipv6Packet_EveryTruncatedPrefix_IsRejected(string hex)
    {
        var bytes = Fixtures.Bytes(hex).AsSpan(14);

        for (var length = 0; length < bytes.Length; length++)
        {
            Assert.False(Ipv6Packet.TryCreate(bytes[..length], out _, out var error));
            Assert.Equal(WireError.Truncated, error);
        }
    }

    [Fact]
    public void Ipv6Packet_PayloadLengthBeyondBuffer_IsRejected()
    {
        var bytes = Fixtures.Bytes(Fixtures.Icmpv6EchoRequest).AsSpan(14);
        bytes[5]++;

        Assert.False(Ipv6Packet.TryCreate(bytes, out _, out var error));
        Assert.Equal(WireError.Truncated, error);
    }

    [Fact]
    public void Ipv6Packet_ExtensionHeaderLengthBeyondPayload_IsRejected()
    {
        var bytes = Fixtures.Bytes(Fixtures.Ipv6MulticastListenerReport).AsSpan(14);
        bytes[41] = 7;

        Assert.False(Ipv6Packet.TryCreate(bytes, out _, out var error));
        Assert.Equal(WireError.Truncated, error);
        Assert.False(Ipv6Packet.TryCreateQuoted(bytes, out _, out _));
    }

    [Fact]
    public void Ipv6Packet_WrongVersion_IsRejected()
    {
        var bytes = Fixtures.Bytes(Fixtures.Icmpv6EchoRequest).AsSpan(14);
        bytes[0] = 0x46;

        Assert.False(Ipv6Packet.TryCreate(bytes, out _, out var error));
        Assert.Equal(WireError.BadVersion, error);
    }

    [Fact]
    public void Ipv6Packet_RoutingAuthenticationAndDestinationOptions_WalkToTcp()
    {
        var extensions = Convert.FromHexString(
            "3300000000000000" + // routing: next AH, 8 octets
            "3c0400000000000100000007000000000000000000000000" + // AH: next destination options, (4 + 2) × 4 = 24 octets
            "0600010400000000"); // destination options: next TCP, PadN
        var tcp = PacketBuilder.Tcp(new TcpHeader(1, 2, 3, 4, TcpFlags.Ack, 5, 0, 0), "data"u8);
        var bytes = PacketBuilder.Ipv6(HostA, HostB, IpProtocol.Ipv6Routing, [.. extensions, .. tcp]);

        Assert.True(Ipv6Packet.TryCreate(bytes, out var ip));
        Assert.Equal(IpProtocol.Tcp, ip.UpperLayerProtocol);
        Assert.Equal(80, ip.UpperLayerOffset);
        Assert.False(ip.IsFragment);
        Assert.True(TcpSegment.TryCreate(ip.UpperLayer, out var segment));
        segment.UpdateChecksum(ip.PseudoHeaderSum());
        Assert.Equal(Checksum.PseudoHeaderIpv6(HostA, HostB, IpProtocol.Tcp, 24), ip.PseudoHeaderSum());
        Assert.True(segment.IsChecksumValid(Checksum.PseudoHeaderIpv6(HostA, HostB, IpProtocol.Tcp, 24)));
    }

    [Theory]
    [InlineData("3c00010400000000" + "0000010400000000", WireError.BadExtensionHeader)] // hop-by-hop after destination options
    [InlineData("2c00000100000001" + "2c00000100000002", WireError.BadExtensionHeader)] // two fragment headers
    [InlineData("3c00000000000000" + "3c00", WireError.Truncated)] // destination options cut short
    [InlineData("3300000000000000" + "3bff000000000000", WireError.Truncated)] // AH length beyond the payload
    public void Ipv6Packet_MalformedExtensionHeaders_AreRejected(string extensionsHex, WireError expected)
    {
        var extensions = Convert.FromHexString(extensionsHex);
        var first = extensionsHex.StartsWith("3c", StringComparison.Ordinal) ? IpProtocol.Ipv6DestinationOptions
            : extensionsHex.StartsWith("2c", StringComparison.Ordinal) ? IpProtocol.Ipv6Fragment
            : IpProtocol.Ipv6Routing;
        var bytes = PacketBuilder.Ipv6(HostA, HostB, first, extensions);

        Assert.False(Ipv6Packet.TryCreate(bytes, out _, out var error));
        Assert.Equal(expected, error);
    }

    [Fact]
    public void Ipv6Packet_TryDecrementHopLimit_DecrementsAboveOne()
    {
        var bytes = Fixtures.Bytes(Fixtures.Icmpv6EchoRequest).AsSpan(14);
        Assert.True(Ipv6Packet.TryCreate(bytes, out var ip));

        Assert.True(ip.TryDecrementHopLimit());

        Assert.Equal(63, ip.HopLimit);
        Assert.Equal(63, bytes[7]);
    }
}
