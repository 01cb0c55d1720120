using Fabric.Bench;
using Fabric.Benchmarks.Pipeline;
using Fabric.Dataplane.Io;
using Fabric.Dataplane.Pipeline;
using Fabric.Tests.Dataplane.Routing;
using Fabric.Dataplane.Wire;
using Fabric.Tests.Support;

namespace Fabric.Tests.Dataplane.Pipeline;

/// <summary>
/// The pipeline allocates nothing per packet: not for the first packet of a session (classification, admission,
/// load balancing, waypoints, metadata, sealing, insert) and not for the packets after it, on a local session
/// and on SVR sessions plain and encrypted, in both directions. Frames are handed from one router to the next
/// in memory (<see cref="PipelineRouters"/>, as the pipeline benchmarks), so nothing but the routers runs while
/// bytes are counted, and each window is counted inside a no-GC region (<see cref="ThreadAllocations.During"/>): a
/// collection another thread triggered once read as 7 768 bytes in a CI run (the allocation context it retired).
/// </summary>
[Collection(AllocationMeasurement.Name)]
public sealed class PacketWorkerAllocationTests : IDisposable
{
    private PipelineRouters _routers = new(sessions: 2048);

    [Fact]
    public void Process_LocalSessionFirstAndLaterPackets_AllocatesNothing()
    {
        Sessions(svr: false, PipelineRouters.Service, PipelineRouters.ServicePort, firstPort: 1000, count: 50);
        var (first, later) = Sessions(svr: false, PipelineRouters.Service, PipelineRouters.ServicePort, firstPort: 2000, count: 200);

        Assert.Equal(0, first);
        Assert.Equal(0, later);
        Assert.Equal(250, _routers.Datacenter.Worker.Counters.SessionsCreated);
        Assert.Equal(0, _routers.Dropped);
        var delivered = _routers.Delivered;
        Assert.Equal(250 * 6, delivered.Instances + delivered.LocalClient);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Process_SvrSessionFirstAndLaterPackets_AllocatesNothing(bool encrypted)
    {
        var service = encrypted ? PipelineRouters.SealedService : PipelineRouters.Service;
        var port = encrypted ? PipelineRouters.SealedServicePort : PipelineRouters.ServicePort;
        Sessions(svr: true, service, port, firstPort: 1000, count: 50);
        var (first, later) = Sessions(svr: true, service, port, firstPort: 2000, count: 200);

        Assert.Equal(0, first);
        Assert.Equal(0, later);
        Assert.Equal(250, _routers.Branch.Worker.Counters.SessionsCreated);
        Assert.Equal(250, _routers.Datacenter.Worker.Counters.SessionsCreated);
        Assert.Equal(0, _routers.Dropped);
        var delivered = _routers.Delivered;
        Assert.Equal(250 * 3, delivered.Instances);
        Assert.Equal(250 * 3, delivered.BranchClient);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Process_Ipv6SvrSessionOverIpv4Wan_FirstAndLaterPackets_AllocatesNothing(bool encrypted)
    {
        var service = encrypted ? PipelineRouters.SealedService6 : PipelineRouters.Service6;
        var port = encrypted ? PipelineRouters.SealedServicePort : PipelineRouters.ServicePort;
        Sessions(svr: true, service, port, firstPort: 1000, count: 50, ipv6: true);
        var (first, later) = Sessions(svr: true, service, port, firstPort: 2000, count: 200, ipv6: true);

        Assert.Equal(0, first);
        Assert.Equal(0, later);
        Assert.Equal(250, _routers.Datacenter.Worker.Counters.SessionsCreated);
        Assert.Equal(0, _routers.Dropped);
        var delivered = _routers.Delivered;
        Assert.Equal(250 * 3, delivered.Instances);
        Assert.Equal(250 * 3, delivered.BranchClient);
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public void Process_SvrSessionOverIpv6Wan_FirstAndLaterPackets_AllocatesNothing(bool ipv6Client, bool encrypted)
    {
        _routers.Dispose();
        _routers = new PipelineRouters(sessions: 2048, ipv6Wan: true);
        var service = (ipv6Client, encrypted) switch
        {
            (true, true) => PipelineRouters.SealedService6,
            (true, false) => PipelineRouters.Service6,
            (false, true) => PipelineRouters.SealedService,
            (false, false) => PipelineRouters.Service,
        };
        var port = encrypted ? PipelineRouters.SealedServicePort : PipelineRouters.ServicePort;
        Sessions(svr: true, service, port, firstPort: 1000, count: 50, ipv6: ipv6Client);
        var (first, later) = Sessions(svr: true, service, port, firstPort: 2000, count: 200, ipv6: ipv6Client);

        Assert.Equal(0, first);
        Assert.Equal(0, later);
        Assert.True(_routers.Branch.Snapshot.PeerPaths[0].IsIpv6);
        Assert.Equal(250, _routers.Datacenter.Worker.Counters.SessionsCreated);
        Assert.Equal(0, _routers.Dropped);
        var delivered = _routers.Delivered;
        Assert.Equal(250 * 3, delivered.Instances);
        Assert.Equal(250 * 3, delivered.BranchClient);
    }

    /// <summary>
    /// Pings across the routers that are of or over IPv6 (an ICMPv6 echo over the IPv4 and the IPv6 WAN, an IPv4 echo over
    /// the IPv6 WAN: wrapped in UDP under a header of the path's family, unwrapped with the ICMPv6 checksum adjusted)
    /// allocate nothing, for the first echo of a session and the ones after it, both ways.
    /// </summary>
    [Theory]
    [InlineData(true, false)]
    [InlineData(true, true)]
    [InlineData(false, true)]
    public void Process_PingAcrossRoutersOfOrOverIpv6_FirstAndLaterEchoes_AllocatesNothing(bool ipv6Client, bool ipv6Wan)
    {
        UseWan(ipv6Wan);

        AllowPings();
        Pings(ipv6Client, firstId: 1000, count: 50);
        var (first, later) = Pings(ipv6Client, firstId: 2000, count: 200);

        Assert.Equal(0, first);
        Assert.Equal(0, later);
        Assert.Equal(ipv6Wan, _routers.Branch.Snapshot.PeerPaths[0].IsIpv6);
        Assert.Equal(250, _routers.Datacenter.Worker.Counters.SessionsCreated);
        Assert.Equal(0, _routers.Dropped);
        var delivered = _routers.Delivered;
        Assert.Equal(250 * 3, delivered.Instances);
        Assert.Equal(250 * 3, delivered.BranchClient);
    }

    /// <summary>
    /// ICMP errors from an instance about the packets of sessions of or over IPv6 (a packet-too-big of an IPv6 session over
    /// the IPv4 WAN, translated to fragmentation-needed between the routers and back; the same over the IPv6 WAN; an IPv4
    /// fragmentation-needed over the IPv6 WAN, translated to packet-too-big and back) reach the branch client and allocate nothing.
    /// </summary>
    [Theory]
    [InlineData(true, false)]
    [InlineData(true, true)]
    [InlineData(false, true)]
    public void Process_IcmpErrorsAcrossRoutersOfOrOverIpv6_AllocatesNothing(bool ipv6Client, bool ipv6Wan)
    {
        UseWan(ipv6Wan);

        var service = ipv6Client ? PipelineRouters.Service6 : PipelineRouters.Service;
        UInt128 client = ipv6Client ? PipelineRouters.BranchClient6 : PipelineRouters.BranchClient;
        const int count = 200;
        Sessions(svr: true, service, PipelineRouters.ServicePort, firstPort: 1000, count, ipv6: ipv6Client);
        var errors = new byte[count][];
        for (var i = 0; i < count; i++)
        {
            var offending = Frame(ipv6Client, client, service, (ushort)(1000 + i), PipelineRouters.ServicePort, TcpFlags.Ack | TcpFlags.Psh, 1254);
            errors[i] = TooBigFrame(ipv6Client, service, offending[EthernetFrame.UntaggedHeaderLength..]);
        }

        AssertErrorsReachTheBranchClientAllocatingNothing(errors);
    }

    /// <summary>
    /// ICMP errors from the instance about the echo requests of ping sessions of either family over a WAN of either family
    /// (rebuilt about the UDP waypoint packet between the routers, about the client's own echo on the way to it) reach the
    /// branch client and allocate nothing.
    /// </summary>
    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    [InlineData(false, true)]
    public void Process_IcmpErrorsAboutPingsAcrossRouters_AllocatesNothing(bool ipv6Client, bool ipv6Wan)
    {
        UseWan(ipv6Wan);

        AllowPings();
        const int count = 200;
        Pings(ipv6Client, firstId: 1000, count);
        var service = ipv6Client ? PipelineRouters.Service6 : PipelineRouters.Service;
        UInt128 client = ipv6Client ? PipelineRouters.BranchClient6 : PipelineRouters.BranchClient;
        var errors = new byte[count][];
        for (var i = 0; i < count; i++)
        {
            var offending = EchoFrame(ipv6Client, client, service, request: true, (ushort)(1000 + i));
            errors[i] = TooBigFrame(ipv6Client, service, offending[EthernetFrame.UntaggedHeaderLength..]);
        }

        AssertErrorsReachTheBranchClientAllocatingNothing(errors);
    }

    [Fact]
    public void Revocation_EndingAndResettingLocalAndSvrSessions_AllocatesNothing()
    {
        Sessions(svr: false, PipelineRouters.Service, PipelineRouters.ServicePort, firstPort: 1000, count: 50);
        Sessions(svr: true, PipelineRouters.Service, PipelineRouters.ServicePort, firstPort: 2000, count: 50);
        _routers.Apply(
            text => text.Replace("tenants { clients {} }", "tenants { clients {}, others {} }", StringComparison.Ordinal)
                .Replace("access = [clients], instances = [{ container = sink1 }]", "access = [others], instances = [{ container = sink1 }]", StringComparison.Ordinal),
            version: 2);

        // Each router's first round with the new snapshot ends the sessions and sends their resets.
        var allocated = ThreadAllocations.During(() =>
        {
            _routers.Branch.RunOnce();
            _routers.Datacenter.RunOnce();
        });

        Assert.Equal(0, allocated);
        // dc: 50 local sessions (client and instance reset) and 50 SVR egress sessions (instance); br: 50 ingress (client).
        Assert.Equal((50L, 100L), (_routers.Branch.Worker.Counters.SessionsRevoked, _routers.Datacenter.Worker.Counters.SessionsRevoked));
        Assert.Equal((50L, 150L), (_routers.Branch.Worker.Counters.SessionResets, _routers.Datacenter.Worker.Counters.SessionResets));
    }

    [Fact]
    public void Process_OneWayUdpFlows_EgressAcknowledgesThenBareDatagrams_AllocatesNothing()
    {
        var time = new ManualTime();
        using var routers = new PipelineRouters(sessions: 256, time);
        var datagrams = new byte[200][];
        for (var i = 0; i < datagrams.Length; i++)
        {
            datagrams[i] = PipelineRouters.UdpFrame(PipelineRouters.BranchClient, PipelineRouters.Service, (ushort)(3000 + i), PipelineRouters.ServicePort, 64);
            routers.SvrForward(datagrams[i]);
        }

        // The reverse direction has been quiet: each flow's next datagram (with metadata) is acknowledged, the
        // acknowledgement crosses to br, and the datagram after it crosses bare.
        time.Advance(SvrStage.ResignalAfterQuiet);
        var allocated = ThreadAllocations.During(() =>
        {
            foreach (var datagram in datagrams)
            {
                routers.SvrForward(datagram);
                routers.WanToBranch();
                routers.SvrForward(datagram);
            }
        });
        Assert.Equal(0, allocated);
        Assert.Equal(200, routers.Datacenter.Worker.Counters.MetadataAcknowledgements);
        Assert.Equal(0, routers.Dropped);
        Assert.Equal(200 * 3, routers.Delivered.Instances);
        Assert.Equal(0, routers.Delivered.BranchClient);
    }

    /// <summary>
    /// A super-packet of an encrypted session goes through each router whole and leaves as segments each sealed on its
    /// own (cut into the worker's preallocated buffer, sealed in place, queued): nothing allocated per super-packet, either
    /// way, and the far router opens the last sealed segment of each and delivers it.
    /// </summary>
    [Fact]
    public void ProcessSuperPacket_EncryptedSessionBothWays_SealedSegmentsAllocateNothing()
    {
        var time = new ManualTime();
        using var routers = new PipelineRouters(sessions: 256, time);
        var (client, service, port) = (PipelineRouters.BranchClient, PipelineRouters.SealedService, PipelineRouters.SealedServicePort);
        routers.SvrForward(PipelineRouters.Frame(client, service, 40000, port, TcpFlags.Syn, 64));
        routers.SvrReverse(PipelineRouters.Frame(service, client, port, 40000, TcpFlags.Syn | TcpFlags.Ack, 64));
        for (var i = 0; i < 2; i++)
        {
            routers.SvrForward(PipelineRouters.Frame(client, service, 40000, port, TcpFlags.Ack | TcpFlags.Psh, 1254));
            routers.SvrReverse(PipelineRouters.Frame(service, client, port, 40000, TcpFlags.Ack | TcpFlags.Psh, 1254));
        }

        var forward = PipelineRouters.Frame(client, service, 40000, port, TcpFlags.Ack | TcpFlags.Psh, 14 + 40 + (4 * 1200));
        var reverse = PipelineRouters.Frame(service, client, port, 40000, TcpFlags.Ack | TcpFlags.Psh, 14 + 40 + (4 * 1200));
        var offload = new SegmentationOffload
        {
            Kind = SuperPacketKind.TcpV4, SegmentSize = 1200, HeaderLength = 14 + 40, ChecksumPartial = true, ChecksumStart = 14 + 20, ChecksumOffset = 16,
        };
        var delivered = routers.Delivered;
        routers.SvrForwardSuperPacket(forward, offload);
        routers.SvrReverseSuperPacket(reverse, offload);

        var allocated = ThreadAllocations.During(() =>
        {
            for (var i = 0; i < 100; i++)
            {
                routers.SvrForwardSuperPacket(forward, offload);
                routers.SvrReverseSuperPacket(reverse, offload);
            }
        });

        Assert.Equal(0, allocated);
        Assert.Equal((101L, 0L), (routers.Branch.Worker.Counters.SuperPackets, routers.Branch.Worker.Counters.SuperPacketsCut));
        Assert.Equal((101L, 0L), (routers.Datacenter.Worker.Counters.SuperPackets, routers.Datacenter.Worker.Counters.SuperPacketsCut));
        Assert.Equal(0, routers.Dropped);
        Assert.Equal((delivered.Instances + 101, delivered.BranchClient + 101), (routers.Delivered.Instances, routers.Delivered.BranchClient));
    }

    public void Dispose() => _routers.Dispose();

    /// <summary>Rebuilds the two routers with a WAN of IPv6 when <paramref name="ipv6Wan"/> (they start with an IPv4 one).</summary>
    private void UseWan(bool ipv6Wan)
    {
        if (ipv6Wan)
        {
            _routers.Dispose();
            _routers = new PipelineRouters(sessions: 2048, ipv6Wan: true);
        }
    }

    /// <summary>Commits version 2, in which the service also takes pings.</summary>
    private void AllowPings() => _routers.Apply(
        text => text.Replace("{ protocol = udp, ports = [\"5201\"] }]", "{ protocol = udp, ports = [\"5201\"] }, { protocol = icmp }]", StringComparison.Ordinal),
        version: 2);

    /// <summary>Sends each ICMP error from the service side and asserts that every one reached the branch client, none dropped, nothing allocated.</summary>
    private void AssertErrorsReachTheBranchClientAllocatingNothing(byte[][] errors)
    {
        var before = _routers.Delivered.BranchClient;
        var (_, allocated) = ThreadAllocations.During(() =>
        {
            foreach (var error in errors)
            {
                _routers.SvrReverse(error);
            }

            return 0;
        });

        Assert.Equal(0, allocated);
        Assert.Equal(0, _routers.Dropped);
        Assert.Equal(errors.Length, _routers.Delivered.BranchClient - before);
    }

    /// <summary>
    /// Opens <paramref name="count"/> TCP sessions (SYN, SYN-ACK: the first packet each way), then sends two data
    /// segments each way on each. Returns the bytes this thread allocated for the first packets and for the later ones.
    /// </summary>
    /// <remarks>With <paramref name="ipv6"/> the sessions are the branch client's IPv6 ones (<paramref name="service"/> an IPv6 address).</remarks>
    private (long First, long Later) Sessions(bool svr, UInt128 service, ushort port, int firstPort, int count, bool ipv6 = false)
    {
        UInt128 client = ipv6 ? PipelineRouters.BranchClient6 : svr ? PipelineRouters.BranchClient : PipelineRouters.LocalClient;
        var opens = ipv6 ? 74 : 64;
        var opening = new (byte[] Forward, byte[] Reverse)[count];
        var data = new (byte[] Forward, byte[] Reverse)[count];
        for (var i = 0; i < count; i++)
        {
            var clientPort = (ushort)(firstPort + i);
            opening[i] = (
                Frame(ipv6, client, service, clientPort, port, TcpFlags.Syn, opens),
                Frame(ipv6, service, client, port, clientPort, TcpFlags.Syn | TcpFlags.Ack, opens));
            data[i] = (
                Frame(ipv6, client, service, clientPort, port, TcpFlags.Ack | TcpFlags.Psh, 1254),
                Frame(ipv6, service, client, port, clientPort, TcpFlags.Ack | TcpFlags.Psh, 1254));
        }

        var first = ThreadAllocations.During(() =>
        {
            foreach (var (forward, reverse) in opening)
            {
                RoundTrip(svr, forward, reverse);
            }
        });
        var later = ThreadAllocations.During(() =>
        {
            for (var round = 0; round < 2; round++)
            {
                foreach (var (forward, reverse) in data)
                {
                    RoundTrip(svr, forward, reverse);
                }
            }
        });
        return (first, later);
    }

    /// <summary>
    /// Opens <paramref name="count"/> ping sessions from the branch client to the plain service (an echo request and its
    /// reply), then sends two more echoes each way on each. Returns the bytes this thread allocated for the first echoes
    /// and for the later ones.
    /// </summary>
    private (long First, long Later) Pings(bool ipv6, int firstId, int count)
    {
        var echoes = new (byte[] Request, byte[] Reply)[count];
        for (var i = 0; i < count; i++)
        {
            var id = (ushort)(firstId + i);
            echoes[i] = (
                EchoFrame(ipv6, ipv6 ? PipelineRouters.BranchClient6 : PipelineRouters.BranchClient, ipv6 ? PipelineRouters.Service6 : PipelineRouters.Service, request: true, id),
                EchoFrame(ipv6, ipv6 ? PipelineRouters.Service6 : PipelineRouters.Service, ipv6 ? PipelineRouters.BranchClient6 : PipelineRouters.BranchClient, request: false, id));
        }

        var first = ThreadAllocations.During(() =>
        {
            foreach (var (request, reply) in echoes)
            {
                RoundTrip(svr: true, request, reply);
            }
        });
        var later = ThreadAllocations.During(() =>
        {
            for (var round = 0; round < 2; round++)
            {
                foreach (var (request, reply) in echoes)
                {
                    RoundTrip(svr: true, request, reply);
                }
            }
        });
        return (first, later);
    }

    /// <summary>An Ethernet frame holding an ICMP or ICMPv6 echo request or reply with 56 octets of data, its checksums correct.</summary>
    private static byte[] EchoFrame(bool ipv6, UInt128 source, UInt128 destination, bool request, ushort id)
    {
        var packet = ipv6
            ? Packets.Icmp6(source, destination, request ? Icmpv6Type.EchoRequest : Icmpv6Type.EchoReply, id, 1, new byte[56])
            : Packets.Icmp((uint)source, (uint)destination, request ? Icmpv4Type.EchoRequest : Icmpv4Type.EchoReply, id, 1, new byte[56]);
        var frame = new byte[EthernetFrame.UntaggedHeaderLength + packet.Length];
        new EthernetHeader(new MacAddress(0x02_00_00_00_0F_01), new MacAddress(0x02_00_00_00_0F_99), ipv6 ? EtherType.Ipv6 : EtherType.Ipv4).Emit(frame);
        packet.CopyTo(frame, EthernetFrame.UntaggedHeaderLength);
        return frame;
    }

    /// <summary>
    /// An Ethernet frame holding a packet-too-big for 1400 (IPv6) or a fragmentation-needed for 1400 (IPv4) from
    /// <paramref name="from"/> to the sender of <paramref name="offending"/>, quoting as much of it as the family allows.
    /// </summary>
    private static byte[] TooBigFrame(bool ipv6, UInt128 from, byte[] offending)
    {
        byte[] packet;
        if (ipv6)
        {
            var quote = offending[..Math.Min(offending.Length, 1280 - 48)];
            packet = new byte[48 + quote.Length];
            new Ipv6Header(0, 0, (ushort)(8 + quote.Length), IpProtocol.Icmpv6, 64,
                IpAddressConversions.ToIPAddress(from), IpAddressConversions.ToIPAddress(System.Buffers.Binary.BinaryPrimitives.ReadUInt128BigEndian(offending.AsSpan(8)))).Emit(packet);
            packet[40] = Icmpv6Type.PacketTooBig;
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(packet.AsSpan(44), 1400);
            quote.CopyTo(packet, 48);
            Ipv6Packet.TryCreate(packet, out var ip);
            Icmpv6Packet.TryCreate(ip.UpperLayer, out var message);
            message.UpdateChecksum(ip.PseudoHeaderSum());
        }
        else
        {
            packet = Fabric.Tests.Dataplane.Svr.Routers.SvrIcmpErrorTests.Unreachable((uint)from, offending[..Math.Min(offending.Length, 576 - 28)], Icmpv4Code.FragmentationNeeded, 1400);
        }

        var frame = new byte[EthernetFrame.UntaggedHeaderLength + packet.Length];
        new EthernetHeader(new MacAddress(0x02_00_00_00_0F_01), new MacAddress(0x02_00_00_00_0F_99), ipv6 ? EtherType.Ipv6 : EtherType.Ipv4).Emit(frame);
        packet.CopyTo(frame, EthernetFrame.UntaggedHeaderLength);
        return frame;
    }

    private static byte[] Frame(bool ipv6, UInt128 source, UInt128 destination, ushort sourcePort, ushort destinationPort, TcpFlags flags, int size) => ipv6
        ? PipelineRouters.Frame6(source, destination, sourcePort, destinationPort, flags, size)
        : PipelineRouters.Frame((uint)source, (uint)destination, sourcePort, destinationPort, flags, size);

    private void RoundTrip(bool svr, byte[] fromClient, byte[] fromInstance)
    {
        if (svr)
        {
            _routers.SvrForward(fromClient);
            _routers.SvrReverse(fromInstance);
        }
        else
        {
            _routers.LocalForward(fromClient);
            _routers.LocalReverse(fromInstance);
        }
    }
}
