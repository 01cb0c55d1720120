using System.Buffers.Binary;
using Fabric.Actors.Tracing;
using Fabric.Dataplane.Pipeline;
using Fabric.Dataplane.Sessions;
using Fabric.Dataplane.Svr;
using Fabric.Dataplane.Svr.Security;
using Fabric.Dataplane.Wire;
using Fabric.Tests.Dataplane.Routing;

namespace Fabric.Tests.Dataplane.Svr.Routers;

/// <summary>
/// Sessions of either family across an IPv6 WAN (<see cref="SvrFabric.Ipv6Wan"/>: the routers' waypoints fd00:16::1 on
/// dc1 and ::2 on br1, no IPv4 address on the WAN) in the dual-stack lab fabric (<see cref="SvrFabric.DualStack"/>): eng1
/// reaches web (fd00:200::80 and 10.200.0.80, instances behind dc1) as IPv6 and as IPv4. Between the waypoints the
/// packets are IPv6 and the metadata carries the original tuple of its own family; both ends see their own family only.
/// </summary>
public sealed class SvrIpv6WanTests
{
    private static readonly UInt128 Web6 = IpAddressConversions.ParseIpv6("fd00:200::80");
    private static readonly UInt128 Eng1 = IpAddressConversions.ParseIpv6("fd00:20:1::10");
    private static readonly UInt128 Br1Wan = IpAddressConversions.ParseIpv6("fd00:16::2");
    private static readonly UInt128 Dc1Wan = IpAddressConversions.ParseIpv6("fd00:16::1");
    private const string Web4 = "10.200.0.80";

    private static readonly Func<string, string> Ipv6WanDualStack = text => SvrFabric.Ipv6Wan(SvrFabric.DualStack(text));

    private static readonly Func<string, string> WithDns = text => Ipv6WanDualStack(text).Replace(
        "transports = [{ protocol = tcp, ports = [\"80\"] }]", "transports = [{ protocol = tcp, ports = [\"80\"] }, { protocol = udp, ports = [\"53\"] }]",
        StringComparison.Ordinal);

    /// <summary>For <see cref="PathFabric"/>: its second WAN (wan1, neighborhood wan2) IPv6 only, fd00:17::1 on dc1 and ::2 on br1.</summary>
    private static readonly Func<string, string> Ipv6Wan1 = text => text
        .Replace("\"172.17.0.1/24\"", "\"fd00:17::1/64\"", StringComparison.Ordinal)
        .Replace("\"172.17.0.2/24\"", "\"fd00:17::2/64\"", StringComparison.Ordinal);

    private static readonly Func<string, string> WithPing = text => Ipv6WanDualStack(text).Replace(
        "transports = [{ protocol = tcp, ports = [\"80\"] }]", "transports = [{ protocol = tcp, ports = [\"80\"] }, { protocol = icmp }]",
        StringComparison.Ordinal);

    private static readonly Func<string, string> Encrypted = text => Ipv6WanDualStack(text).Replace(
        "load-balancing = proportional", "load-balancing = proportional\n      encryption = required", StringComparison.Ordinal);

    [Fact]
    public void PeerPaths_OfAnIpv6Wan_HaveIpv6Waypoints()
    {
        using var fabric = new SvrFabric(Ipv6WanDualStack);

        var path = Array.Find(fabric.Br1.Snapshot.PeerPaths, p => p.PeerRouter == "dc1")!;
        Assert.Equal((true, Br1Wan, Dc1Wan), (path.IsIpv6, path.LocalAddress, path.PeerAddress));
        Assert.Equal("fd00:16::1", path.PeerIPAddress.ToString());
        Assert.True(fabric.Br1.Snapshot.Ports[0].IsWaypoint(Br1Wan, isIpv6: true, 16384));
        Assert.False(fabric.Br1.Snapshot.Ports[0].IsWaypoint((uint)Br1Wan, isIpv6: false, 16384));
    }

