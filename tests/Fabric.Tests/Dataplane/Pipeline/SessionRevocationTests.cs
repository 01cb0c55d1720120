using Fabric.Dataplane.Pipeline;
using Fabric.Dataplane.Routing;
using Fabric.Dataplane.Wire;
using Fabric.Tests.Dataplane.Routing;
using Fabric.Tests.Dataplane.Svr.Routers;

namespace Fabric.Tests.Dataplane.Pipeline;

/// <summary>
/// Revoked TCP sessions end with a reset towards each end the router holds (addresses as that end knows them, the
/// sequence number it expects); other revoked sessions end silently; sessions still allowed see nothing.
/// </summary>
public sealed class SessionRevocationTests
{
    private const string Web = "10.200.0.80";
    private const string AllOnWeb = "access = [engineering, guest, finance]";
    private const string EngineeringOffWeb = "access = [guest, finance]";

    /// <summary>A connection through the handshake and one exchange: the client's next sequence is 106, the server's 5006 (TestHost answers a SYN with 5000 and echoes data).</summary>
    private static void Connect(TestHost client, ushort port, Action pump)
    {
        client.SendTcp(Web, port, 80, TcpFlags.Syn, 100, 0, []);
        pump();
        client.SendTcp(Web, port, 80, TcpFlags.Ack, 101, 5001, []);
        client.SendTcp(Web, port, 80, TcpFlags.Ack | TcpFlags.Psh, 101, 5001, "hello"u8.ToArray());
        pump();
    }

    private static TestHost ServerOf(TestHost web1, TestHost web2, TestHost client) =>
        web1.Received.Exists(p => Packets.Source(p).Equals(IpAddressConversions.ToIPAddress(client.Address))) ? web1 : web2;

    /// <summary>The one packet <paramref name="host"/> received after the first <paramref name="seen"/>: a valid reset with these fields.</summary>
    private static void AssertReset(TestHost host, int seen, string from, ushort fromPort, uint to, ushort toPort, uint sequence, uint acknowledgment)
    {
        var packet = Assert.Single(host.Received.Skip(seen));
        Assert.True(Packets.ChecksumsValid(packet));
        Ipv4Packet.TryCreate(packet, out var ip);
        Assert.Equal(IpProtocol.Tcp, ip.Protocol);
        Assert.Equal(IpAddressConversions.ParseIpv4(from), ip.Source);
        Assert.Equal(to, ip.Destination);
        TcpSegment.TryCreate(ip.Payload, out var tcp);
        Assert.Equal((fromPort, toPort), (tcp.SourcePort, tcp.DestinationPort));
        Assert.Equal(TcpFlags.Rst | TcpFlags.Ack, tcp.Flags);
        Assert.Equal((sequence, acknowledgment), (tcp.SequenceNumber, tcp.AcknowledgmentNumber));
        Assert.Equal(0, tcp.Payload.Length);
    }

    [Fact]
    public void LocalTcpSessionRevoked_ClientAndInstanceEachGetAReset_FromTheAddressTheyKnow()
    {
        using var lab = new RouterFixture();
        Connect(lab.Eng1, 40000, lab.Pump);
        Connect(lab.Guest1, 40001, lab.Pump);
        var server = ServerOf(lab.Web1, lab.Web2, lab.Eng1);
        var (atClient, atServer, atGuest) = (lab.Eng1.Received.Count, server.Received.Count, lab.Guest1.Received.Count);

        lab.Router.Apply(RouterFixture.Load(RouterFixture.Config.Replace(AllOnWeb, EngineeringOffWeb, StringComparison.Ordinal)), 2);
        lab.Pump();

        // The client hears it from the service address it dialled; the instance from the client (no source NAT here).
        AssertReset(lab.Eng1, atClient, Web, 80, lab.Eng1.Address, 40000, sequence: 5006, acknowledgment: 106);
        AssertReset(server, atServer, "10.20.1.10", 40000, server.Address, 80, sequence: 106, acknowledgment: 5006);
        Assert.Equal(2, lab.Router.Worker.Counters.SessionResets);
        Assert.Equal(1, lab.Router.Worker.Drops.Get(DropReason.Revoked, lab.Tenant("engineering"), lab.Service("web")));

        // guest may still reach web: its connection saw nothing and still works.
        Assert.Equal(atGuest, lab.Guest1.Received.Count);
        lab.Guest1.SendTcp(Web, 40001, 80, TcpFlags.Ack | TcpFlags.Psh, 106, 5006, "again"u8.ToArray());
        lab.Pump();
        Ipv4Packet.TryCreate(Assert.Single(lab.Guest1.Received.Skip(atGuest)), out var echo);
        TcpSegment.TryCreate(echo.Payload, out var echoTcp);
        Assert.Equal("again"u8.ToArray(), echoTcp.Payload.ToArray());
    }

