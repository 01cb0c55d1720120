using System.Buffers.Binary;
using Fabric.Bench;
using Fabric.Dataplane.Io;
using Fabric.Dataplane.Routing;
using Fabric.Dataplane.Svr;
using Fabric.Dataplane.Wire;
using Fabric.Tests.Dataplane.Routing;
using Fabric.Tests.Support;

namespace Fabric.Tests.Dataplane.Svr.Routers;

/// <summary>
/// Super-packets of a session whose family changes between its endpoints and the WAN go through whole: an IPv6 session
/// over the IPv4 WAN (<see cref="SvrFabric.DualStack"/>) and an IPv4 one over the IPv6 WAN (<see cref="SvrFabric.Ipv6Wan"/>),
/// both directions, TCP (GSO TCPV4/TCPV6, which follows the family) and UDP (GSO UDP_L4, as a QUIC stack sends web's
/// HTTP/3 on 443, which does not). br1 and dc1 take super-packets on their WAN ports, eng1's port and the service LAN
/// (<see cref="OffloadPort"/>); the test hands a super-packet from one router to the next whole, as a veth does, and
/// cuts what leaves the fabric as the kernel would (<see cref="OffloadPort.Segment"/>), so the offload descriptor each
/// router wrote is what is checked.
/// </summary>
[Collection(AllocationMeasurement.Name)]
public sealed class SvrFamilySuperPacketTests
{
    private const int Ethernet = 14;
    private const ushort ClientPort = 40000;
    private const ushort Http3 = 443;
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
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    [InlineData(true, true)]
    public void SessionChangingFamily_SuperPacketsBothWays_AllocateNothing(bool ipv6Wan, bool udp)
    {
        using var fabric = Established(ipv6Wan, out var instance, udp);
        var sessionIpv6 = !ipv6Wan;
        var client = sessionIpv6 ? Eng1V6 : Eng1V4;
        var web = sessionIpv6 ? WebV6 : WebV4;
        var forward = udp
            ? UdpSuperPacket(sessionIpv6, client, web, ClientPort, Http3, Payload(4 * SegmentSize), fabric.Br1.Ports[1].Mac, fabric.Eng1.Mac)
            : SuperPacket(sessionIpv6, client, web, ClientPort, 80, 1101, 5001, Payload(4 * SegmentSize), fabric.Br1.Ports[1].Mac);
        var reverse = udp
            ? UdpSuperPacket(sessionIpv6, instance, client, Http3, ClientPort, Payload(4 * SegmentSize), fabric.Dc1.Ports[1].Mac, Server(fabric, instance).Mac)
            : SuperPacket(sessionIpv6, instance, client, 80, ClientPort, 9001, 1101, Payload(4 * SegmentSize), fabric.Dc1.Ports[1].Mac);
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
    /// A UDP super-packet is many datagrams sharing one header: whole across each router, its IP header replaced once, it
    /// leaves as UDP_L4 (segmentation type of either family) with the header length and partial checksum of the family it
    /// now has, and every datagram the kernel cuts from it arrives with its own boundaries, lengths and a valid checksum.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void UdpSessionChangingFamily_SuperPacketsBothWays_CrossWholeAndEveryDatagramArrivesIntact(bool ipv6Wan)
    {
        using var fabric = Established(ipv6Wan, out var instance, udp: true);
        var sessionIpv6 = !ipv6Wan;
        var client = sessionIpv6 ? Eng1V6 : Eng1V4;
        var payload = Payload((3 * SegmentSize) + 700);

        // eng1 → web: whole into br1, whole across the WAN in the WAN's family, whole out of dc1 to the instance.
        var fromClient = UdpSuperPacket(sessionIpv6, client, sessionIpv6 ? WebV6 : WebV4, ClientPort, Http3, payload, fabric.Br1.Ports[1].Mac, fabric.Eng1.Mac);
        var onWan = Forward(fabric.Br1, port: 1, fromClient, fabric.Offloads["br1/wan0"]);
        AssertWhole(onWan, ipv6Wan, fabric.Offloads["br1/wan0"].LastOffload, udp: true);
        var wanDatagrams = OffloadPort.Segment(onWan.Frame, onWan.Offload);
        Assert.Equal(4, wanDatagrams.Count);
        Assert.All(wanDatagrams, datagram => Assert.True(ipv6Wan ? Packets.ChecksumsValid6(datagram) : Packets.ChecksumsValid(datagram)));
        Assert.Equal(payload, Joined(wanDatagrams, ipv6Wan, UdpDatagram.HeaderLength));
        if (!ipv6Wan)
        {
            Assert.All(wanDatagrams, datagram => Assert.True(Ipv4Packet.TryCreate(datagram, out var v4) && v4.DontFragment));
        }

        var toInstance = Forward(fabric.Dc1, port: 0, onWan, fabric.Offloads["dc1/svc"]);
        AssertWhole(toInstance, sessionIpv6, fabric.Offloads["dc1/svc"].LastOffload, udp: true);
        AssertDatagrams(OffloadPort.Segment(toInstance.Frame, toInstance.Offload), sessionIpv6, client, instance, ClientPort, Http3, payload);

        // web → eng1: the instance's answer, whole the other way.
        var answer = Payload((2 * SegmentSize) + 11);
        var fromInstance = UdpSuperPacket(sessionIpv6, instance, client, Http3, ClientPort, answer, fabric.Dc1.Ports[1].Mac, Server(fabric, instance).Mac);
        var back = Forward(fabric.Dc1, port: 1, fromInstance, fabric.Offloads["dc1/wan0"]);
        AssertWhole(back, ipv6Wan, fabric.Offloads["dc1/wan0"].LastOffload, udp: true);
        var toClient = Forward(fabric.Br1, port: 0, back, fabric.Offloads["br1/eng1"]);
        AssertWhole(toClient, sessionIpv6, fabric.Offloads["br1/eng1"].LastOffload, udp: true);
        AssertDatagrams(
            OffloadPort.Segment(toClient.Frame, toClient.Offload), sessionIpv6, sessionIpv6 ? WebV6 : WebV4, client, Http3, ClientPort, answer);

        foreach (var router in new[] { fabric.Br1, fabric.Dc1 })
        {
            Assert.Equal((2L, 0L, 0L), (router.Worker.Counters.SuperPackets, router.Worker.Counters.SuperPacketsCut, router.Worker.Counters.Dropped));
        }
    }

    /// <summary>
    /// A datagram past the first whose payload begins like a metadata block (the SVR cookie) must not cross inside a
    /// super-packet: the device cutting it repeats only the headers, so the far router would read that datagram as
    /// carrying metadata. Each router cuts such a super-packet and sends the datagrams one by one (that one behind a bare
    /// block, stripped at the far end): every datagram reaches the instance intact, every echo of them reaches eng1, and
    /// so does every datagram of such a super-packet the instance sends.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void UdpSessionChangingFamily_LaterDatagramBeginningLikeMetadata_CutAndEveryDatagramArrivesIntact(bool ipv6Wan)
    {
        using var fabric = Established(ipv6Wan, out var instance, udp: true);
        var sessionIpv6 = !ipv6Wan;
        var client = sessionIpv6 ? Eng1V6 : Eng1V4;
        var server = Server(fabric, instance);
        var atServer = sessionIpv6 ? server.Received6 : server.Received;
        var atClient = sessionIpv6 ? fabric.Eng1.Received6 : fabric.Eng1.Received;
        var (serverBefore, clientBefore) = (atServer.Count, atClient.Count);
        var payload = Payload(4 * SegmentSize);
        BinaryPrimitives.WriteUInt64BigEndian(payload.AsSpan(SegmentSize), MetadataBlock.Cookie);
        var fromClient = UdpSuperPacket(sessionIpv6, client, sessionIpv6 ? WebV6 : WebV4, ClientPort, Http3, payload, fabric.Br1.Ports[1].Mac, fabric.Eng1.Mac);
        var fromInstance = UdpSuperPacket(sessionIpv6, instance, client, Http3, ClientPort, payload, fabric.Dc1.Ports[1].Mac, server.Mac);
        var buffer = new byte[PacketBuffer.SuperPacketCapacity];
        fromClient.Frame.CopyTo(buffer, 0);
        var sentWhole = (fabric.Offloads["br1/wan0"].SentWhole, fabric.Offloads["dc1/wan0"].SentWhole);

        fabric.Br1.Worker.ProcessSuperPacket(buffer, fromClient.Frame.Length, fromClient.Offload, 1, fabric.Br1.Now, fabric.Br1.Snapshot);
        fabric.Pump();

        Assert.Equal((0L, 1L), (fabric.Br1.Worker.Counters.SuperPackets, fabric.Br1.Worker.Counters.SuperPacketsCut));
        AssertDatagrams([.. atServer.Skip(serverBefore)], sessionIpv6, client, instance, ClientPort, Http3, payload);
        AssertDatagrams([.. atClient.Skip(clientBefore)], sessionIpv6, sessionIpv6 ? WebV6 : WebV4, client, Http3, ClientPort, payload);

        // The instance's own super-packet of the same datagrams, the other way.
        clientBefore = atClient.Count;
        fromInstance.Frame.CopyTo(buffer, 0);
        fabric.Dc1.Worker.ProcessSuperPacket(buffer, fromInstance.Frame.Length, fromInstance.Offload, 1, fabric.Dc1.Now, fabric.Dc1.Snapshot);
        fabric.Pump();

        Assert.Equal((0L, 1L), (fabric.Dc1.Worker.Counters.SuperPackets, fabric.Dc1.Worker.Counters.SuperPacketsCut));
        AssertDatagrams([.. atClient.Skip(clientBefore)], sessionIpv6, sessionIpv6 ? WebV6 : WebV4, client, Http3, ClientPort, payload);
        Assert.Equal(sentWhole, (fabric.Offloads["br1/wan0"].SentWhole, fabric.Offloads["dc1/wan0"].SentWhole));
        Assert.Equal((0L, 0L), (fabric.Br1.Worker.Counters.Dropped, fabric.Dc1.Worker.Counters.Dropped));
    }

    /// <summary>
    /// The lab fabric with super-packet ports (web on UDP 443 as well) and eng1's TCP session to web open (handshake and
    /// one exchange of data), or with <paramref name="udp"/> its UDP session to web's 443 (two datagrams each way, echoed),
    /// so neither direction carries metadata any more: IPv6 over the IPv4 WAN, or IPv4 over the IPv6 WAN.
    /// </summary>
    private static SvrFabric Established(bool ipv6Wan, out UInt128 instance, bool udp = false)
    {
        var fabric = new SvrFabric(
            text =>
            {
                var dualStack = SvrFabric.DualStack(text).Replace(
                    "transports = [{ protocol = tcp, ports = [\"80\"] }]",
                    "transports = [{ protocol = tcp, ports = [\"80\"] }, { protocol = udp, ports = [\"443\"] }]",
                    StringComparison.Ordinal);
                return ipv6Wan ? SvrFabric.Ipv6Wan(dualStack) : dualStack;
            },
            superPackets: true);
        if (udp)
        {
            for (var i = 0; i < 2; i++)
            {
                if (ipv6Wan)
                {
                    fabric.Eng1.SendUdp("10.200.0.80", ClientPort, Http3, new byte[1000]);
                }
                else
                {
                    fabric.Eng1.SendIpv6(fabric.Br1.Ports[1].Mac, Packets.Udp6(Eng1V6, WebV6, ClientPort, Http3, new byte[1000]));
                }

                fabric.Pump();
            }

            var received = (TestHost host) => ipv6Wan ? host.Received.Count : host.Received6.Count;
            var server = received(fabric.Web1) > 0 ? fabric.Web1 : fabric.Web2;
            Assert.Equal((2, 2), (received(server), received(fabric.Eng1)));
            instance = ipv6Wan ? server.Address : server.Address6!.Value;
        }
        else if (ipv6Wan)
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

    /// <summary>The web instance whose address, of either family, is <paramref name="instance"/>.</summary>
    private static TestHost Server(SvrFabric fabric, UInt128 instance) =>
        fabric.Web1.Address == instance || fabric.Web1.Address6 == instance ? fabric.Web1 : fabric.Web2;

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

    /// <summary>
    /// A UDP super-packet as a sending host's stack hands it to its device (UDP_SEGMENT): one header whose length is the
    /// whole datagram train's, the payload of every datagram back to back, the checksum field holding only the
    /// pseudo-header sum, and the offload saying where to cut and sum. It comes from <paramref name="host"/>'s MAC, so the
    /// router's neighbor entry for the host stays right and the answers reach it.
    /// </summary>
    private static (byte[] Frame, SegmentationOffload Offload) UdpSuperPacket(
        bool ipv6, UInt128 source, UInt128 destination, ushort sourcePort, ushort destinationPort, byte[] payload, MacAddress router, MacAddress host)
    {
        var ip = ipv6
            ? Packets.Udp6(source, destination, sourcePort, destinationPort, payload)
            : Packets.Udp((uint)source, (uint)destination, sourcePort, destinationPort, payload);
        var ipHeader = ipv6 ? 40 : 20;
        var frame = new byte[Ethernet + ip.Length];
        new EthernetHeader(router, host, ipv6 ? EtherType.Ipv6 : EtherType.Ipv4).Emit(frame);
        ip.CopyTo(frame, Ethernet);
        var transportLength = ip.Length - ipHeader;
        var pseudo = ipv6
            ? Checksum.PseudoHeaderIpv6(source, destination, IpProtocol.Udp, transportLength)
            : Checksum.PseudoHeaderIpv4((uint)source, (uint)destination, IpProtocol.Udp, transportLength);
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(Ethernet + ipHeader + UdpDatagram.ChecksumOffset), (ushort)~Checksum.Finish(pseudo));
        var offload = new SegmentationOffload
        {
            Kind = SuperPacketKind.UdpL4,
            SegmentSize = SegmentSize,
            HeaderLength = (ushort)(Ethernet + ipHeader + UdpDatagram.HeaderLength),
            ChecksumPartial = true,
            ChecksumStart = (ushort)(Ethernet + ipHeader),
            ChecksumOffset = UdpDatagram.ChecksumOffset,
        };
        return (frame, offload);
    }

    /// <summary>
    /// A super-packet sent whole in <paramref name="ipv6"/>'s family, its offload matching its headers: a TCP one of that
    /// family's segmentation type, a UDP one (<paramref name="udp"/>) UDP_L4 whatever its family.
    /// </summary>
    private static void AssertWhole((byte[] Frame, SegmentationOffload Offload) sent, bool ipv6, SegmentationOffload recorded, bool udp = false)
    {
        var ipHeader = ipv6 ? 40 : 20;
        var (kind, transportHeader, checksumOffset) = udp
            ? (SuperPacketKind.UdpL4, UdpDatagram.HeaderLength, UdpDatagram.ChecksumOffset)
            : (ipv6 ? SuperPacketKind.TcpV6 : SuperPacketKind.TcpV4, 20, 16);
        Assert.Equal(ipv6 ? EtherType.Ipv6 : EtherType.Ipv4, BinaryPrimitives.ReadUInt16BigEndian(sent.Frame.AsSpan(12)));
        Assert.Equal(kind, recorded.Kind);
        Assert.Equal(
            ((ushort)SegmentSize, (ushort)(Ethernet + ipHeader + transportHeader), true, (ushort)(Ethernet + ipHeader), (ushort)checksumOffset),
            (recorded.SegmentSize, recorded.HeaderLength, recorded.ChecksumPartial, recorded.ChecksumStart, recorded.ChecksumOffset));
    }

    /// <summary>
    /// Datagrams as the receiving host sees them: valid checksums, its tuple, one datagram per segment of
    /// <paramref name="payload"/> in order, each with its own length.
    /// </summary>
    private static void AssertDatagrams(
        List<byte[]> datagrams, bool ipv6, UInt128 source, UInt128 destination, ushort sourcePort, ushort destinationPort, byte[] payload)
    {
        Assert.Equal((payload.Length + SegmentSize - 1) / SegmentSize, datagrams.Count);
        for (var i = 0; i < datagrams.Count; i++)
        {
            Span<byte> udpBytes;
            if (ipv6)
            {
                Assert.True(Packets.ChecksumsValid6(datagrams[i]));
                Assert.True(Ipv6Packet.TryCreate(datagrams[i], out var v6));
                Assert.Equal((source, destination, (byte)62), (v6.Source, v6.Destination, v6.HopLimit));
                udpBytes = v6.UpperLayer;
            }
            else
            {
                Assert.True(Packets.ChecksumsValid(datagrams[i]));
                Assert.True(Ipv4Packet.TryCreate(datagrams[i], out var v4));
                Assert.Equal((source, destination, (byte)62), ((UInt128)v4.Source, (UInt128)v4.Destination, v4.Ttl));
                udpBytes = v4.Payload;
            }

            Assert.True(UdpDatagram.TryCreate(udpBytes, out var udp));
            Assert.NotEqual(0, udp.Checksum);
            var expected = payload.AsSpan(i * SegmentSize, Math.Min(SegmentSize, payload.Length - (i * SegmentSize)));
            Assert.Equal((sourcePort, destinationPort, UdpDatagram.HeaderLength + expected.Length), (udp.SourcePort, udp.DestinationPort, (int)udp.Length));
            Assert.Equal(expected.ToArray(), udp.Payload.ToArray());
        }
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

    private static byte[] Joined(List<byte[]> segments, bool ipv6, int transportHeader = 20)
    {
        var joined = new List<byte>();
        foreach (var segment in segments)
        {
            joined.AddRange(segment.AsSpan((ipv6 ? 40 : 20) + transportHeader).ToArray());
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
