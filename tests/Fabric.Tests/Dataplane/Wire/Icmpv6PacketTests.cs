using Fabric.Dataplane.Wire;

namespace Fabric.Tests.Dataplane.Wire;

public class Icmpv6PacketTests
{
    private static readonly UInt128 HostA = IpAddressConversions.ParseIpv6("fd00::1");
    private static readonly UInt128 HostB = IpAddressConversions.ParseIpv6("fd00::2");

    [Fact]
    public void Icmpv6Packet_NeighborSolicitationFixture_ReadsTargetAndSourceLinkLayerAddress()
    {
        var bytes = Fixtures.Bytes(Fixtures.Icmpv6NeighborSolicitation).AsSpan(14);
        Assert.True(Ipv6Packet.TryCreate(bytes, out var ip));

        Assert.True(Icmpv6Packet.TryCreate(ip.UpperLayer, out var icmp, out var error));

        Assert.Equal(WireError.None, error);
        Assert.Equal(255, ip.HopLimit);
        Assert.Equal(IpAddressConversions.ParseIpv6("ff02::1:ff00:2"), ip.Destination);
        Assert.Equal(Icmpv6Type.NeighborSolicitation, icmp.Type);
        Assert.True(icmp.IsNeighborSolicitation);
        Assert.Equal(0, icmp.Code);
        Assert.Equal(0x7D8E, icmp.Checksum);
        Assert.True(icmp.IsChecksumValid(ip.PseudoHeaderSum()));
        Assert.Equal(HostB, icmp.TargetAddress);
        Assert.False(icmp.IsError);
        Assert.True(icmp.TryGetSourceLinkLayerAddress(out var source));
        Assert.Equal(MacAddress.Parse("02:00:00:00:00:0a"), source);
        Assert.False(icmp.TryGetTargetLinkLayerAddress(out _));
    }

    [Fact]
    public void Icmpv6Packet_NeighborAdvertisementFixture_ReadsFlagsTargetAndLinkLayerAddress()
    {
        var bytes = Fixtures.Bytes(Fixtures.Icmpv6NeighborAdvertisement).AsSpan(14);
        Assert.True(Ipv6Packet.TryCreate(bytes, out var ip));

        Assert.True(Icmpv6Packet.TryCreate(ip.UpperLayer, out var icmp));

        Assert.True(icmp.IsNeighborAdvertisement);
        Assert.Equal(0x1C91, icmp.Checksum);
        Assert.True(icmp.IsChecksumValid(ip.PseudoHeaderSum()));
        Assert.False(icmp.IsRouter);
        Assert.True(icmp.IsSolicited);
        Assert.True(icmp.IsOverride);
        Assert.Equal(HostB, icmp.TargetAddress);
        Assert.True(icmp.TryGetTargetLinkLayerAddress(out var target));
        Assert.Equal(MacAddress.Parse("02:00:00:00:00:0b"), target);
        Assert.False(icmp.TryGetSourceLinkLayerAddress(out _));
    }

    [Fact]
    public void Icmpv6Packet_DuplicateAddressDetectionFixture_SkipsNonceOption()
    {
        var bytes = Fixtures.Bytes(Fixtures.Icmpv6DuplicateAddressDetection).AsSpan(14);
        Assert.True(Ipv6Packet.TryCreate(bytes, out var ip));

        Assert.True(Icmpv6Packet.TryCreate(ip.UpperLayer, out var icmp));

        Assert.Equal(UInt128.Zero, ip.Source);
        Assert.True(icmp.IsChecksumValid(ip.PseudoHeaderSum()));
        Assert.Equal(IpAddressConversions.ParseIpv6("fe80::ff:fe00:b"), icmp.TargetAddress);
        Assert.Equal(8, icmp.NeighborOptions.Length);
        Assert.Equal(14, icmp.NeighborOptions[0]);
        Assert.False(icmp.TryGetSourceLinkLayerAddress(out _));
    }