    [Fact]
    public void LocalTcpSessionRevoked_AfterDataBehindTcpOptions_EachResetCarriesTheSequenceAfterTheData()
    {
        using var lab = new RouterFixture();
        Connect(lab.Eng1, 40000, lab.Pump);
        // Five octets of data behind a 32-octet header (12 octets of options): the client's next sequence is 111; the server
        // echoes them from 5006, so its next is 5011.
        lab.Eng1.SendIp(TcpWithOptions(lab.Eng1.Address, IpAddressConversions.ParseIpv4(Web), 40000, 80, 106, 5006, "again"u8.ToArray()));
        lab.Pump();
        var server = ServerOf(lab.Web1, lab.Web2, lab.Eng1);
        var (atClient, atServer) = (lab.Eng1.Received.Count, server.Received.Count);

        lab.Router.Apply(RouterFixture.Load(RouterFixture.Config.Replace(AllOnWeb, EngineeringOffWeb, StringComparison.Ordinal)), 2);
        lab.Pump();

        AssertReset(lab.Eng1, atClient, Web, 80, lab.Eng1.Address, 40000, sequence: 5011, acknowledgment: 111);
        AssertReset(server, atServer, "10.20.1.10", 40000, server.Address, 80, sequence: 111, acknowledgment: 5011);
    }

    /// <summary>An IPv4 TCP segment with ACK and PSH whose header carries two NOPs and a timestamps option (32 octets), checksums valid.</summary>
    private static byte[] TcpWithOptions(uint source, uint destination, ushort sourcePort, ushort destinationPort, uint sequence, uint acknowledgment, byte[] payload)
    {
        var options = new WireBytes([1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0]);
        var header = new TcpHeader(sourcePort, destinationPort, sequence, acknowledgment, TcpFlags.Ack | TcpFlags.Psh, 65535, 0, 0, options);
        var packet = Packets.Ip(source, destination, IpProtocol.Tcp, new byte[header.EmitLength + payload.Length]);
        Ipv4Packet.TryCreate(packet, out var ip);
        header.Emit(ip.Payload);
        payload.CopyTo(ip.Payload[header.EmitLength..]);
        TcpSegment.TryCreate(ip.Payload, out var segment);
        segment.UpdateChecksum(ip.PseudoHeaderSum());
        return packet;
    }

    [Fact]
    public void HostBasedContainerDetached_ItsSessionEnds_TheInstanceGetsAReset_OthersSeeNothing()
    {
        using var lab = new RouterFixture();
        Connect(lab.Eng1, 40000, lab.Pump);
        Connect(lab.Guest1, 40001, lab.Pump);
        var server = ServerOf(lab.Web1, lab.Web2, lab.Eng1);
        var (atServer, atGuest) = (server.Received.Count, lab.Guest1.Received.Count);
        const string Eng1 = "eng1 { addresses = [\"10.20.1.10\", \"fd00:20:1::10\"], tenant = engineering }";
        Assert.Contains(Eng1, RouterFixture.Config, StringComparison.Ordinal);

        // eng1 leaves (as the CNI plugin's DEL does): its port has no device in the next snapshot; tenant and access are unchanged.
        lab.Router.Apply(RouterFixture.Load(RouterFixture.Config.Replace(Eng1, "", StringComparison.Ordinal)), 2);
        lab.Pump();

        AssertReset(server, atServer, "10.20.1.10", 40000, server.Address, 80, sequence: 106, acknowledgment: 5006);
        Assert.Equal(1, lab.Router.Counters().SessionsRevoked);
        Assert.Equal(atGuest, lab.Guest1.Received.Count);
    }

