using Fabric.Dataplane.Pipeline;
using Fabric.Dataplane.Sessions;
using Fabric.Dataplane.Wire;
using Fabric.Tests.Dataplane.Routing;

namespace Fabric.Tests.Dataplane.Svr.Routers;

/// <summary>
/// Workload mobility (docs/mobility.md) on the lab fabric in memory: the only instance of a service
/// (container mob1, 10.10.1.40) moves from dc1 to br2 by a commit, keeping its address; br1's established TCP session
/// to it follows it to br2 with metadata and br2 adopts it mid-flow, without either end seeing a reset.
/// </summary>
public sealed class WorkloadMobilityTests
{
    private const string Mobile = "10.200.0.90";
    private static readonly UInt128 Mobile6 = IpAddressConversions.ParseIpv6("fd00:200::90");

    /// <summary>Eight client ports of eng1, one session each.</summary>
    private static readonly ushort[] Eight = [41010, 41011, 41012, 41013, 41014, 41015, 41016, 41017];

    [Fact]
    public void Commit_MovingTheOnlyInstanceToBr2_EstablishedTcpSessionFollowsIt_WithoutReset()
    {
        using var fabric = new SvrFabric(AtDc1);
        Open(fabric, 41000);
        Assert.Contains(fabric.Ops1.Received, IsData);

        var moved = fabric.Document(AtBr2);
        fabric.Ops1.IsServer = false;
        foreach (var router in new[] { fabric.Dc1, fabric.Br1, fabric.Br2 })
        {
            router.Apply(moved, version: 2);
        }

        var atOps1 = fabric.Ops1.Received.Count;
        Exchange(fabric, 107, "after!");

        Assert.Contains(fabric.Roamer.Received, IsData);
        Assert.Equal(atOps1, fabric.Ops1.Received.Count);
        Assert.Equal(1, fabric.Br1.Worker.Counters.SessionsMoved);
        var session = SvrFabric.OnlySession(fabric.Br1);
        Assert.Equal(SvrRole.Ingress, session.Svr);
        Assert.Equal(1, fabric.Br2.Worker.Sessions.Count);
        Assert.Equal(SvrRole.Egress, SvrFabric.OnlySession(fabric.Br2).Svr);
        foreach (var host in new[] { fabric.Eng1, fabric.Ops1, fabric.Roamer })
        {
            Assert.DoesNotContain(host.Received, packet => FlagsOf(packet) is { } flags && (flags & TcpFlags.Rst) != 0);
        }

        // The moved end saw no new connection: its first segment was mid-flow data.
        Assert.DoesNotContain(fabric.Roamer.Received, packet => FlagsOf(packet) is { } flags && (flags & TcpFlags.Syn) != 0);
    }

    [Fact]
    public void Commit_MovingTheInstanceBackToDc1_SessionReturns_AndDc1AdoptsItsOwnCopy()
    {
        using var fabric = new SvrFabric(AtDc1);
        Open(fabric, 41002);
        fabric.Ops1.IsServer = false;
        foreach (var router in new[] { fabric.Dc1, fabric.Br1, fabric.Br2 })
        {
            router.Apply(fabric.Document(AtBr2), version: 2);
        }

        Exchange(fabric, 107, "at br2", sourcePort: 41002);
        fabric.Ops1.IsServer = true;
        fabric.Roamer.IsServer = false;
        foreach (var router in new[] { fabric.Dc1, fabric.Br1, fabric.Br2 })
        {
            router.Apply(fabric.Document(AtDc1), version: 3);
        }

        Exchange(fabric, 114, "home", sourcePort: 41002);

        Assert.Equal(2, fabric.Br1.Worker.Counters.SessionsMoved);
        // dc1 took the session back on its copy (same session id, same ingress router): adopted, not opened again.
        Assert.Equal(1, fabric.Dc1.Worker.Counters.SessionsMoved);
        Assert.Equal(1, fabric.Dc1.Worker.Sessions.Count);
        Assert.DoesNotContain(fabric.Eng1.Received, packet => FlagsOf(packet) is { } flags && (flags & TcpFlags.Rst) != 0);
    }

    [Fact]
    public void Commit_ThatKeepsTheInstanceWhereItIs_MovesNoSession()
    {
        using var fabric = new SvrFabric(AtDc1);
        Open(fabric, 41001);

        // A new snapshot (every session is rebound) in which mobile still lives at dc1.
        fabric.Br1.Apply(fabric.Document(AtDc1), version: 2);
        Exchange(fabric, 107, "again!", sourcePort: 41001);

        Assert.Equal(0, fabric.Br1.Worker.Counters.SessionsMoved);
        Assert.DoesNotContain(fabric.Roamer.Received, IsData);
    }

    [Fact]
    public void Commit_MovingOneOfTwoInstancesToBr2_SessionFollowsItByRedirect_OntoTheMovedInstanceNotBr2sSibling()
    {
        // mob1 and its sibling bulk1 both at dc1 (hunt puts the session on mob1, the first); then mob1 moves to br2, where
        // app2, listed first, also serves mobile. dc1 still hosts the service, so br1 sees nothing to follow: dc1 does.
        using var fabric = new SvrFabric(text => WithSibling(AtDc1(text)));
        Open(fabric, 41003);
        Assert.Contains(fabric.Ops1.Received, IsData);

        MoveMob1BesideApp2(fabric);
        Assert.Equal(0, fabric.Br1.Worker.Counters.SessionsMoved);
        var atOps1 = fabric.Ops1.Received.Count;
        var atEng1 = fabric.Eng1.Received.Count;

        // eng1's next segment reaches dc1, which returns it to br1 in a redirect to br2 instead of delivering it; br1 takes the
        // redirect (eng1 hears nothing of it), moves the session and sends the segment again, with metadata pinning mob1, to
        // br2: it is echoed at once, no retransmission needed.
        Exchange(fabric, 107, "after!", sourcePort: 41003);
        Assert.Equal(1, fabric.Dc1.Worker.Counters.RedirectsSent);
        Assert.Equal(0, fabric.Dc1.Worker.Counters.RedirectsWithoutPacket);
        Assert.Equal(1, fabric.Br1.Worker.Counters.RedirectsFollowed);
        Assert.Equal(1, fabric.Br1.Worker.Counters.RedirectedPacketsResent);
        Assert.Equal(1, fabric.Roamer.Received.Count(IsData));

        // The data after the commit reached the moved instance at br2, not its siblings at dc1 or br2.
        Assert.Contains(fabric.Roamer.Received, IsData);
        Assert.Equal(atOps1, fabric.Ops1.Received.Count);
        Assert.DoesNotContain(fabric.Bulk1.Received, IsData);
        Assert.DoesNotContain(fabric.App2.Received, IsData);
        Assert.Equal(1, fabric.Dc1.Worker.Counters.RedirectsSent);
        Assert.Equal(1, fabric.Br1.Worker.Counters.SessionsMoved);
        Assert.Equal(1, fabric.Br2.Worker.Counters.InstancePinsHonoured);
        Assert.Equal(SvrRole.Egress, SvrFabric.OnlySession(fabric.Br2).Svr);
        foreach (var host in new[] { fabric.Eng1, fabric.Ops1, fabric.Roamer, fabric.Bulk1, fabric.App2 })
        {
            Assert.DoesNotContain(host.Received, packet => FlagsOf(packet) is { } flags && (flags & TcpFlags.Rst) != 0);
        }

        Assert.DoesNotContain(fabric.Roamer.Received, packet => FlagsOf(packet) is { } flags && (flags & TcpFlags.Syn) != 0);

        // The session goes on at br2 without metadata (the handshake with br2 is over).
        Exchange(fabric, 113, "again", sourcePort: 41003);
        Assert.Equal(1, fabric.Br1.Worker.Counters.RedirectsFollowed);
    }

    [Fact]
    public void Commit_MovingOneOfTwoInstancesToBr2_UdpSessionFollowsItByRedirect_LosingNoDatagram()
    {
        // As above, for a UDP flow: the datagrams that reach dc1 after it bound the move come back to br1 in redirects and
        // are sent on to mob1 at br2, so none is lost; the second one, returned before br1 moved, is sent on too.
        using var fabric = new SvrFabric(text => WithSibling(AtDc1(text)));
        fabric.Ops1.IsServer = true;
        fabric.Eng1.SendUdp(Mobile, 41004, 7000, "d1"u8.ToArray());
        fabric.Pump();
        Assert.Single(fabric.Ops1.Received);
        Assert.Single(fabric.Eng1.Received);

        fabric.Roamer.IsServer = true;
        MoveMob1BesideApp2(fabric);
        fabric.Eng1.SendUdp(Mobile, 41004, 7000, "d2"u8.ToArray());
        fabric.Eng1.SendUdp(Mobile, 41004, 7000, "d3"u8.ToArray());
        fabric.Pump();
        fabric.Eng1.SendUdp(Mobile, 41004, 7000, "d4"u8.ToArray());
        fabric.Pump();

        Assert.Equal(["d2", "d3", "d4"], fabric.Roamer.Received.Select(UdpText).Order().ToArray());
        Assert.Equal(["d1", "d2", "d3", "d4"], fabric.Eng1.Received.Select(UdpText).Order().ToArray());
        Assert.All(fabric.Eng1.Received, packet => Assert.True(Packets.ChecksumsValid(packet)));
        Assert.Single(fabric.Ops1.Received);
        Assert.Empty(fabric.Bulk1.Received);
        Assert.Empty(fabric.App2.Received);
        Assert.Equal(2, fabric.Dc1.Worker.Counters.RedirectsSent);
        Assert.Equal(0, fabric.Dc1.Worker.Counters.RedirectsWithoutPacket);
        Assert.Equal(1, fabric.Br1.Worker.Counters.RedirectsFollowed);
        Assert.Equal(2, fabric.Br1.Worker.Counters.RedirectedPacketsResent);
        Assert.Equal(1, fabric.Br2.Worker.Counters.InstancePinsHonoured);
    }