    [Theory]
    [InlineData(Fixtures.Icmpv6NeighborSolicitation)]
    [InlineData(Fixtures.Icmpv6NeighborAdvertisement)]
    public void NeighborMessage_Fixture_ParsesAndEmitsByteForByte(string hex)
    {
        var bytes = Fixtures.Bytes(hex).AsSpan(14);
        Assert.True(Ipv6Packet.TryCreate(bytes, out var ip));
        var original = ip.UpperLayer.ToArray();

        Assert.True(NeighborMessage.TryParse(original, out var message));
        var emitted = new byte[message.EmitLength];
        message.Emit(emitted);
        Assert.True(Icmpv6Packet.TryCreate(emitted, out var icmp));
        icmp.UpdateChecksum(ip.PseudoHeaderSum());

        Assert.Equal(original, emitted);
    }

    [Fact]
    public void NeighborMessage_AdvertisementBuiltFromFields_ParsesBackEqual()
    {
        var advertisement = new NeighborMessage(
            Icmpv6Type.NeighborAdvertisement,
            System.Net.IPAddress.Parse("2001:db8::fe"),
            MacAddress.Parse("02:fa:b0:00:00:01"),
            IsRouter: true,
            IsSolicited: true);
        var bytes = new byte[advertisement.EmitLength];

        Assert.Equal(32, advertisement.Emit(bytes));

        Assert.True(NeighborMessage.TryParse(bytes, out var parsed));
        Assert.Equal(advertisement, parsed);
        Assert.Equal("88000000c0000000", Convert.ToHexStringLower(bytes.AsSpan(0, 8)));
        Assert.Equal("020102fab0000001", Convert.ToHexStringLower(bytes.AsSpan(24)));
    }

    [Fact]
    public void NeighborMessage_SolicitationWithoutOption_ParsesBackEqual()
    {
        var solicitation = new NeighborMessage(Icmpv6Type.NeighborSolicitation, System.Net.IPAddress.Parse("fe80::1"), null);
        var bytes = new byte[solicitation.EmitLength];

        Assert.Equal(24, solicitation.Emit(bytes));

        Assert.True(NeighborMessage.TryParse(bytes, out var parsed));
        Assert.Equal(solicitation, parsed);
        Assert.False(NeighborMessage.TryParse(Fixtures.Bytes(Fixtures.Icmpv6EchoRequest).AsSpan(54), out _));
    }

    [Theory]
    [InlineData(Fixtures.Icmpv6EchoRequest, Icmpv6Type.EchoRequest, 0x1238)]
    [InlineData(Fixtures.Icmpv6EchoReply, Icmpv6Type.EchoReply, 0x1138)]
    public void Icmpv6Packet_EchoFixture_ReadsFieldsAndEmitReproducesMessage(string hex, byte type, ushort checksum)
    {
        var bytes = Fixtures.Bytes(hex).AsSpan(14);
        Assert.True(Ipv6Packet.TryCreate(bytes, out var ip));
        Assert.True(Icmpv6Packet.TryCreate(ip.UpperLayer, out var icmp));

        Assert.Equal(type, icmp.Type);
        Assert.Equal(checksum, icmp.Checksum);
        Assert.Equal(0x4321, icmp.Identifier);
        Assert.Equal(7, icmp.SequenceNumber);
        Assert.Equal("fabric-ping6"u8.ToArray(), icmp.Body.ToArray());
        Assert.True(icmp.IsChecksumValid(ip.PseudoHeaderSum()));

        var rebuilt = new byte[icmp.Bytes.Length];
        Icmpv6Header.Echo(type, 0x4321, 7).Emit(rebuilt);
        "fabric-ping6"u8.CopyTo(rebuilt.AsSpan(8));
        Assert.True(Icmpv6Packet.TryCreate(rebuilt, out var built));
        built.UpdateChecksum(ip.PseudoHeaderSum());
        Assert.Equal(icmp.Bytes.ToArray(), rebuilt);
        Assert.True(Icmpv6Header.TryParse(rebuilt, out var parsed));
        Assert.Equal(new Icmpv6Header(type, 0, checksum, 0x4321_0007), parsed);
    }

