using System.Buffers.Binary;
using Fabric.Dataplane.Pipeline;
using Fabric.Dataplane.Svr;
using Fabric.Dataplane.Wire;
using Fabric.Tests.Dataplane.Routing;

namespace Fabric.Tests.Dataplane.Svr.Routers;

/// <summary>Sessions across routers of the lab fabric over SVR: waypoints, metadata, handshake, policy at both ends.</summary>
public sealed class SvrFabricTests
{
    private const string Web = "10.200.0.80";
    private const string Bulk = "10.10.1.30";

    [Fact]
    public void Tcp_BranchClientToDatacenterService_HandshakeAndDataArriveRestored()
    {
        using var fabric = new SvrFabric();
        fabric.Eng1.SendTcp(Web, 40000, 80, TcpFlags.Syn, 100, 0, []);
        fabric.Pump();

        var server = fabric.Web1.Received.Count > 0 ? fabric.Web1 : fabric.Web2;
        var syn = Assert.Single(server.Received);
        Assert.True(Packets.ChecksumsValid(syn));
        Ipv4Packet.TryCreate(syn, out var synIp);
        Assert.Equal(fabric.Eng1.Address, synIp.Source);
        Assert.Equal(server.Address, synIp.Destination);
        TcpSegment.TryCreate(synIp.Payload, out var synTcp);
        Assert.Equal((40000, 80), (synTcp.SourcePort, synTcp.DestinationPort));
        Assert.Equal(0, synTcp.Payload.Length);

        var synAck = Assert.Single(fabric.Eng1.Received);
        Assert.True(Packets.ChecksumsValid(synAck));
        Assert.Equal(Web, Packets.Source(synAck).ToString());
        Ipv4Packet.TryCreate(synAck, out var synAckIp);
        TcpSegment.TryCreate(synAckIp.Payload, out var synAckTcp);
        Assert.Equal(TcpFlags.Syn | TcpFlags.Ack, synAckTcp.Flags);
        Assert.Equal((80, 40000), (synAckTcp.SourcePort, synAckTcp.DestinationPort));
        Assert.Equal(0, synAckTcp.Payload.Length);

        fabric.Eng1.SendTcp(Web, 40000, 80, TcpFlags.Ack, 101, 5001, []);
        fabric.Eng1.SendTcp(Web, 40000, 80, TcpFlags.Ack | TcpFlags.Psh, 101, 5001, "hello"u8.ToArray());
        fabric.Pump();

        var echo = fabric.Eng1.Received[^1];
        Assert.True(Packets.ChecksumsValid(echo));
        Ipv4Packet.TryCreate(echo, out var echoIp);
        TcpSegment.TryCreate(echoIp.Payload, out var echoTcp);
        Assert.Equal("hello"u8.ToArray(), echoTcp.Payload.ToArray());

        // The egress router knows whose session it is from the metadata alone.
        var egress = SvrFabric.OnlySession(fabric.Dc1);
        Assert.Equal(SvrRole.Egress, egress.Svr);
        Assert.Equal("engineering", fabric.Dc1.Snapshot.Tenants[egress.Tenant]);
        Assert.Equal("web", fabric.Dc1.Snapshot.Services[egress.Service].Name);
        Assert.Equal(SvrRole.Ingress, SvrFabric.OnlySession(fabric.Br1).Svr);
        Assert.Equal(0, fabric.Dc1.Worker.Counters.Dropped);
        Assert.Equal(0, fabric.Br1.Worker.Counters.Dropped);
    }

