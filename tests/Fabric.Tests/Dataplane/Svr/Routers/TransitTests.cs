using System.Buffers.Binary;
using Fabric.Dataplane.Pipeline;
using Fabric.Dataplane.Sessions;
using Fabric.Dataplane.Svr;
using Fabric.Dataplane.Wire;
using Fabric.Tests.Dataplane.Routing;

namespace Fabric.Tests.Dataplane.Svr.Routers;

/// <summary>
/// Context across hops: br1 → dc1 (transit) → br2, where br1 and br2 share no neighborhood. The session keeps its tenant
/// and service at every hop, and br2 enforces the access policy again with the tenant from the metadata dc1 relays.
/// </summary>
public sealed class TransitTests
{
    private const string Remote = "10.200.0.95";
    private const string Vault = "10.200.0.96";

    /// <summary>
    /// remote hosted at br2 (app2) and at dc2 (spare2), both behind dc1 for br1: br1's one path, to dc1, leads to either
    /// and is listed under both routers' slots. Load balancing (hunt: spare2 costs less) picks dc2; the session goes there
    /// and counts there, not at the first router behind the path.
    /// </summary>
    [Fact]
    public void ServiceAtTwoRoutersBehindOneTransit_SessionGoesToTheRouterLoadBalancingPicked()
    {
        using var fabric = new TransitFabric(dc2On: "east", edit: text => new System.Text.RegularExpressions.Regex(@"policy = web(\s+)instances = \[\{ container = app2 \}\]")
            .Replace(text.Replace("  service-policies {\n", "  service-policies {\n    nearest { load-balancing = hunt }\n", StringComparison.Ordinal),
                "policy = nearest$1instances = [{ container = app2, cost = 2 }, { container = spare2, cost = 1 }]", 1));
        var entry = fabric.Br1.Snapshot.Services.Single(s => s.Name == "remote");
        Assert.Equal(["br2", "dc2"], entry.PeerRouters);
        Assert.Single(entry.PeerPaths.Distinct());

        fabric.Eng1.SendTcp(Remote, 40000, 9000, TcpFlags.Syn, 100, 0, []);
        fabric.Pump();

        Assert.Equal("dc2", entry.PeerRouters[SvrFabric.OnlySession(fabric.Br1).Instance]);
        Assert.Equal((0L, 1L), (entry.Runtime.Load.LocalSessions(0), entry.Runtime.Load.LocalSessions(1)));
        Assert.Equal(SvrRole.Egress, SvrFabric.OnlySession(fabric.Dc2!).Svr);
        Assert.Equal(0, fabric.Br2.Worker.Sessions.Count);
    }

    [Fact]
    public void Tcp_BranchToBranchThroughTheDatacenter_ArrivesRestored_TenantAndServiceKeptAtEveryHop()
    {
        using var fabric = new TransitFabric();
        fabric.Eng1.SendTcp(Remote, 40000, 9000, TcpFlags.Syn, 100, 0, []);
        fabric.Pump();

        var syn = Assert.Single(fabric.App2.Received);
        Assert.True(Packets.ChecksumsValid(syn));
        Assert.Equal((fabric.Eng1.Address, fabric.App2.Address, (ushort)40000, (ushort)9000), Tuple(syn));
        var synAck = Assert.Single(fabric.Eng1.Received);
        Assert.True(Packets.ChecksumsValid(synAck));
        Assert.Equal(Remote, Packets.Source(synAck).ToString());
        Ipv4Packet.TryCreate(synAck, out var synAckIp);
        TcpSegment.TryCreate(synAckIp.Payload, out var synAckTcp);
        Assert.Equal(TcpFlags.Syn | TcpFlags.Ack, synAckTcp.Flags);
        Assert.Equal((9000, 40000), (synAckTcp.SourcePort, synAckTcp.DestinationPort));

        fabric.Eng1.SendTcp(Remote, 40000, 9000, TcpFlags.Ack, 101, 5001, []);
        fabric.Eng1.SendTcp(Remote, 40000, 9000, TcpFlags.Ack | TcpFlags.Psh, 101, 5001, "hello"u8.ToArray());
        fabric.Pump();

        var echo = fabric.Eng1.Received[^1];
        Assert.True(Packets.ChecksumsValid(echo));
        Ipv4Packet.TryCreate(echo, out var echoIp);
        TcpSegment.TryCreate(echoIp.Payload, out var echoTcp);
        Assert.Equal("hello"u8.ToArray(), echoTcp.Payload.ToArray());
        Ipv4Packet.TryCreate(fabric.App2.Received[^1], out var last);
        TcpSegment.TryCreate(last.Payload, out var lastTcp);
        Assert.Equal("hello"u8.ToArray(), lastTcp.Payload.ToArray());

        AssertContextKept(fabric);
    }