    [Fact]
    public void Tcp6_OverIpv6Wan_RestoredAtBothEnds_WireIsIpv6WaypointsWithIpv6Context_ThenZeroBytesAdded()
    {
        using var fabric = new SvrFabric(Ipv6WanDualStack);
        Send6(fabric, Packets.Tcp6(Eng1, Web6, 40000, 80, TcpFlags.Syn, 100, 0, []));
        fabric.Pump();
        var server = fabric.Web1.Received6.Count > 0 ? fabric.Web1 : fabric.Web2;
        var syn = Assert.Single(server.Received6);
        Assert.True(Packets.ChecksumsValid6(syn));
        Assert.True(Ipv6Packet.TryCreate(syn, out var synIp));
        Assert.Equal((Eng1, server.Address6!.Value, (byte)62), (synIp.Source, synIp.Destination, synIp.HopLimit));

        Send6(fabric, Packets.Tcp6(Eng1, Web6, 40000, 80, TcpFlags.Ack, 101, 5001, []));
        Send6(fabric, Packets.Tcp6(Eng1, Web6, 40000, 80, TcpFlags.Ack | TcpFlags.Psh, 101, 5001, new byte[1000]));
        fabric.Pump();

        var echo = fabric.Eng1.Received6[^1];
        Assert.True(Packets.ChecksumsValid6(echo));
        Assert.True(Ipv6Packet.TryCreate(echo, out var echoIp));
        Assert.Equal((Web6, Eng1), (echoIp.Source, echoIp.Destination));
        Assert.Equal(40 + 20 + 1000, echo.Length);

        // Only IPv6 waypoint packets crossed (no IPv4 at all), each checks, the SYN names the IPv6 original tuple.
        Assert.DoesNotContain(fabric.DcWan.Received, IsIpv4Frame);
        var toDc = WaypointPackets6(fabric.DcWan.Received);
        Assert.Equal(3, toDc.Count);
        Assert.All(toDc, packet => Assert.True(Packets.ChecksumsValid6(packet)));
        Assert.All(toDc, packet => Assert.Equal((Br1Wan, Dc1Wan), Addresses(packet)));
        Assert.Equal(SessionKey.V6(Eng1, Web6, 40000, 80, IpProtocol.Tcp), ForwardContext(toDc[0]).Key);
        Assert.False(SvrFabricTests.HasMetadata(toDc[2]));
        Assert.Equal(40 + 20 + 1000, toDc[2].Length);
        var toBr = WaypointPackets6(fabric.BrWan.Received);
        Assert.All(toBr, packet => Assert.Equal((Dc1Wan, Br1Wan), Addresses(packet)));
        Assert.True(SvrFabricTests.HasMetadata(toBr[0]));

        var egress = SvrFabric.OnlySession(fabric.Dc1);
        Assert.Equal((SvrRole.Egress, true), (egress.Svr, egress.IsIpv6));
        Assert.Equal(0, fabric.Dc1.Worker.Counters.Dropped);
        Assert.Equal(0, fabric.Br1.Worker.Counters.Dropped);
    }

    [Fact]
    public void Tcp4_OverIpv6Wan_CrossesAsIpv6WithIpv4Context_InstanceAndClientSeeIpv4()
    {
        using var fabric = new SvrFabric(Ipv6WanDualStack);
        fabric.Eng1.SendTcp(Web4, 40000, 80, TcpFlags.Syn, 100, 0, []);
        fabric.Pump();
        var server = fabric.Web1.Received.Count > 0 ? fabric.Web1 : fabric.Web2;
        var syn = Assert.Single(server.Received);
        Assert.True(Packets.ChecksumsValid(syn));
        Assert.True(Ipv4Packet.TryCreate(syn, out var synIp));
        Assert.Equal((fabric.Eng1.Address, server.Address, (byte)62), (synIp.Source, synIp.Destination, synIp.Ttl));

        fabric.Eng1.SendTcp(Web4, 40000, 80, TcpFlags.Ack, 101, 5001, []);
        fabric.Eng1.SendTcp(Web4, 40000, 80, TcpFlags.Ack | TcpFlags.Psh, 101, 5001, new byte[1000]);
        fabric.Pump();

        var echo = fabric.Eng1.Received[^1];
        Assert.True(Packets.ChecksumsValid(echo));
        Assert.Equal(IpAddressConversions.ParseIpv4(Web4), BinaryPrimitives.ReadUInt32BigEndian(echo.AsSpan(12)));
        Assert.Equal(20 + 20 + 1000, echo.Length);
        Assert.Empty(fabric.Eng1.Received6);

        var toDc = WaypointPackets6(fabric.DcWan.Received);
        Assert.Equal(3, toDc.Count);
        Assert.All(toDc, packet => Assert.True(Packets.ChecksumsValid6(packet)));
        Assert.Equal(SessionKey.V4(fabric.Eng1.Address, IpAddressConversions.ParseIpv4(Web4), 40000, 80, IpProtocol.Tcp), ForwardContext(toDc[0]).Key);
        Assert.False(SvrFabricTests.HasMetadata(toDc[2]));
        Assert.Equal(40 + 20 + 1000, toDc[2].Length);
        Assert.DoesNotContain(fabric.DcWan.Received, IsIpv4Frame);
        var egress = SvrFabric.OnlySession(fabric.Dc1);
        Assert.Equal((SvrRole.Egress, false), (egress.Svr, egress.IsIpv6));
        Assert.Equal(0, fabric.Dc1.Worker.Counters.Dropped);
        Assert.Equal(0, fabric.Br1.Worker.Counters.Dropped);
    }

