using System.Buffers.Binary;
using Fabric.Dataplane.Pipeline;
using Fabric.Dataplane.Wire;
using Fabric.Tests.Dataplane.Routing;

namespace Fabric.Tests.Dataplane.Svr.Routers;

/// <summary>
/// ICMP errors about a session's packets, generated beyond the egress router or by it, reach the client across the
/// waypoint session as errors about the client's own flow (its 5-tuple, from the service address).
/// </summary>
public sealed class SvrIcmpErrorTests
{
    private const string Web = "10.200.0.80";
    private const string Bulk = "10.10.1.30";

    [Fact]
    public void UdpPortUnreachable_FromInstanceBeyondEgress_ReachesClientAboutItsOwnFlow()
    {
        using var fabric = new SvrFabric();
        fabric.Eng1.SendUdp(Bulk, 5000, 5201, [1, 2, 3]);
        fabric.Pump();
        var delivered = Assert.Single(fabric.Bulk1.Received);
        var before = fabric.Eng1.Received.Count;

        fabric.Bulk1.SendIp(Unreachable(fabric.Bulk1.Address, delivered, code: 3));
        fabric.Pump();

        var error = Assert.Single(fabric.Eng1.Received.Skip(before));
        AssertErrorAboutClientFlow(error, Bulk, fabric.Eng1.Address, IpProtocol.Udp, 5000, Bulk, 5201, type: 3, code: 3);
        // Between the routers it crossed as an error about the waypoint packet, from dc1's waypoint.
        var crossed = fabric.BrWan.Received.Where(f => BinaryPrimitives.ReadUInt16BigEndian(f.AsSpan(12)) == EtherType.Ipv4).Select(f => f[14..]).Last(ip => ip[9] == IpProtocol.Icmp);
        Assert.Equal("172.16.0.1", Packets.Source(crossed).ToString());
    }

    [Fact]
    public void TcpHostUnreachable_FromInstanceBeyondEgress_ReachesClientAboutItsOwnFlow()
    {
        using var fabric = new SvrFabric();
        fabric.Eng1.SendTcp(Web, 40000, 80, TcpFlags.Syn, 100, 0, []);
        fabric.Pump();
        var server = fabric.Web1.Received.Count > 0 ? fabric.Web1 : fabric.Web2;
        var syn = Assert.Single(server.Received);
        var before = fabric.Eng1.Received.Count;

        server.SendIp(Unreachable(server.Address, syn, code: 1));
        fabric.Pump();

        var error = Assert.Single(fabric.Eng1.Received.Skip(before));
        AssertErrorAboutClientFlow(error, Web, fabric.Eng1.Address, IpProtocol.Tcp, 40000, Web, 80, type: 3, code: 1);
    }

    [Fact]
    public void TcpTtlExpiringAtEgressRouter_TimeExceededReachesClientAboutItsOwnFlow()
    {
        using var fabric = new SvrFabric();
        fabric.Eng1.SendTcp(Web, 40000, 80, TcpFlags.Syn, 100, 0, []);
        fabric.Pump();
        var before = fabric.Eng1.Received.Count;

        // TTL 2: br1 takes one, dc1 cannot forward it.
        fabric.Eng1.SendTcp(Web, 40000, 80, TcpFlags.Ack | TcpFlags.Psh, 101, 5001, [9, 9], ttl: 2);
        fabric.Pump();

        var error = Assert.Single(fabric.Eng1.Received.Skip(before));
        AssertErrorAboutClientFlow(error, Web, fabric.Eng1.Address, IpProtocol.Tcp, 40000, Web, 80, type: 11, code: 0);
        Assert.Equal(1, SvrFabric.Drops(fabric.Dc1, DropReason.TtlExpired));
    }

    [Fact]
    public void UdpTtlExpiringAtEgressRouter_TimeExceededReachesClientAboutItsOwnFlow()
    {
        using var fabric = new SvrFabric();
        fabric.Eng1.SendUdp(Bulk, 5001, 5201, [1]);
        fabric.Pump();
        var before = fabric.Eng1.Received.Count;

        var packet = Packets.Udp(fabric.Eng1.Address, IpAddressConversions.ParseIpv4(Bulk), 5001, 5201, [2]);
        packet[8] = 2;
        Ipv4Packet.TryCreate(packet, out var ip);
        ip.UpdateHeaderChecksum();
        fabric.Eng1.SendIp(packet);
        fabric.Pump();

        var error = Assert.Single(fabric.Eng1.Received.Skip(before));
        AssertErrorAboutClientFlow(error, Bulk, fabric.Eng1.Address, IpProtocol.Udp, 5001, Bulk, 5201, type: 11, code: 0);
    }

    [Fact]
    public void ErrorAboutPing_NotCarriedBetweenRouters_DroppedWithReason()
    {
        using var fabric = new SvrFabric();
        fabric.Eng1.Ping(Bulk, 7, 1);
        fabric.Pump();
        var echo = Assert.Single(fabric.Bulk1.Received);
        fabric.Bulk1.SendIp(Unreachable(fabric.Bulk1.Address, echo, code: 3));
        fabric.Pump();

        Assert.Equal(1, SvrFabric.Drops(fabric.Dc1, DropReason.IcmpErrorNotCarried));
    }

    /// <summary>A destination-unreachable from <paramref name="from"/> about <paramref name="offending"/> (header + 8 octets quoted).</summary>
    internal static byte[] Unreachable(uint from, byte[] offending, byte code, ushort mtu = 0)
    {
        var quote = offending[..Math.Min(offending.Length, 28)];
        var icmp = new byte[8 + quote.Length];
        icmp[0] = Icmpv4Type.DestinationUnreachable;
        icmp[1] = code;
        BinaryPrimitives.WriteUInt16BigEndian(icmp.AsSpan(6), mtu);
        quote.CopyTo(icmp, 8);
        Icmpv4Packet.TryCreate(icmp, out var message);
        message.UpdateChecksum();
        return Packets.Ip(from, BinaryPrimitives.ReadUInt32BigEndian(offending.AsSpan(12)), IpProtocol.Icmp, icmp);
    }

    internal static void AssertErrorAboutClientFlow(
        byte[] error, string from, uint client, byte protocol, ushort clientPort, string service, ushort servicePort, byte type, byte code)
    {
        Assert.True(Packets.ChecksumsValid(error));
        Ipv4Packet.TryCreate(error, out var outer);
        Assert.Equal(IpProtocol.Icmp, outer.Protocol);
        Assert.Equal(from, Packets.Source(error).ToString());
        Assert.Equal(client, outer.Destination);
        Icmpv4Packet.TryCreate(outer.Payload, out var icmp);
        Assert.True(icmp.IsChecksumValid);
        Assert.Equal((type, code), (icmp.Type, icmp.Code));
        Assert.True(Ipv4Packet.TryCreateQuoted(outer.Payload[8..], out var quoted, out _));
        Assert.True(quoted.IsHeaderChecksumValid);
        Assert.Equal(client, quoted.Source);
        Assert.Equal(IpAddressConversions.ParseIpv4(service), quoted.Destination);
        Assert.Equal(protocol, quoted.Protocol);
        Assert.Equal(clientPort, BinaryPrimitives.ReadUInt16BigEndian(quoted.Payload));
        Assert.Equal(servicePort, BinaryPrimitives.ReadUInt16BigEndian(quoted.Payload[2..]));
    }
}
