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
    public void UdpPortUnreachable_TwoWorkersPerRouter_EveryErrorReachesItsClient()
    {
        // Each router's ports fanned out over two workers by each frame's own addresses and ports: an error that crosses
        // the WAN is hashed by its own header (dc1's waypoint address to br1's), not by the session it is about, so it
        // lands on either worker whichever holds that session.
        const int Flows = 16;
        using var fabric = new SvrFabric(workers: 2);
        for (var i = 0; i < Flows; i++)
        {
            fabric.Eng1.SendUdp(Bulk, (ushort)(5000 + i), 5201, [1, 2, 3]);
        }

        fabric.Pump();
        Assert.Equal(Flows, fabric.Bulk1.Received.Count);
        var before = fabric.Eng1.Received.Count;
        foreach (var delivered in fabric.Bulk1.Received.ToList())
        {
            fabric.Bulk1.SendIp(Unreachable(fabric.Bulk1.Address, delivered, code: 3));
        }

        fabric.Pump();

        // Each error reached eng1 about its own flow (the quoted datagram's source port, behind the error's IP and ICMP
        // headers and the quoted IP header).
        var quotedPorts = fabric.Eng1.Received.Skip(before).Select(error => (int)BinaryPrimitives.ReadUInt16BigEndian(error.AsSpan(20 + 8 + 20))).Order();
        Assert.Equal(Enumerable.Range(5000, Flows), quotedPorts);
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

    /// <summary>
    /// The instance's host says it is unreachable about a ping it got (quoting all of it): eng1 gets a host-unreachable
    /// from the service address quoting its own echo request as it sent it (its identifier, sequence and data; its checksum valid).
    /// </summary>
    [Fact]
    public void HostUnreachable_AboutPing_FromInstanceBeyondEgress_ReachesClientQuotingItsOwnEcho()
    {
        using var fabric = new SvrFabric();
        fabric.Eng1.Ping(Bulk, 7, 1);
        fabric.Pump();
        var echo = Assert.Single(fabric.Bulk1.Received);
        var before = fabric.Eng1.Received.Count;
        fabric.Bulk1.SendIp(Unreachable(fabric.Bulk1.Address, echo, code: Icmpv4Code.HostUnreachable, quoted: echo.Length));
        fabric.Pump();

        var error = Assert.Single(fabric.Eng1.Received.Skip(before));
        AssertHostUnreachableQuotingClientEcho(error, Bulk, fabric.Eng1.Address, echo, id: 7, sequence: 1);
        Assert.Equal(0, fabric.Dc1.Worker.Counters.Dropped);
    }

    /// <summary>
    /// A router between the two (a host on the WAN) says a ping reply's waypoint packet cannot be delivered, quoting it
    /// with the metadata it carries: not carried (behind the block the message may be sealed), counted at dc1, and
    /// nothing reaches the instance.
    /// </summary>
    [Fact]
    public void Unreachable_AboutPingWaypointPacketWithItsMetadata_FromBetweenTheRouters_NotCarried()
    {
        using var fabric = new SvrFabric();
        fabric.Eng1.Ping(Bulk, 7, 1);
        fabric.Pump();
        var reply = Assert.Single(SvrFabricTests.WaypointPackets(fabric.BrWan.Received));
        Assert.True(SvrFabricTests.HasMetadata(reply));
        var before = fabric.Bulk1.Received.Count;

        fabric.Attacker.SendIp(Unreachable(fabric.Attacker.Address, reply, Icmpv4Code.HostUnreachable, quoted: reply.Length));
        fabric.Pump();

        Assert.Equal(1, SvrFabric.Drops(fabric.Dc1, DropReason.IcmpErrorNotCarried));
        Assert.Equal(before, fabric.Bulk1.Received.Count);
    }

    /// <summary>A destination-unreachable from <paramref name="from"/> about <paramref name="offending"/> (<paramref name="quoted"/> octets of it quoted: by default its header + 8).</summary>
    internal static byte[] Unreachable(uint from, byte[] offending, byte code, ushort mtu = 0, int quoted = 28)
    {
        var quote = offending[..Math.Min(offending.Length, quoted)];
        var icmp = new byte[8 + quote.Length];
        icmp[0] = Icmpv4Type.DestinationUnreachable;
        icmp[1] = code;
        BinaryPrimitives.WriteUInt16BigEndian(icmp.AsSpan(6), mtu);
        quote.CopyTo(icmp, 8);
        Icmpv4Packet.TryCreate(icmp, out var message);
        message.UpdateChecksum();
        return Packets.Ip(from, BinaryPrimitives.ReadUInt32BigEndian(offending.AsSpan(12)), IpProtocol.Icmp, icmp);
    }

    /// <summary>
    /// <paramref name="error"/> is a host-unreachable from <paramref name="service"/> to <paramref name="client"/> quoting
    /// the client's echo request <paramref name="echo"/> whole, as it sent it: its addresses, identifier, sequence, length
    /// and a valid checksum (and the error's own checksums valid).
    /// </summary>
    internal static void AssertHostUnreachableQuotingClientEcho(byte[] error, string service, uint client, byte[] echo, ushort id, ushort sequence)
    {
        Assert.True(Packets.ChecksumsValid(error));
        Assert.Equal(service, Packets.Source(error).ToString());
        Assert.True(Ipv4Packet.TryCreate(error, out var outer));
        Assert.Equal((client, IpProtocol.Icmp), (outer.Destination, outer.Protocol));
        Assert.Equal((Icmpv4Type.DestinationUnreachable, Icmpv4Code.HostUnreachable), (outer.Payload[0], outer.Payload[1]));
        Assert.True(Ipv4Packet.TryCreateQuoted(outer.Payload[8..], out var quoted, out _));
        Assert.True(quoted.IsHeaderChecksumValid);
        Assert.Equal((client, IpAddressConversions.ParseIpv4(service), IpProtocol.Icmp), (quoted.Source, quoted.Destination, quoted.Protocol));
        Assert.Equal(Icmpv4Type.EchoRequest, quoted.Payload[0]);
        Assert.Equal(id, BinaryPrimitives.ReadUInt16BigEndian(quoted.Payload[4..]));
        Assert.Equal(sequence, BinaryPrimitives.ReadUInt16BigEndian(quoted.Payload[6..]));
        Assert.Equal(echo.Length, quoted.TotalLength);
        Assert.Equal(0, Checksum.Compute(quoted.Payload));
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