    /// <summary>
    /// An IPv4 packet crosses the IPv6 WAN 20 octets longer: a full-size don't-fragment segment gets fragmentation-needed
    /// with 20 octets less, and a segment of that size crosses at the WAN's MTU and arrives whole.
    /// </summary>
    [Fact]
    public void Tcp4_FullSizeDfSegment_OverIpv6Wan_FragNeededWith20OctetsLess_ThenThatSizeCrosses()
    {
        using var fabric = new SvrFabric(Ipv6WanDualStack);
        fabric.Eng1.SendTcp(Web4, 40000, 80, TcpFlags.Syn, 100, 0, []);
        fabric.Pump();
        fabric.Eng1.SendTcp(Web4, 40000, 80, TcpFlags.Ack, 101, 5001, []);
        fabric.Pump();
        var before = fabric.Eng1.Received.Count;

        fabric.Eng1.SendTcp(Web4, 40000, 80, TcpFlags.Ack | TcpFlags.Psh, 101, 5001, new byte[1460]);
        fabric.Pump();
        var error = Assert.Single(fabric.Eng1.Received.Skip(before));
        Assert.True(Packets.ChecksumsValid(error));
        Assert.Equal((IpProtocol.Icmp, Icmpv4Type.DestinationUnreachable, Icmpv4Code.FragmentationNeeded), (error[9], error[20], error[21]));
        Assert.Equal(1480, BinaryPrimitives.ReadUInt16BigEndian(error.AsSpan(26)));

        fabric.Eng1.SendTcp(Web4, 40000, 80, TcpFlags.Ack | TcpFlags.Psh, 101, 5001, new byte[1440]);
        fabric.Pump();
        Assert.Equal(1500, WaypointPackets6(fabric.DcWan.Received)[^1].Length);
        var server = fabric.Web1.Received.Count > 0 ? fabric.Web1 : fabric.Web2;
        Assert.Equal(1480, server.Received[^1].Length);
        Assert.Equal(new byte[1440], TcpPayload(fabric.Eng1.Received[^1]));
    }

