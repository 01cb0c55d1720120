using Fabric.Dataplane.Pipeline;
using Fabric.Dataplane.Sessions;
using Fabric.Dataplane.Svr;
using Fabric.Dataplane.Svr.Security;
using Fabric.Dataplane.Wire;
using Fabric.Tests.Dataplane.Routing;

namespace Fabric.Tests.Dataplane.Svr.Routers;

/// <summary>
/// IPv6 sessions across routers over the IPv4 WAN of the lab fabric (<see cref="SvrFabric.DualStack"/>): eng1
/// (fd00:20:1::10 on br1) reaches web (fd00:200::80, instances fd00:10:1::11 and ::12 behind dc1). Between the waypoints
/// the packets are IPv4 and the metadata carries the IPv6 original tuple; both ends see IPv6 only.
/// </summary>
public sealed class SvrIpv6Tests
{
    private static readonly UInt128 Web = IpAddressConversions.ParseIpv6("fd00:200::80");
    private static readonly UInt128 Eng1 = IpAddressConversions.ParseIpv6("fd00:20:1::10");

    [Fact]
    public void Tcp6_OverIpv4Wan_HandshakeAndDataArriveRestored_InstanceSeesTheClient()
    {
        using var fabric = new SvrFabric(SvrFabric.DualStack);
        Send(fabric, Packets.Tcp6(Eng1, Web, 40000, 80, TcpFlags.Syn, 100, 0, []));
        fabric.Pump();

        var server = fabric.Web1.Received6.Count > 0 ? fabric.Web1 : fabric.Web2;
        var syn = Assert.Single(server.Received6);
        Assert.True(Packets.ChecksumsValid6(syn));
        Assert.True(Ipv6Packet.TryCreate(syn, out var synIp));
        Assert.Equal((Eng1, server.Address6!.Value, (byte)62), (synIp.Source, synIp.Destination, synIp.HopLimit));
        Assert.True(TcpSegment.TryCreate(synIp.UpperLayer, out var synTcp));
        Assert.Equal((40000, 80, TcpFlags.Syn), (synTcp.SourcePort, synTcp.DestinationPort, synTcp.Flags));

        var synAck = Assert.Single(fabric.Eng1.Received6);
        Assert.True(Packets.ChecksumsValid6(synAck));
        Assert.True(Ipv6Packet.TryCreate(synAck, out var synAckIp));
        Assert.Equal((Web, Eng1), (synAckIp.Source, synAckIp.Destination));
        Assert.True(TcpSegment.TryCreate(synAckIp.UpperLayer, out var synAckTcp));
        Assert.Equal((80, 40000, TcpFlags.Syn | TcpFlags.Ack), (synAckTcp.SourcePort, synAckTcp.DestinationPort, synAckTcp.Flags));

        Send(fabric, Packets.Tcp6(Eng1, Web, 40000, 80, TcpFlags.Ack, 101, 5001, []));
        Send(fabric, Packets.Tcp6(Eng1, Web, 40000, 80, TcpFlags.Ack | TcpFlags.Psh, 101, 5001, "hello over v4"u8.ToArray()));
        fabric.Pump();

        var echo = fabric.Eng1.Received6[^1];
        Assert.True(Packets.ChecksumsValid6(echo));
        Assert.Equal("hello over v4"u8.ToArray(), TcpPayload6(echo));

        var egress = SvrFabric.OnlySession(fabric.Dc1);
        Assert.Equal((SvrRole.Egress, true), (egress.Svr, egress.IsIpv6));
        Assert.Equal("web", fabric.Dc1.Snapshot.Services[egress.Service].Name);
        Assert.Equal("engineering", fabric.Dc1.Snapshot.Tenants[egress.Tenant]);
        Assert.Equal((SvrRole.Ingress, true), (SvrFabric.OnlySession(fabric.Br1).Svr, SvrFabric.OnlySession(fabric.Br1).IsIpv6));
        Assert.Equal(0, fabric.Dc1.Worker.Counters.Dropped);
        Assert.Equal(0, fabric.Br1.Worker.Counters.Dropped);
    }

