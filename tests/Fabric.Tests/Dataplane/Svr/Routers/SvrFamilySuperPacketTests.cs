using System.Buffers.Binary;
using Fabric.Bench;
using Fabric.Dataplane.Io;
using Fabric.Dataplane.Routing;
using Fabric.Dataplane.Wire;
using Fabric.Tests.Dataplane.Routing;
using Fabric.Tests.Support;

namespace Fabric.Tests.Dataplane.Svr.Routers;

/// <summary>
/// Super-packets of a session whose family changes between its endpoints and the WAN go through whole: an IPv6 session
/// over the IPv4 WAN (<see cref="SvrFabric.DualStack"/>) and an IPv4 one over the IPv6 WAN (<see cref="SvrFabric.Ipv6Wan"/>),
/// both directions. br1 and dc1 take super-packets on their WAN ports, eng1's port and the service LAN
/// (<see cref="OffloadPort"/>); the test hands a super-packet from one router to the next whole, as a veth does, and
/// cuts what leaves the fabric as the kernel would (<see cref="OffloadPort.Segment"/>), so the offload descriptor each
/// router wrote is what is checked.
/// </summary>
[Collection(AllocationMeasurement.Name)]
public sealed class SvrFamilySuperPacketTests
{
    private const int Ethernet = 14;
    private const ushort ClientPort = 40000;
    private const int SegmentSize = 1200;
    private static readonly UInt128 Eng1V6 = IpAddressConversions.ParseIpv6("fd00:20:1::10");
    private static readonly UInt128 WebV6 = IpAddressConversions.ParseIpv6("fd00:200::80");
    private static readonly UInt128 Eng1V4 = IpAddressConversions.ParseIpv4("10.20.1.10");
    private static readonly UInt128 WebV4 = IpAddressConversions.ParseIpv4("10.200.0.80");

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void SessionChangingFamily_SuperPacketsBothWays_CrossWholeAndArriveAsValidSegments(bool ipv6Wan)
    {
        using var fabric = Established(ipv6Wan, out var instance);
        var sessionIpv6 = !ipv6Wan;
        var payload = Payload((3 * SegmentSize) + 700);

        // eng1 → web: whole into br1, whole across the WAN in the WAN's family, whole out of dc1 to the instance.
        var fromClient = SuperPacket(sessionIpv6, sessionIpv6 ? Eng1V6 : Eng1V4, sessionIpv6 ? WebV6 : WebV4, ClientPort, 80, 1101, 5001, payload, fabric.Br1.Ports[1].Mac);
        var onWan = Forward(fabric.Br1, port: 1, fromClient, fabric.Offloads["br1/wan0"]);
        AssertWhole(onWan, ipv6Wan, fabric.Offloads["br1/wan0"].LastOffload);
        var wanSegments = OffloadPort.Segment(onWan.Frame, onWan.Offload);
        Assert.Equal(4, wanSegments.Count);
        Assert.All(wanSegments, segment => Assert.True(ipv6Wan ? Packets.ChecksumsValid6(segment) : Packets.ChecksumsValid(segment)));
        Assert.Equal(payload, Joined(wanSegments, ipv6Wan));
        if (!ipv6Wan)
        {
            // IPv4 segments of an IPv6 session: don't-fragment, as the packet-by-packet path sends them.
            Assert.All(wanSegments, segment => Assert.True(Ipv4Packet.TryCreate(segment, out var v4) && v4.DontFragment));
        }

        var toInstance = Forward(fabric.Dc1, port: 0, onWan, fabric.Offloads["dc1/svc"]);
        AssertWhole(toInstance, sessionIpv6, fabric.Offloads["dc1/svc"].LastOffload);
        var delivered = OffloadPort.Segment(toInstance.Frame, toInstance.Offload);
        AssertSegments(delivered, sessionIpv6, sessionIpv6 ? Eng1V6 : Eng1V4, instance, ClientPort, 80, 1101, payload);

        // web → eng1: the instance's answer, whole the other way.
        var answer = Payload((2 * SegmentSize) + 11);
        var fromInstance = SuperPacket(sessionIpv6, instance, sessionIpv6 ? Eng1V6 : Eng1V4, 80, ClientPort, 9001, 1101 + (uint)payload.Length, answer, fabric.Dc1.Ports[1].Mac);
        var back = Forward(fabric.Dc1, port: 1, fromInstance, fabric.Offloads["dc1/wan0"]);
        AssertWhole(back, ipv6Wan, fabric.Offloads["dc1/wan0"].LastOffload);
        var toClient = Forward(fabric.Br1, port: 0, back, fabric.Offloads["br1/eng1"]);
        AssertWhole(toClient, sessionIpv6, fabric.Offloads["br1/eng1"].LastOffload);
        AssertSegments(
            OffloadPort.Segment(toClient.Frame, toClient.Offload), sessionIpv6, sessionIpv6 ? WebV6 : WebV4, sessionIpv6 ? Eng1V6 : Eng1V4, 80, ClientPort, 9001, answer);

        foreach (var router in new[] { fabric.Br1, fabric.Dc1 })
        {
            Assert.Equal((2L, 0L, 0L), (router.Worker.Counters.SuperPackets, router.Worker.Counters.SuperPacketsCut, router.Worker.Counters.Dropped));
        }
    }