    [Fact]
    public void Tcp_WireBetweenRouters_WaypointTuplesMetadataOnlyInHandshakeThenZeroBytesAdded()
    {
        using var fabric = new SvrFabric();
        fabric.Eng1.SendTcp(Web, 40000, 80, TcpFlags.Syn, 100, 0, []);
        fabric.Pump();
        fabric.Eng1.SendTcp(Web, 40000, 80, TcpFlags.Ack, 101, 5001, []);
        fabric.Eng1.SendTcp(Web, 40000, 80, TcpFlags.Ack | TcpFlags.Psh, 101, 5001, new byte[1000]);
        fabric.Pump();

        var toDc = WaypointPackets(fabric.DcWan.Received);
        Assert.Equal(3, toDc.Count);
        Ipv4Packet.TryCreate(toDc[0], out var syn);
        Assert.Equal(IpAddressConversions.ParseIpv4("172.16.0.2"), syn.Source);
        Assert.Equal(IpAddressConversions.ParseIpv4("172.16.0.1"), syn.Destination);
        Assert.Equal(IpProtocol.Tcp, syn.Protocol);
        TcpSegment.TryCreate(syn.Payload, out var synTcp);
        Assert.Equal(0, synTcp.SourcePort % 2);
        Assert.Equal(1, synTcp.DestinationPort % 2);
        Assert.True(Packets.ChecksumsValid(toDc[0]));

        // The SYN carries forward metadata a dissector reads: original tuple, tenant, service, source router.
        Assert.True(MetadataInsertion.TryLocate(toDc[0], toDc[0].Length, out var block, out _));
        Assert.True(SvrMetadata.TryParse(block, out var metadata, out _));
        Assert.Equal("engineering", metadata.Tenant);
        Assert.Equal("web", metadata.Service);
        Assert.Equal("br1", metadata.SourceRouter);
        Assert.Equal(IpAddressConversions.ParseIpv4(Web), (uint)metadata.ForwardContext!.Value.Key.Destination);
        Assert.Equal((ushort)40000, metadata.ForwardContext.Value.Key.SourcePort);

        // The SYN-ACK carried reverse metadata back, so the ACK and the data carry none: 0 bytes added.
        var synAck = Assert.Single(WaypointPackets(fabric.BrWan.Received), p => HasMetadata(p));
        Assert.True(MetadataInsertion.TryLocate(synAck, synAck.Length, out var reverseBlock, out _));
        Assert.True(SvrMetadata.TryParse(reverseBlock, out var reverse, out _));
        Assert.NotNull(reverse.ReverseContext);
        Assert.False(HasMetadata(toDc[1]));
        Assert.False(HasMetadata(toDc[2]));
        Assert.Equal(20 + 20 + 1000, toDc[2].Length);
        Assert.True(Packets.ChecksumsValid(toDc[2]));

        // And the echoed data comes back over the wire at its original length too.
        var back = WaypointPackets(fabric.BrWan.Received)[^1];
        Assert.Equal(20 + 20 + 1000, back.Length);
        Assert.Equal(1000, TcpPayloadLength(fabric.Eng1.Received[^1]));
    }

    [Fact]
    public void Tcp_SynMss_ClampedSoAFullSegmentWithMetadataAndTrailerFitsTheWan()
    {
        using var fabric = new SvrFabric();
        fabric.Eng1.SendIp(SynWithMss(fabric.Eng1.Address, IpAddressConversions.ParseIpv4(Web), 40000, 80, mss: 1460));
        fabric.Pump();

        var server = fabric.Web1.Received.Count > 0 ? fabric.Web1 : fabric.Web2;
        Ipv4Packet.TryCreate(Assert.Single(server.Received), out var syn);
        TcpSegment.TryCreate(syn.Payload, out var tcp);
        Assert.True(tcp.TryGetMaximumSegmentSize(out var mss));
        Assert.True(Packets.ChecksumsValid(server.Received[0]));
        Assert.True(mss < 1460);
        var wire = WaypointPackets(fabric.DcWan.Received)[0];
        Assert.True(MetadataInsertion.TryLocate(wire, wire.Length, out var block, out _));
        // A full segment re-signalled with this block and sealed (8 more octets of SecurityId, 24 of trailer) still fits.
        Assert.True(20 + 20 + mss + block.TotalLength + 8 + 24 <= 1500, $"mss {mss}, block {block.TotalLength}");
    }