    [Fact]
    public void Tcp6_WireBetweenRouters_Ipv4WaypointsIpv6ContextsThenZeroBytesAdded()
    {
        using var fabric = new SvrFabric(SvrFabric.DualStack);
        Send(fabric, Packets.Tcp6(Eng1, Web, 40000, 80, TcpFlags.Syn, 100, 0, []));
        fabric.Pump();
        Send(fabric, Packets.Tcp6(Eng1, Web, 40000, 80, TcpFlags.Ack | TcpFlags.Psh, 101, 5001, new byte[1000]));
        fabric.Pump();

        // Only IPv4 crossed the WAN, and every packet on it checks.
        Assert.DoesNotContain(fabric.DcWan.Received, IsIpv6Frame);
        Assert.DoesNotContain(fabric.BrWan.Received, IsIpv6Frame);
        var toDc = SvrFabricTests.WaypointPackets(fabric.DcWan.Received);
        Assert.Equal(2, toDc.Count);
        Assert.All(toDc, packet => Assert.True(Packets.ChecksumsValid(packet)));
        Assert.True(Ipv4Packet.TryCreate(toDc[0], out var syn));
        Assert.Equal(IpAddressConversions.ParseIpv4("172.16.0.2"), syn.Source);
        Assert.True(syn.DontFragment);

        // The SYN's forward metadata names the IPv6 original tuple (TLV 3), as a dissector reads it.
        Assert.True(MetadataInsertion.TryLocate(toDc[0], toDc[0].Length, out var block, out _));
        Assert.True(block.TryFindPayloadTlv(MetadataTlvType.ForwardContextV6, out _));
        Assert.True(SvrMetadata.TryParse(block, out var metadata, out _));
        Assert.Equal(SessionKey.V6(Eng1, Web, 40000, 80, IpProtocol.Tcp), metadata.ForwardContext!.Value.Key);

        // The SYN-ACK carried the instance's IPv6 tuple back (TLV 5); the data then crosses with nothing added.
        var synAck = Assert.Single(SvrFabricTests.WaypointPackets(fabric.BrWan.Received), SvrFabricTests.HasMetadata);
        Assert.True(MetadataInsertion.TryLocate(synAck, synAck.Length, out var reverseBlock, out _));
        Assert.True(SvrMetadata.TryParse(reverseBlock, out var reverse, out _));
        Assert.True(reverse.ReverseContext!.Value.IsIpv6);
        Assert.Equal((ushort)80, reverse.ReverseContext.Value.Key.SourcePort);
        Assert.False(SvrFabricTests.HasMetadata(toDc[1]));
        Assert.Equal(20 + 20 + 1000, toDc[1].Length);
        Assert.Equal(40 + 20 + 1000, fabric.Eng1.Received6[^1].Length);
    }

    [Fact]
    public void Udp6_RequestAndReply_OverIpv4Wan_SecondExchangeCarriesNoMetadata()
    {
        using var fabric = new SvrFabric(text => SvrFabric.DualStack(text).Replace(
            "transports = [{ protocol = tcp, ports = [\"80\"] }]", "transports = [{ protocol = tcp, ports = [\"80\"] }, { protocol = udp, ports = [\"53\"] }]",
            StringComparison.Ordinal));
        Send(fabric, Packets.Udp6(Eng1, Web, 5000, 53, "one"u8.ToArray()));
        fabric.Pump();
        Send(fabric, Packets.Udp6(Eng1, Web, 5000, 53, "two"u8.ToArray()));
        fabric.Pump();

        Assert.Equal(2, fabric.Eng1.Received6.Count);
        foreach (var reply in fabric.Eng1.Received6)
        {
            Assert.True(Packets.ChecksumsValid6(reply));
            Assert.True(Ipv6Packet.TryCreate(reply, out var ip));
            Assert.Equal((Web, Eng1), (ip.Source, ip.Destination));
        }

        Assert.True(Ipv6Packet.TryCreate(fabric.Eng1.Received6[1], out var second));
        Assert.True(UdpDatagram.TryCreate(second.UpperLayer, out var udp));
        Assert.Equal((53, 5000), (udp.SourcePort, udp.DestinationPort));
        Assert.Equal("two"u8.ToArray(), udp.Payload.ToArray());
        var toDc = SvrFabricTests.WaypointPackets(fabric.DcWan.Received);
        Assert.True(SvrFabricTests.HasMetadata(toDc[0]));
        Assert.False(SvrFabricTests.HasMetadata(toDc[1]));
        Assert.Equal(20 + 8 + 3, toDc[1].Length);
    }

