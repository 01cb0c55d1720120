using Fabric.Dataplane.Wire;
using FsCheck.Xunit;

namespace Fabric.Tests.Dataplane.Wire;

public class TcpSegmentTests
{
    [Fact]
    public void TcpSegment_SynFixture_ReadsEveryFieldAndOption()
    {
        var bytes = Fixtures.Bytes(Fixtures.TcpSyn);
        Assert.True(Ipv4Packet.TryCreate(bytes.AsSpan(14), out var ip));

        Assert.True(TcpSegment.TryCreate(ip.Payload, out var tcp, out var error));

        Assert.Equal(WireError.None, error);
        Assert.Equal(44070, tcp.SourcePort);
        Assert.Equal(8080, tcp.DestinationPort);
        Assert.Equal(0xA10E57A1u, tcp.SequenceNumber);
        Assert.Equal(0u, tcp.AcknowledgmentNumber);
        Assert.Equal(40, tcp.HeaderLength);
        Assert.Equal(TcpFlags.Syn, tcp.Flags);
        Assert.Equal(64240, tcp.Window);
        Assert.Equal(0x6DAF, tcp.Checksum);
        Assert.Equal(0, tcp.UrgentPointer);
        Assert.True(tcp.IsChecksumValid(ip.PseudoHeaderSum()));
        Assert.Equal(0, tcp.Payload.Length);
        Assert.True(tcp.TryGetMaximumSegmentSize(out var mss));
        Assert.Equal(1460, mss);
        Assert.True(tcp.TryFindOption(TcpOptionKind.SackPermitted, out var sack));
        Assert.Equal("0402", Convert.ToHexStringLower(sack));
        Assert.True(tcp.TryFindOption(TcpOptionKind.Timestamps, out var timestamps));
        Assert.Equal("080ae13a25b900000000", Convert.ToHexStringLower(timestamps));
        Assert.True(tcp.TryFindOption(TcpOptionKind.WindowScale, out var windowScale));
        Assert.Equal("03030a", Convert.ToHexStringLower(windowScale));
        Assert.False(tcp.TryFindOption(TcpOptionKind.Sack, out _));
    }

    [Fact]
    public void TcpSegment_RstAckFixture_ReadsFlagsAndVerifiesChecksum()
    {
        var bytes = Fixtures.Bytes(Fixtures.TcpRstAck);
        Assert.True(Ipv4Packet.TryCreate(bytes.AsSpan(14), out var ip));

        Assert.True(TcpSegment.TryCreate(ip.Payload, out var tcp));

        Assert.Equal(TcpFlags.Rst | TcpFlags.Ack, tcp.Flags);
        Assert.Equal(0xA10E57A2u, tcp.AcknowledgmentNumber);
        Assert.Equal(20, tcp.HeaderLength);
        Assert.Equal(0xD766, tcp.Checksum);
        Assert.True(tcp.IsChecksumValid(ip.PseudoHeaderSum()));
        Assert.False(tcp.TryGetMaximumSegmentSize(out _));
    }

    [Theory]
    [InlineData(Fixtures.TcpSyn)]
    [InlineData(Fixtures.TcpRstAck)]
    public void TcpHeader_Fixture_EmitReproducesBytes(string hex)
    {
        var segment = Fixtures.Bytes(hex).AsSpan(34).ToArray();

        Assert.True(TcpHeader.TryParse(segment, out var header));
        var emitted = new byte[header.EmitLength];
        header.Emit(emitted);

        Assert.Equal(segment, emitted);
    }