    /// <summary>A SYN whose header carries an MSS option (kind 2, length 4).</summary>
    private static byte[] SynWithMss(uint source, uint destination, ushort sourcePort, ushort destinationPort, ushort mss)
    {
        var packet = Packets.Tcp(source, destination, sourcePort, destinationPort, TcpFlags.Syn, 100, 0, [2, 4, (byte)(mss >> 8), (byte)mss]);
        packet[20 + 12] = 6 << 4;
        Ipv4Packet.TryCreate(packet, out var ip);
        TcpSegment.TryCreate(ip.Payload, out var segment);
        segment.UpdateChecksum(ip.PseudoHeaderSum());
        return packet;
    }

    [Fact]
    public void Tcp_RetransmittedSyn_CarriesMetadataAgain()
    {
        using var fabric = new SvrFabric();
        fabric.DcWan.Tamper = frame => !IsTcpSyn(frame);
        fabric.Eng1.SendTcp(Web, 40000, 80, TcpFlags.Syn, 100, 0, []);
        fabric.Pump();
        Assert.Empty(fabric.Eng1.Received);

        fabric.DcWan.Tamper = null;
        fabric.Eng1.SendTcp(Web, 40000, 80, TcpFlags.Syn, 100, 0, []);
        fabric.Pump();

        var retransmitted = Assert.Single(WaypointPackets(fabric.DcWan.Received));
        Assert.True(HasMetadata(retransmitted));
        Assert.Single(fabric.Eng1.Received);
    }

    [Fact]
    public void Udp_RequestAndReply_SecondExchangeCarriesNoMetadata()
    {
        using var fabric = new SvrFabric();
        fabric.Eng1.SendUdp(Bulk, 5000, 5201, "one"u8.ToArray());
        fabric.Pump();
        fabric.Eng1.SendUdp(Bulk, 5000, 5201, "two"u8.ToArray());
        fabric.Pump();

        Assert.Equal(2, fabric.Bulk1.Received.Count);
        Assert.Equal(2, fabric.Eng1.Received.Count);
        foreach (var packet in fabric.Eng1.Received)
        {
            Assert.True(Packets.ChecksumsValid(packet));
            Assert.Equal(Bulk, Packets.Source(packet).ToString());
        }

        Ipv4Packet.TryCreate(fabric.Eng1.Received[1], out var reply);
        UdpDatagram.TryCreate(reply.Payload, out var udp);
        Assert.Equal((5201, 5000), (udp.SourcePort, udp.DestinationPort));
        Assert.Equal("two"u8.ToArray(), udp.Payload.ToArray());

        var toDc = WaypointPackets(fabric.DcWan.Received);
        Assert.True(HasMetadata(toDc[0]));
        Assert.False(HasMetadata(toDc[1]));
        Assert.Equal(20 + 8 + 3, toDc[1].Length);
        var session = SvrFabric.OnlySession(fabric.Dc1);
        Assert.Equal("bulk", fabric.Dc1.Snapshot.Services[session.Service].Name);
    }

    [Fact]
    public void Ping_CrossesAsUdpWithMetadata_AndComesOutAsIcmpEcho()
    {
        using var fabric = new SvrFabric();
        fabric.Eng1.Ping(Bulk, id: 7, sequence: 1);
        fabric.Pump();

        var request = Assert.Single(fabric.Bulk1.Received);
        Assert.True(Packets.ChecksumsValid(request));
        Ipv4Packet.TryCreate(request, out var requestIp);
        Assert.Equal(IpProtocol.Icmp, requestIp.Protocol);
        Assert.Equal(fabric.Eng1.Address, requestIp.Source);

        var reply = Assert.Single(fabric.Eng1.Received);
        Assert.True(Packets.ChecksumsValid(reply));
        Ipv4Packet.TryCreate(reply, out var replyIp);
        Assert.Equal(IpProtocol.Icmp, replyIp.Protocol);
        Assert.Equal(Bulk, Packets.Source(reply).ToString());
        Icmpv4Packet.TryCreate(replyIp.Payload, out var icmp);
        Assert.Equal(Icmpv4Type.EchoReply, icmp.Type);
        Assert.Equal((ushort)7, icmp.Identifier);
        Assert.Equal(new byte[] { 1, 2, 3, 4 }, icmp.Body.ToArray());

        var wire = Assert.Single(WaypointPackets(fabric.DcWan.Received));
        Ipv4Packet.TryCreate(wire, out var wireIp);
        Assert.Equal(IpProtocol.Udp, wireIp.Protocol);
        Assert.True(HasMetadata(wire));
        Assert.True(Packets.ChecksumsValid(wire));
    }