    /// <summary>
    /// The egress's handshake acknowledgement of an IPv6 one-way flow leaves on the session's IPv4 waypoint tuple (from
    /// dc1's waypoint to br1's, whatever the family of the session's endpoints), and the datagrams after it cross bare.
    /// </summary>
    [Fact]
    public void Udp6_OneWayFlow_OverIpv4Wan_AcknowledgedFromTheWaypoint_LaterDatagramsCrossBare()
    {
        using var fabric = new SvrFabric(text => SvrFabric.DualStack(text).Replace(
            "transports = [{ protocol = tcp, ports = [\"80\"] }]", "transports = [{ protocol = tcp, ports = [\"80\"] }, { protocol = udp, ports = [\"53\"] }]",
            StringComparison.Ordinal));
        fabric.Web1.IsServer = false;
        fabric.Web2.IsServer = false;
        Send(fabric, Packets.Udp6(Eng1, Web, 5000, 53, "one"u8.ToArray()));
        fabric.Pump();
        fabric.Time.Advance(SvrStage.ResignalAfterQuiet + TimeSpan.FromMilliseconds(100));
        for (var i = 0; i < 3; i++)
        {
            Send(fabric, Packets.Udp6(Eng1, Web, 5000, 53, "more"u8.ToArray()));
            fabric.Pump();
        }

        Assert.Equal(1, fabric.Dc1.Worker.Counters.MetadataAcknowledgements);
        var ack = Assert.Single(SvrFabricTests.WaypointPackets(fabric.BrWan.Received));
        Assert.True(Packets.ChecksumsValid(ack));
        var toDc = SvrFabricTests.WaypointPackets(fabric.DcWan.Received);
        var (source, destination, sourcePort, destinationPort) = SvrFabricTests.Tuple(toDc[0]);
        Assert.Equal((IpAddressConversions.ParseIpv4("172.16.0.1"), IpAddressConversions.ParseIpv4("172.16.0.2")), (destination, source));
        Assert.Equal((destination, source, destinationPort, sourcePort), SvrFabricTests.Tuple(ack));
        Assert.True(MetadataInsertion.TryLocate(ack, ack.Length, out var block, out _));
        Assert.True(MetadataFields.Read(block).DisableForwardMetadata);
        Assert.Equal([true, true, false, false], toDc.Select(SvrFabricTests.HasMetadata));
        Assert.Equal(4, fabric.Web1.Received6.Count + fabric.Web2.Received6.Count);
        Assert.Equal(0, fabric.Dc1.Worker.Counters.Dropped);
        Assert.Equal(0, fabric.Br1.Worker.Counters.Dropped);
    }

    [Fact]
    public void Tcp6_EncryptedService_OverIpv4Wan_CiphertextOnTheWire_DeliveredWhole()
    {
        using var fabric = new SvrFabric(text => SvrFabric.DualStack(text).Replace(
            "load-balancing = proportional", "load-balancing = proportional\n      encryption = required", StringComparison.Ordinal));
        fabric.ShareKeys(fabric.Br1, fabric.Dc1, epoch: 1);
        var secret = "a secret that never crosses in clear"u8.ToArray();
        Send(fabric, Packets.Tcp6(Eng1, Web, 40000, 80, TcpFlags.Syn, 100, 0, []));
        fabric.Pump();
        Send(fabric, Packets.Tcp6(Eng1, Web, 40000, 80, TcpFlags.Ack | TcpFlags.Psh, 101, 5001, secret));
        fabric.Pump();

        var server = fabric.Web1.Received6.Count > 0 ? fabric.Web1 : fabric.Web2;
        Assert.Equal(secret, TcpPayload6(server.Received6[^1]));
        Assert.True(Packets.ChecksumsValid6(server.Received6[^1]));
        Assert.Equal(secret, TcpPayload6(fabric.Eng1.Received6[^1]));
        Assert.True(Packets.ChecksumsValid6(fabric.Eng1.Received6[^1]));
        var toDc = SvrFabricTests.WaypointPackets(fabric.DcWan.Received);
        Assert.Equal(20 + 20 + secret.Length + PacketSealer.TrailerLength, toDc[^1].Length);
        Assert.All(toDc, packet => Assert.True(packet.AsSpan().IndexOf(secret) < 0));
        Assert.All(SvrFabricTests.WaypointPackets(fabric.BrWan.Received), packet => Assert.True(packet.AsSpan().IndexOf(secret) < 0));
        Assert.True(SvrFabric.OnlySession(fabric.Dc1).Sealed);
    }