    [Fact]
    public void Udp6AndUdp4_RequestAndReply_OverIpv6Wan_SecondExchangeCarriesNoMetadata()
    {
        using var fabric = new SvrFabric(WithDns);
        Send6(fabric, Packets.Udp6(Eng1, Web6, 5000, 53, "one"u8.ToArray()));
        fabric.Eng1.SendUdp(Web4, 5001, 53, "uno"u8.ToArray());
        fabric.Pump();
        Send6(fabric, Packets.Udp6(Eng1, Web6, 5000, 53, "two"u8.ToArray()));
        fabric.Eng1.SendUdp(Web4, 5001, 53, "dos"u8.ToArray());
        fabric.Pump();

        Assert.Equal(2, fabric.Eng1.Received6.Count);
        Assert.All(fabric.Eng1.Received6, reply => Assert.True(Packets.ChecksumsValid6(reply)));
        Assert.True(Ipv6Packet.TryCreate(fabric.Eng1.Received6[1], out var second6));
        Assert.True(UdpDatagram.TryCreate(second6.UpperLayer, out var udp6));
        Assert.Equal((Web6, (ushort)53, "two"), (second6.Source, udp6.SourcePort, System.Text.Encoding.ASCII.GetString(udp6.Payload)));
        Assert.Equal(2, fabric.Eng1.Received.Count);
        Assert.All(fabric.Eng1.Received, reply => Assert.True(Packets.ChecksumsValid(reply)));
        Assert.True(Ipv4Packet.TryCreate(fabric.Eng1.Received[1], out var second4));
        Assert.True(UdpDatagram.TryCreate(second4.Payload, out var udp4));
        Assert.Equal((IpAddressConversions.ParseIpv4(Web4), (ushort)53, "dos"), (second4.Source, udp4.SourcePort, System.Text.Encoding.ASCII.GetString(udp4.Payload)));

        var toDc = WaypointPackets6(fabric.DcWan.Received);
        Assert.Equal(4, toDc.Count);
        Assert.Equal(2, toDc.Count(SvrFabricTests.HasMetadata));
        Assert.Equal(2, toDc.Count(packet => packet.Length == 40 + 8 + 3));
    }