    [Fact]
    public void DeniedTenant_DroppedAtIngress_NothingCrossesTheWire()
    {
        using var fabric = new SvrFabric();
        fabric.Guest1.SendUdp(Bulk, 5000, 5201, "x"u8.ToArray());
        fabric.Pump();

        Assert.Empty(fabric.Bulk1.Received);
        Assert.Empty(WaypointPackets(fabric.DcWan.Received));
        Assert.Equal(1, SvrFabric.Drops(fabric.Br1, DropReason.AccessDenied));
    }

    [Fact]
    public void ForgedTenantInMetadata_DroppedAtEgressAsAccessDenied()
    {
        using var fabric = new SvrFabric();
        // guest may not reach bulk: a packet that claims it is refused by dc1 itself.
        fabric.Attacker.SendIp(Waypoint(16384, 16385, tenant: "guest", service: "bulk"));
        fabric.Pump();
        Assert.Empty(fabric.Bulk1.Received);
        Assert.Equal(1, SvrFabric.Drops(fabric.Dc1, DropReason.AccessDenied));

        // The same packet naming an allowed tenant is delivered: the tenant in metadata is what decides.
        fabric.Attacker.SendIp(Waypoint(16386, 16387, tenant: "engineering", service: "bulk"));
        fabric.Pump();
        Assert.Single(fabric.Bulk1.Received);
    }

    [Fact]
    public void SpoofedPeerWithoutPinnedIdentity_ItsMetadataIsRefusedAsUnauthenticated_ByDefault()
    {
        // br1 pins no identity, so dc1 has no keys for it, and the WAN does not opt in to unauthenticated metadata.
        using var fabric = new SvrFabric(UnpinBr1, unauthenticatedMetadata: false);
        fabric.Attacker.SendIp(Waypoint(16386, 16387, tenant: "engineering", service: "bulk"));
        fabric.Pump();

        Assert.Empty(fabric.Bulk1.Received);
        Assert.Equal(1, SvrFabric.Drops(fabric.Dc1, DropReason.Unauthenticated));
        Assert.Equal(0, fabric.Dc1.Worker.Sessions.Count);
    }

    [Fact]
    public void PeerWithoutPinnedIdentity_NoOptIn_IngressRefusesTheSessionAsNoPeerKeys_NothingCrosses()
    {
        using var fabric = new SvrFabric(UnpinBr1, unauthenticatedMetadata: false);
        fabric.Eng1.SendUdp(Bulk, 6000, 5201, "data"u8.ToArray());
        fabric.Pump();

        Assert.Empty(fabric.Bulk1.Received);
        Assert.Equal(1, SvrFabric.Drops(fabric.Br1, DropReason.NoPeerKeys));
        Assert.Empty(WaypointPackets(fabric.DcWan.Received));
    }

    [Fact]
    public void NestedServiceOfAnotherEncryptionMode_EgressSealsAsTheSessionsService_SessionIsDelivered()
    {
        // svc (a /24, plain, engineering) holds db (a /32, encrypted, finance only): an engineering session to db1's
        // address belongs to svc, whatever the most specific service at that address is.
        using var fabric = new SvrFabric(text => text.Replace(
            "    bulk {\n      addresses",
            "    svc {\n      addresses = [\"10.10.1.0/24\"]\n      transports = [{ protocol = tcp, ports = [\"5432\"] }]\n      access = [engineering]\n      instances = [{ container = db1 }]\n    }\n    bulk {\n      addresses"));
        fabric.ShareKeys(fabric.Br1, fabric.Dc1, epoch: 1);
        fabric.Eng1.SendTcp("10.10.1.20", 40000, 5432, TcpFlags.Syn, 100, 0, []);
        fabric.Pump();

        Assert.Single(fabric.Db1.Received);
        Assert.Equal(0, SvrFabric.Drops(fabric.Dc1, DropReason.Tampered));
        var session = SvrFabric.OnlySession(fabric.Dc1);
        Assert.Equal("svc", fabric.Dc1.Snapshot.Services[session.Service].Name);
        Assert.False(session.Sealed);
    }