    [Fact]
    public void Tcp6_EncryptedService_NoKeys_RefusedAtIngress_NothingCrosses()
    {
        using var fabric = new SvrFabric(text => SvrFabric.DualStack(text).Replace(
            "load-balancing = proportional", "load-balancing = proportional\n      encryption = required", StringComparison.Ordinal));
        Send(fabric, Packets.Tcp6(Eng1, Web, 40000, 80, TcpFlags.Syn, 100, 0, []));
        fabric.Pump();

        Assert.Empty(SvrFabricTests.WaypointPackets(fabric.DcWan.Received));
        Assert.Equal(1, SvrFabric.Drops(fabric.Br1, DropReason.NoPeerKeys));
    }

    /// <summary>
    /// An ICMPv6 echo from eng1 to web's service address crosses the IPv4 WAN as IPv4 UDP with the message inside (every
    /// packet with metadata, the IPv6 context naming ICMPv6), and reaches an instance (another address than the one
    /// pinged) with its checksum valid over the instance's pseudo-header; the reply comes back from web's address, valid
    /// too. A second echo of the session does the same.
    /// </summary>
    [Fact]
    public void Ping6_OverIpv4Wan_CrossesAsIpv4Udp_ArrivesValidAtTheInstance_ReplyValidAtTheClient()
    {
        using var fabric = new SvrFabric(WithPing);
        Send(fabric, Packets.Icmp6(Eng1, Web, Icmpv6Type.EchoRequest, 7, 1, [1, 2, 3, 4]));
        fabric.Pump();
        Send(fabric, Packets.Icmp6(Eng1, Web, Icmpv6Type.EchoRequest, 7, 2, [5, 6, 7, 8]));
        fabric.Pump();

        var server = fabric.Web1.Received6.Count > 0 ? fabric.Web1 : fabric.Web2;
        Assert.Equal(2, server.Received6.Count);
        Assert.All(server.Received6, request => Assert.True(Packets.ChecksumsValid6(request)));
        Assert.True(Ipv6Packet.TryCreate(server.Received6[0], out var requestIp));
        Assert.Equal((Eng1, server.Address6!.Value, IpProtocol.Icmpv6, (byte)62), (requestIp.Source, requestIp.Destination, requestIp.UpperLayerProtocol, requestIp.HopLimit));
        Assert.True(Icmpv6Packet.TryCreate(requestIp.UpperLayer, out var request));
        Assert.Equal((Icmpv6Type.EchoRequest, (ushort)7, (ushort)1), (request.Type, request.Identifier, request.SequenceNumber));
        Assert.Equal(new byte[] { 1, 2, 3, 4 }, request.Body.ToArray());

        Assert.Equal(2, fabric.Eng1.Received6.Count);
        for (var i = 0; i < 2; i++)
        {
            var reply = fabric.Eng1.Received6[i];
            Assert.True(Packets.ChecksumsValid6(reply));
            Assert.True(Ipv6Packet.TryCreate(reply, out var replyIp));
            Assert.Equal((Web, Eng1, IpProtocol.Icmpv6), (replyIp.Source, replyIp.Destination, replyIp.UpperLayerProtocol));
            Assert.True(Icmpv6Packet.TryCreate(replyIp.UpperLayer, out var echo));
            Assert.Equal((Icmpv6Type.EchoReply, (ushort)7, (ushort)(i + 1)), (echo.Type, echo.Identifier, echo.SequenceNumber));
        }

        // Only IPv4 UDP between the waypoints, each packet with metadata (a ping always carries it) and every checksum valid.
        Assert.DoesNotContain(fabric.DcWan.Received, IsIpv6Frame);
        Assert.DoesNotContain(fabric.BrWan.Received, IsIpv6Frame);
        var toDc = SvrFabricTests.WaypointPackets(fabric.DcWan.Received);
        var toBr = SvrFabricTests.WaypointPackets(fabric.BrWan.Received);
        Assert.Equal((2, 2), (toDc.Count, toBr.Count));
        Assert.All(toDc.Concat(toBr), packet =>
        {
            Assert.True(Ipv4Packet.TryCreate(packet, out var ip));
            Assert.Equal(IpProtocol.Udp, ip.Protocol);
            Assert.True(SvrFabricTests.HasMetadata(packet));
            Assert.True(Packets.ChecksumsValid(packet));
        });
        Assert.True(MetadataInsertion.TryLocate(toDc[0], toDc[0].Length, out var block, out _));
        Assert.True(SvrMetadata.TryParse(block, out var metadata, out _));
        Assert.Equal(SessionKey.V6(Eng1, Web, 7, 7, IpProtocol.Icmpv6), metadata.ForwardContext!.Value.Key);
        Assert.Equal((SvrRole.Egress, true, IpProtocol.Icmpv6), (SvrFabric.OnlySession(fabric.Dc1).Svr, SvrFabric.OnlySession(fabric.Dc1).IsIpv6, SvrFabric.OnlySession(fabric.Dc1).OriginalProtocol));
        Assert.Equal(0, fabric.Dc1.Worker.Counters.Dropped);
        Assert.Equal(0, fabric.Br1.Worker.Counters.Dropped);
    }