    [Fact]
    public void Commit_MovingOneOfTwoInstancesToBr2_PingFollowsItByRedirect_LosingNoEchoRequest()
    {
        // As for UDP, for a ping (the echo identifier playing the port's role): the echo requests that reach dc1 after it
        // bound the move cross as UDP, come back to br1 in redirects (each request turned round, its message as eng1 sent
        // it) and are rebuilt as eng1's ICMP echo requests and sent on to mob1 at br2, so each is answered.
        using var fabric = new SvrFabric(text => WithSibling(AtDc1(text)));
        fabric.Ops1.IsServer = true;
        fabric.Eng1.Ping(Mobile, 9, 1);
        fabric.Pump();
        Assert.Single(fabric.Ops1.Received);
        Assert.Single(fabric.Eng1.Received);

        fabric.Roamer.IsServer = true;
        MoveMob1BesideApp2(fabric);
        fabric.Eng1.Ping(Mobile, 9, 2);
        fabric.Eng1.Ping(Mobile, 9, 3);
        fabric.Pump();
        fabric.Eng1.Ping(Mobile, 9, 4);
        fabric.Pump();

        Assert.Equal([(Icmpv4Type.EchoRequest, 9, 2), (Icmpv4Type.EchoRequest, 9, 3), (Icmpv4Type.EchoRequest, 9, 4)], fabric.Roamer.Received.Select(Echo).Order().ToArray());
        Assert.Equal(
            [(Icmpv4Type.EchoReply, 9, 1), (Icmpv4Type.EchoReply, 9, 2), (Icmpv4Type.EchoReply, 9, 3), (Icmpv4Type.EchoReply, 9, 4)],
            fabric.Eng1.Received.Select(Echo).Order().ToArray());
        Assert.All(fabric.Eng1.Received, packet => Assert.True(Packets.ChecksumsValid(packet)));
        Assert.All(fabric.Eng1.Received, packet => Assert.Equal(Mobile, Packets.Source(packet).ToString()));
        Assert.Single(fabric.Ops1.Received);
        Assert.Empty(fabric.Bulk1.Received);
        Assert.Empty(fabric.App2.Received);
        Assert.Equal(2, fabric.Dc1.Worker.Counters.RedirectsSent);
        Assert.Equal(0, fabric.Dc1.Worker.Counters.RedirectsWithoutPacket);
        Assert.Equal(1, fabric.Br1.Worker.Counters.RedirectsFollowed);
        Assert.Equal(2, fabric.Br1.Worker.Counters.RedirectedPacketsResent);
        Assert.Equal(1, fabric.Br2.Worker.Counters.InstancePinsHonoured);
    }

    [Fact]
    public void Commit_MovingOneOfTwoInstancesToBr2_Ipv6PingFollowsItByRedirect_LosingNoEchoRequest()
    {
        // As the ping above, for an IPv6 client pinging mobile's IPv6 address (over the IPv4 WAN, the requests crossing as
        // IPv4 UDP): the requests dc1 returns in its redirects are rebuilt by br1 as eng1's ICMPv6 echo requests (checksum
        // over eng1's pseudo-header) and sent on to mob1 at br2, which answers every one.
        using var fabric = new SvrFabric(text => Ipv6Mobile(WithSibling(AtDc1(text))));
        fabric.Ops1.IsServer = true;
        Ping6(fabric, 1);
        fabric.Pump();
        Assert.Single(fabric.Ops1.Received6);
        Assert.Single(fabric.Eng1.Received6);

        fabric.Roamer.IsServer = true;
        MoveMob1BesideApp2(fabric, Ipv6Mobile);
        Ping6(fabric, 2);
        Ping6(fabric, 3);
        fabric.Pump();
        Ping6(fabric, 4);
        fabric.Pump();

        Assert.Equal([(Icmpv6Type.EchoRequest, 9, 2), (Icmpv6Type.EchoRequest, 9, 3), (Icmpv6Type.EchoRequest, 9, 4)], fabric.Roamer.Received6.Select(Echo6).Order().ToArray());
        Assert.All(fabric.Roamer.Received6, packet => Assert.True(Packets.ChecksumsValid6(packet)));
        Assert.Equal(
            [(Icmpv6Type.EchoReply, 9, 1), (Icmpv6Type.EchoReply, 9, 2), (Icmpv6Type.EchoReply, 9, 3), (Icmpv6Type.EchoReply, 9, 4)],
            fabric.Eng1.Received6.Select(Echo6).Order().ToArray());
        Assert.All(fabric.Eng1.Received6, packet => Assert.True(Packets.ChecksumsValid6(packet)));
        Assert.All(fabric.Eng1.Received6, packet => Assert.True(Ipv6Packet.TryCreate(packet, out var ip) && ip.Source == Mobile6));
        Assert.Single(fabric.Ops1.Received6);
        Assert.Empty(fabric.Bulk1.Received6);
        Assert.Empty(fabric.App2.Received6);
        Assert.Equal(2, fabric.Dc1.Worker.Counters.RedirectsSent);
        Assert.Equal(0, fabric.Dc1.Worker.Counters.RedirectsWithoutPacket);
        Assert.Equal(1, fabric.Br1.Worker.Counters.RedirectsFollowed);
        Assert.Equal(2, fabric.Br1.Worker.Counters.RedirectedPacketsResent);
        Assert.Equal(1, fabric.Br2.Worker.Counters.InstancePinsHonoured);
    }

    [Fact]
    public void RedirectReturningAnEchoRequest_RebuiltAndSentOnByTheIngress_AllocatesNothing()
    {
        // The ping test's redirect, replayed into br1 once it moved the session: each time a late redirect, found by its
        // pin, whose echo request is rebuilt as eng1 sent it and run again to br2. What br1 sends is swallowed.
        using var fabric = new SvrFabric(text => WithSibling(AtDc1(text)));
        fabric.Ops1.IsServer = true;
        fabric.Eng1.Ping(Mobile, 9, 1);
        fabric.Pump();
        fabric.Roamer.IsServer = true;
        MoveMob1BesideApp2(fabric);
        var arrived = fabric.BrWan.Received.Count;
        fabric.Eng1.Ping(Mobile, 9, 2);
        fabric.Pump();
        Assert.Single(fabric.Roamer.Received);
        var redirect = fabric.BrWan.Received[arrived];
        var worker = fabric.Br1.Worker;
        var snapshot = fabric.Br1.Snapshot;
        var now = fabric.Br1.Now;
        var buffer = new byte[Fabric.Dataplane.Io.PacketBuffer.DefaultCapacity];
        fabric.BrWan.Swallow = true;
        redirect.CopyTo(buffer, 0);
        Assert.Equal(Verdict.Consumed, worker.Process(buffer, redirect.Length, 0, now, snapshot));

        var allocated = Fabric.Bench.ThreadAllocations.During(() =>
        {
            for (var i = 0; i < 16; i++)
            {
                redirect.CopyTo(buffer, 0);
                worker.Process(buffer, redirect.Length, 0, now, snapshot);
            }
        });

        Assert.Equal(0, allocated);
        Assert.Equal(18, worker.Counters.RedirectedPacketsResent);
        Assert.Equal(17, fabric.BrWan.Swallowed);
        Assert.Equal(0, worker.Counters.Dropped);
    }