    [Fact]
    public void Ipv4SessionOverIpv6Wan_SegmentsOnlyFittingAsIpv4_CutNotSentWhole()
    {
        using var fabric = Established(ipv6Wan: true, out _);
        // 1460 octets of payload fill a 1500-octet IPv4 packet; as IPv6 each would be 20 octets too long for the WAN.
        var fromClient = SuperPacket(false, Eng1V4, WebV4, ClientPort, 80, 1101, 5001, Payload(3 * 1460), fabric.Br1.Ports[1].Mac, segmentSize: 1460);
        var sentBefore = fabric.Offloads["br1/wan0"].SentWhole;

        fabric.Br1.Worker.ProcessSuperPacket(fromClient.Frame, fromClient.Frame.Length, fromClient.Offload, 1, fabric.Br1.Now, fabric.Br1.Snapshot);

        Assert.Equal((0L, 1L), (fabric.Br1.Worker.Counters.SuperPackets, fabric.Br1.Worker.Counters.SuperPacketsCut));
        Assert.Equal(sentBefore, fabric.Offloads["br1/wan0"].SentWhole);
        Assert.Equal(3, SvrFabric.Drops(fabric.Br1, Fabric.Dataplane.Pipeline.DropReason.TooBig));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void SessionChangingFamily_SuperPacketsBothWays_AllocateNothing(bool ipv6Wan)
    {
        using var fabric = Established(ipv6Wan, out var instance);
        var sessionIpv6 = !ipv6Wan;
        var forward = SuperPacket(sessionIpv6, sessionIpv6 ? Eng1V6 : Eng1V4, sessionIpv6 ? WebV6 : WebV4, ClientPort, 80, 1101, 5001, Payload(4 * SegmentSize), fabric.Br1.Ports[1].Mac);
        var reverse = SuperPacket(sessionIpv6, instance, sessionIpv6 ? Eng1V6 : Eng1V4, 80, ClientPort, 9001, 1101, Payload(4 * SegmentSize), fabric.Dc1.Ports[1].Mac);
        var work = new byte[PacketBuffer.SuperPacketCapacity];
        var br1Wan = fabric.Offloads["br1/wan0"];
        var dc1Wan = fabric.Offloads["dc1/wan0"];
        RoundTrip(fabric, forward, reverse, work, br1Wan, dc1Wan);

        var allocated = ThreadAllocations.During(() =>
        {
            for (var i = 0; i < 100; i++)
            {
                RoundTrip(fabric, forward, reverse, work, br1Wan, dc1Wan);
            }
        });

        Assert.Equal(0, allocated);
        Assert.Equal((202L, 0L), (fabric.Br1.Worker.Counters.SuperPackets, fabric.Br1.Worker.Counters.SuperPacketsCut));
        Assert.Equal((202L, 0L), (fabric.Dc1.Worker.Counters.SuperPackets, fabric.Dc1.Worker.Counters.SuperPacketsCut));
        Assert.Equal(101, fabric.Offloads["dc1/svc"].SentWhole);
        Assert.Equal(101, fabric.Offloads["br1/eng1"].SentWhole);
    }

    /// <summary>
    /// The lab fabric with super-packet ports and eng1's TCP session to web open (handshake and one exchange of data, so
    /// neither direction carries metadata any more): IPv6 over the IPv4 WAN, or IPv4 over the IPv6 WAN.
    /// </summary>
    private static SvrFabric Established(bool ipv6Wan, out UInt128 instance)
    {
        var fabric = new SvrFabric(ipv6Wan ? text => SvrFabric.Ipv6Wan(SvrFabric.DualStack(text)) : SvrFabric.DualStack, superPackets: true);
        if (ipv6Wan)
        {
            fabric.Eng1.SendTcp("10.200.0.80", ClientPort, 80, TcpFlags.Syn, 100, 0, []);
            fabric.Pump();
            fabric.Eng1.SendTcp("10.200.0.80", ClientPort, 80, TcpFlags.Ack | TcpFlags.Psh, 101, 5001, new byte[1000]);
            fabric.Pump();
            var server = fabric.Web1.Received.Count > 0 ? fabric.Web1 : fabric.Web2;
            Assert.Equal(2, server.Received.Count);
            instance = server.Address;
        }
        else
        {
            fabric.Eng1.SendIpv6(fabric.Br1.Ports[1].Mac, Packets.Tcp6(Eng1V6, WebV6, ClientPort, 80, TcpFlags.Syn, 100, 0, []));
            fabric.Pump();
            fabric.Eng1.SendIpv6(fabric.Br1.Ports[1].Mac, Packets.Tcp6(Eng1V6, WebV6, ClientPort, 80, TcpFlags.Ack | TcpFlags.Psh, 101, 5001, new byte[1000]));
            fabric.Pump();
            var server = fabric.Web1.Received6.Count > 0 ? fabric.Web1 : fabric.Web2;
            Assert.Equal(2, server.Received6.Count);
            instance = server.Address6!.Value;
        }

        Assert.Equal(0, fabric.Br1.Worker.Counters.Dropped);
        Assert.Equal(0, fabric.Dc1.Worker.Counters.Dropped);
        return fabric;
    }

    /// <summary>Runs a super-packet through one router from <paramref name="port"/>; returns what it sent whole on <paramref name="egress"/>.</summary>
    private static (byte[] Frame, SegmentationOffload Offload) Forward(
        ForwardingEngine router, int port, (byte[] Frame, SegmentationOffload Offload) superPacket, OffloadPort egress)
    {
        var buffer = new byte[PacketBuffer.SuperPacketCapacity];
        superPacket.Frame.CopyTo(buffer, 0);
        var sentBefore = egress.SentWhole;
        var packets = router.Worker.ProcessSuperPacket(buffer, superPacket.Frame.Length, superPacket.Offload, port, router.Now, router.Snapshot);

        Assert.Equal((superPacket.Frame.Length - superPacket.Offload.HeaderLength + superPacket.Offload.SegmentSize - 1) / superPacket.Offload.SegmentSize, packets);
        Assert.Equal(sentBefore + 1, egress.SentWhole);
        return (egress.Last.ToArray(), egress.LastOffload);
    }

    private static void RoundTrip(
        SvrFabric fabric, (byte[] Frame, SegmentationOffload Offload) forward, (byte[] Frame, SegmentationOffload Offload) reverse, byte[] work,
        OffloadPort br1Wan, OffloadPort dc1Wan)
    {
        forward.Frame.CopyTo(work, 0);
        fabric.Br1.Worker.ProcessSuperPacket(work, forward.Frame.Length, forward.Offload, 1, fabric.Br1.Now, fabric.Br1.Snapshot);
        br1Wan.Last.CopyTo(work);
        fabric.Dc1.Worker.ProcessSuperPacket(work, br1Wan.LastLength, br1Wan.LastOffload, 0, fabric.Dc1.Now, fabric.Dc1.Snapshot);
        reverse.Frame.CopyTo(work, 0);
        fabric.Dc1.Worker.ProcessSuperPacket(work, reverse.Frame.Length, reverse.Offload, 1, fabric.Dc1.Now, fabric.Dc1.Snapshot);
        dc1Wan.Last.CopyTo(work);
        fabric.Br1.Worker.ProcessSuperPacket(work, dc1Wan.LastLength, dc1Wan.LastOffload, 0, fabric.Br1.Now, fabric.Br1.Snapshot);
    }

    /// <summary>
    /// A TCP super-packet as a sending host's stack hands it to its device: one header, the whole payload, the checksum
    /// field holding only the pseudo-header sum, and the offload saying where to cut and sum.
    /// </summary>
    private static (byte[] Frame, SegmentationOffload Offload) SuperPacket(
        bool ipv6, UInt128 source, UInt128 destination, ushort sourcePort, ushort destinationPort, uint sequence, uint acknowledgment, byte[] payload,
        MacAddress router, int segmentSize = SegmentSize)
    {
        var ip = ipv6
            ? Packets.Tcp6(source, destination, sourcePort, destinationPort, TcpFlags.Ack | TcpFlags.Psh, sequence, acknowledgment, payload)
            : Packets.Tcp((uint)source, (uint)destination, sourcePort, destinationPort, TcpFlags.Ack | TcpFlags.Psh, sequence, acknowledgment, payload);
        var ipHeader = ipv6 ? 40 : 20;
        var frame = new byte[Ethernet + ip.Length];
        new EthernetHeader(router, new MacAddress(0x02_00_00_00_0F_01), ipv6 ? EtherType.Ipv6 : EtherType.Ipv4).Emit(frame);
        ip.CopyTo(frame, Ethernet);
        var transportLength = ip.Length - ipHeader;
        var pseudo = ipv6
            ? Checksum.PseudoHeaderIpv6(source, destination, IpProtocol.Tcp, transportLength)
            : Checksum.PseudoHeaderIpv4((uint)source, (uint)destination, IpProtocol.Tcp, transportLength);
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(Ethernet + ipHeader + 16), (ushort)~Checksum.Finish(pseudo));
        var offload = new SegmentationOffload
        {
            Kind = ipv6 ? SuperPacketKind.TcpV6 : SuperPacketKind.TcpV4,
            SegmentSize = (ushort)segmentSize,
            HeaderLength = (ushort)(Ethernet + ipHeader + 20),
            ChecksumPartial = true,
            ChecksumStart = (ushort)(Ethernet + ipHeader),
            ChecksumOffset = 16,
        };
        return (frame, offload);
    }