    [Fact]
    public void ServiceOfferedByAnotherRouter_WithoutInstances_IsCarriedThereAndReachedNatively()
    {
        // ops1 (10.10.1.40) sits on dc1's service LAN but is no container: dc1 offers the service natively.
        using var fabric = new SvrFabric(text => text.Replace(
            "    bulk {\n      addresses",
            "    ops {\n      addresses = [\"10.10.1.40/32\"]\n      transports = [{ protocol = udp, ports = [\"7000\"] }]\n      access = [engineering]\n      offered-by = [dc1]\n    }\n    bulk {\n      addresses"));
        fabric.Eng1.SendUdp("10.10.1.40", 6000, 7000, "hello"u8.ToArray());
        fabric.Pump();

        Assert.Equal(0, SvrFabric.Drops(fabric.Br1, DropReason.NoRoute));
        Assert.Equal(0, SvrFabric.Drops(fabric.Dc1, DropReason.NoRoute));
        var delivered = Assert.Single(fabric.Ops1.Received);
        Assert.True(Ipv4Packet.TryCreate(delivered, out var ip));
        Assert.True(UdpDatagram.TryCreate(ip.Payload, out var udp));
        Assert.Equal("hello"u8.ToArray(), udp.Payload.ToArray());
        Assert.Equal(IpAddressConversions.ParseIpv4("10.20.1.10"), ip.Source);
        Assert.Single(WaypointPackets(fabric.DcWan.Received));
    }

    [Fact]
    public void StrayPacketOnWaypointPort_DroppedSilently_NeverAnswered()
    {
        using var fabric = new SvrFabric();
        var peer = IpAddressConversions.ParseIpv4("172.16.0.2");
        var dc1 = IpAddressConversions.ParseIpv4("172.16.0.1");
        fabric.Attacker.SendIp(Packets.Tcp(peer, dc1, 16384, 16385, TcpFlags.Syn, 1, 0, []));
        fabric.Attacker.SendIp(Packets.Udp(peer, dc1, 16384, 16387, "probe"u8.ToArray()));
        fabric.Attacker.SendTcp("172.16.0.1", 16384, 16389, TcpFlags.Syn, 1, 0, []);
        fabric.Pump();

        Assert.Empty(fabric.Attacker.Received);
        Assert.Equal(2, SvrFabric.Drops(fabric.Dc1, DropReason.WaypointNoSession));
        Assert.Equal(1, SvrFabric.Drops(fabric.Dc1, DropReason.NotAPeer));
        // Nothing went back to the (spoofed) sender either: no reset, no ICMP.
        Assert.DoesNotContain(fabric.BrWan.Received, frame => EthernetFrame.TryCreate(frame, out var ethernet) && ethernet.EtherType == EtherType.Ipv4);
    }