    [Fact]
    public async Task SessionFollowingItsInstanceByRedirect_ReplicatedToBr1sPartner_WhichTakesOver_StillReachesTheMovedInstance()
    {
        // As the redirect test above, but the segment br1 sends on to br2 with the pin is lost on the wire, and br1's HA
        // partner (a new process on the same ports) takes over with the replicated session. Its re-signal must still name
        // mob1: without the pin br2 balances the session onto app2 (listed first; seen: the segment reached app2), an
        // instance that never had the connection (a real one resets it).
        using var fabric = new SvrFabric(text => WithSibling(AtDc1(text)));
        Open(fabric, 41003);
        var moved = MoveMob1BesideApp2(fabric);
        fabric.Br2Wan.Tamper = _ => false;
        var after = System.Text.Encoding.ASCII.GetBytes("after!");
        fabric.Eng1.SendTcp(Mobile, 41003, 7000, TcpFlags.Ack | TcpFlags.Psh, 107, 5001, after);
        fabric.Pump();
        Assert.Equal(1, fabric.Br1.Worker.Counters.RedirectsFollowed);
        Assert.Equal(0, fabric.Br2.Worker.Sessions.Count);

        var exporting = fabric.Br1.ExportSessionsAsync(everything: true);
        fabric.Br1.RunOnce();
        var export = await exporting;
        Assert.NotNull(Assert.Single(export.Sessions).PinnedInstance);
        fabric.RestartBr1(active: false);
        fabric.Br1.Apply(moved, version: 2);
        var importing = fabric.Br1.ImportSessionsAsync(export.Version, SessionRecords.Deserialize(SessionRecords.Serialize(export.Sessions)));
        fabric.Br1.RunOnce();
        Assert.Equal(new SessionImportResult(1, 0, 0), await importing);
        var takingOver = fabric.Br1.TakeOverAsync();
        fabric.Br1.RunOnce();
        Assert.True(await takingOver);
        fabric.Br2Wan.Tamper = null;

        // eng1 retransmits the lost segment: the partner re-signals with the pin, br2 opens the session on mob1.
        Exchange(fabric, 107, "after!", sourcePort: 41003);
        Assert.Equal(1, fabric.Br2.Worker.Counters.InstancePinsHonoured);
        Assert.Contains(fabric.Roamer.Received, IsData);
        Assert.DoesNotContain(fabric.App2.Received, IsData);
        Assert.DoesNotContain(fabric.Eng1.Received, packet => FlagsOf(packet) is { } flags && (flags & TcpFlags.Rst) != 0);
    }

    [Fact]
    public void Commit_GivingTheServiceTwoNewHostingRouters_SessionWaitsForTheOldEgressRedirect_AndLandsWhereTheInstanceWent()
    {
        // mob1, mobile's only instance, at dc1; one commit moves it to dc2 and gives mobile app2 at br2, listed first: two
        // routers newly host the service and dc1 no longer does. br1 cannot tell which one mob1 went to, so it leaves the
        // session on dc1 (still reachable) until dc1's redirect names dc2.
        using var fabric = new SvrFabric(AtDc1, withDc2: true);
        Open(fabric, 41005);

        var moved = fabric.Document(text => Common(text)
            .Replace("instances = [{ container = mob1 }]", "instances = [{ container = app2 }, { container = mob1 }]", StringComparison.Ordinal)
            .Replace(
                "            fin1 { addresses = [\"10.30.1.20\"], tenant = finance }\n",
                "            fin1 { addresses = [\"10.30.1.20\"], tenant = finance }\n            app2 { addresses = [\"10.30.1.30\"] }\n",
                StringComparison.Ordinal)
            .Replace(
                "            spare2 { addresses = [\"10.10.1.99\"] }\n",
                "            spare2 { addresses = [\"10.10.1.99\"] }\n            mob1 { addresses = [\"10.10.1.40\"] }\n",
                StringComparison.Ordinal));
        Assert.Equal(["br2", "dc2"], moved.Routers.Where(r => r.Name != "br1" && r.Networks.Any(n => n.Containers.Any(c => c.Name is "app2" or "mob1"))).Select(r => r.Name).Order().ToArray());
        fabric.Ops1.IsServer = false;
        foreach (var router in new[] { fabric.Dc1, fabric.Br1, fabric.Br2, fabric.Dc2! })
        {
            router.Apply(moved, version: 2);
        }

        fabric.Pump();
        Assert.Equal(0, fabric.Br1.Worker.Counters.SessionsMoved);
        Assert.Equal(SvrRole.FormerEgress, SvrFabric.OnlySession(fabric.Dc1).Svr);

        Exchange(fabric, 107, "after!", sourcePort: 41005);

        Assert.Contains(fabric.Mover!.Received, IsData);
        Assert.DoesNotContain(fabric.App2.Received, IsData);
        Assert.Equal(1, fabric.Dc1.Worker.Counters.RedirectsSent);
        Assert.Equal(1, fabric.Br1.Worker.Counters.RedirectsFollowed);
        Assert.Equal(1, fabric.Br1.Worker.Counters.SessionsMoved);
        Assert.Equal(1, fabric.Dc2!.Worker.Counters.InstancePinsHonoured);
        Assert.Equal(0, fabric.Br2.Worker.Sessions.Count);
        Assert.DoesNotContain(fabric.Mover.Received, packet => FlagsOf(packet) is { } flags && (flags & TcpFlags.Syn) != 0);
        foreach (var host in new[] { fabric.Eng1, fabric.Mover, fabric.App2 })
        {
            Assert.DoesNotContain(host.Received, packet => FlagsOf(packet) is { } flags && (flags & TcpFlags.Rst) != 0);
        }

        Exchange(fabric, 113, "again", sourcePort: 41005);
    }

    [Fact]
    public void Commit_MovingTheInstanceToTheClientsOwnRouter_SessionBecomesLocal_WithoutResetOrLostSegment()
    {
        // mob1, mobile's only instance, at dc1; a commit moves it to br1's apps network, where eng1's session enters the
        // fabric. dc1 turns the session into a former egress whose redirect names br1 itself; br1 makes the session a local
        // session to mob1 and sends on the segment dc1 returned, which mob1 (homecomer) echoes at once.
        using var fabric = new SvrFabric(text => SvrFabric.WithBr1Apps(AtDc1(text)), withBr1Apps: true);
        Open(fabric, 41006);
        var waypointsHeld = fabric.Br1.Snapshot.PeerPaths.Sum(path => path.Waypoints.InUse);
        Assert.Equal(1, waypointsHeld);

        fabric.Ops1.IsServer = false;
        foreach (var router in new[] { fabric.Dc1, fabric.Br1, fabric.Br2 })
        {
            router.Apply(fabric.Document(AtBr1), version: 2);
        }

        fabric.Pump();
        Assert.Equal(SvrRole.FormerEgress, SvrFabric.OnlySession(fabric.Dc1).Svr);
        Assert.Equal(SvrRole.Ingress, SvrFabric.OnlySession(fabric.Br1).Svr);
        var atOps1 = fabric.Ops1.Received.Count;

        Exchange(fabric, 107, "after!", sourcePort: 41006);

        Assert.Equal(1, fabric.Dc1.Worker.Counters.RedirectsSent);
        Assert.Equal(0, fabric.Dc1.Worker.Counters.RedirectsWithoutPacket);
        Assert.Equal(1, fabric.Br1.Worker.Counters.SessionsMadeLocal);
        Assert.Equal(1, fabric.Br1.Worker.Counters.RedirectedPacketsResent);
        Assert.Equal(0, fabric.Br1.Worker.Counters.RedirectsRefused);
        Assert.Equal(0, fabric.Br1.Worker.Counters.SessionsMoved);
        Assert.Equal(1, fabric.Homecomer!.Received.Count(IsData));
        Assert.Equal(atOps1, fabric.Ops1.Received.Count);

        // br1's session is local now: no waypoint pair held, one session (the same one, not a new one), nothing at br2.
        var session = SvrFabric.OnlySession(fabric.Br1);
        Assert.Equal(SvrRole.None, session.Svr);
        Assert.Equal(0, fabric.Br1.Snapshot.PeerPaths.Sum(path => path.Waypoints.InUse));
        Assert.Equal(1, fabric.Br1.Worker.Counters.SessionsCreated);
        Assert.Equal(0, fabric.Br2.Worker.Sessions.Count);
        foreach (var host in new[] { fabric.Eng1, fabric.Ops1, fabric.Homecomer })
        {
            Assert.DoesNotContain(host.Received, packet => FlagsOf(packet) is { } flags && (flags & TcpFlags.Rst) != 0);
        }

        Assert.DoesNotContain(fabric.Homecomer.Received, packet => FlagsOf(packet) is { } flags && (flags & TcpFlags.Syn) != 0);

        // The session goes on locally: nothing more reaches dc1, whose former egress is left to its idle timeout.
        var atDc1 = fabric.DcWan.Received.Count;
        Exchange(fabric, 113, "again", sourcePort: 41006);
        Exchange(fabric, 118, "and again", sourcePort: 41006);
        Assert.Equal(3, fabric.Homecomer.Received.Count(IsData));
        Assert.Equal(atDc1, fabric.DcWan.Received.Count);
        Assert.Equal(1, fabric.Dc1.Worker.Counters.RedirectsSent);
        Assert.All(fabric.Homecomer.Received, packet => Assert.True(Packets.ChecksumsValid(packet)));
    }