    /// <summary>
    /// An echo whose ICMPv6 checksum is damaged at the client crosses damaged: the checksum is adjusted for the new
    /// addresses, never recomputed, so the instance sees exactly the client's damage (undoing it makes the message valid)
    /// and, as a real stack does, does not answer.
    /// </summary>
    [Fact]
    public void Ping6_DamagedChecksum_ArrivesDamagedByTheSameAmount_NotAnswered()
    {
        using var fabric = new SvrFabric(WithPing);
        var damaged = Packets.Icmp6(Eng1, Web, Icmpv6Type.EchoRequest, 7, 1, [1, 2, 3, 4]);
        damaged[40 + 8] ^= 0x10;
        Send(fabric, damaged);
        fabric.Pump();

        var server = fabric.Web1.Received6.Count > 0 ? fabric.Web1 : fabric.Web2;
        var request = Assert.Single(server.Received6);
        Assert.False(Packets.ChecksumsValid6(request));
        request[40 + 8] ^= 0x10;
        Assert.True(Packets.ChecksumsValid6(request));
        Assert.Empty(fabric.Eng1.Received6);
    }

    /// <summary>An ICMPv6 message other than an echo request to a service at a peer opens no session: refused at the ingress, nothing crosses.</summary>
    [Fact]
    public void Icmpv6EchoReply_ToAServiceAtAPeer_RefusedAtIngressAsNoRoute_NothingCrosses()
    {
        using var fabric = new SvrFabric(WithPing);
        Send(fabric, Packets.Icmp6(Eng1, Web, Icmpv6Type.EchoReply, 7, 1, [1, 2, 3, 4]));
        fabric.Pump();

        Assert.Empty(SvrFabricTests.WaypointPackets(fabric.DcWan.Received));
        Assert.Equal(1, SvrFabric.Drops(fabric.Br1, DropReason.NoRoute));
    }

    /// <summary>Forged metadata whose context names an ICMPv6 session but whose datagram carries no whole ICMPv6 message: dropped as malformed, nothing delivered.</summary>
    [Fact]
    public void ForgedIcmpv6Context_WithoutAWholeMessage_DroppedAsMalformed_NothingDelivered()
    {
        using var fabric = new SvrFabric(WithPing);
        var metadata = new SvrMetadata
        {
            ForwardContext = new MetadataContext(SessionKey.V6(Eng1, Web, 7, 7, IpProtocol.Icmpv6)),
            SessionId = Guid.NewGuid(),
            Tenant = "engineering",
            Service = "web",
            SourceRouter = "br1",
        };
        fabric.Attacker.SendIp(WaypointWith(metadata, "short"u8.ToArray()));
        fabric.Pump();

        Assert.Empty(fabric.Web1.Received6);
        Assert.Empty(fabric.Web2.Received6);
        Assert.Equal(1, SvrFabric.Drops(fabric.Dc1, DropReason.Malformed));
        Assert.Equal(0, fabric.Dc1.Worker.Faults.Total);
    }

