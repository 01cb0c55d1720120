using System.Net;
using Fabric.Dataplane.Wire;

namespace Fabric.Tests.Dataplane.Wire;

public class Ipv4PacketTests
{
    [Fact]
    public void Ipv4Packet_EchoRequestFixture_ReadsEveryField()
    {
        var bytes = Fixtures.Bytes(Fixtures.Icmpv4EchoRequest).AsSpan(14);

        Assert.True(Ipv4Packet.TryCreate(bytes, out var ip, out var error));

        Assert.Equal(WireError.None, error);
        Assert.Equal(4, ip.Version);
        Assert.Equal(20, ip.HeaderLength);
        Assert.Equal(0, ip.Dscp);
        Assert.Equal(0, ip.Ecn);
        Assert.Equal(60, ip.TotalLength);
        Assert.Equal(0xF7A7, ip.Identification);
        Assert.True(ip.DontFragment);
        Assert.False(ip.MoreFragments);
        Assert.Equal(0, ip.FragmentOffset);
        Assert.False(ip.IsFragment);
        Assert.Equal(64, ip.Ttl);
        Assert.Equal(IpProtocol.Icmp, ip.Protocol);
        Assert.Equal(0x2F17, ip.HeaderChecksum);
        Assert.Equal(0x0A000001u, ip.Source);
        Assert.Equal(0x0A000002u, ip.Destination);
        Assert.True(ip.IsHeaderChecksumValid);
        Assert.Equal(0, ip.Options.Length);
        Assert.Equal(40, ip.Payload.Length);
        Assert.Equal(40, ip.PayloadLength);
    }

    [Fact]
    public void Ipv4Packet_TimeExceededFixture_ReadsTypeOfService()
    {
        var bytes = Fixtures.Bytes(Fixtures.Icmpv4TimeExceeded).AsSpan(14);

        Assert.True(Ipv4Packet.TryCreate(bytes, out var ip));

        Assert.Equal(48, ip.Dscp);
        Assert.Equal(0, ip.Ecn);
        Assert.False(ip.DontFragment);
        Assert.Equal(0x94D7, ip.Identification);
        Assert.True(ip.IsHeaderChecksumValid);
    }

    [Theory]
    [InlineData(Fixtures.Icmpv4EchoRequest)]
    [InlineData(Fixtures.Icmpv4EchoReply)]
    [InlineData(Fixtures.TcpSyn)]
    [InlineData(Fixtures.TcpRstAck)]
    [InlineData(Fixtures.UdpDnsQuery)]
    [InlineData(Fixtures.Icmpv4PortUnreachable)]
    [InlineData(Fixtures.UdpTtlOne)]
    [InlineData(Fixtures.Icmpv4TimeExceeded)]
    public void Ipv4Header_Fixture_EmitReproducesHeaderAndChecksumVerifies(string hex)
    {
        var bytes = Fixtures.Bytes(hex).AsSpan(14);

        Assert.True(Ipv4Header.TryParse(bytes, out var header));
        var emitted = new byte[header.EmitLength];
        header.Emit(emitted);

        Assert.Equal(bytes[..20].ToArray(), emitted);
        Assert.Equal(0, Checksum.Compute(emitted));
        Assert.Equal(bytes.Length, header.TotalLength);
    }

    [Fact]
    public void Ipv4Header_WithOptionsBuiltFromFields_ParsesBackEqual()
    {
        var header = new Ipv4Header(
            Dscp: 46,
            Ecn: 1,
            TotalLength: 32,
            Identification: 0xBEEF,
            DontFragment: false,
            MoreFragments: true,
            FragmentOffset: 0x1ABC,
            Ttl: 3,
            Protocol: IpProtocol.Udp,
            HeaderChecksum: 0,
            Source: IPAddress.Parse("192.0.2.1"),
            Destination: IPAddress.Parse("198.51.100.77"),
            Options: WireBytes.FromHex("94040000"));
        var bytes = new byte[32];

        Assert.Equal(24, header.Emit(bytes));
        Assert.True(Ipv4Packet.TryCreate(bytes, out var ip));
        ip.UpdateHeaderChecksum();

        Assert.Equal(24, ip.HeaderLength);
        Assert.Equal("94040000", Convert.ToHexStringLower(ip.Options));
        Assert.Equal(8, ip.Payload.Length);
        Assert.True(ip.IsFragment);
        Assert.Equal(0xC000_0201u, ip.Source);
        Assert.True(ip.IsHeaderChecksumValid);
        Assert.True(Ipv4Header.TryParse(bytes, out var parsed));
        Assert.Equal(header with { HeaderChecksum = ip.HeaderChecksum }, parsed);
    }

    [Fact]
    public void Ipv4Packet_EveryTruncatedPrefix_IsRejected()
    {
        var bytes = Fixtures.Bytes(Fixtures.TcpSyn).AsSpan(14);

        for (var length = 0; length < bytes.Length; length++)
        {
            Assert.False(Ipv4Packet.TryCreate(bytes[..length], out _, out var error));
            Assert.Equal(WireError.Truncated, error);
        }

        Assert.True(Ipv4Packet.TryCreate(bytes, out _));
    }