    [Fact]
    public void TcpHeader_BuiltFromFields_ParsesBackEqualWithValidChecksum()
    {
        var header = new TcpHeader(443, 51000, 0xFFFF_FFF0, 12345, TcpFlags.Psh | TcpFlags.Ack | TcpFlags.Ece, 512, 0, 7,
            WireBytes.FromHex("0101080a0000000100000002"));
        var ipBytes = PacketBuilder.Ipv4(0xC0000201, 0xC6336401, IpProtocol.Tcp, PacketBuilder.Tcp(header, "hello"u8));
        Assert.True(Ipv4Packet.TryCreate(ipBytes, out var ip));
        Assert.True(TcpSegment.TryCreate(ip.Payload, out var tcp));

        tcp.UpdateChecksum(ip.PseudoHeaderSum());

        Assert.True(tcp.IsChecksumValid(ip.PseudoHeaderSum()));
        Assert.Equal("hello"u8.ToArray(), tcp.Payload.ToArray());
        Assert.True(TcpHeader.TryParse(ip.Payload, out var parsed));
        Assert.Equal(header with { Checksum = tcp.Checksum }, parsed);
    }

    [Fact]
    public void TcpSegment_EveryTruncatedPrefix_IsRejected()
    {
        var segment = Fixtures.Bytes(Fixtures.TcpSyn).AsSpan(34);

        for (var length = 0; length < segment.Length; length++)
        {
            Assert.False(TcpSegment.TryCreate(segment[..length], out _, out var error));
            Assert.Equal(WireError.Truncated, error);
        }

        Assert.True(TcpSegment.TryCreate(segment, out _));
    }

    [Fact]
    public void TcpSegment_DataOffsetBeyondSegment_IsRejected()
    {
        var segment = Fixtures.Bytes(Fixtures.TcpSyn).AsSpan(34);
        segment[12] = 0xB0;

        Assert.False(TcpSegment.TryCreate(segment, out _, out var error));
        Assert.Equal(WireError.Truncated, error);
    }

    [Theory]
    [InlineData(0x00)]
    [InlineData(0x40)]
    public void TcpSegment_DataOffsetBelowFive_IsRejectedAsBadHeaderLength(byte dataOffset)
    {
        var segment = Fixtures.Bytes(Fixtures.TcpSyn).AsSpan(34);
        segment[12] = dataOffset;

        Assert.False(TcpSegment.TryCreate(segment, out _, out var error));
        Assert.Equal(WireError.BadHeaderLength, error);
    }

    [Fact]
    public void TcpSegment_ClampMaximumSegmentSize_RewritesOptionAndKeepsChecksumValid()
    {
        var bytes = Fixtures.Bytes(Fixtures.TcpSyn);
        Assert.True(Ipv4Packet.TryCreate(bytes.AsSpan(14), out var ip));
        Assert.True(TcpSegment.TryCreate(ip.Payload, out var tcp));

        Assert.False(tcp.TryClampMaximumSegmentSize(1460));
        Assert.True(tcp.TryClampMaximumSegmentSize(1380));

        Assert.True(tcp.TryGetMaximumSegmentSize(out var mss));
        Assert.Equal(1380, mss);
        Assert.Equal("02040564", Convert.ToHexStringLower(tcp.Options[..4]));
        Assert.True(tcp.IsChecksumValid(ip.PseudoHeaderSum()));
    }

    [Fact]
    public void TcpSegment_ClampMaximumSegmentSizeAtOddOffset_KeepsChecksumValid()
    {
        var header = new TcpHeader(1, 2, 3, 0, TcpFlags.Syn, 1000, 0, 0, WireBytes.FromHex("01020405b4010101"));
        var ipBytes = PacketBuilder.Ipv4(0x0A000001, 0x0A000002, IpProtocol.Tcp, PacketBuilder.Tcp(header, []));
        Assert.True(Ipv4Packet.TryCreate(ipBytes, out var ip));
        Assert.True(TcpSegment.TryCreate(ip.Payload, out var tcp));
        tcp.UpdateChecksum(ip.PseudoHeaderSum());

        Assert.True(tcp.TryClampMaximumSegmentSize(1200));

        Assert.True(tcp.TryGetMaximumSegmentSize(out var mss));
        Assert.Equal(1200, mss);
        Assert.True(tcp.IsChecksumValid(ip.PseudoHeaderSum()));
    }

