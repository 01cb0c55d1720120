using System.Buffers.Binary;
using Fabric.Dataplane.Io;
using Fabric.Dataplane.Pipeline;
using Fabric.Dataplane.Svr.Security;
using Fabric.Dataplane.Wire;
using Fabric.Tests.Dataplane.Routing;

namespace Fabric.Tests.Dataplane.Svr.Routers;

/// <summary>
/// Super-packets of an encrypted session (finance's db: fin1 on br2, db1 on dc1, <c>encryption = required</c>) go through
/// the sending router's pipeline whole, are cut only as they leave and each segment is sealed on its own: the far router
/// (the same code, which opens every sealed packet alone) opens every one, and the receiving host gets the exact bytes in
/// order. br2's ports are plain (the worker sends each sealed segment); dc1's WAN takes super-packets
/// (<see cref="OffloadPort"/>), yet the sealed segments leave it as ordinary frames, never whole.
/// </summary>
public sealed class SvrSealedSuperPacketTests
{
    private const string Db = "10.10.1.20";
    private const ushort ClientPort = 40000;
    private const ushort DbPort = 5432;
    private const int Ethernet = 14;
    private static readonly uint Fin1 = IpAddressConversions.ParseIpv4("10.30.1.20");
    private static readonly uint Db1 = IpAddressConversions.ParseIpv4(Db);

    [Fact]
    public void EncryptedSession_SuperPacketsBothWays_GoThroughWholeAndEverySegmentIsOpenedAtTheFarRouter()
    {
        using var fabric = Established();
        var payload = Payload((3 * 1200) + 700);
        var (wanBefore, dbBefore) = (fabric.DcWan.Received.Count, fabric.Db1.Received.Count);

        // fin1 → db1: whole through br2, four sealed segments on the WAN, each opened at dc1.
        var forward = SuperPacket(Fin1, Db1, ClientPort, DbPort, 121, 5011, payload, fabric.Br2.Ports[1].Mac, fabric.Fin1.Mac, 1200);
        Assert.Equal(4, fabric.Br2.Worker.ProcessSuperPacket(forward.Frame, forward.Length, forward.Offload, 1, fabric.Br2.Now, fabric.Br2.Snapshot));
        fabric.Pump();

        Assert.Equal((1L, 0L), (fabric.Br2.Worker.Counters.SuperPackets, fabric.Br2.Worker.Counters.SuperPacketsCut));
        var wire = fabric.DcWan.Received.Skip(wanBefore).Where(IsIpv4).Select(Ip).ToList();
        Assert.Equal(4, wire.Count);
        for (var i = 0; i < wire.Count; i++)
        {
            var segment = payload.AsSpan(i * 1200, Math.Min(1200, payload.Length - (i * 1200)));
            Assert.Equal(20 + 20 + segment.Length + PacketSealer.TrailerLength, wire[i].Length);
            Assert.True(Packets.ChecksumsValid(wire[i]));
            Assert.True(wire[i].AsSpan().IndexOf(segment[..64]) < 0, "a segment's payload crossed the WAN in clear");
        }

        AssertSegments([.. fabric.Db1.Received.Skip(dbBefore)], Fin1, Db1, ClientPort, DbPort, 121, payload);

        // db1 → fin1: whole through dc1 (its WAN takes super-packets, but sealed segments leave one by one), opened at br2.
        var answer = Payload((2 * 1200) + 11);
        var finBefore = fabric.Fin1.Received.Count;
        var sentWhole = fabric.Offloads["dc1/wan0"].SentWhole;
        var reverse = SuperPacket(Db1, Fin1, DbPort, ClientPort, 9001, 121 + (uint)payload.Length, answer, fabric.Dc1.Ports[1].Mac, fabric.Db1.Mac, 1200);
        Assert.Equal(3, fabric.Dc1.Worker.ProcessSuperPacket(reverse.Frame, reverse.Length, reverse.Offload, 1, fabric.Dc1.Now, fabric.Dc1.Snapshot));
        fabric.Pump();

        Assert.Equal((1L, 0L), (fabric.Dc1.Worker.Counters.SuperPackets, fabric.Dc1.Worker.Counters.SuperPacketsCut));
        Assert.Equal(sentWhole, fabric.Offloads["dc1/wan0"].SentWhole);
        AssertSegments([.. fabric.Fin1.Received.Skip(finBefore)], Db1, Fin1, DbPort, ClientPort, 9001, answer);
        Assert.Equal((0L, 0L), (fabric.Br2.Worker.Counters.Dropped, fabric.Dc1.Worker.Counters.Dropped));
    }

    /// <summary>
    /// Each sealed segment gains the 24-octet trailer: a segment of 1436 octets of payload leaves as 1500 (20 + 20 + 1436 + 24)
    /// and the super-packet goes through whole; one of 1437 would leave as 1501, beyond the WAN's MTU, so that super-packet
    /// takes the cut-first path, where each packet meets the MTU check on its own (refused as too big, as before).
    /// </summary>
    [Theory]
    [InlineData(1436, true)]
    [InlineData(1437, false)]
    public void EncryptedSession_SegmentSealedBeyondTheMtu_SuperPacketCutFirst(int segmentSize, bool fits)
    {
        using var fabric = Established();
        var payload = Payload(3 * segmentSize);
        var dbBefore = fabric.Db1.Received.Count;
        var forward = SuperPacket(Fin1, Db1, ClientPort, DbPort, 121, 5011, payload, fabric.Br2.Ports[1].Mac, fabric.Fin1.Mac, segmentSize);

        fabric.Br2.Worker.ProcessSuperPacket(forward.Frame, forward.Length, forward.Offload, 1, fabric.Br2.Now, fabric.Br2.Snapshot);
        fabric.Pump();

        Assert.Equal(fits ? (1L, 0L) : (0L, 1L), (fabric.Br2.Worker.Counters.SuperPackets, fabric.Br2.Worker.Counters.SuperPacketsCut));
        if (fits)
        {
            AssertSegments([.. fabric.Db1.Received.Skip(dbBefore)], Fin1, Db1, ClientPort, DbPort, 121, payload, segmentSize);
            Assert.Equal(0, fabric.Br2.Worker.Counters.Dropped);
        }
        else
        {
            Assert.Equal(dbBefore, fabric.Db1.Received.Count);
            Assert.Equal(3, SvrFabric.Drops(fabric.Br2, DropReason.TooBig));
        }
    }

