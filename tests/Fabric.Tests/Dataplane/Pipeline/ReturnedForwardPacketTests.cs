using System.Buffers.Binary;
using Fabric.Dataplane.Pipeline;
using Fabric.Dataplane.Sessions;
using Fabric.Dataplane.Wire;
using Fabric.Tests.Dataplane.Routing;

namespace Fabric.Tests.Dataplane.Pipeline;

/// <summary>
/// The ingress's rebuilding of a ping's echo request an SVR redirect returned (docs/mobility.md "Why the packet comes
/// back"): the message as the client sent it, under the client's IP header, its identifier the flow's, checksum complete.
/// </summary>
public sealed class ReturnedForwardPacketTests
{
    private static readonly MacAddress OurMac = new(0x02_00_00_00_0E_01);
    private static readonly UInt128 Client = IpAddressConversions.ParseIpv6("fd00:10:5::10");
    private static readonly UInt128 Service = IpAddressConversions.ParseIpv6("fd00:200::95");

    [Fact]
    public void Icmpv6EchoRequest_RebuiltFromTheClientToTheService_ChecksumOverItsPseudoHeader()
    {
        var request = Packets.Icmp6(Client, Service, Icmpv6Type.EchoRequest, 21, 3, [1, 2, 3, 4, 5]);
        var message = request.AsSpan(Ipv6Packet.HeaderLength).ToArray();
        BinaryPrimitives.WriteUInt16BigEndian(message.AsSpan(Icmpv6Packet.ChecksumOffset), 0xBEEF);
        var frame = new byte[1514];

        var length = ControlMessages.ReturnedForwardPacket(frame, OurMac, SessionKey.V6(Client, Service, 21, 21, IpProtocol.Icmpv6), message);

        Assert.Equal(14 + request.Length, length);
        var ip = frame.AsSpan(14, length - 14).ToArray();
        Assert.Equal(request, ip);
        Assert.True(Packets.ChecksumsValid6(ip));
    }

    [Fact]
    public void Icmpv4EchoRequest_RebuiltWithTheFlowsIdentifier()
    {
        var client = IpAddressConversions.ParseIpv4("10.20.1.10");
        var service = IpAddressConversions.ParseIpv4("10.200.0.95");
        var request = Packets.Icmp(client, service, Icmpv4Type.EchoRequest, 21, 3, [1, 2, 3, 4]);
        var frame = new byte[1514];

        var length = ControlMessages.ReturnedForwardPacket(frame, OurMac, SessionKey.V4(client, service, 21, 21, IpProtocol.Icmp), request.AsSpan(20));

        Assert.Equal(14 + request.Length, length);
        var ip = frame.AsSpan(14, length - 14).ToArray();
        Assert.True(Packets.ChecksumsValid(ip));
        Assert.Equal(request.AsSpan(20).ToArray(), ip.AsSpan(20).ToArray());
    }

    [Theory]
    [InlineData(Icmpv6Type.EchoReply)]
    [InlineData(Icmpv6Type.PacketTooBig)]
    public void Icmpv6MessageOtherThanAnEchoRequest_NotRebuilt(byte type)
    {
        var message = Packets.Icmp6(Client, Service, type, 21, 3, [1, 2, 3, 4]).AsSpan(Ipv6Packet.HeaderLength).ToArray();

        Assert.Equal(0, ControlMessages.ReturnedForwardPacket(new byte[1514], OurMac, SessionKey.V6(Client, Service, 21, 21, IpProtocol.Icmpv6), message));
    }
}