    [Theory]
    [InlineData("02000000")]
    [InlineData("0308050000000000")]
    [InlineData("01010101010101010101010102")]
    [InlineData("00000000020405b4")]
    [InlineData("020305b4")]
    public void TcpSegment_MalformedOrMissingMaximumSegmentSize_IsNotFound(string optionsHex)
    {
        var options = Convert.FromHexString(optionsHex.PadRight(optionsHex.Length + ((8 - (optionsHex.Length % 8)) % 8), '0'));
        var bytes = PacketBuilder.Tcp(new TcpHeader(1, 2, 3, 0, TcpFlags.Syn, 1000, 0, 0, new WireBytes(options)), []);
        Assert.True(TcpSegment.TryCreate(bytes, out var tcp));

        Assert.False(tcp.TryGetMaximumSegmentSize(out _));
        Assert.False(tcp.TryClampMaximumSegmentSize(1));
    }

    [Property]
    public bool TcpSegment_NatRewrite_IncrementalChecksumEqualsRecompute(
        uint source, uint destination, ushort sourcePort, uint sequence, byte[] payload, uint newDestination, ushort newDestinationPort, ushort newMss)
    {
        var header = new TcpHeader(sourcePort, 80, sequence, 0, TcpFlags.Syn, 65535, 0, 0, WireBytes.FromHex("010303070204ffff"));
        var bytes = PacketBuilder.Ipv4(source, destination, IpProtocol.Tcp, PacketBuilder.Tcp(header, payload ?? []));
        Ipv4Packet.TryCreate(bytes, out var ip);
        TcpSegment.TryCreate(ip.Payload, out var tcp);
        tcp.UpdateChecksum(ip.PseudoHeaderSum());

        tcp.AdjustChecksumForAddress(ip.Destination, newDestination);
        ip.RewriteDestination(newDestination);
        tcp.RewriteDestinationPort(newDestinationPort);
        tcp.TryClampMaximumSegmentSize(newMss);
        var incremental = tcp.Checksum;
        tcp.UpdateChecksum(ip.PseudoHeaderSum());

        return incremental == tcp.Checksum && tcp.IsChecksumValid(ip.PseudoHeaderSum());
    }

    [Property]
    public bool TcpSegment_Translate_EqualsAddressAdjustThenPortRewrite(
        uint source, uint destination, ushort sourcePort, uint sequence, byte[] payload, uint newAddress, ushort newPort, bool towardsDestination)
    {
        var header = new TcpHeader(sourcePort, 80, sequence, 0, TcpFlags.Ack, 65535, 0, 0);
        var inTurn = PacketBuilder.Ipv4(source, destination, IpProtocol.Tcp, PacketBuilder.Tcp(header, payload ?? []));
        Ipv4Packet.TryCreate(inTurn, out var ip);
        TcpSegment.TryCreate(ip.Payload, out var tcp);
        tcp.UpdateChecksum(ip.PseudoHeaderSum());
        var once = inTurn.ToArray();

        var oldAddress = towardsDestination ? ip.Destination : ip.Source;
        tcp.AdjustChecksumForAddress(oldAddress, newAddress);
        if (towardsDestination)
        {
            ip.RewriteDestination(newAddress);
            tcp.RewriteDestinationPort(newPort);
        }
        else
        {
            ip.RewriteSource(newAddress);
            tcp.RewriteSourcePort(newPort);
        }

        Ipv4Packet.TryCreate(once, out var ip2);
        var delta = towardsDestination ? ip2.RewriteDestination(newAddress) : ip2.RewriteSource(newAddress);
        TcpSegment.FromValidated(ip2.Payload).Translate(delta, towardsDestination, newPort);

        return once.AsSpan().SequenceEqual(inTurn);
    }
}