    [Fact]
    public async Task SessionMadeLocal_ReplicatedToBr1sPartner_ReplacesItsIngressCopy_WhichAfterTakingOverReachesTheInstanceLocally()
    {
        // br1's HA partner (a new process on the same ports, standing by) holds the ingress copy of eng1's session from a
        // replication batch before the move; br1 then makes the session local, and its next batch carries the session keyed
        // by the instance's tuple. That record replaces the partner's ingress copy (same forward key, the client's tuple),
        // which gives back its waypoint pair; once the partner takes over, eng1's stream reaches mob1 at br1 directly.
        using var fabric = new SvrFabric(text => SvrFabric.WithBr1Apps(AtDc1(text)), withBr1Apps: true);
        Open(fabric, 41009);
        Exchange(fabric, 107, "twice!", sourcePort: 41009);
        var beforeMove = await Replicate(fabric.Br1);
        Assert.Equal(SvrRole.Ingress, Assert.Single(beforeMove.Sessions).State.Svr);

        var moved = fabric.Document(AtBr1);
        fabric.Ops1.IsServer = false;
        foreach (var router in new[] { fabric.Dc1, fabric.Br1, fabric.Br2 })
        {
            router.Apply(moved, version: 2);
        }

        Exchange(fabric, 113, "after!", sourcePort: 41009);
        Assert.Equal(1, fabric.Br1.Worker.Counters.SessionsMadeLocal);
        var afterMove = await Replicate(fabric.Br1);
        var local = Assert.Single(afterMove.Sessions);
        Assert.Equal(SvrRole.None, local.State.Svr);

        // The partner: the ingress copy from the batch before the move, the configuration with the move, then the next batch.
        fabric.RestartBr1(active: false);
        Assert.Equal(new SessionImportResult(1, 0, 0), await Import(fabric.Br1, beforeMove));
        Assert.Equal(1, fabric.Br1.Snapshot.PeerPaths.Sum(path => path.Waypoints.InUse));
        fabric.Br1.Apply(moved, version: 2);
        fabric.Br1.RunOnce();
        Assert.Equal(SvrRole.Ingress, SvrFabric.OnlySession(fabric.Br1).Svr);
        Assert.Equal(new SessionImportResult(1, 0, 0), await Import(fabric.Br1, afterMove));
        var replica = SvrFabric.OnlySession(fabric.Br1);
        Assert.Equal(SvrRole.None, replica.Svr);
        Assert.Equal(local.State.SessionId, replica.SessionId);
        Assert.Equal(0, fabric.Br1.Snapshot.PeerPaths.Sum(path => path.Waypoints.InUse));

        var takingOver = fabric.Br1.TakeOverAsync();
        fabric.Br1.RunOnce();
        Assert.True(await takingOver);

        // eng1's stream goes on from the partner, to mob1 here: no packet reaches dc1 (the partner's announcement of its
        // addresses does), no reset, no new session.
        var atDc1 = SvrFabricTests.WaypointPackets(fabric.DcWan.Received).Count;
        Exchange(fabric, 119, "again", sourcePort: 41009);
        Exchange(fabric, 124, "and again", sourcePort: 41009);
        Assert.Equal(3, fabric.Homecomer!.Received.Count(IsData));
        Assert.Equal(atDc1, SvrFabricTests.WaypointPackets(fabric.DcWan.Received).Count);
        Assert.Equal(0, fabric.Br1.Worker.Counters.SessionsCreated);
        Assert.Equal(1, fabric.Br1.Worker.Sessions.Count);
        foreach (var host in new[] { fabric.Eng1, fabric.Ops1, fabric.Homecomer })
        {
            Assert.DoesNotContain(host.Received, packet => FlagsOf(packet) is { } flags && (flags & TcpFlags.Rst) != 0);
        }
    }

    [Fact]
    public void Commit_MovingTheInstanceToTheClientsOwnRouter_OnRoutersOfThreeWorkers_SessionsBecomeLocal_AndTheInstancesAnswersFindThem()
    {
        // Three workers at every router (with two, the in-memory fanout's hash puts a session's client tuple and its
        // instance's answers on the same worker here, so nothing would need steering): the instance's answers at br1 reach
        // whichever worker the fanout gives them and are steered to the one holding the session by the instance's tuple,
        // which it published when the session became local. Fails without that publish (an answer is lost).
        using var fabric = new SvrFabric(text => SvrFabric.WithBr1Apps(AtDc1(text)), withBr1Apps: true, workers: 3);
        foreach (var port in Eight)
        {
            Open(fabric, port);
        }

        fabric.Ops1.IsServer = false;
        foreach (var router in new[] { fabric.Dc1, fabric.Br1, fabric.Br2 })
        {
            router.Apply(fabric.Document(AtBr1), version: 2);
        }

        fabric.Pump();
        foreach (var port in Eight)
        {
            Exchange(fabric, 107, "after!", sourcePort: port);
            Exchange(fabric, 113, "again", sourcePort: port);
        }

        Assert.Equal(8, fabric.Br1.Counters().SessionsMadeLocal);
        Assert.Equal(8, fabric.Dc1.Counters().RedirectsSent);
        Assert.Equal(16, fabric.Homecomer!.Received.Count(IsData));
        Assert.Equal(8, fabric.Br1.SessionCount);
        Assert.True(fabric.Br1.Counters().HandedOff > 0, "some answer reached a worker that does not hold its session");
        foreach (var host in new[] { fabric.Eng1, fabric.Ops1, fabric.Homecomer })
        {
            Assert.DoesNotContain(host.Received, packet => FlagsOf(packet) is { } flags && (flags & TcpFlags.Rst) != 0);
        }
    }

    [Fact]
    public void Commit_MovingTheInstanceToTheClientsOwnRouter_RedirectBeforeBr1BoundTheMove_IsRefused_AndTheRetransmissionMakesItLocal()
    {
        // dc1 binds the move before br1 does: br1 cannot make the session local to an instance its snapshot does not host
        // here, so it refuses the redirect (the segment it returned is lost) and the session stays as it was; once br1 bound
        // the move, the client's retransmission meets dc1's next redirect and the session becomes local.
        using var fabric = new SvrFabric(text => SvrFabric.WithBr1Apps(AtDc1(text)), withBr1Apps: true);
        Open(fabric, 41008);
        fabric.Ops1.IsServer = false;
        fabric.Dc1.Apply(fabric.Document(AtBr1), version: 2);
        fabric.Br2.Apply(fabric.Document(AtBr1), version: 2);
        fabric.Pump();

        var atEng1 = fabric.Eng1.Received.Count;
        fabric.Eng1.SendTcp(Mobile, 41008, 7000, TcpFlags.Ack | TcpFlags.Psh, 107, 5001, "after!"u8.ToArray());
        fabric.Pump();
        Assert.Equal(atEng1, fabric.Eng1.Received.Count);
        Assert.Equal(1, fabric.Dc1.Worker.Counters.RedirectsSent);
        Assert.Equal(1, fabric.Br1.Worker.Counters.RedirectsRefused);
        Assert.Equal(SvrRole.Ingress, SvrFabric.OnlySession(fabric.Br1).Svr);

        fabric.Br1.Apply(fabric.Document(AtBr1), version: 2);
        Exchange(fabric, 107, "after!", sourcePort: 41008);

        Assert.Equal(1, fabric.Br1.Worker.Counters.SessionsMadeLocal);
        Assert.Equal(SvrRole.None, SvrFabric.OnlySession(fabric.Br1).Svr);
        Assert.Equal(1, fabric.Homecomer!.Received.Count(IsData));
        foreach (var host in new[] { fabric.Eng1, fabric.Ops1, fabric.Homecomer })
        {
            Assert.DoesNotContain(host.Received, packet => FlagsOf(packet) is { } flags && (flags & TcpFlags.Rst) != 0);
        }

        Exchange(fabric, 113, "again", sourcePort: 41008);
    }

    [Fact]
    public void Commit_MovingTheInstanceToTheClientsOwnRouter_UdpSessionBecomesLocal_LosingNoDatagram()
    {
        // As above for a UDP flow: d2 and d3 reach dc1 before br1 made the session local; both come back in redirects (the
        // second on the waypoint tuple the session gave back, found by its pin) and reach mob1 at br1, as d4 does.
        using var fabric = new SvrFabric(text => SvrFabric.WithBr1Apps(AtDc1(text)), withBr1Apps: true);
        fabric.Ops1.IsServer = true;
        fabric.Eng1.SendUdp(Mobile, 41007, 7000, "d1"u8.ToArray());
        fabric.Pump();
        Assert.Single(fabric.Ops1.Received);

        fabric.Ops1.IsServer = false;
        foreach (var router in new[] { fabric.Dc1, fabric.Br1, fabric.Br2 })
        {
            router.Apply(fabric.Document(AtBr1), version: 2);
        }

        fabric.Pump();
        fabric.Eng1.SendUdp(Mobile, 41007, 7000, "d2"u8.ToArray());
        fabric.Eng1.SendUdp(Mobile, 41007, 7000, "d3"u8.ToArray());
        fabric.Pump();
        fabric.Eng1.SendUdp(Mobile, 41007, 7000, "d4"u8.ToArray());
        fabric.Pump();

        Assert.Equal(["d2", "d3", "d4"], fabric.Homecomer!.Received.Select(UdpText).Order().ToArray());
        Assert.Equal(["d1", "d2", "d3", "d4"], fabric.Eng1.Received.Select(UdpText).Order().ToArray());
        Assert.All(fabric.Eng1.Received, packet => Assert.True(Packets.ChecksumsValid(packet)));
        Assert.Single(fabric.Ops1.Received);
        Assert.Equal(2, fabric.Dc1.Worker.Counters.RedirectsSent);
        Assert.Equal(1, fabric.Br1.Worker.Counters.SessionsMadeLocal);
        Assert.Equal(2, fabric.Br1.Worker.Counters.RedirectedPacketsResent);
        Assert.Equal(SvrRole.None, SvrFabric.OnlySession(fabric.Br1).Svr);
    }