    [Fact]
    public void Udp_BranchToBranchThroughTheDatacenter_BothWays_MetadataOnlyUntilTheHandshakeEnds()
    {
        using var fabric = new TransitFabric();
        fabric.Eng1.SendUdp(Remote, 41000, 9000, "one"u8.ToArray());
        fabric.Pump();
        fabric.Eng1.SendUdp(Remote, 41000, 9000, "two"u8.ToArray());
        fabric.Pump();
        fabric.Eng1.SendUdp(Remote, 41000, 9000, "three"u8.ToArray());
        fabric.Pump();

        Assert.Equal(3, fabric.App2.Received.Count);
        Assert.All(fabric.App2.Received, packet => Assert.Equal((fabric.Eng1.Address, fabric.App2.Address, (ushort)41000, (ushort)9000), Tuple(packet)));
        Assert.Equal(["one", "two", "three"], fabric.Eng1.Received.Select(UdpText));
        Assert.All(fabric.Eng1.Received, packet => Assert.Equal(Remote, Packets.Source(packet).ToString()));

        // Relayed metadata: the first datagram carried it on both hops (naming br2 as destination on the first), its
        // answer came back with it; the third crossed both hops bare, as on a single hop.
        var intoTransit = WaypointPackets(fabric.DcWest.Received);
        var intoEgress = WaypointPackets(fabric.Br2East.Received);
        Assert.Equal(3, intoTransit.Count);
        Assert.Equal(3, intoEgress.Count);
        Assert.Equal("br2", Metadata(intoTransit[0]).DestinationRouter);
        Assert.Equal("engineering", Metadata(intoEgress[0]).Tenant);
        Assert.Equal("remote", Metadata(intoEgress[0]).Service);
        Assert.Null(Metadata(intoEgress[0]).DestinationRouter);
        Assert.False(HasMetadata(intoTransit[2]));
        Assert.False(HasMetadata(intoEgress[2]));
        var answer = Metadata(WaypointPackets(fabric.DcEast.Received)[0]);
        Assert.Equal(1UL, answer.SessionsInService);

        AssertContextKept(fabric);
    }

    [Fact]
    public void Ping_BranchToBranchThroughTheDatacenter_ComesOutAsIcmpEchoAndBack()
    {
        using var fabric = new TransitFabric();
        fabric.Eng1.Ping(Remote, id: 9, sequence: 1);
        fabric.Pump();

        var request = Assert.Single(fabric.App2.Received);
        Assert.True(Packets.ChecksumsValid(request));
        Ipv4Packet.TryCreate(request, out var requestIp);
        Assert.Equal(IpProtocol.Icmp, requestIp.Protocol);
        Assert.Equal(fabric.Eng1.Address, requestIp.Source);

        var reply = Assert.Single(fabric.Eng1.Received);
        Assert.True(Packets.ChecksumsValid(reply));
        Ipv4Packet.TryCreate(reply, out var replyIp);
        Assert.Equal(IpProtocol.Icmp, replyIp.Protocol);
        Assert.Equal(Remote, Packets.Source(reply).ToString());
        Icmpv4Packet.TryCreate(replyIp.Payload, out var icmp);
        Assert.Equal(Icmpv4Type.EchoReply, icmp.Type);
        Assert.Equal((ushort)9, icmp.Identifier);

        AssertContextKept(fabric);
    }

    /// <summary>
    /// app2's host says it is unreachable about a ping it got (quoting all of it): br2 sends it on as an error about the
    /// waypoint packet, dc1 (transit) passes it on as an error about a UDP packet, and eng1 gets a host-unreachable from
    /// the service address quoting its own echo request as it sent it (identifier, sequence, length; checksums valid).
    /// </summary>
    [Fact]
    public void Unreachable_AboutPing_FromInstanceBeyondTheTransit_ReachesClientQuotingItsOwnEcho()
    {
        using var fabric = new TransitFabric();
        fabric.Eng1.Ping(Remote, id: 9, sequence: 1);
        fabric.Pump();
        var echo = Assert.Single(fabric.App2.Received);
        var before = fabric.Eng1.Received.Count;

        fabric.App2.SendIp(SvrIcmpErrorTests.Unreachable(fabric.App2.Address, echo, Icmpv4Code.HostUnreachable, quoted: echo.Length));
        fabric.Pump();

        var error = Assert.Single(fabric.Eng1.Received.Skip(before));
        SvrIcmpErrorTests.AssertHostUnreachableQuotingClientEcho(error, Remote, fabric.Eng1.Address, echo, id: 9, sequence: 1);
        Assert.All(new[] { fabric.Br1, fabric.Dc1, fabric.Br2 }, router => Assert.Equal(0, router.Worker.Counters.Dropped));
    }

