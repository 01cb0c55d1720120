using System.Buffers.Binary;
using Fabric.Dataplane.Pipeline;
using Fabric.Dataplane.Svr;
using Fabric.Dataplane.Svr.Security;
using Fabric.Dataplane.Wire;
using Fabric.Tests.Dataplane.Routing;

namespace Fabric.Tests.Dataplane.Svr.Routers;

/// <summary>
/// Packets too big for the path once SVR adds its part: DF packets get fragmentation-needed with the MTU that
/// fits (rate-limited, counted); a UDP first packet too big to carry metadata too sends the metadata ahead alone.
/// </summary>
public sealed class SvrMtuTests
{
    private const string Bulk = "10.10.1.30";
    private const string Db = "10.10.1.20";

    [Fact]
    public void Ping_TooBigWithItsMetadata_FragNeededWithMtuThatFits_ThenThatSizeGetsThrough()
    {
        using var fabric = new SvrFabric();
        fabric.Eng1.SendIp(Ping(fabric.Eng1.Address, 1500));
        fabric.Pump();

        var growth = SvrStage.GrowthToPeer(fabric.Br1.Snapshot, SvrFabric.OnlySession(fabric.Br1));
        Assert.True(growth > 100);
        var error = Assert.Single(fabric.Eng1.Received);
        var mtu = FragmentationNeededMtu(error);
        Assert.Equal(1500 - growth, mtu);
        Assert.Equal(1, SvrFabric.Drops(fabric.Br1, DropReason.TooBig));
        Assert.Equal(1, fabric.Br1.Worker.Counters.IcmpErrorsSent);
        Assert.Empty(fabric.Bulk1.Received);

        fabric.Eng1.SendIp(Ping(fabric.Eng1.Address, mtu));
        fabric.Pump();
        var reply = fabric.Eng1.Received[^1];
        Assert.Equal(Icmpv4Type.EchoReply, reply[20]);
        Assert.Equal(mtu, BinaryPrimitives.ReadUInt16BigEndian(reply.AsSpan(2)));
    }

    [Fact]
    public void EncryptedSession_FullSizeDfSegment_FragNeededLeavesRoomForTrailer()
    {
        using var fabric = new SvrFabric();
        fabric.ShareKeys(fabric.Br2, fabric.Dc1, epoch: 1);
        fabric.Pump();
        fabric.Fin1.SendTcp(Db, 41000, 5432, TcpFlags.Syn, 100, 0, []);
        fabric.Pump();
        Assert.Single(fabric.Db1.Received);
        var before = fabric.Fin1.Received.Count;

        fabric.Fin1.SendTcp(Db, 41000, 5432, TcpFlags.Ack | TcpFlags.Psh, 101, 5001, new byte[1460]);
        fabric.Pump();

        var error = Assert.Single(fabric.Fin1.Received.Skip(before));
        Assert.Equal(1500 - PacketSealer.TrailerLength, FragmentationNeededMtu(error));
        Assert.Single(fabric.Db1.Received);

        fabric.Fin1.SendTcp(Db, 41000, 5432, TcpFlags.Ack | TcpFlags.Psh, 101, 5001, new byte[1460 - PacketSealer.TrailerLength]);
        fabric.Pump();
        Assert.Equal(2, fabric.Db1.Received.Count);
        Assert.Equal(1500 - PacketSealer.TrailerLength, fabric.Db1.Received[^1].Length);
    }

    [Fact]
    public void FragNeeded_Flood_IsRateLimitedAndCounted()
    {
        using var fabric = new SvrFabric();
        for (var i = 0; i < IcmpErrorLimiter.ErrorsPerSecond + 50; i++)
        {
            fabric.Eng1.SendIp(Ping(fabric.Eng1.Address, 1500));
        }

        fabric.Pump();

        Assert.Equal(IcmpErrorLimiter.ErrorsPerSecond, fabric.Eng1.Received.Count);
        Assert.Equal(IcmpErrorLimiter.ErrorsPerSecond, fabric.Br1.Worker.Counters.IcmpErrorsSent);
        Assert.Equal(50, fabric.Br1.Worker.Counters.IcmpErrorsSuppressed);
        Assert.Equal(IcmpErrorLimiter.ErrorsPerSecond + 50, SvrFabric.Drops(fabric.Br1, DropReason.TooBig));

        // A second later the bucket has refilled.
        fabric.Time.Advance(TimeSpan.FromSeconds(1));
        fabric.Eng1.SendIp(Ping(fabric.Eng1.Address, 1500));
        fabric.Pump();
        Assert.Equal(IcmpErrorLimiter.ErrorsPerSecond + 1, fabric.Br1.Worker.Counters.IcmpErrorsSent);
    }