    /// <summary>A replication batch of <paramref name="router"/>'s active node: the established sessions seen since its last one.</summary>
    private static async Task<SessionExport> Replicate(Fabric.Dataplane.Routing.ForwardingEngine router)
    {
        var exporting = router.ExportSessionsAsync();
        router.RunOnce();
        return await exporting;
    }

    /// <summary>Installs <paramref name="batch"/> at <paramref name="router"/> (a standby node), as it crosses the cluster.</summary>
    private static async Task<SessionImportResult> Import(Fabric.Dataplane.Routing.ForwardingEngine router, SessionExport batch)
    {
        var importing = router.ImportSessionsAsync(batch.Version, SessionRecords.Deserialize(SessionRecords.Serialize(batch.Sessions)));
        router.RunOnce();
        return await importing;
    }

    [Fact]
    public void Commit_MovingTheInstanceFromTheClientsOwnRouterToDc1_LocalSessionBecomesAnSvrIngress_WithoutResetOrLostSegment()
    {
        // mob1, mobile's only instance, on br1's apps network (homecomer), where eng1's session enters: a local session. A
        // commit moves mob1 to dc1's service LAN (ops1, same address). br1, binding the commit, makes the session an SVR
        // ingress session to dc1 pinned to mob1; eng1's next segment carries the metadata and mob1 at dc1 echoes it at once,
        // seeing the tuple it saw at br1.
        using var fabric = new SvrFabric(AtBr1, withBr1Apps: true);
        var homecomer = fabric.Homecomer!;
        OpenLocal(fabric, 41020);
        Assert.Equal(SvrRole.None, SvrFabric.OnlySession(fabric.Br1).Svr);
        Assert.Equal(0, fabric.Dc1.Worker.Sessions.Count);
        var seenAtBr1 = TupleOf(homecomer.Received.Last(IsData));

        MoveMob1ToDc1(fabric);
        var session = SvrFabric.OnlySession(fabric.Br1);
        Assert.Equal(SvrRole.Ingress, session.Svr);
        Assert.True(session.SendMetadata);
        Assert.Equal(1, fabric.Br1.Worker.Counters.SessionsMadeRemote);
        Assert.Equal(1, fabric.Br1.Snapshot.PeerPaths.Sum(path => path.Waypoints.InUse));
        var atHomecomer = homecomer.Received.Count;

        Exchange(fabric, 107, "after!", sourcePort: 41020);

        // The segment reached mob1 at dc1 (the pin honoured), as mob1 saw the session at br1: eng1's address and port to
        // mob1's address and port; mob1 answered mid-flow, no SYN, no reset anywhere.
        var atDc1 = Assert.Single(fabric.Ops1.Received, IsData);
        Assert.Equal(seenAtBr1, TupleOf(atDc1));
        Assert.Equal(atHomecomer, homecomer.Received.Count);
        Assert.Equal(1, fabric.Dc1.Worker.Counters.InstancePinsHonoured);
        Assert.Equal(SvrRole.Egress, SvrFabric.OnlySession(fabric.Dc1).Svr);
        Assert.Equal(1, fabric.Br1.Worker.Counters.SessionsCreated);
        Assert.Equal(0, fabric.Br2.Worker.Sessions.Count);
        Assert.DoesNotContain(fabric.Ops1.Received, packet => FlagsOf(packet) is { } flags && (flags & TcpFlags.Syn) != 0);
        foreach (var host in new[] { fabric.Eng1, fabric.Ops1, homecomer })
        {
            Assert.DoesNotContain(host.Received, packet => FlagsOf(packet) is { } flags && (flags & TcpFlags.Rst) != 0);
        }

        // The handshake is done (dc1 answered with reverse metadata): the session goes on across the fabric.
        Assert.False(SvrFabric.OnlySession(fabric.Br1).SendMetadata);
        Exchange(fabric, 113, "again", sourcePort: 41020);
        Exchange(fabric, 118, "and again", sourcePort: 41020);
        Assert.Equal(["after!", "again", "and again"], fabric.Ops1.Received.Where(IsData).Select(TcpText).ToArray());
        Assert.All(fabric.Ops1.Received, packet => Assert.True(Packets.ChecksumsValid(packet)));
        Assert.Equal(1, fabric.Br1.Worker.Counters.SessionsMadeRemote);
        Assert.Equal(1, fabric.Br1.Worker.Sessions.Count);
    }

    [Fact]
    public void Commit_MovingTheInstanceFromTheClientsOwnRouterToDc1_UdpLocalSessionFollowsIt_LosingNoDatagram()
    {
        // As above for a UDP flow: d1 is answered by mob1 at br1; after the move d2, d3 (sent together) and d4 reach mob1 at
        // dc1 and every echo reaches eng1 from mobile's address, as before the move.
        using var fabric = new SvrFabric(AtBr1, withBr1Apps: true);
        var homecomer = fabric.Homecomer!;
        fabric.Eng1.SendUdp(Mobile, 41021, 7000, "d1"u8.ToArray());
        fabric.Pump();
        Assert.Equal(["d1"], homecomer.Received.Select(UdpText).ToArray());
        Assert.Equal(SvrRole.None, SvrFabric.OnlySession(fabric.Br1).Svr);

        MoveMob1ToDc1(fabric);
        fabric.Eng1.SendUdp(Mobile, 41021, 7000, "d2"u8.ToArray());
        fabric.Eng1.SendUdp(Mobile, 41021, 7000, "d3"u8.ToArray());
        fabric.Pump();
        fabric.Eng1.SendUdp(Mobile, 41021, 7000, "d4"u8.ToArray());
        fabric.Pump();

        Assert.Equal(["d1"], homecomer.Received.Select(UdpText).ToArray());
        Assert.Equal(["d2", "d3", "d4"], fabric.Ops1.Received.Select(UdpText).Order().ToArray());
        Assert.Equal(["d1", "d2", "d3", "d4"], fabric.Eng1.Received.Select(UdpText).Order().ToArray());
        Assert.All(fabric.Eng1.Received, packet => Assert.Equal(System.Net.IPAddress.Parse(Mobile), Packets.Source(packet)));
        Assert.All(fabric.Eng1.Received, packet => Assert.True(Packets.ChecksumsValid(packet)));
        Assert.Equal(1, fabric.Br1.Worker.Counters.SessionsMadeRemote);
        Assert.Equal(1, fabric.Dc1.Worker.Counters.InstancePinsHonoured);
        Assert.Equal(SvrRole.Ingress, SvrFabric.OnlySession(fabric.Br1).Svr);
    }

    [Fact]
    public void Commit_MovingTheInstanceFromTheClientsOwnRouterToDc1_OnRoutersOfThreeWorkers_SessionsFollowIt_AndTheAnswersFindThem()
    {
        // Eight local TCP sessions spread over br1's three workers; after the move each worker makes its own sessions remote
        // (waypoint pairs of its own lane) and withdraws the instance tuples it published; mob1's answers from dc1 come back
        // on those pairs to the worker holding each session, and every echo reaches eng1.
        using var fabric = new SvrFabric(AtBr1, withBr1Apps: true, workers: 3);
        foreach (var port in Eight)
        {
            OpenLocal(fabric, port);
        }

        MoveMob1ToDc1(fabric);
        foreach (var port in Eight)
        {
            Exchange(fabric, 107, "after!", sourcePort: port);
            Exchange(fabric, 113, "again", sourcePort: port);
        }

        Assert.Equal(8, fabric.Br1.Counters().SessionsMadeRemote);
        Assert.Equal(8, fabric.Dc1.Counters().InstancePinsHonoured);
        Assert.Equal(16, fabric.Ops1.Received.Count(IsData));
        Assert.Equal(8, fabric.Br1.SessionCount);
        foreach (var host in new[] { fabric.Eng1, fabric.Ops1, fabric.Homecomer! })
        {
            Assert.DoesNotContain(host.Received, packet => FlagsOf(packet) is { } flags && (flags & TcpFlags.Rst) != 0);
        }
    }