    /// <summary>
    /// A one-way UDP flow of either family over the IPv6 WAN: the egress's handshake acknowledgement leaves from dc1's
    /// IPv6 waypoint to br1's on the session's waypoint ports (sealed when the path has keys), and the datagrams after it
    /// cross bare.
    /// </summary>
    [Theory]
    [InlineData(true, false)]
    [InlineData(false, false)]
    [InlineData(true, true)]
    [InlineData(false, true)]
    public void OneWayUdpFlow_OverIpv6Wan_AcknowledgedFromTheWaypoint_LaterDatagramsCrossBare(bool ipv6Client, bool keys)
    {
        using var fabric = new SvrFabric(WithDns);
        if (keys)
        {
            fabric.ShareKeys(fabric.Br1, fabric.Dc1, epoch: 1);
        }

        fabric.Web1.IsServer = false;
        fabric.Web2.IsServer = false;
        SendUdp(fabric, ipv6Client, "one");
        fabric.Pump();
        fabric.Time.Advance(SvrStage.ResignalAfterQuiet + TimeSpan.FromMilliseconds(100));
        for (var i = 0; i < 3; i++)
        {
            SendUdp(fabric, ipv6Client, "more");
            fabric.Pump();
        }

        Assert.Equal(1, fabric.Dc1.Worker.Counters.MetadataAcknowledgements);
        var ack = Assert.Single(WaypointPackets6(fabric.BrWan.Received));
        Assert.True(Packets.ChecksumsValid6(ack));
        var toDc = WaypointPackets6(fabric.DcWan.Received);
        Assert.Equal((Dc1Wan, Br1Wan), Addresses(ack));
        Assert.True(UdpDatagram.TryCreate(ack.AsSpan(Ipv6Packet.HeaderLength), out var ackUdp));
        Assert.True(UdpDatagram.TryCreate(toDc[0].AsSpan(Ipv6Packet.HeaderLength), out var first));
        Assert.Equal((first.DestinationPort, first.SourcePort), (ackUdp.SourcePort, ackUdp.DestinationPort));
        Assert.True(MetadataInsertion.TryLocate(ack, ack.Length, out var block, out _));
        var fields = MetadataFields.Read(block);
        Assert.True(fields.DisableForwardMetadata);
        Assert.Equal(keys, fields.HasSecurityId);
        Assert.Equal(40 + 8 + block.TotalLength + (keys ? PacketSealer.TrailerLength : 0), ack.Length);
        Assert.Equal([true, true, false, false], toDc.Select(SvrFabricTests.HasMetadata));
        Assert.Equal(0, fabric.Dc1.Worker.Counters.Dropped);
        Assert.Equal(0, fabric.Br1.Worker.Counters.Dropped);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Tcp_EncryptedService_OverIpv6Wan_CiphertextOnTheWire_DeliveredWhole(bool ipv6Client)
    {
        using var fabric = new SvrFabric(Encrypted);
        fabric.ShareKeys(fabric.Br1, fabric.Dc1, epoch: 1);
        var secret = "a secret that never crosses in clear"u8.ToArray();
        SendTcp(fabric, ipv6Client, TcpFlags.Syn, 100, 0, []);
        fabric.Pump();
        SendTcp(fabric, ipv6Client, TcpFlags.Ack | TcpFlags.Psh, 101, 5001, secret);
        fabric.Pump();

        var server = ipv6Client
            ? (fabric.Web1.Received6.Count > 0 ? fabric.Web1 : fabric.Web2).Received6
            : (fabric.Web1.Received.Count > 0 ? fabric.Web1 : fabric.Web2).Received;
        var client = ipv6Client ? fabric.Eng1.Received6 : fabric.Eng1.Received;
        Assert.Equal(secret, TcpPayload(server[^1]));
        Assert.Equal(secret, TcpPayload(client[^1]));
        Assert.True(ipv6Client ? Packets.ChecksumsValid6(client[^1]) : Packets.ChecksumsValid(client[^1]));
        var toDc = WaypointPackets6(fabric.DcWan.Received);
        Assert.Equal(40 + 20 + secret.Length + PacketSealer.TrailerLength, toDc[^1].Length);
        Assert.All(toDc, packet => Assert.True(packet.AsSpan().IndexOf(secret) < 0));
        Assert.All(WaypointPackets6(fabric.BrWan.Received), packet => Assert.True(packet.AsSpan().IndexOf(secret) < 0));
        Assert.True(SvrFabric.OnlySession(fabric.Dc1).Sealed);
        Assert.Equal(0, fabric.Dc1.Worker.Counters.Dropped);
    }

    /// <summary>
    /// Pings of both families over the IPv6 WAN: an ICMPv6 echo and an IPv4 echo from eng1 to web's addresses cross as IPv6
    /// UDP between the waypoints with the message inside (and nothing IPv4 on the WAN), reach an instance as echoes of
    /// their own family with valid checksums (the ICMPv6 one adjusted to the instance's address), and the replies come back
    /// valid from web's addresses.
    /// </summary>
    [Fact]
    public void Ping6AndPing4_OverIpv6Wan_CrossAsIpv6Udp_ArriveValid_RepliesValidFromTheServiceAddress()
    {
        using var fabric = new SvrFabric(WithPing);
        Send6(fabric, Packets.Icmp6(Eng1, Web6, Icmpv6Type.EchoRequest, 7, 1, [1, 2, 3, 4]));
        fabric.Eng1.Ping(Web4, 8, 1);
        fabric.Pump();
        Send6(fabric, Packets.Icmp6(Eng1, Web6, Icmpv6Type.EchoRequest, 7, 2, [1, 2, 3, 4]));
        fabric.Eng1.Ping(Web4, 8, 2);
        fabric.Pump();

        var request6 = fabric.Web1.Received6.Concat(fabric.Web2.Received6).ToList();
        Assert.Equal(2, request6.Count);
        Assert.All(request6, request => Assert.True(Packets.ChecksumsValid6(request)));
        Assert.True(Ipv6Packet.TryCreate(request6[0], out var request6Ip));
        Assert.Equal((Eng1, IpProtocol.Icmpv6), (request6Ip.Source, request6Ip.UpperLayerProtocol));
        Assert.NotEqual(Web6, request6Ip.Destination);
        var request4 = fabric.Web1.Received.Concat(fabric.Web2.Received).ToList();
        Assert.Equal(2, request4.Count);
        Assert.All(request4, request => Assert.True(Packets.ChecksumsValid(request)));
        Assert.True(Ipv4Packet.TryCreate(request4[0], out var request4Ip));
        Assert.Equal((fabric.Eng1.Address, IpProtocol.Icmp), (request4Ip.Source, request4Ip.Protocol));

        Assert.Equal(2, fabric.Eng1.Received6.Count);
        foreach (var reply in fabric.Eng1.Received6)
        {
            Assert.True(Packets.ChecksumsValid6(reply));
            Assert.True(Ipv6Packet.TryCreate(reply, out var ip));
            Assert.True(Icmpv6Packet.TryCreate(ip.UpperLayer, out var icmp));
            Assert.Equal((Web6, Eng1, Icmpv6Type.EchoReply, (ushort)7), (ip.Source, ip.Destination, icmp.Type, icmp.Identifier));
        }

        Assert.Equal(2, fabric.Eng1.Received.Count);
        foreach (var reply in fabric.Eng1.Received)
        {
            Assert.True(Packets.ChecksumsValid(reply));
            Assert.True(Ipv4Packet.TryCreate(reply, out var ip));
            Assert.True(Icmpv4Packet.TryCreate(ip.Payload, out var icmp));
            Assert.Equal((IpAddressConversions.ParseIpv4(Web4), Icmpv4Type.EchoReply, (ushort)8), (ip.Source, icmp.Type, icmp.Identifier));
        }

        Assert.DoesNotContain(fabric.DcWan.Received, IsIpv4Frame);
        Assert.DoesNotContain(fabric.BrWan.Received, IsIpv4Frame);
        var toDc = WaypointPackets6(fabric.DcWan.Received);
        var toBr = WaypointPackets6(fabric.BrWan.Received);
        Assert.Equal((4, 4), (toDc.Count, toBr.Count));
        Assert.All(toDc.Concat(toBr), packet =>
        {
            Assert.True(Ipv6Packet.TryCreate(packet, out var ip));
            Assert.Equal(IpProtocol.Udp, ip.UpperLayerProtocol);
            Assert.True(SvrFabricTests.HasMetadata(packet));
            Assert.True(Packets.ChecksumsValid6(packet));
        });
        Assert.Equal((Br1Wan, Dc1Wan), Addresses(toDc[0]));
        Assert.Contains(toDc, packet => ForwardContext(packet).Key == SessionKey.V6(Eng1, Web6, 7, 7, IpProtocol.Icmpv6));
        Assert.Contains(toDc, packet => ForwardContext(packet).Key == SessionKey.V4(fabric.Eng1.Address, IpAddressConversions.ParseIpv4(Web4), 8, 8, IpProtocol.Icmp));
        Assert.Equal(0, fabric.Dc1.Worker.Counters.Dropped);
        Assert.Equal(0, fabric.Br1.Worker.Counters.Dropped);
    }

    /// <summary>
    /// <c>fabric trace --protocol icmp</c> agrees with the dataplane: from eng1 to web's IPv6 address br1 carries the ping on
    /// to dc1 over the IPv6 path, and dc1 forwards it to an instance.
    /// </summary>
    [Fact]
    public void Trace_Icmp6ToTheServiceBehindDc1_GoesOnOverTheIpv6Path_ForwardedThere()
    {
        using var fabric = new SvrFabric(WithPing);
        var atBr1 = PacketTracer.Trace("br1a", fabric.Br1.Snapshot, new TraceQuestion("eng1", "fd00:20:1::10", 0, "fd00:200::80", 0, "icmp"));
        Assert.Equal("dc1", atBr1.NextRouter);
        Assert.Contains(atBr1.Steps, step => step.Step == "peer_path" && step.Why!.Contains("fd00:16::2 > fd00:16::1", StringComparison.Ordinal));

        var atDc1 = PacketTracer.Trace(
            "dc1a", fabric.Dc1.Snapshot, new TraceQuestion(null, "fd00:20:1::10", 0, "fd00:200::80", 0, "icmp", FromRouter: "br1", Tenant: atBr1.Tenant, Service: atBr1.Service));
        Assert.Equal("forwarded", atDc1.Verdict);
    }

    /// <summary>
    /// Two WANs between br1 and dc1, wan0 IPv4 and wan1 IPv6 (<see cref="PathFabric"/>, wan1 on fd00:17::/64): the IPv6
    /// path comes up by its probes (its peer found by neighbour discovery) and measures echoes; an IPv4 TCP session moves
    /// from the IPv4 path to the IPv6 one when wan0 is cut, dc1 adopts it on its IPv6 waypoint tuple, and it comes back
    /// home when wan0 returns, neither endpoint seeing a reset.
    /// </summary>
    [Fact]
    public void Failover_BetweenAnIpv4AndAnIpv6Path_SessionMovesAndComesBack_EndpointsNoticeNothing()
    {
        using var fabric = new PathFabric("revertible-failover", edit: Ipv6Wan1);
        fabric.RunSeconds(12);
        var home = fabric.Br1Wan0;
        var backup = fabric.Br1Wan1;
        Assert.Equal((false, true), (home.IsIpv6, backup.IsIpv6));
        Assert.Equal(PeerPathState.Up, backup.Health.State);
        Assert.InRange(backup.Health.ProbesReceived, 10, 12);
        Assert.True(backup.Health.EchoesReceived > 0);
        Assert.True(backup.Health.LatencyMicroseconds >= 0);

        fabric.Eng1.SendTcp(Web4, 40000, 80, TcpFlags.Syn, 100, 0, []);
        fabric.Pump();
        fabric.Eng1.SendTcp(Web4, 40000, 80, TcpFlags.Ack, 101, 5001, []);
        Exchange(fabric, 101, "before");
        Assert.Equal(home.PoolId, SvrFabric.OnlySession(fabric.Br1).WaypointPool);

        fabric.CutWan0(true);
        fabric.RunSeconds(3);
        Exchange(fabric, 107, "during");
        Assert.Equal(backup.PoolId, SvrFabric.OnlySession(fabric.Br1).WaypointPool);
        Assert.Equal((1L, 1L), (fabric.Br1.Worker.Counters.SessionsMoved, fabric.Dc1.Worker.Counters.SessionsMoved));
        Assert.Equal(1, fabric.Dc1.Worker.Sessions.Count);
        Assert.Contains(WaypointPackets6(fabric.DcWan1.Received), packet => Ipv6Packet.TryCreate(packet, out var ip) && ip.UpperLayerProtocol == IpProtocol.Tcp);

        fabric.CutWan0(false);
        fabric.RunSeconds(6);
        Exchange(fabric, 113, "after!");
        Assert.Equal(home.PoolId, SvrFabric.OnlySession(fabric.Br1).WaypointPool);
        Assert.Equal((2L, 2L), (fabric.Br1.Worker.Counters.SessionsMoved, fabric.Dc1.Worker.Counters.SessionsMoved));
        Assert.Equal(1, fabric.Dc1.Worker.Sessions.Count);
        foreach (var host in new[] { fabric.Eng1, fabric.Web1, fabric.Web2 })
        {
            Assert.DoesNotContain(host.Received, packet => Ipv4Packet.TryCreate(packet, out var ip) && TcpSegment.TryCreate(ip.Payload, out var tcp) && (tcp.Flags & TcpFlags.Rst) != 0);
        }
    }

    /// <summary>
    /// A ping's session moves onto an IPv6 path like any other: with its IPv4 path down its next echo crosses the IPv6
    /// path as IPv6 UDP, dc1 adopts the session on its IPv6 waypoint tuple, and the reply comes back.
    /// </summary>
    [Fact]
    public void Ping4_PathDown_MovesOntoTheIpv6Path_ReplyComesBack()
    {
        using var fabric = new PathFabric("revertible-failover", edit: text => Ipv6Wan1(text)
            .Replace("transports = [{ protocol = tcp, ports = [\"80\"] }]", "transports = [{ protocol = tcp, ports = [\"80\"] }, { protocol = icmp }]", StringComparison.Ordinal));
        fabric.RunSeconds(2);
        fabric.Eng1.Ping(Web4, 7, 1);
        fabric.Pump();
        Assert.Single(fabric.Eng1.Received);

        fabric.CutWan0(true);
        fabric.RunSeconds(3);
        fabric.Eng1.Ping(Web4, 7, 2);
        fabric.Pump();

        Assert.Equal(2, fabric.Eng1.Received.Count);
        Assert.True(Packets.ChecksumsValid(fabric.Eng1.Received[1]));
        Assert.True(Ipv4Packet.TryCreate(fabric.Eng1.Received[1], out var reply));
        Assert.True(Icmpv4Packet.TryCreate(reply.Payload, out var echo));
        Assert.Equal((Icmpv4Type.EchoReply, (ushort)2), (echo.Type, echo.SequenceNumber));
        Assert.Equal(fabric.Br1Wan1.PoolId, SvrFabric.OnlySession(fabric.Br1).WaypointPool);
        Assert.Equal((1L, 1L), (fabric.Br1.Worker.Counters.SessionsMoved, fabric.Dc1.Worker.Counters.SessionsMoved));
        Assert.Contains(fabric.DcWan1.Received, frame => EthernetFrame.TryCreate(frame, out var ethernet) && ethernet.EtherType == EtherType.Ipv6
            && Ipv6Packet.TryCreate(ethernet.Payload, out var ip) && ip.UpperLayerProtocol == IpProtocol.Udp && BinaryPrimitives.ReadUInt16BigEndian(ip.UpperLayer[2..]) >= 16384);
    }

    /// <summary>Sends a data segment from eng1 on the web connection and checks the server's echo comes back whole.</summary>
    private static void Exchange(PathFabric fabric, uint sequence, string text)
    {
        var before = fabric.Eng1.Received.Count;
        var data = System.Text.Encoding.ASCII.GetBytes(text);
        fabric.Eng1.SendTcp(Web4, 40000, 80, TcpFlags.Ack | TcpFlags.Psh, sequence, 5001, data);
        fabric.Pump();
        var reply = Assert.Single(fabric.Eng1.Received.Skip(before));
        Assert.True(Packets.ChecksumsValid(reply));
        Assert.Equal(data, TcpPayload(reply));
    }

    private static void Send6(SvrFabric fabric, byte[] packet) => fabric.Eng1.SendIpv6(fabric.Br1.Ports[1].Mac, packet);

    private static void SendUdp(SvrFabric fabric, bool ipv6Client, string text)
    {
        var payload = System.Text.Encoding.ASCII.GetBytes(text);
        if (ipv6Client)
        {
            Send6(fabric, Packets.Udp6(Eng1, Web6, 5000, 53, payload));
        }
        else
        {
            fabric.Eng1.SendUdp(Web4, 5000, 53, payload);
        }
    }

    private static void SendTcp(SvrFabric fabric, bool ipv6Client, TcpFlags flags, uint sequence, uint acknowledgment, byte[] payload)
    {
        if (ipv6Client)
        {
            Send6(fabric, Packets.Tcp6(Eng1, Web6, 40000, 80, flags, sequence, acknowledgment, payload));
        }
        else
        {
            fabric.Eng1.SendTcp(Web4, 40000, 80, flags, sequence, acknowledgment, payload);
        }
    }

    /// <summary>
    /// The IPv6 packets among <paramref name="frames"/> that went to a waypoint port (TCP or UDP to a port in the SVR range:
    /// no neighbour discovery, no path probe), without their Ethernet header.
    /// </summary>
    internal static List<byte[]> WaypointPackets6(List<byte[]> frames) =>
        [.. frames
            .Where(frame => EthernetFrame.TryCreate(frame, out var ethernet) && ethernet.EtherType == EtherType.Ipv6
                && Ipv6Packet.TryCreate(ethernet.Payload, out var ip) && ip.UpperLayerProtocol is IpProtocol.Tcp or IpProtocol.Udp
                && BinaryPrimitives.ReadUInt16BigEndian(ip.UpperLayer[2..]) >= 16384)
            .Select(frame => frame[EthernetFrame.UntaggedHeaderLength..])];

    private static (UInt128, UInt128) Addresses(byte[] packet)
    {
        Assert.True(Ipv6Packet.TryCreate(packet, out var ip));
        return (ip.Source, ip.Destination);
    }

    private static MetadataContext ForwardContext(byte[] packet)
    {
        Assert.True(MetadataInsertion.TryLocate(packet, packet.Length, out var block, out _));
        Assert.True(SvrMetadata.TryParse(block, out var metadata, out _));
        return metadata.ForwardContext!.Value;
    }

    private static bool IsIpv4Frame(byte[] frame) => EthernetFrame.TryCreate(frame, out var ethernet) && ethernet.EtherType is EtherType.Ipv4 or EtherType.Arp;

    private static byte[] TcpPayload(byte[] packet)
    {
        if (Ipv6Packet.TryCreate(packet, out var ip6))
        {
            Assert.True(TcpSegment.TryCreate(ip6.UpperLayer, out var tcp6));
            return tcp6.Payload.ToArray();
        }

        Assert.True(Ipv4Packet.TryCreate(packet, out var ip4));
        Assert.True(TcpSegment.TryCreate(ip4.Payload, out var tcp4));
        return tcp4.Payload.ToArray();
    }
}