    /// <summary>An IPv6 context naming ICMP (IPv4's protocol 1) is no session that crosses: dropped as a mismatch, nothing delivered.</summary>
    [Fact]
    public void ForgedIpv6Metadata_OfAnIcmpv4Session_DroppedAsMetadataMismatch_NothingDelivered()
    {
        using var fabric = new SvrFabric(WithPing);
        var metadata = new SvrMetadata
        {
            ForwardContext = new MetadataContext(SessionKey.V6(Eng1, Web, 7, 7, IpProtocol.Icmp)),
            SessionId = Guid.NewGuid(),
            Tenant = "engineering",
            Service = "web",
            SourceRouter = "br1",
        };
        fabric.Attacker.SendIp(WaypointWith(metadata));
        fabric.Pump();

        Assert.Empty(fabric.Web1.Received6);
        Assert.Empty(fabric.Web2.Received6);
        Assert.Equal(1, SvrFabric.Drops(fabric.Dc1, DropReason.MetadataMismatch));
        Assert.Equal(0, fabric.Dc1.Worker.Faults.Total);
    }

    [Fact]
    public void ForgedIpv6Context_OfAnotherLength_DroppedAsMalformedMetadata()
    {
        using var fabric = new SvrFabric(SvrFabric.DualStack);
        var block = new byte[256];
        var writer = new MetadataWriter(block);
        writer.BeginHeader();
        writer.BeginPayload();
        writer.AddTlv(MetadataTlvType.ForwardContextV6, new byte[20]);
        writer.AddTlv(MetadataTlvType.Tenant, "engineering"u8);
        Assert.True(writer.Finish(out var length));
        fabric.Attacker.SendIp(WaypointWith(block[..length]));
        fabric.Pump();

        Assert.Empty(fabric.Web1.Received6);
        Assert.Equal(1, SvrFabric.Drops(fabric.Dc1, DropReason.MetadataMalformed));
        Assert.Equal(0, fabric.Dc1.Worker.Faults.Total);
    }

    /// <summary>The dual-stack fabric with web answering pings (an icmp transport) as well.</summary>
    private static readonly Func<string, string> WithPing = text => SvrFabric.DualStack(text).Replace(
        "transports = [{ protocol = tcp, ports = [\"80\"] }]", "transports = [{ protocol = tcp, ports = [\"80\"] }, { protocol = icmp }]",
        StringComparison.Ordinal);

    private static void Send(SvrFabric fabric, byte[] packet) => fabric.Eng1.SendIpv6(fabric.Br1.Ports[1].Mac, packet);

    private static byte[] WaypointWith(SvrMetadata metadata, byte[]? payload = null)
    {
        var block = new byte[metadata.EmitLength];
        metadata.Emit(block);
        return WaypointWith(block, payload);
    }

    /// <summary>A UDP waypoint packet from br1's WAN address to dc1's carrying <paramref name="block"/> and a payload.</summary>
    private static byte[] WaypointWith(byte[] block, byte[]? payload = null)
    {
        var packet = Packets.Udp(
            IpAddressConversions.ParseIpv4("172.16.0.2"), IpAddressConversions.ParseIpv4("172.16.0.1"), 16384, 16385, payload ?? "payload"u8.ToArray());
        var room = new byte[packet.Length + block.Length];
        packet.CopyTo(room, 0);
        Assert.True(MetadataInsertion.TryInsert(room, packet.Length, block, out var length));
        return room[..length];
    }

    private static bool IsIpv6Frame(byte[] frame) => EthernetFrame.TryCreate(frame, out var ethernet) && ethernet.EtherType == EtherType.Ipv6
        && Ipv6Packet.TryCreate(ethernet.Payload, out var ip) && ip.UpperLayerProtocol != IpProtocol.Icmpv6;

    private static byte[] TcpPayload6(byte[] packet)
    {
        Assert.True(Ipv6Packet.TryCreate(packet, out var ip));
        Assert.True(TcpSegment.TryCreate(ip.UpperLayer, out var tcp));
        return tcp.Payload.ToArray();
    }
}