    [Fact]
    public void Commit_MovingTheInstanceFromTheClientsOwnRouterToDc1_AFullSizeSegmentTooBigForTheMetadata_IsAnsweredWithFragmentationNeeded()
    {
        // The local session's MSS was never clamped for SVR: a segment as large as the WAN's MTU fitted it, but not with the
        // metadata it carries now. br1 tells eng1 the MTU that leaves room for it (as a router on the path would), and
        // eng1's segments of that size reach mob1 at dc1; once dc1 answered, full-size segments cross again.
        using var fabric = new SvrFabric(AtBr1, withBr1Apps: true);
        OpenLocal(fabric, 41022);
        MoveMob1ToDc1(fabric);

        var atEng1 = fabric.Eng1.Received.Count;
        fabric.Eng1.SendTcp(Mobile, 41022, 7000, TcpFlags.Ack | TcpFlags.Psh, 107, 5001, new byte[1500 - 40]);
        fabric.Pump();
        var error = Assert.Single(fabric.Eng1.Received.Skip(atEng1));
        Assert.Equal((IpProtocol.Icmp, Icmpv4Type.DestinationUnreachable, Icmpv4Code.FragmentationNeeded), (error[9], error[20], error[21]));
        var mtu = System.Buffers.Binary.BinaryPrimitives.ReadUInt16BigEndian(error.AsSpan(26));
        Assert.InRange(mtu, 1300, 1499);
        Assert.DoesNotContain(fabric.Ops1.Received, IsData);

        Exchange(fabric, 107, new string('a', mtu - 40), sourcePort: 41022);
        Exchange(fabric, (uint)(107 + mtu - 40), new string('b', 1500 - 40), sourcePort: 41022);
        Assert.Equal(2, fabric.Ops1.Received.Count(IsData));
        Assert.Equal(1, fabric.Dc1.Worker.Counters.InstancePinsHonoured);
        foreach (var host in new[] { fabric.Eng1, fabric.Ops1 })
        {
            Assert.DoesNotContain(host.Received, packet => FlagsOf(packet) is { } flags && (flags & TcpFlags.Rst) != 0);
        }
    }

    [Fact]
    public void Commits_MovingTheInstanceToTheClientsRouterAndBackToDc1_SessionBecomesLocalThenRemote_AndDc1AdoptsItsOwnCopy()
    {
        // mob1 at dc1; it comes to br1 (dc1's redirect makes the session local) and goes back to dc1 (br1 makes it remote
        // again, with the session id it kept): dc1's former egress, an egress again once dc1 bound the return, adopts the
        // session on its new waypoint tuple rather than opening a second one.
        using var fabric = new SvrFabric(text => SvrFabric.WithBr1Apps(AtDc1(text)), withBr1Apps: true);
        Open(fabric, 41023);
        fabric.Ops1.IsServer = false;
        foreach (var router in new[] { fabric.Dc1, fabric.Br1, fabric.Br2 })
        {
            router.Apply(fabric.Document(AtBr1), version: 2);
        }

        fabric.Pump();
        Exchange(fabric, 107, "at br1", sourcePort: 41023);
        Assert.Equal(SvrRole.None, SvrFabric.OnlySession(fabric.Br1).Svr);

        fabric.Homecomer!.IsServer = false;
        fabric.Ops1.IsServer = true;
        foreach (var router in new[] { fabric.Dc1, fabric.Br1, fabric.Br2 })
        {
            router.Apply(fabric.Document(text => SvrFabric.WithBr1Apps(AtDc1(text))), version: 3);
        }

        fabric.Pump();
        Exchange(fabric, 113, "at dc1 again", sourcePort: 41023);

        Assert.Equal(1, fabric.Br1.Worker.Counters.SessionsMadeLocal);
        Assert.Equal(1, fabric.Br1.Worker.Counters.SessionsMadeRemote);
        Assert.Equal(1, fabric.Br1.Worker.Counters.SessionsCreated);
        Assert.Equal(SvrRole.Ingress, SvrFabric.OnlySession(fabric.Br1).Svr);
        Assert.Equal(SvrRole.Egress, SvrFabric.OnlySession(fabric.Dc1).Svr);
        Assert.Equal(1, fabric.Dc1.Worker.Counters.SessionsCreated);
        Assert.Equal(["before", "at dc1 again"], fabric.Ops1.Received.Where(IsData).Select(TcpText).ToArray());
        foreach (var host in new[] { fabric.Eng1, fabric.Ops1, fabric.Homecomer })
        {
            Assert.DoesNotContain(host.Received, packet => FlagsOf(packet) is { } flags && (flags & TcpFlags.Rst) != 0);
        }
    }

    /// <summary>Opens eng1's TCP session to mobile from <paramref name="sourcePort"/> while mob1 is at br1 (homecomer answering): a local session.</summary>
    private static void OpenLocal(SvrFabric fabric, ushort sourcePort)
    {
        fabric.Homecomer!.IsServer = true;
        fabric.Ops1.IsServer = false;
        fabric.Eng1.SendTcp(Mobile, sourcePort, 7000, TcpFlags.Syn, 100, 0, []);
        fabric.Pump();
        fabric.Eng1.SendTcp(Mobile, sourcePort, 7000, TcpFlags.Ack, 101, 5001, []);
        Exchange(fabric, 101, "before", sourcePort);
    }

    /// <summary>Commits mob1's move from br1's apps network (where br1 keeps the network) to dc1's service LAN at every router (version 2); ops1 answers from then on.</summary>
    private static void MoveMob1ToDc1(SvrFabric fabric)
    {
        var moved = fabric.Document(text => SvrFabric.WithBr1Apps(AtDc1(text)));
        fabric.Homecomer!.IsServer = false;
        fabric.Ops1.IsServer = true;
        foreach (var router in new[] { fabric.Dc1, fabric.Br1, fabric.Br2 })
        {
            router.Apply(moved, version: 2);
        }

        fabric.Pump();
    }

    /// <summary>The addresses and ports of an IPv4 TCP or UDP packet: (source, source port, destination, destination port).</summary>
    private static (System.Net.IPAddress, ushort, System.Net.IPAddress, ushort) TupleOf(byte[] packet)
    {
        Assert.True(Ipv4Packet.TryCreate(packet, out var ip));
        var ports = ip.Payload;
        return (Packets.Source(packet), System.Buffers.Binary.BinaryPrimitives.ReadUInt16BigEndian(ports),
            Fabric.Dataplane.Wire.IpAddressConversions.ToIPAddress(ip.Destination), System.Buffers.Binary.BinaryPrimitives.ReadUInt16BigEndian(ports[2..]));
    }

    private static string TcpText(byte[] packet) =>
        Ipv4Packet.TryCreate(packet, out var ip) && ip.Protocol == IpProtocol.Tcp && TcpSegment.TryCreate(ip.Payload, out var tcp)
            ? System.Text.Encoding.ASCII.GetString(tcp.Payload)
            : "";

    private static string UdpText(byte[] packet) =>
        Ipv4Packet.TryCreate(packet, out var ip) && ip.Protocol == IpProtocol.Udp && UdpDatagram.TryCreate(ip.Payload, out var udp)
            ? System.Text.Encoding.ASCII.GetString(udp.Payload)
            : "";

    /// <summary>An ICMPv6 echo's type, identifier and sequence number; (255, 0, 0) for anything else.</summary>
    private static (byte Type, ushort Identifier, ushort Sequence) Echo6(byte[] packet) =>
        Ipv6Packet.TryCreate(packet, out var ip) && ip.UpperLayerProtocol == IpProtocol.Icmpv6 && Icmpv6Packet.TryCreate(ip.UpperLayer, out var icmp)
            ? (icmp.Type, icmp.Identifier, icmp.SequenceNumber)
            : ((byte)255, (ushort)0, (ushort)0);

    /// <summary>eng1 (fd00:20:1::10) pings mobile's IPv6 address, identifier 9, sequence <paramref name="sequence"/>.</summary>
    private static void Ping6(SvrFabric fabric, ushort sequence) =>
        fabric.Eng1.SendIpv6(fabric.Br1.Ports[1].Mac, Packets.Icmp6(fabric.Eng1.Address6!.Value, Mobile6, Icmpv6Type.EchoRequest, 9, sequence, [1, 2, 3, 4]));

    /// <summary>
    /// Gives mobile the IPv6 address fd00:200::90 and mob1 fd00:10:1::40 (on dc1's svc LAN, or br2's LAN, whose gateways then
    /// serve fd00:10:1::/64 too), eng1 fd00:20:1::10 (<see cref="SvrFabric.DualStack"/>); after <see cref="AtDc1"/> or <see cref="AtBr2"/>.
    /// </summary>
    private static string Ipv6Mobile(string text)
    {
        var edited = SvrFabric.DualStack(text)
            .Replace("addresses = [\"10.200.0.90/32\"]", "addresses = [\"10.200.0.90/32\", \"fd00:200::90/128\"]", StringComparison.Ordinal)
            .Replace("mob1 { addresses = [\"10.10.1.40\"] }", "mob1 { addresses = [\"10.10.1.40\", \"fd00:10:1::40\"] }", StringComparison.Ordinal)
            .Replace("\"10.10.1.254/24\"]", "\"10.10.1.254/24\", \"fd00:10:1::fe/64\"]", StringComparison.Ordinal);
        Assert.Contains("fd00:10:1::40", edited, StringComparison.Ordinal);
        Assert.Contains("fd00:200::90", edited, StringComparison.Ordinal);
        Assert.Contains("fd00:10:1::fe/64", edited, StringComparison.Ordinal);
        return edited;
    }