    [Fact]
    public void Ipv4Packet_TotalLengthBeyondBuffer_IsRejectedButQuotedIsAccepted()
    {
        var bytes = Fixtures.Bytes(Fixtures.UdpDnsQuery).AsSpan(14);
        bytes[3]++;

        Assert.False(Ipv4Packet.TryCreate(bytes, out _, out var error));
        Assert.Equal(WireError.Truncated, error);
        Assert.True(Ipv4Packet.TryCreateQuoted(bytes, out var quoted, out _));
        Assert.Equal(bytes.Length + 1, quoted.TotalLength);
        Assert.Equal(bytes.Length - 20, quoted.Payload.Length);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(4)]
    public void Ipv4Packet_HeaderLengthBelowFive_IsRejected(int ihl)
    {
        var bytes = Fixtures.Bytes(Fixtures.UdpDnsQuery).AsSpan(14);
        bytes[0] = (byte)(0x40 | ihl);

        Assert.False(Ipv4Packet.TryCreate(bytes, out _, out var error));
        Assert.Equal(WireError.BadHeaderLength, error);
        Assert.False(Ipv4Packet.TryCreateQuoted(bytes, out _, out _));
    }

    [Fact]
    public void Ipv4Packet_HeaderLengthBeyondBuffer_IsRejected()
    {
        var bytes = Fixtures.Bytes(Fixtures.UdpDnsQuery).AsSpan(14, 40);
        bytes[0] = 0x4F;

        Assert.False(Ipv4Packet.TryCreate(bytes, out _, out var error));
        Assert.Equal(WireError.Truncated, error);
        Assert.False(Ipv4Packet.TryCreateQuoted(bytes, out _, out _));
    }

    [Fact]
    public void Ipv4Packet_TotalLengthBelowHeaderLength_IsRejectedAsMismatch()
    {
        var bytes = Fixtures.Bytes(Fixtures.UdpDnsQuery).AsSpan(14);
        bytes[2] = 0;
        bytes[3] = 19;

        Assert.False(Ipv4Packet.TryCreate(bytes, out _, out var error));
        Assert.Equal(WireError.LengthMismatch, error);
    }

    [Fact]
    public void Ipv4Packet_Version6_IsRejectedAsBadVersion()
    {
        var bytes = Fixtures.Bytes(Fixtures.UdpDnsQuery).AsSpan(14);
        bytes[0] = 0x65;

        Assert.False(Ipv4Packet.TryCreate(bytes, out _, out var error));
        Assert.Equal(WireError.BadVersion, error);
    }

    [Fact]
    public void Ipv4Packet_EthernetPadding_StaysOutsideThePacket()
    {
        var frame = new byte[60];
        Fixtures.Bytes(Fixtures.TcpRstAck).CopyTo(frame, 0);
        frame[59] = 0xEE;

        Assert.True(Ipv4Packet.TryCreate(frame.AsSpan(14), out var ip));

        Assert.Equal(40, ip.Bytes.Length);
        Assert.Equal(20, ip.Payload.Length);
    }

    [Fact]
    public void Ipv4Packet_TryDecrementTtl_KeepsChecksumCorrect()
    {
        var bytes = Fixtures.Bytes(Fixtures.Icmpv4EchoRequest).AsSpan(14);
        Assert.True(Ipv4Packet.TryCreate(bytes, out var ip));

        Assert.True(ip.TryDecrementTtl());

        Assert.Equal(63, ip.Ttl);
        Assert.True(ip.IsHeaderChecksumValid);
        Assert.Equal(0x3017, ip.HeaderChecksum);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    public void Ipv4Packet_TryDecrementTtlAtOneOrZero_ReturnsFalseAndChangesNothing(byte ttl)
    {
        var bytes = Fixtures.Bytes(Fixtures.UdpTtlOne).AsSpan(14);
        Assert.True(Ipv4Packet.TryCreate(bytes, out var ip));
        ip.Ttl = ttl;
        var before = bytes.ToArray();

        Assert.False(ip.TryDecrementTtl());

        Assert.Equal(before, bytes.ToArray());
    }

    [Fact]
    public void Ipv4Packet_RewriteAddresses_KeepsHeaderChecksumCorrect()
    {
        var bytes = Fixtures.Bytes(Fixtures.TcpSyn).AsSpan(14);
        Assert.True(Ipv4Packet.TryCreate(bytes, out var ip));

        ip.RewriteSource(0xC0A80101);
        ip.RewriteDestination(0x08080808);

        Assert.Equal(0xC0A80101u, ip.Source);
        Assert.Equal(0x08080808u, ip.Destination);
        Assert.True(ip.IsHeaderChecksumValid);
    }
}
