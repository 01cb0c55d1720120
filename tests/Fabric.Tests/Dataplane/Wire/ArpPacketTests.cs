using Fabric.Dataplane.Wire;

namespace Fabric.Tests.Dataplane.Wire;

public class ArpPacketTests
{
    private static readonly MacAddress HostA = MacAddress.Parse("02:00:00:00:00:0a");
    private static readonly MacAddress HostB = MacAddress.Parse("02:00:00:00:00:0b");

    [Fact]
    public void ArpPacket_RequestFixture_ReadsEveryField()
    {
        var bytes = Fixtures.Bytes(Fixtures.ArpRequest);

        Assert.True(ArpPacket.TryCreate(bytes.AsSpan(14), out var arp, out var error));

        Assert.Equal(WireError.None, error);
        Assert.Equal(ArpOperation.Request, arp.Operation);
        Assert.Equal(HostA, arp.SenderHardwareAddress);
        Assert.Equal(0x0A000001u, arp.SenderProtocolAddress);
        Assert.Equal(MacAddress.Zero, arp.TargetHardwareAddress);
        Assert.Equal(0x0A000002u, arp.TargetProtocolAddress);
        Assert.Equal(28, arp.Bytes.Length);
    }

    [Fact]
    public void ArpMessage_ReplyFixture_ParsesAndEmitsByteForByte()
    {
        var bytes = Fixtures.Bytes(Fixtures.ArpReply).AsSpan(14);

        Assert.True(ArpMessage.TryParse(bytes, out var reply));

        var expected = new ArpMessage(
            ArpOperation.Reply,
            HostB,
            IpAddressConversions.ToIPAddress(0x0A000002u),
            HostA,
            IpAddressConversions.ToIPAddress(0x0A000001u));
        Assert.Equal(expected, reply);
        var emitted = new byte[ArpMessage.EmitLength];
        Assert.Equal(28, reply.Emit(emitted));
        Assert.Equal(bytes.ToArray(), emitted);
    }

    [Fact]
    public void ArpMessage_BuiltFromFields_ParsesBackEqual()
    {
        var request = new ArpMessage(
            ArpOperation.Request,
            HostB,
            System.Net.IPAddress.Parse("192.168.7.1"),
            MacAddress.Zero,
            System.Net.IPAddress.Parse("192.168.7.200"));
        var bytes = new byte[46];

        request.Emit(bytes);

        Assert.True(ArpMessage.TryParse(bytes, out var parsed));
        Assert.Equal(request, parsed);
        Assert.True(ArpPacket.TryCreate(bytes, out var view));
        Assert.Equal(0xC0A807C8u, view.TargetProtocolAddress);
    }

    [Fact]
    public void ArpPacket_EveryTruncatedPrefix_IsRejected()
    {
        var bytes = Fixtures.Bytes(Fixtures.ArpRequest).AsSpan(14);

        for (var length = 0; length < ArpPacket.Length; length++)
        {
            Assert.False(ArpPacket.TryCreate(bytes[..length], out _, out var error));
            Assert.Equal(WireError.Truncated, error);
        }
    }

    [Theory]
    [InlineData(1, 0x06)]
    [InlineData(3, 0x08)]
    [InlineData(4, 0x07)]
    [InlineData(5, 0x10)]
    public void ArpPacket_NotEthernetAndIpv4_IsRejectedAsUnsupported(int offset, byte value)
    {
        var bytes = Fixtures.Bytes(Fixtures.ArpRequest).AsSpan(14);
        bytes[offset] = value;

        Assert.False(ArpPacket.TryCreate(bytes, out _, out var error));
        Assert.Equal(WireError.Unsupported, error);
    }

    [Fact]
    public void ArpPacket_RewriteRequestIntoReply_WritesEveryField()
    {
        var bytes = Fixtures.Bytes(Fixtures.ArpRequest);
        Assert.True(ArpPacket.TryCreate(bytes.AsSpan(14), out var arp));

        arp.Operation = ArpOperation.Reply;
        arp.TargetHardwareAddress = arp.SenderHardwareAddress;
        (arp.TargetProtocolAddress, arp.SenderProtocolAddress) = (arp.SenderProtocolAddress, arp.TargetProtocolAddress);
        arp.SenderHardwareAddress = HostB;

        Assert.Equal(Fixtures.Bytes(Fixtures.ArpReply)[14..], bytes[14..]);
    }
}
