using Fabric.Dataplane.Wire;
using FsCheck.Xunit;

namespace Fabric.Tests.Dataplane.Wire;

public class UdpDatagramTests
{
    [Fact]
    public void UdpDatagram_DnsQueryFixture_ReadsEveryFieldAndVerifiesChecksum()
    {
        var bytes = Fixtures.Bytes(Fixtures.UdpDnsQuery);
        Assert.True(Ipv4Packet.TryCreate(bytes.AsSpan(14), out var ip));

        Assert.True(UdpDatagram.TryCreate(ip.Payload, out var udp, out var error));

        Assert.Equal(WireError.None, error);
        Assert.Equal(40000, udp.SourcePort);
        Assert.Equal(53, udp.DestinationPort);
        Assert.Equal(37, udp.Length);
        Assert.Equal(0xC0CE, udp.Checksum);
        Assert.True(udp.HasChecksum);
        Assert.True(udp.IsChecksumValid(ip.PseudoHeaderSum()));
        Assert.Equal("beef01000001000000000000076578616d706c6503636f6d0000010001", Convert.ToHexStringLower(udp.Payload));
    }

    [Fact]
    public void UdpHeader_DnsQueryFixture_EmitReproducesBytesAndChecksum()
    {
        var bytes = Fixtures.Bytes(Fixtures.UdpDnsQuery);
        Assert.True(Ipv4Packet.TryCreate(bytes.AsSpan(14), out var ip));
        var original = ip.Payload.ToArray();

        Assert.True(UdpHeader.TryParse(original, out var header));
        Assert.Equal(new UdpHeader(40000, 53, 37, 0xC0CE), header);
        var rebuilt = PacketBuilder.Udp(40000, 53, original.AsSpan(8));
        Assert.True(UdpDatagram.TryCreate(rebuilt, out var udp));
        udp.UpdateChecksum(ip.PseudoHeaderSum());

        Assert.Equal(original, rebuilt);
    }

    [Fact]
    public void UdpDatagram_EveryTruncatedPrefix_IsRejected()
    {
        var bytes = Fixtures.Bytes(Fixtures.UdpDnsQuery).AsSpan(34);

        for (var length = 0; length < bytes.Length; length++)
        {
            Assert.False(UdpDatagram.TryCreate(bytes[..length], out _, out var error));
            Assert.Equal(WireError.Truncated, error);
        }

        Assert.True(UdpDatagram.TryCreate(bytes, out _));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(7)]
    [InlineData(8)]
    [InlineData(36)]
    public void UdpDatagram_LengthFieldShorterThanBuffer_IsRejectedAsMismatch(ushort length)
    {
        var bytes = Fixtures.Bytes(Fixtures.UdpDnsQuery).AsSpan(34);
        bytes[4] = (byte)(length >> 8);
        bytes[5] = (byte)length;

        Assert.False(UdpDatagram.TryCreate(bytes, out _, out var error));
        Assert.Equal(WireError.LengthMismatch, error);
        Assert.True(UdpDatagram.TryCreateQuoted(bytes, out var quoted));
        Assert.Equal(length, quoted.Length);
    }

    [Fact]
    public void UdpDatagram_ComputedZeroChecksum_IsWrittenAsAllOnes()
    {
        var bytes = PacketBuilder.Udp(1, 2, new byte[2]);
        Assert.True(UdpDatagram.TryCreate(bytes, out var udp));
        var pseudo = Checksum.PseudoHeaderIpv4(0x0A000001, 0x0A000002, IpProtocol.Udp, bytes.Length);
        udp.UpdateChecksum(pseudo);
        var filler = udp.Checksum;
        udp.Payload[0] = (byte)(filler >> 8);
        udp.Payload[1] = (byte)filler;

        udp.UpdateChecksum(pseudo);

        Assert.Equal(0xFFFF, udp.Checksum);
        Assert.True(udp.IsChecksumValid(pseudo));
    }

    [Fact]
    public void UdpDatagram_NoChecksum_StaysAbsentAfterRewrites()
    {
        var bytes = PacketBuilder.Udp(1000, 2000, "abc"u8);
        Assert.True(UdpDatagram.TryCreate(bytes, out var udp));

        udp.RewriteSourcePort(3000);
        udp.AdjustChecksumForAddress(1u, 2u);

        Assert.Equal(3000, udp.SourcePort);
        Assert.Equal(0, udp.Checksum);
        Assert.False(udp.HasChecksum);
        Assert.False(udp.IsChecksumValid(0));
    }

    [Property]
    public bool UdpDatagram_NatRewrite_IncrementalChecksumEqualsRecompute(
        uint source, uint destination, ushort sourcePort, ushort destinationPort, byte[] payload, uint newSource, ushort newSourcePort, ushort newDestinationPort)
    {
        var bytes = PacketBuilder.Ipv4(source, destination, IpProtocol.Udp, PacketBuilder.Udp(sourcePort, destinationPort, payload ?? []));
        Ipv4Packet.TryCreate(bytes, out var ip);
        UdpDatagram.TryCreate(ip.Payload, out var udp);
        udp.UpdateChecksum(ip.PseudoHeaderSum());

        udp.AdjustChecksumForAddress(ip.Source, newSource);
        ip.RewriteSource(newSource);
        udp.RewriteSourcePort(newSourcePort);
        udp.RewriteDestinationPort(newDestinationPort);
        var incremental = udp.Checksum;
        udp.UpdateChecksum(ip.PseudoHeaderSum());

        return incremental == udp.Checksum && udp.IsChecksumValid(ip.PseudoHeaderSum()) && ip.IsHeaderChecksumValid;
    }

    [Property]
    public bool UdpDatagram_Translate_EqualsAddressAdjustThenPortRewrite(
        uint source, uint destination, ushort sourcePort, ushort destinationPort, byte[] payload, uint newAddress, ushort newPort, bool towardsDestination, bool noChecksum)
    {
        var inTurn = PacketBuilder.Ipv4(source, destination, IpProtocol.Udp, PacketBuilder.Udp(sourcePort, destinationPort, payload ?? []));
        Ipv4Packet.TryCreate(inTurn, out var ip);
        UdpDatagram.TryCreate(ip.Payload, out var udp);
        udp.UpdateChecksum(ip.PseudoHeaderSum());
        if (noChecksum)
        {
            udp.Checksum = 0;
        }

        var once = inTurn.ToArray();
        udp.AdjustChecksumForAddress(towardsDestination ? ip.Destination : ip.Source, newAddress);
        if (towardsDestination)
        {
            ip.RewriteDestination(newAddress);
            udp.RewriteDestinationPort(newPort);
        }
        else
        {
            ip.RewriteSource(newAddress);
            udp.RewriteSourcePort(newPort);
        }

        Ipv4Packet.TryCreate(once, out var ip2);
        var delta = towardsDestination ? ip2.RewriteDestination(newAddress) : ip2.RewriteSource(newAddress);
        UdpDatagram.FromValidated(ip2.Payload).Translate(delta, towardsDestination, newPort);

        return once.AsSpan().SequenceEqual(inTurn);
    }
}