    [Fact]
    public void UdpFirstDatagram_TooBigToCarryMetadata_MetadataGoesAheadAlone_DatagramArrivesWhole()
    {
        using var fabric = new SvrFabric();
        var payload = Enumerable.Range(0, 1472).Select(i => (byte)i).ToArray();
        fabric.Eng1.SendUdp(Bulk, 5000, 5201, payload);
        fabric.Pump();

        // The instance got exactly the datagram, restored; nothing empty before it.
        var delivered = Assert.Single(fabric.Bulk1.Received);
        Assert.Equal(1500, delivered.Length);
        Assert.True(Packets.ChecksumsValid(delivered));
        Ipv4Packet.TryCreate(delivered, out var ip);
        UdpDatagram.TryCreate(ip.Payload, out var udp);
        Assert.Equal(payload, udp.Payload.ToArray());
        Assert.Equal(fabric.Eng1.Address, ip.Source);

        // On the wire: the announcement (metadata, keepalive control, nothing else) and then the bare datagram.
        var wire = fabric.DcWan.Received.Where(f => BinaryPrimitives.ReadUInt16BigEndian(f.AsSpan(12)) == EtherType.Ipv4).Select(f => f[14..]).Where(f => f[9] == IpProtocol.Udp && BinaryPrimitives.ReadUInt16BigEndian(f.AsSpan(22)) >= 16384).ToList();
        Assert.Equal(2, wire.Count);
        Assert.True(MetadataInsertion.TryLocate(wire[0], wire[0].Length, out var block, out _));
        Assert.True(SvrMetadata.TryParse(block, out var metadata, out _));
        Assert.Equal("engineering", metadata!.Tenant);
        Assert.Equal(MetadataControl.Keepalive, metadata.Control);
        Assert.Equal(20 + 8 + block.TotalLength, wire[0].Length);
        Assert.Equal(1500, wire[1].Length);
        Assert.Equal(1, fabric.Br1.Worker.Counters.MetadataAnnouncements);

        // The echo comes back the same way, whole.
        var reply = Assert.Single(fabric.Eng1.Received);
        Ipv4Packet.TryCreate(reply, out var replyIp);
        UdpDatagram.TryCreate(replyIp.Payload, out var replyUdp);
        Assert.Equal(payload, replyUdp.Payload.ToArray());
        Assert.Equal(1, fabric.Dc1.Worker.Counters.MetadataAnnouncements);

        // The handshake is done: the next datagram crosses as it is.
        fabric.Eng1.SendUdp(Bulk, 5000, 5201, payload);
        fabric.Pump();
        Assert.Equal(2, fabric.Bulk1.Received.Count);
        Assert.Equal(2, fabric.Eng1.Received.Count);
        Assert.Equal(1, fabric.Br1.Worker.Counters.MetadataAnnouncements);
    }

    private static byte[] Ping(uint source, int totalLength) =>
        Packets.Icmp(source, IpAddressConversions.ParseIpv4(Bulk), Icmpv4Type.EchoRequest, 9, 1, new byte[totalLength - 28]);

    private static int FragmentationNeededMtu(byte[] error)
    {
        Assert.True(Packets.ChecksumsValid(error));
        Assert.Equal(IpProtocol.Icmp, error[9]);
        Assert.Equal((Icmpv4Type.DestinationUnreachable, Icmpv4Code.FragmentationNeeded), (error[20], error[21]));
        return BinaryPrimitives.ReadUInt16BigEndian(error.AsSpan(26));
    }
}