    [Fact]
    public void ConnectionAfterDataBothWays_ResetsCarryTheFurthestSequence_NotARetransmission()
    {
        using var lab = new RouterFixture();
        Connect(lab.Eng1, 40000, lab.Pump);
        lab.Eng1.SendTcp(Web, 40000, 80, TcpFlags.Ack | TcpFlags.Psh, 106, 5006, "more data"u8.ToArray());
        lab.Pump();
        // A retransmission of the client's first data, and the server's echo of it: both end behind what was sent since.
        lab.Eng1.SendTcp(Web, 40000, 80, TcpFlags.Ack | TcpFlags.Psh, 101, 5006, "hello"u8.ToArray());
        lab.Pump();
        var server = ServerOf(lab.Web1, lab.Web2, lab.Eng1);
        var (atClient, atServer) = (lab.Eng1.Received.Count, server.Received.Count);

        lab.Router.Apply(RouterFixture.Load(RouterFixture.Config.Replace(AllOnWeb, EngineeringOffWeb, StringComparison.Ordinal)), 2);
        lab.Pump();

        // Each side sent 5 + 9 octets after its SYN: 101 + 14 and 5001 + 14.
        AssertReset(lab.Eng1, atClient, Web, 80, lab.Eng1.Address, 40000, sequence: 5015, acknowledgment: 115);
        AssertReset(server, atServer, "10.20.1.10", 40000, server.Address, 80, sequence: 115, acknowledgment: 5015);
    }

    [Fact]
    public void UdpSessionRevoked_EndsWithoutAPacketToEitherEnd()
    {
        using var lab = new RouterFixture();
        lab.Eng1.SendUdp(Web, 40000, 53, "query"u8.ToArray());
        lab.Pump();
        var server = ServerOf(lab.Web1, lab.Web2, lab.Eng1);
        var (atClient, atServer) = (lab.Eng1.Received.Count, server.Received.Count);
        Assert.Equal(1, atClient);

        lab.Router.Apply(RouterFixture.Load(RouterFixture.Config.Replace(AllOnWeb, EngineeringOffWeb, StringComparison.Ordinal)), 2);
        lab.Pump();

        // Counted as the router reports it (its workers' sum: what telemetry and fabric router counters read).
        Assert.Equal(1, lab.Router.Counters().SessionsRevoked);
        Assert.Equal(0, lab.Router.Counters().SessionResets);
        Assert.Equal((atClient, atServer), (lab.Eng1.Received.Count, server.Received.Count));
    }

    [Fact]
    public void SvrTcpSessionRevoked_IngressResetsTheClient_EgressResetsTheInstance()
    {
        using var fabric = new SvrFabric();
        Connect(fabric.Eng1, 40000, fabric.Pump);
        var server = ServerOf(fabric.Web1, fabric.Web2, fabric.Eng1);
        var (atClient, atServer) = (fabric.Eng1.Received.Count, server.Received.Count);

        var revoked = fabric.Document(text => text.Replace(AllOnWeb, EngineeringOffWeb, StringComparison.Ordinal));
        foreach (var router in new[] { fabric.Br1, fabric.Dc1, fabric.Br2 })
        {
            router.Apply(revoked, 2);
        }

        fabric.Pump();

        // br1 holds the client: the reset comes from web's address as the client dialled it. dc1 holds the instance: the
        // reset comes from the client's address and port as dc1 restored them on the instance's side.
        AssertReset(fabric.Eng1, atClient, Web, 80, fabric.Eng1.Address, 40000, sequence: 5006, acknowledgment: 106);
        AssertReset(server, atServer, "10.20.1.10", 40000, server.Address, 80, sequence: 106, acknowledgment: 5006);
        Assert.Equal((1L, 1L), (fabric.Br1.Worker.Counters.SessionResets, fabric.Dc1.Worker.Counters.SessionResets));
        Assert.Equal((1L, 1L), (Revoked(fabric.Br1), Revoked(fabric.Dc1)));
        Assert.Equal(0, fabric.Br1.Worker.Sessions.Count + fabric.Dc1.Worker.Sessions.Count);
    }

    private static long Revoked(ForwardingEngine router) =>
        router.Worker.Drops.Get(DropReason.Revoked, router.Snapshot.TenantIndex("engineering"), router.Snapshot.ServiceIndex("web"));
}