    [Theory]
    [InlineData(Icmpv6Type.PacketTooBig, 0, 1280u)]
    [InlineData(Icmpv6Type.TimeExceeded, 0, 0u)]
    [InlineData(Icmpv6Type.DestinationUnreachable, 4, 0u)]
    public void Icmpv6Packet_ErrorBuiltFromFields_ExposesMtuAndQuotedPacket(byte type, byte code, uint rest)
    {
        var quoted = Fixtures.Bytes(Fixtures.Icmpv6EchoRequest).AsSpan(14, 48);
        var message = new byte[8 + quoted.Length];
        new Icmpv6Header(type, code, 0, rest).Emit(message);
        quoted.CopyTo(message.AsSpan(8));
        var packet = PacketBuilder.Ipv6(HostB, HostA, IpProtocol.Icmpv6, message);
        Assert.True(Ipv6Packet.TryCreate(packet, out var ip));
        Assert.True(Icmpv6Packet.TryCreate(ip.UpperLayer, out var icmp));
        icmp.UpdateChecksum(ip.PseudoHeaderSum());

        Assert.True(icmp.IsError);
        Assert.Equal(rest, icmp.Mtu);
        Assert.True(icmp.IsChecksumValid(ip.PseudoHeaderSum()));
        Assert.True(icmp.TryGetOriginalPacket(out var original));
        Assert.Equal(HostA, original.Source);
        Assert.Equal(HostB, original.Destination);
        Assert.Equal(20, original.PayloadLength);
        Assert.Equal(IpProtocol.Icmpv6, original.UpperLayerProtocol);
        Assert.True(Icmpv6Packet.TryCreate(original.UpperLayer, out var originalEcho));
        Assert.Equal(0x4321, originalEcho.Identifier);
    }

    [Fact]
    public void Icmpv6Packet_EveryTruncatedPrefixOfNeighborSolicitation_IsRejected()
    {
        var bytes = Fixtures.Bytes(Fixtures.Icmpv6NeighborSolicitation).AsSpan(54);

        for (var length = 0; length < bytes.Length; length++)
        {
            if (length == Icmpv6Packet.NeighborMessageLength)
            {
                Assert.True(Icmpv6Packet.TryCreate(bytes[..length], out var bare));
                Assert.False(bare.TryGetSourceLinkLayerAddress(out _));
                continue;
            }

            Assert.False(Icmpv6Packet.TryCreate(bytes[..length], out _, out var error));
            Assert.Equal(WireError.Truncated, error);
        }
    }

    [Fact]
    public void Icmpv6Packet_ZeroLengthOption_IsRejected()
    {
        var bytes = Fixtures.Bytes(Fixtures.Icmpv6NeighborSolicitation).AsSpan(54);
        bytes[25] = 0;

        Assert.False(Icmpv6Packet.TryCreate(bytes, out _, out var error));
        Assert.Equal(WireError.BadExtensionHeader, error);
    }

    [Fact]
    public void Icmpv6Packet_OptionLengthBeyondMessage_IsRejected()
    {
        var bytes = Fixtures.Bytes(Fixtures.Icmpv6NeighborAdvertisement).AsSpan(54);
        bytes[25] = 2;

        Assert.False(Icmpv6Packet.TryCreate(bytes, out _, out var error));
        Assert.Equal(WireError.Truncated, error);
    }

    [Fact]
    public void Icmpv6Packet_NonNeighborMessage_ReadsZeroTargetAndNoOptions()
    {
        var bytes = Fixtures.Bytes(Fixtures.Icmpv6EchoRequest).AsSpan(54);

        Assert.True(Icmpv6Packet.TryCreate(bytes, out var icmp));

        Assert.Equal(UInt128.Zero, icmp.TargetAddress);
        Assert.True(icmp.NeighborOptions.IsEmpty);
        Assert.False(icmp.IsSolicited);
        Assert.False(icmp.TryGetOriginalPacket(out _));
    }
}