    /// <summary>
    /// dc1's east WAN is smaller than the west one, so a big ping from eng1 is too big at dc1 (the transit): eng1 is told
    /// the exact MTU of the path, the largest ping that crosses: one of that size is answered, one octet more is refused
    /// by dc1 again. dc1 reports the MTU of its link as a router between the two would (br1 lowers it by what SVR adds to
    /// the ping), and measures the waypoint packet, which already holds the ping's UDP header, with its metadata to come.
    /// </summary>
    [Fact]
    public void BigPing_TransitWanSmaller_ClientToldTheExactMtu_ThatSizeAnswered_OneMoreRefused()
    {
        using var fabric = new TransitFabric(eastMtu: 1200);
        fabric.Eng1.Ping(Remote, id: 9, sequence: 1);
        fabric.Pump();
        Assert.Single(fabric.App2.Received);

        fabric.Eng1.SendIp(BigPing(fabric.Eng1.Address, 1300, sequence: 2));
        fabric.Pump();

        var error = fabric.Eng1.Received[^1];
        Assert.True(Packets.ChecksumsValid(error));
        Assert.Equal((Icmpv4Type.DestinationUnreachable, Icmpv4Code.FragmentationNeeded), (error[20], error[21]));
        Assert.Equal(1, SvrFabric.Drops(fabric.Dc1, DropReason.TooBig));
        int mtu = BinaryPrimitives.ReadUInt16BigEndian(error.AsSpan(26));

        fabric.Eng1.SendIp(BigPing(fabric.Eng1.Address, mtu, sequence: 3));
        fabric.Pump();
        var reply = fabric.Eng1.Received[^1];
        Assert.Equal(Icmpv4Type.EchoReply, reply[20]);
        Assert.Equal(mtu, reply.Length);

        fabric.Eng1.SendIp(BigPing(fabric.Eng1.Address, mtu + 1, sequence: 4));
        fabric.Pump();
        Assert.Equal(2, SvrFabric.Drops(fabric.Dc1, DropReason.TooBig));
        Assert.Equal(2, fabric.App2.Received.Count);
    }

    [Fact]
    public void EncryptedService_KeysOnBothHops_SealedPerHop_PayloadNeverInClearOnEitherWan()
    {
        using var fabric = new TransitFabric();
        fabric.ShareKeys(fabric.Br1, fabric.Dc1, epoch: 1);
        fabric.ShareKeys(fabric.Dc1, fabric.Br2, epoch: 1);
        var secret = "transfer 1000 to account 42"u8.ToArray();
        fabric.Eng1.SendTcp(Vault, 40000, 9443, TcpFlags.Syn, 100, 0, []);
        fabric.Pump();
        fabric.Eng1.SendTcp(Vault, 40000, 9443, TcpFlags.Ack, 101, 5001, []);
        fabric.Eng1.SendTcp(Vault, 40000, 9443, TcpFlags.Ack | TcpFlags.Psh, 101, 5001, secret);
        fabric.Pump();

        Ipv4Packet.TryCreate(fabric.App2.Received[^1], out var delivered);
        TcpSegment.TryCreate(delivered.Payload, out var deliveredTcp);
        Assert.Equal(secret, deliveredTcp.Payload.ToArray());
        Ipv4Packet.TryCreate(fabric.Eng1.Received[^1], out var echoed);
        TcpSegment.TryCreate(echoed.Payload, out var echoedTcp);
        Assert.Equal(secret, echoedTcp.Payload.ToArray());
        Assert.True(Packets.ChecksumsValid(fabric.Eng1.Received[^1]));
        foreach (var wire in new[] { fabric.DcWest, fabric.DcEast, fabric.Br2East })
        {
            Assert.NotEmpty(WaypointPackets(wire.Received));
            Assert.DoesNotContain(WaypointPackets(wire.Received), packet => packet.AsSpan().IndexOf(secret) >= 0);
        }

        foreach (var router in new[] { fabric.Br1, fabric.Dc1, fabric.Br2 })
        {
            var session = SvrFabric.OnlySession(router);
            Assert.True(session.Sealed);
            Assert.Equal("vault", router.Snapshot.Services[session.Service].Name);
            Assert.Equal(0, router.Worker.Counters.Dropped);
        }
    }

    [Fact]
    public void EncryptedService_NoKeysOnTheOnwardHop_RefusedAtTheTransit_NothingLeavesInClear()
    {
        using var fabric = new TransitFabric();
        fabric.ShareKeys(fabric.Br1, fabric.Dc1, epoch: 1);
        fabric.Eng1.SendTcp(Vault, 40000, 9443, TcpFlags.Syn, 100, 0, []);
        fabric.Pump();

        Assert.Empty(fabric.App2.Received);
        Assert.Equal(1, SvrFabric.Drops(fabric.Dc1, DropReason.NoPeerKeys));
        Assert.Empty(WaypointPackets(fabric.Br2East.Received));
    }