    [Theory]
    [InlineData("version", DropReason.MetadataVersion)]
    [InlineData("payload-length", DropReason.MetadataMalformed)]
    [InlineData("header-length", DropReason.MetadataMalformed)]
    [InlineData("tlv-length", DropReason.MetadataMalformed)]
    public void BrokenMetadata_DroppedWithItsReason(string broken, DropReason reason)
    {
        using var fabric = new SvrFabric();
        var packet = Waypoint(16384, 16385, tenant: "engineering", service: "bulk");
        var block = 20 + 8;
        switch (broken)
        {
            case "version":
                packet[block + 8] = (byte)((2 << 4) | (packet[block + 8] & 0x0F));
                break;
            case "payload-length":
                BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(block + 10), 200);
                break;
            case "header-length":
                packet[block + 9] = 4;
                packet[block + 8] &= 0xF0;
                break;
            case "tlv-length":
                // The first payload TLV (the forward context) claims more than its section holds.
                BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(block + 12 + 2), 60);
                break;
        }

        RefreshChecksums(packet);
        fabric.Attacker.SendIp(packet);
        fabric.Pump();

        Assert.Empty(fabric.Bulk1.Received);
        Assert.Equal(1, SvrFabric.Drops(fabric.Dc1, reason));
        Assert.Empty(fabric.Attacker.Received);
    }

    [Fact]
    public void WaypointExhaustion_RefusesNewSessions_LiveTuplesNeverReused()
    {
        using var fabric = new SvrFabric(text => text.Replace("wan {}", "wan { waypoint-ports = \"16384-16387\", max-waypoints = 2 }"));
        for (ushort port = 5000; port < 5003; port++)
        {
            fabric.Eng1.SendUdp(Bulk, port, 5201, "x"u8.ToArray());
            fabric.Pump();
        }

        Assert.Equal(2, fabric.Bulk1.Received.Count);
        Assert.Equal(1, SvrFabric.Drops(fabric.Br1, DropReason.WaypointsExhausted));
        var tuples = WaypointPackets(fabric.DcWan.Received).Select(Tuple).ToList();
        Assert.Equal(2, tuples.Distinct().Count());

        // The two live sessions still work, over their own waypoints.
        fabric.Eng1.SendUdp(Bulk, 5000, 5201, "again"u8.ToArray());
        fabric.Pump();
        Assert.Equal(3, fabric.Bulk1.Received.Count);
        Assert.Equal(tuples[0], Tuple(WaypointPackets(fabric.DcWan.Received)[^1]));
    }

    [Fact]
    public void WaypointsExhaustedBySynFlood_OtherTenant_EvictsOldestHalfOpenAndReachesWeb()
    {
        using var fabric = new SvrFabric(text => text.Replace("wan {}", "wan { waypoint-ports = \"16384-16387\", max-waypoints = 2 }"));
        for (ushort port = 5000; port < 5002; port++)
        {
            // Answered by web with a SYN-ACK that eng1 never acknowledges: half-open at both routers.
            fabric.Eng1.SendTcp("10.200.0.80", port, 80, TcpFlags.Syn, 1, 0, []);
            fabric.Pump();
        }

        fabric.Guest1.SendTcp("10.200.0.80", 6000, 80, TcpFlags.Syn, 1, 0, []);
        fabric.Pump();
        fabric.Guest1.SendTcp("10.200.0.80", 6000, 80, TcpFlags.Ack | TcpFlags.Psh, 2, 5001, "GET"u8.ToArray());
        fabric.Pump();

        Assert.Equal(2, fabric.Guest1.Received.Count); // the SYN-ACK and web's answer to the data
        Assert.Equal(0, SvrFabric.Drops(fabric.Br1, DropReason.WaypointsExhausted));
        Assert.Equal(1, fabric.Br1.Worker.Counters.SessionsEvicted);
        Assert.Equal(1, fabric.Dc1.Worker.Counters.SessionsSuperseded);
        Assert.Equal(0, SvrFabric.Drops(fabric.Dc1, DropReason.MetadataMismatch));
    }

    [Fact]
    public void EgressRestartMidTcpSession_ReestablishedByMetadata_EndpointsSeeNoReset()
    {
        using var fabric = new SvrFabric();
        fabric.Eng1.SendTcp(Bulk, 40000, 5201, TcpFlags.Syn, 100, 0, []);
        fabric.Pump();
        fabric.Eng1.SendTcp(Bulk, 40000, 5201, TcpFlags.Ack, 101, 5001, []);
        fabric.Eng1.SendTcp(Bulk, 40000, 5201, TcpFlags.Ack | TcpFlags.Psh, 101, 5001, "one"u8.ToArray());
        fabric.Pump();
        Assert.Equal(2, fabric.Eng1.Received.Count); // SYN-ACK and the echo of "one"

        fabric.RestartDc1();
        var retransmissions = 0;
        var timeout = TimeSpan.FromMilliseconds(200);
        while (fabric.Eng1.Received.Count == 2 && retransmissions < 10)
        {
            // The client's TCP retransmits the unanswered segment, doubling its timeout from Linux's 200 ms.
            fabric.Time.Advance(timeout);
            timeout *= 2;
            fabric.Eng1.SendTcp(Bulk, 40000, 5201, TcpFlags.Ack | TcpFlags.Psh, 104, 5001, "two"u8.ToArray());
            fabric.Pump();
            retransmissions++;
        }

        Assert.Equal(SvrStage.ResignalAfterUnanswered, retransmissions);
        Assert.Equal("two"u8.ToArray(), TcpPayload(fabric.Eng1.Received[^1]));
        Assert.DoesNotContain(fabric.Eng1.Received, p => IsReset(p));
        Assert.DoesNotContain(fabric.Bulk1.Received, p => IsReset(p));
        Assert.Equal(SvrStage.ResignalAfterUnanswered - 1, SvrFabric.Drops(fabric.Dc1, DropReason.WaypointNoSession));
        var session = SvrFabric.OnlySession(fabric.Dc1);
        Assert.Equal("engineering", fabric.Dc1.Snapshot.Tenants[session.Tenant]);

        // Once the handshake is redone, packets cross without metadata again.
        fabric.Eng1.SendTcp(Bulk, 40000, 5201, TcpFlags.Ack | TcpFlags.Psh, 107, 5001, "three"u8.ToArray());
        fabric.Pump();
        Assert.False(HasMetadata(WaypointPackets(fabric.DcWan.Received)[^1]));
        Assert.Equal("three"u8.ToArray(), TcpPayload(fabric.Eng1.Received[^1]));
    }

    [Fact]
    public void BulkSender_ManySegmentsInFlight_AnsweredPromptly_CrossWithoutMetadata()
    {
        using var fabric = new SvrFabric();
        fabric.Eng1.SendTcp(Bulk, 40001, 5201, TcpFlags.Syn, 100, 0, []);
        fabric.Pump();
        fabric.Eng1.SendTcp(Bulk, 40001, 5201, TcpFlags.Ack, 101, 5001, []);
        fabric.Pump();
        var before = WaypointPackets(fabric.DcWan.Received).Count;

        // Twenty segments leave before any answer comes back (a window's worth in flight), then the echoes
        // return; the reverse direction was heard moments ago, so this is no lost peer session.
        for (var i = 0; i < 20; i++)
        {
            fabric.Eng1.SendTcp(Bulk, 40001, 5201, TcpFlags.Ack | TcpFlags.Psh, (uint)(101 + (i * 4)), 5001, "data"u8.ToArray());
        }

        fabric.Br1.RunOnce();
        fabric.Pump();

        var bulk = WaypointPackets(fabric.DcWan.Received).Skip(before).ToList();
        Assert.Equal(20, bulk.Count);
        Assert.DoesNotContain(bulk, p => HasMetadata(p));
        Assert.Equal(20, fabric.Bulk1.Received.Count(p => TcpPayload(p).Length > 0));
    }

    [Fact]
    public void SessionEnd_GivesWaypointsBack()
    {
        using var fabric = new SvrFabric(text => text.Replace("wan {}", "wan { waypoint-ports = \"16384-16385\", max-waypoints = 1 }"));
        fabric.Eng1.SendUdp(Bulk, 5000, 5201, "x"u8.ToArray());
        fabric.Pump();
        fabric.Time.Advance(TimeSpan.FromSeconds(120));
        fabric.Br1.RunOnce();
        fabric.Dc1.RunOnce();
        fabric.Eng1.SendUdp(Bulk, 5001, 5201, "y"u8.ToArray());
        fabric.Pump();

        Assert.Equal(2, fabric.Bulk1.Received.Count);
        Assert.Equal(0, SvrFabric.Drops(fabric.Br1, DropReason.WaypointsExhausted));
    }

    [Fact]
    public void SessionState_WithSvrFields_Is104Bytes()
    {
        // The session table's memory per session (docs/benchmarks.md, bytes per session) depends on it.
        Assert.Equal(104, System.Runtime.CompilerServices.Unsafe.SizeOf<SessionState>());
    }

    /// <summary>A hand-made waypoint packet from the attacker to dc1, UDP with forward metadata for a session to bulk.</summary>
    /// <summary>The document without br1's pinned identity.</summary>
    private static string UnpinBr1(string text) =>
        System.Text.RegularExpressions.Regex.Replace(text, "br1a \\{ management-address = \"10.99.0.12\", identity = \"[^\"]*\" \\}", "br1a { management-address = \"10.99.0.12\" }");

    private static byte[] Waypoint(ushort sourcePort, ushort destinationPort, string tenant, string service)
    {
        var metadata = new SvrMetadata
        {
            ForwardContext = new MetadataContext(
                new global::Fabric.Dataplane.Sessions.SessionKey(IpAddressConversions.ParseIpv4("10.20.1.10"), IpAddressConversions.ParseIpv4(Bulk), 6000, 5201, IpProtocol.Udp, IsIpv6: false)),
            SessionId = Guid.NewGuid(),
            Tenant = tenant,
            Service = service,
            SourceRouter = "br1",
        };
        var block = new byte[metadata.EmitLength];
        metadata.Emit(block);
        // The attacker spoofs br1's waypoint address: dc1 takes it for its peer.
        var plain = Packets.Udp(IpAddressConversions.ParseIpv4("172.16.0.2"), IpAddressConversions.ParseIpv4("172.16.0.1"), sourcePort, destinationPort, "data"u8.ToArray());
        var room = new byte[plain.Length + block.Length];
        plain.CopyTo(room, 0);
        Assert.True(MetadataInsertion.TryInsert(room, plain.Length, block, out var length));
        return room[..length];
    }

    private static void RefreshChecksums(byte[] packet)
    {
        Ipv4Packet.TryCreate(packet, out var ip);
        UdpDatagram.TryCreate(ip.Payload, out var udp);
        udp.UpdateChecksum(ip.PseudoHeaderSum());
    }

    /// <summary>The IP packets of frames that went to a waypoint port (TCP or UDP to a port in the SVR range).</summary>
    internal static List<byte[]> WaypointPackets(List<byte[]> frames)
    {
        var packets = new List<byte[]>();
        foreach (var frame in frames)
        {
            if (!EthernetFrame.TryCreate(frame, out var ethernet) || ethernet.EtherType != EtherType.Ipv4)
            {
                continue;
            }

            var ip = ethernet.Payload.ToArray();
            Ipv4Packet.TryCreate(ip, out var packet);
            if (packet.Protocol is IpProtocol.Tcp or IpProtocol.Udp && BinaryPrimitives.ReadUInt16BigEndian(packet.Payload[2..]) >= 16384)
            {
                packets.Add(ip[..packet.TotalLength]);
            }
        }

        return packets;
    }

    internal static bool HasMetadata(byte[] packet) => MetadataInsertion.TryLocate(packet, packet.Length, out _, out _);

    internal static (uint, uint, ushort, ushort) Tuple(byte[] packet)
    {
        Ipv4Packet.TryCreate(packet, out var ip);
        return (ip.Source, ip.Destination, BinaryPrimitives.ReadUInt16BigEndian(ip.Payload), BinaryPrimitives.ReadUInt16BigEndian(ip.Payload[2..]));
    }

    private static bool IsTcpSyn(byte[] frame)
    {
        if (!EthernetFrame.TryCreate(frame, out var ethernet) || ethernet.EtherType != EtherType.Ipv4
            || !Ipv4Packet.TryCreate(ethernet.Payload, out var ip) || ip.Protocol != IpProtocol.Tcp
            || !TcpSegment.TryCreate(ip.Payload, out var tcp))
        {
            return false;
        }

        return (tcp.Flags & TcpFlags.Syn) != 0;
    }

    internal static bool IsReset(byte[] packet) =>
        Ipv4Packet.TryCreate(packet, out var ip) && ip.Protocol == IpProtocol.Tcp && TcpSegment.TryCreate(ip.Payload, out var tcp) && (tcp.Flags & TcpFlags.Rst) != 0;

    internal static byte[] TcpPayload(byte[] packet)
    {
        Ipv4Packet.TryCreate(packet, out var ip);
        TcpSegment.TryCreate(ip.Payload, out var tcp);
        return tcp.Payload.ToArray();
    }

    private static int TcpPayloadLength(byte[] packet) => TcpPayload(packet).Length;
}