    /// <summary>An ICMPv4 echo's type, identifier and sequence number; (255, 0, 0) for anything else.</summary>
    private static (byte Type, ushort Identifier, ushort Sequence) Echo(byte[] packet) =>
        Ipv4Packet.TryCreate(packet, out var ip) && ip.Protocol == IpProtocol.Icmp && Icmpv4Packet.TryCreate(ip.Payload, out var icmp)
            ? (icmp.Type, icmp.Identifier, icmp.SequenceNumber)
            : ((byte)255, (ushort)0, (ushort)0);

    /// <summary>
    /// Gives service mobile the sibling instance bulk1 (at dc1, after mob1) and, with <paramref name="first"/>, an instance
    /// before mob1 (app2 at br2's LAN, 10.30.1.30, which the document then lists).
    /// </summary>
    private static string WithSibling(string text, string first = "")
    {
        var edited = text.Replace(
            "instances = [{ container = mob1 }]", $"instances = [{first}{{ container = mob1 }}, {{ container = bulk1 }}]", StringComparison.Ordinal);
        if (first.Length > 0)
        {
            edited = edited.Replace(
                "            fin1 { addresses = [\"10.30.1.20\"], tenant = finance }\n",
                "            fin1 { addresses = [\"10.30.1.20\"], tenant = finance }\n            app2 { addresses = [\"10.30.1.30\"] }\n",
                StringComparison.Ordinal);
            Assert.Contains("app2 { addresses", edited, StringComparison.Ordinal);
        }

        Assert.Contains("{ container = bulk1 }]", edited, StringComparison.Ordinal);
        return edited;
    }

    /// <summary>lab.conf with service mobile (10.200.0.90, TCP 7000, engineering) whose one instance mob1 is on dc1's service LAN; br2's LAN also has 10.10.1.254/24.</summary>
    private static string AtDc1(string text) => Common(text)
        .Replace("            bulk1 { addresses = [\"10.10.1.30\"] }\n", "            bulk1 { addresses = [\"10.10.1.30\"] }\n            mob1 { addresses = [\"10.10.1.40\"] }\n", StringComparison.Ordinal);

    /// <summary>As <see cref="AtDc1"/> with mob1 moved to br2's LAN, keeping its address.</summary>
    private static string AtBr2(string text) => Common(text)
        .Replace("            fin1 { addresses = [\"10.30.1.20\"], tenant = finance }\n", "            fin1 { addresses = [\"10.30.1.20\"], tenant = finance }\n            mob1 { addresses = [\"10.10.1.40\"] }\n", StringComparison.Ordinal);

    /// <summary>As <see cref="AtDc1"/> with mob1 moved to br1's apps network (the client's own router), keeping its address.</summary>
    private static string AtBr1(string text) =>
        SvrFabric.WithBr1Apps(Common(text), "            mob1 { addresses = [\"10.10.1.40\"] }\n");

    private static string Common(string text)
    {
        var edited = text
            .Replace("gateways = [\"10.30.1.1/24\"]", "gateways = [\"10.30.1.1/24\", \"10.10.1.254/24\"]", StringComparison.Ordinal)
            .Replace(
                "  }\n\n  service-policies {\n",
                """
                    mobile {
                      addresses = ["10.200.0.90/32"]
                      transports = [{ protocol = tcp, ports = ["7000"] }, { protocol = udp, ports = ["7000"] }, { protocol = icmp }]
                      access = [engineering]
                      policy = bulk
                      instances = [{ container = mob1 }]
                    }
                  }

                  service-policies {

                """,
                StringComparison.Ordinal);
        Assert.Contains("10.10.1.254/24", edited, StringComparison.Ordinal);
        Assert.Contains("container = mob1", edited, StringComparison.Ordinal);
        return edited;
    }

    [Fact]
    public void Commit_MovingOneOfTwoInstancesToBr2_AppliedAtBr2Last_SegmentWaitsForTheInstanceNotResetByBr2sSibling()
    {
        // As above, but br2 applies the move after dc1 and br1: the session follows mob1 to br2 before br2 hosts it, and
        // br2's app2 (a sibling, serving mobile already) would answer the connection's segment with a reset.
        using var fabric = new SvrFabric(text => WithSibling(AtDc1(text)));
        Open(fabric, 41004);
        var moved = fabric.Document(text => WithSibling(AtBr2(text), "{ container = app2 }, "));
        fabric.Ops1.IsServer = false;
        fabric.Dc1.Apply(moved, version: 2);
        fabric.Br1.Apply(moved, version: 2);
        fabric.Pump();

        // dc1 redirects eng1's segment to br2, br1 follows and sends it on pinned to mob1: br2 does not host mob1 yet and
        // drops it, counted, rather than handing it to app2.
        fabric.Eng1.SendTcp(Mobile, 41004, 7000, TcpFlags.Ack | TcpFlags.Psh, 107, 5001, System.Text.Encoding.ASCII.GetBytes("after!"));
        fabric.Pump();
        Assert.Equal(1, fabric.Br1.Worker.Counters.RedirectsFollowed);
        Assert.Equal(1, fabric.Br2.Worker.Counters.InstancePinsUnmatched);
        Assert.Equal(1, fabric.Br2.Worker.Drops.Total(DropReason.InstanceArriving));
        Assert.DoesNotContain(fabric.App2.Received, IsData);
        Assert.DoesNotContain(fabric.Eng1.Received, packet => FlagsOf(packet) is { } flags && (flags & TcpFlags.Rst) != 0);

        // br2 applies the move; eng1's retransmission, signalled again pinning mob1, reaches mob1 at br2 and is echoed.
        fabric.Br2.Apply(moved, version: 2);
        fabric.Pump();
        Exchange(fabric, 107, "after!", sourcePort: 41004);
        Assert.Equal(1, fabric.Br2.Worker.Counters.InstancePinsHonoured);
        Assert.Equal(1, fabric.Roamer.Received.Count(IsData));
        Assert.DoesNotContain(fabric.App2.Received, IsData);
        foreach (var host in new[] { fabric.Eng1, fabric.Roamer, fabric.App2 })
        {
            Assert.DoesNotContain(host.Received, packet => FlagsOf(packet) is { } flags && (flags & TcpFlags.Rst) != 0);
        }
    }

    [Fact]
    public void Commit_MovingTheOnlyInstanceToBr2_AppliedAtBr1Last_SegmentAndRetransmissionWaitForBr1_ThenReachTheInstanceInOrder()
    {
        // dc1 and br2 apply the move before br1 (the ingress, br2's WAN neighbour): dc1 redirects eng1's segments to br2,
        // which br1's snapshot does not name as hosting mobile yet. Once br1 bound the move it moves the session to br2
        // itself (FollowHosting: br2 is the one router hosting mobile now), and the retransmission reaches mob1 there.
        using var fabric = new SvrFabric(AtDc1);
        SegmentsOfASessionWhoseMoveBr1AppliesLast(fabric, fabric.Document(AtBr2), 41020);
        Assert.Equal(1, fabric.Br1.Worker.Counters.SessionsMoved);
        Assert.Equal(0, fabric.Br1.Worker.Counters.RedirectsFollowed);
    }

    [Fact]
    public void Commit_MovingOneOfTwoInstancesToBr2_AppliedAtBr1Last_SegmentAndRetransmissionWaitForBr1_ThenReachTheMovedInstanceInOrder()
    {
        // As above with mob1's sibling bulk1 staying at dc1 and app2, listed first, serving mobile at br2: once br1 bound the
        // move (dc1 still hosts mobile, so the session stays), dc1 redirects the retransmission again and br1 follows it,
        // pinned to mob1, so neither app2 nor bulk1 sees the connection.
        using var fabric = new SvrFabric(text => WithSibling(AtDc1(text)));
        SegmentsOfASessionWhoseMoveBr1AppliesLast(fabric, fabric.Document(text => WithSibling(AtBr2(text), "{ container = app2 }, ")), 41021);
        Assert.Equal(3, fabric.Dc1.Worker.Counters.RedirectsSent);
        Assert.Equal(1, fabric.Br1.Worker.Counters.RedirectsFollowed);
        Assert.Equal(1, fabric.Br2.Worker.Counters.InstancePinsHonoured);
        Assert.DoesNotContain(fabric.App2.Received, IsData);
        Assert.DoesNotContain(fabric.Bulk1.Received, IsData);
        Assert.DoesNotContain(fabric.App2.Received, packet => FlagsOf(packet) is { } flags && (flags & TcpFlags.Rst) != 0);
    }