    [Fact]
    public void DeniedTenant_DroppedAtTheIngress_AndWhenForgedUpstreamOfTheEgress_DroppedThere()
    {
        using var fabric = new TransitFabric();
        fabric.Guest1.SendUdp(Remote, 41000, 9000, "no"u8.ToArray());
        fabric.Pump();
        Assert.Empty(fabric.App2.Received);
        Assert.Equal(1, SvrFabric.Drops(fabric.Br1, DropReason.AccessDenied));

        // A packet on the east WAN that claims to come from dc1 (the transit) with metadata naming guest: br2 itself refuses it.
        fabric.Attacker.SendIp(Forged(16384, 16385, tenant: "guest"));
        fabric.Pump();
        Assert.Empty(fabric.App2.Received);
        Assert.Equal(1, SvrFabric.Drops(fabric.Br2, DropReason.AccessDenied));

        // The same packet naming an allowed tenant is delivered: the tenant in the metadata is what decides at the egress.
        fabric.Attacker.SendIp(Forged(16386, 16387, tenant: "engineering"));
        fabric.Pump();
        Assert.Single(fabric.App2.Received);
    }

    /// <summary>br1 holds the ingress session, dc1 the transit one, br2 the egress one, each with engineering and remote.</summary>
    private static void AssertContextKept(TransitFabric fabric)
    {
        foreach (var (router, role) in new[] { (fabric.Br1, SvrRole.Ingress), (fabric.Dc1, SvrRole.Transit), (fabric.Br2, SvrRole.Egress) })
        {
            var session = SvrFabric.OnlySession(router);
            Assert.Equal(role, session.Svr);
            Assert.Equal("engineering", router.Snapshot.Tenants[session.Tenant]);
            Assert.Equal("remote", router.Snapshot.Services[session.Service].Name);
            Assert.Equal(0, router.Worker.Counters.Dropped);
        }

        // All three carry the same session id.
        Assert.Equal(SvrFabric.OnlySession(fabric.Br1).SessionId, SvrFabric.OnlySession(fabric.Dc1).SessionId);
        Assert.Equal(SvrFabric.OnlySession(fabric.Br1).SessionId, SvrFabric.OnlySession(fabric.Br2).SessionId);
    }

    /// <summary>A hand-made waypoint packet from the attacker to br2, spoofing dc1's east address, UDP with forward metadata for remote.</summary>
    private static byte[] Forged(ushort sourcePort, ushort destinationPort, string tenant)
    {
        var metadata = new SvrMetadata
        {
            ForwardContext = new MetadataContext(
                new SessionKey(IpAddressConversions.ParseIpv4("10.20.1.10"), IpAddressConversions.ParseIpv4(Remote), 6000, 9000, IpProtocol.Udp, IsIpv6: false)),
            SessionId = Guid.NewGuid(),
            Tenant = tenant,
            Service = "remote",
            SourceRouter = "dc1",
        };
        var block = new byte[metadata.EmitLength];
        metadata.Emit(block);
        var plain = Packets.Udp(IpAddressConversions.ParseIpv4("172.17.0.1"), IpAddressConversions.ParseIpv4("172.17.0.3"), sourcePort, destinationPort, "data"u8.ToArray());
        var room = new byte[plain.Length + block.Length];
        plain.CopyTo(room, 0);
        Assert.True(MetadataInsertion.TryInsert(room, plain.Length, block, out var length));
        return room[..length];
    }

    /// <summary>An echo request from eng1 to remote of <paramref name="totalLength"/> octets (identifier 9).</summary>
    private static byte[] BigPing(uint source, int totalLength, ushort sequence) =>
        Packets.Icmp(source, IpAddressConversions.ParseIpv4(Remote), Icmpv4Type.EchoRequest, 9, sequence, new byte[totalLength - 28]);

    private static (uint, uint, ushort, ushort) Tuple(byte[] packet) => SvrFabricTests.Tuple(packet);

    private static string UdpText(byte[] packet)
    {
        Ipv4Packet.TryCreate(packet, out var ip);
        UdpDatagram.TryCreate(ip.Payload, out var udp);
        return System.Text.Encoding.ASCII.GetString(udp.Payload);
    }

    private static bool HasMetadata(byte[] packet) => SvrFabricTests.HasMetadata(packet);

    private static SvrMetadata Metadata(byte[] packet)
    {
        Assert.True(MetadataInsertion.TryLocate(packet, packet.Length, out var block, out _));
        Assert.True(SvrMetadata.TryParse(block, out var metadata, out _));
        return metadata!;
    }

    private static List<byte[]> WaypointPackets(List<byte[]> frames) => SvrFabricTests.WaypointPackets(frames);
}