    /// <summary>A super-packet sent whole in <paramref name="ipv6"/>'s family, its offload matching its headers.</summary>
    private static void AssertWhole((byte[] Frame, SegmentationOffload Offload) sent, bool ipv6, SegmentationOffload recorded)
    {
        var ipHeader = ipv6 ? 40 : 20;
        Assert.Equal(ipv6 ? EtherType.Ipv6 : EtherType.Ipv4, BinaryPrimitives.ReadUInt16BigEndian(sent.Frame.AsSpan(12)));
        Assert.Equal(ipv6 ? SuperPacketKind.TcpV6 : SuperPacketKind.TcpV4, recorded.Kind);
        Assert.Equal(
            ((ushort)SegmentSize, (ushort)(Ethernet + ipHeader + 20), true, (ushort)(Ethernet + ipHeader), (ushort)16),
            (recorded.SegmentSize, recorded.HeaderLength, recorded.ChecksumPartial, recorded.ChecksumStart, recorded.ChecksumOffset));
    }

    /// <summary>Segments as the receiving host sees them: valid checksums, its tuple, sequence numbers in order, the payload whole.</summary>
    private static void AssertSegments(
        List<byte[]> segments, bool ipv6, UInt128 source, UInt128 destination, ushort sourcePort, ushort destinationPort, uint sequence, byte[] payload)
    {
        Assert.Equal((payload.Length + SegmentSize - 1) / SegmentSize, segments.Count);
        var offset = 0;
        foreach (var segment in segments)
        {
            Span<byte> tcpBytes;
            if (ipv6)
            {
                Assert.True(Packets.ChecksumsValid6(segment));
                Assert.True(Ipv6Packet.TryCreate(segment, out var v6));
                Assert.Equal((source, destination, (byte)62), (v6.Source, v6.Destination, v6.HopLimit));
                tcpBytes = v6.UpperLayer;
            }
            else
            {
                Assert.True(Packets.ChecksumsValid(segment));
                Assert.True(Ipv4Packet.TryCreate(segment, out var v4));
                Assert.Equal((source, destination, (byte)62), ((UInt128)v4.Source, (UInt128)v4.Destination, v4.Ttl));
                tcpBytes = v4.Payload;
            }

            Assert.True(TcpSegment.TryCreate(tcpBytes, out var tcp));
            Assert.Equal((sourcePort, destinationPort, sequence + (uint)offset), (tcp.SourcePort, tcp.DestinationPort, tcp.SequenceNumber));
            Assert.Equal(payload.AsSpan(offset, tcp.Payload.Length).ToArray(), tcp.Payload.ToArray());
            offset += tcp.Payload.Length;
        }

        Assert.Equal(payload.Length, offset);
    }

    private static byte[] Joined(List<byte[]> segments, bool ipv6)
    {
        var joined = new List<byte>();
        foreach (var segment in segments)
        {
            joined.AddRange(segment.AsSpan((ipv6 ? 40 : 20) + 20).ToArray());
        }

        return [.. joined];
    }

    private static byte[] Payload(int length)
    {
        var payload = new byte[length];
        for (var i = 0; i < length; i++)
        {
            payload[i] = (byte)((i * 7) + (i >> 8));
        }

        return payload;
    }
}