    [Fact]
    public void Commit_MovingTheOnlyInstanceToBr2_AppliedAtBr1Last_UdpFlowReachesTheInstanceOnceBr1BoundIt_NothingElsewhere()
    {
        using var fabric = new SvrFabric(AtDc1);
        DatagramsOfASessionWhoseMoveBr1AppliesLast(fabric, fabric.Document(AtBr2), 41022);
        Assert.Equal(0, fabric.Br1.Worker.Counters.RedirectsFollowed);
    }

    [Fact]
    public void Commit_MovingOneOfTwoInstancesToBr2_AppliedAtBr1Last_UdpFlowReachesTheMovedInstanceOnceBr1BoundIt_NotItsSiblings()
    {
        using var fabric = new SvrFabric(text => WithSibling(AtDc1(text)));
        DatagramsOfASessionWhoseMoveBr1AppliesLast(fabric, fabric.Document(text => WithSibling(AtBr2(text), "{ container = app2 }, ")), 41023);
        Assert.Empty(fabric.Bulk1.Received);
        Assert.Empty(fabric.App2.Received);
        Assert.Equal(1, fabric.Br1.Worker.Counters.RedirectsFollowed);
        Assert.Equal(1, fabric.Br2.Worker.Counters.InstancePinsHonoured);
    }

    /// <summary>
    /// Opens eng1's TCP session to mobile from <paramref name="sourcePort"/> (mob1 at dc1), has dc1 and br2 apply
    /// <paramref name="moved"/> (mob1 at br2) and sends eng1's next segment twice (a retransmission) before br1 applies it,
    /// then later segments: nothing comes back to eng1 before br1 applied the move (no reset, not its own segment), br2
    /// carries nothing for the session yet, and once br1 applied it every segment is echoed by mob1 at br2, which
    /// receives the data once each, in order, and no reset or SYN reaches any end.
    /// </summary>
    private static void SegmentsOfASessionWhoseMoveBr1AppliesLast(SvrFabric fabric, Fabric.Model.FabricConfig moved, ushort sourcePort)
    {
        Open(fabric, sourcePort);
        fabric.Ops1.IsServer = false;
        fabric.Dc1.Apply(moved, version: 2);
        fabric.Br2.Apply(moved, version: 2);
        fabric.Pump();
        Assert.Equal(SvrRole.FormerEgress, SvrFabric.OnlySession(fabric.Dc1).Svr);

        var atEng1 = fabric.Eng1.Received.Count;
        var atOps1 = fabric.Ops1.Received.Count;
        for (var attempt = 0; attempt < 2; attempt++)
        {
            fabric.Eng1.SendTcp(Mobile, sourcePort, 7000, TcpFlags.Ack | TcpFlags.Psh, 107, 5001, "after!"u8.ToArray());
            fabric.Pump();
        }

        Assert.Equal(atEng1, fabric.Eng1.Received.Count);
        Assert.Equal(2, fabric.Br1.Worker.Counters.RedirectsRefused);
        Assert.Equal(0, fabric.Br2.Worker.Sessions.Count);

        fabric.Br1.Apply(moved, version: 2);
        fabric.Pump();
        Exchange(fabric, 107, "after!", sourcePort);
        Exchange(fabric, 113, "again", sourcePort);
        Exchange(fabric, 118, "later", sourcePort);

        Assert.Equal(["after!", "again", "later"], fabric.Roamer.Received.Where(IsData).Select(TcpText).ToArray());
        Assert.Equal(atOps1, fabric.Ops1.Received.Count);
        Assert.Equal(SvrRole.Egress, SvrFabric.OnlySession(fabric.Br2).Svr);
        foreach (var host in new[] { fabric.Eng1, fabric.Ops1, fabric.Roamer })
        {
            Assert.DoesNotContain(host.Received, packet => FlagsOf(packet) is { } flags && (flags & TcpFlags.Rst) != 0);
        }

        Assert.DoesNotContain(fabric.Roamer.Received, packet => FlagsOf(packet) is { } flags && (flags & TcpFlags.Syn) != 0);
    }

    /// <summary>
    /// A UDP flow from eng1's <paramref name="sourcePort"/> to mobile: d1 to mob1 at dc1; dc1 and br2 apply
    /// <paramref name="moved"/> (mob1 at br2); d2 before br1 applies it (lost: dc1's redirect names a router br1's snapshot
    /// does not name as hosting mobile), d3 and d4 after. mob1 at br2 receives d3 and d4, eng1 their echoes (never a datagram
    /// of its own turned round), and nothing else reaches dc1's LAN.
    /// </summary>
    private static void DatagramsOfASessionWhoseMoveBr1AppliesLast(SvrFabric fabric, Fabric.Model.FabricConfig moved, ushort sourcePort)
    {
        fabric.Ops1.IsServer = true;
        fabric.Eng1.SendUdp(Mobile, sourcePort, 7000, "d1"u8.ToArray());
        fabric.Pump();
        Assert.Single(fabric.Ops1.Received);

        fabric.Ops1.IsServer = false;
        fabric.Dc1.Apply(moved, version: 2);
        fabric.Br2.Apply(moved, version: 2);
        fabric.Pump();
        fabric.Eng1.SendUdp(Mobile, sourcePort, 7000, "d2"u8.ToArray());
        fabric.Pump();
        Assert.Equal(1, fabric.Br1.Worker.Counters.RedirectsRefused);

        fabric.Br1.Apply(moved, version: 2);
        fabric.Pump();
        fabric.Eng1.SendUdp(Mobile, sourcePort, 7000, "d3"u8.ToArray());
        fabric.Pump();
        fabric.Eng1.SendUdp(Mobile, sourcePort, 7000, "d4"u8.ToArray());
        fabric.Pump();

        Assert.Equal(["d3", "d4"], fabric.Roamer.Received.Select(UdpText).ToArray());
        Assert.Equal(["d1", "d3", "d4"], fabric.Eng1.Received.Select(UdpText).ToArray());
        Assert.All(fabric.Eng1.Received, packet => Assert.Equal(System.Net.IPAddress.Parse(Mobile), Packets.Source(packet)));
        Assert.All(fabric.Eng1.Received, packet => Assert.True(Packets.ChecksumsValid(packet)));
        Assert.Single(fabric.Ops1.Received);
    }

    /// <summary>
    /// Commits mob1's move from dc1 (where its sibling bulk1 stays) to br2, where app2, listed first, also serves mobile, at
    /// every router (version 2); ops1 stops answering. dc1's session to mob1 is a former egress then. Returns the document (with <paramref name="alsoEdit"/> applied last).
    /// </summary>
    private static Fabric.Model.FabricConfig MoveMob1BesideApp2(SvrFabric fabric, Func<string, string>? alsoEdit = null)
    {
        var moved = fabric.Document(text => (alsoEdit ?? (unchanged => unchanged))(WithSibling(AtBr2(text), "{ container = app2 }, ")));
        fabric.Ops1.IsServer = false;
        foreach (var router in new[] { fabric.Dc1, fabric.Br1, fabric.Br2 })
        {
            router.Apply(moved, version: 2);
        }

        fabric.Pump();
        Assert.Equal(SvrRole.FormerEgress, SvrFabric.OnlySession(fabric.Dc1).Svr);
        return moved;
    }

    /// <summary>Opens eng1's TCP session to mobile from <paramref name="sourcePort"/> (mob1 at dc1 answering) and exchanges "before" on it.</summary>
    private static void Open(SvrFabric fabric, ushort sourcePort)
    {
        fabric.Ops1.IsServer = true;
        fabric.Eng1.SendTcp(Mobile, sourcePort, 7000, TcpFlags.Syn, 100, 0, []);
        fabric.Pump();
        fabric.Eng1.SendTcp(Mobile, sourcePort, 7000, TcpFlags.Ack, 101, 5001, []);
        Exchange(fabric, 101, "before", sourcePort);
    }

    /// <summary>Sends data from eng1 on its session to mobile and checks that the echo came back whole.</summary>
    private static void Exchange(SvrFabric fabric, uint sequence, string text, ushort sourcePort = 41000) =>
        fabric.Eng1.AssertTcpEcho(Mobile, sourcePort, 7000, sequence, text, fabric.Pump);

    private static bool IsData(byte[] packet) =>
        Ipv4Packet.TryCreate(packet, out var ip) && ip.Protocol == IpProtocol.Tcp && TcpSegment.TryCreate(ip.Payload, out var tcp) && tcp.Payload.Length > 0;

    private static TcpFlags? FlagsOf(byte[] packet) =>
        Ipv4Packet.TryCreate(packet, out var ip) && ip.Protocol == IpProtocol.Tcp && TcpSegment.TryCreate(ip.Payload, out var tcp) ? tcp.Flags : null;
}
