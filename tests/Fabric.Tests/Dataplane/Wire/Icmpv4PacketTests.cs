using Fabric.Dataplane.Wire;

namespace Fabric.Tests.Dataplane.Wire;

public class Icmpv4PacketTests
{
    [Fact]
    public void Icmpv4Packet_EchoRequestFixture_ReadsEveryFieldAndVerifiesChecksum()
    {
        var bytes = Fixtures.Bytes(Fixtures.Icmpv4EchoRequest).AsSpan(34);

        Assert.True(Icmpv4Packet.TryCreate(bytes, out var icmp, out var error));

        Assert.Equal(WireError.None, error);
        Assert.Equal(Icmpv4Type.EchoRequest, icmp.Type);
        Assert.Equal(0, icmp.Code);
        Assert.Equal(0xF3C8, icmp.Checksum);
        Assert.Equal(0x1234, icmp.Identifier);
        Assert.Equal(1, icmp.SequenceNumber);
        Assert.False(icmp.IsError);
        Assert.True(icmp.IsChecksumValid);
        Assert.Equal(Convert.FromHexString("101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f"), icmp.Body.ToArray());
        Assert.False(icmp.TryGetOriginalPacket(out _));
    }

    [Theory]
    [InlineData(Fixtures.Icmpv4EchoRequest)]
    [InlineData(Fixtures.Icmpv4EchoReply)]
    [InlineData(Fixtures.Icmpv4TimeExceeded)]
    [InlineData(Fixtures.Icmpv4PortUnreachable)]
    public void Icmpv4Header_Fixture_EmitWithBodyReproducesMessage(string hex)
    {
        var message = Fixtures.Bytes(hex).AsSpan(34).ToArray();

        Assert.True(Icmpv4Header.TryParse(message, out var header));
        var rebuilt = new byte[message.Length];
        (header with { Checksum = 0 }).Emit(rebuilt);
        message.AsSpan(8).CopyTo(rebuilt.AsSpan(8));
        Assert.True(Icmpv4Packet.TryCreate(rebuilt, out var icmp));
        icmp.UpdateChecksum();

        Assert.Equal(message, rebuilt);
        Assert.Equal(header.Checksum, icmp.Checksum);
    }

    [Fact]
    public void Icmpv4Packet_EchoBuiltFromFields_ParsesBackEqual()
    {
        var header = Icmpv4Header.Echo(Icmpv4Type.EchoReply, 0xABCD, 0x0102);
        var bytes = new byte[12];
        header.Emit(bytes);
        "ping"u8.CopyTo(bytes.AsSpan(8));
        Assert.True(Icmpv4Packet.TryCreate(bytes, out var icmp));
        icmp.UpdateChecksum();

        Assert.True(Icmpv4Header.TryParse(bytes, out var parsed));
        Assert.Equal(header with { Checksum = icmp.Checksum }, parsed);
        Assert.Equal(0xABCD, parsed.Identifier);
        Assert.Equal(0x0102, parsed.SequenceNumber);
        Assert.True(icmp.IsChecksumValid);
    }

    [Fact]
    public void Icmpv4Packet_TimeExceededFixture_ExposesQuotedPacket()
    {
        var bytes = Fixtures.Bytes(Fixtures.Icmpv4TimeExceeded).AsSpan(34);

        Assert.True(Icmpv4Packet.TryCreate(bytes, out var icmp));

        Assert.Equal(Icmpv4Type.TimeExceeded, icmp.Type);
        Assert.Equal(Icmpv4Code.TtlExceededInTransit, icmp.Code);
        Assert.Equal(0x1238, icmp.Checksum);
        Assert.True(icmp.IsError);
        Assert.True(icmp.IsChecksumValid);
        Assert.True(icmp.TryGetOriginalPacket(out var original));
        Assert.Equal(0x0A000001u, original.Source);
        Assert.Equal(0x0A090909u, original.Destination);
        Assert.Equal(1, original.Ttl);
        Assert.Equal(IpProtocol.Udp, original.Protocol);
        Assert.Equal(40, original.TotalLength);
        Assert.True(original.IsHeaderChecksumValid);
        Assert.True(UdpDatagram.TryCreate(original.Payload, out var udp));
        Assert.Equal(40001, udp.SourcePort);
        Assert.Equal(33434, udp.DestinationPort);
        Assert.True(udp.IsChecksumValid(original.PseudoHeaderSum()));
    }

    [Fact]
    public void Icmpv4Packet_PortUnreachableFixture_QuotesTheDnsQuery()
    {
        var bytes = Fixtures.Bytes(Fixtures.Icmpv4PortUnreachable).AsSpan(34);

        Assert.True(Icmpv4Packet.TryCreate(bytes, out var icmp));

        Assert.Equal(Icmpv4Type.DestinationUnreachable, icmp.Type);
        Assert.Equal(Icmpv4Code.PortUnreachable, icmp.Code);
        Assert.True(icmp.IsChecksumValid);
        Assert.True(icmp.TryGetOriginalPacket(out var original));
        Assert.Equal(Fixtures.Bytes(Fixtures.UdpDnsQuery)[14..], original.Bytes.ToArray());
    }

    [Fact]
    public void Icmpv4Packet_FragmentationNeededBuiltFromFields_ReportsMtuAndCutQuote()
    {
        var syn = Fixtures.Bytes(Fixtures.TcpSyn).AsSpan(14, 28);
        var bytes = new byte[8 + syn.Length];
        Icmpv4Header.FragmentationNeeded(1400).Emit(bytes);
        syn.CopyTo(bytes.AsSpan(8));
        Assert.True(Icmpv4Packet.TryCreate(bytes, out var icmp));
        icmp.UpdateChecksum();

        Assert.Equal(Icmpv4Code.FragmentationNeeded, icmp.Code);
        Assert.Equal(1400, icmp.NextHopMtu);
        Assert.True(icmp.TryGetOriginalPacket(out var original));
        Assert.Equal(60, original.TotalLength);
        Assert.Equal(8, original.Payload.Length);
        Assert.Equal(IpProtocol.Tcp, original.Protocol);
        Assert.True(UdpDatagram.TryCreateQuoted(original.Payload, out var ports));
        Assert.Equal(44070, ports.SourcePort);
        Assert.Equal(8080, ports.DestinationPort);
    }

    [Fact]
    public void Icmpv4Packet_ErrorQuotingTooLittle_HasNoOriginalPacket()
    {
        var bytes = Fixtures.Bytes(Fixtures.Icmpv4TimeExceeded).AsSpan(34, 8 + 19);

        Assert.True(Icmpv4Packet.TryCreate(bytes, out var icmp));

        Assert.False(icmp.TryGetOriginalPacket(out _));
    }

    [Fact]
    public void Icmpv4Packet_EveryTruncatedPrefix_IsRejected()
    {
        var bytes = Fixtures.Bytes(Fixtures.Icmpv4EchoRequest).AsSpan(34);

        for (var length = 0; length < Icmpv4Packet.HeaderLength; length++)
        {
            Assert.False(Icmpv4Packet.TryCreate(bytes[..length], out _, out var error));
            Assert.Equal(WireError.Truncated, error);
        }
    }

    [Fact]
    public void Icmpv4Packet_RewriteIdentifier_KeepsChecksumValid()
    {
        var bytes = Fixtures.Bytes(Fixtures.Icmpv4EchoReply).AsSpan(34);
        Assert.True(Icmpv4Packet.TryCreate(bytes, out var icmp));

        icmp.RewriteIdentifier(0x9999);

        Assert.Equal(0x9999, icmp.Identifier);
        Assert.True(icmp.IsChecksumValid);
    }
}