    /// <summary>The lab fabric with super-packet ports, br2 and dc1 sharing keys, fin1's encrypted session to db1 open and one exchange of data done.</summary>
    private static SvrFabric Established()
    {
        var fabric = new SvrFabric(superPackets: true);
        fabric.ShareKeys(fabric.Br2, fabric.Dc1, epoch: 1);
        fabric.Fin1.SendTcp(Db, ClientPort, DbPort, TcpFlags.Syn, 100, 0, []);
        fabric.Pump();
        fabric.Fin1.SendTcp(Db, ClientPort, DbPort, TcpFlags.Ack, 101, 5001, []);
        fabric.Pump();
        fabric.Fin1.SendTcp(Db, ClientPort, DbPort, TcpFlags.Ack | TcpFlags.Psh, 101, 5001, "SELECT 1 FROM payments"u8[..20].ToArray());
        fabric.Pump();
        Assert.Equal(2, fabric.Fin1.Received.Count);
        Assert.True(SvrFabric.OnlySession(fabric.Dc1).Sealed);
        Assert.Equal((0L, 0L), (fabric.Br2.Worker.Counters.Dropped, fabric.Dc1.Worker.Counters.Dropped));
        return fabric;
    }

    /// <summary>
    /// A TCP super-packet as a sending host's stack hands it to its device, in a buffer of super-packet size: one header,
    /// the whole payload, the checksum field holding only the pseudo-header sum, and the offload saying where to cut and sum.
    /// </summary>
    private static (byte[] Frame, int Length, SegmentationOffload Offload) SuperPacket(
        uint source, uint destination, ushort sourcePort, ushort destinationPort, uint sequence, uint acknowledgment, byte[] payload,
        MacAddress router, MacAddress host, int segmentSize)
    {
        var ip = Packets.Tcp(source, destination, sourcePort, destinationPort, TcpFlags.Ack | TcpFlags.Psh, sequence, acknowledgment, payload);
        var frame = new byte[PacketBuffer.SuperPacketCapacity];
        new EthernetHeader(router, host, EtherType.Ipv4).Emit(frame);
        ip.CopyTo(frame, Ethernet);
        var pseudo = Checksum.PseudoHeaderIpv4(source, destination, IpProtocol.Tcp, ip.Length - 20);
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(Ethernet + 20 + 16), (ushort)~Checksum.Finish(pseudo));
        var offload = new SegmentationOffload
        {
            Kind = SuperPacketKind.TcpV4,
            SegmentSize = (ushort)segmentSize,
            HeaderLength = Ethernet + 20 + 20,
            ChecksumPartial = true,
            ChecksumStart = Ethernet + 20,
            ChecksumOffset = 16,
        };
        return (frame, Ethernet + ip.Length, offload);
    }

    /// <summary>Segments as the receiving host sees them: valid checksums, its tuple, sequence numbers in order, the payload whole and in clear.</summary>
    private static void AssertSegments(
        List<byte[]> segments, uint source, uint destination, ushort sourcePort, ushort destinationPort, uint sequence, byte[] payload, int segmentSize = 1200)
    {
        Assert.Equal((payload.Length + segmentSize - 1) / segmentSize, segments.Count);
        var offset = 0;
        foreach (var segment in segments)
        {
            Assert.True(Packets.ChecksumsValid(segment));
            Assert.True(Ipv4Packet.TryCreate(segment, out var v4));
            Assert.Equal((source, destination), (v4.Source, v4.Destination));
            Assert.True(TcpSegment.TryCreate(v4.Payload, out var tcp));
            Assert.Equal((sourcePort, destinationPort, sequence + (uint)offset), (tcp.SourcePort, tcp.DestinationPort, tcp.SequenceNumber));
            Assert.Equal(payload.AsSpan(offset, tcp.Payload.Length).ToArray(), tcp.Payload.ToArray());
            offset += tcp.Payload.Length;
        }

        Assert.Equal(payload.Length, offset);
    }

    private static bool IsIpv4(byte[] frame) => EthernetFrame.TryCreate(frame, out var ethernet) && ethernet.EtherType == EtherType.Ipv4;

    private static byte[] Ip(byte[] frame)
    {
        EthernetFrame.TryCreate(frame, out var ethernet);
        Ipv4Packet.TryCreate(ethernet.Payload, out var ip);
        return ethernet.Payload[..ip.TotalLength].ToArray();
    }

    private static byte[] Payload(int length)
    {
        var payload = new byte[length];
        for (var i = 0; i < length; i++)
        {
            payload[i] = (byte)((i * 7) + (i >> 8) + 1);
        }

        return payload;
    }
}
