using Fabric.Bench;
using Fabric.Dataplane.Pipeline;
using Fabric.Dataplane.Svr;
using Fabric.Dataplane.Wire;
using Fabric.Tests.Dataplane.Routing;
using Fabric.Tests.Support;

namespace Fabric.Tests.Dataplane.Svr.Routers;

/// <summary>
/// Workload mobility through a transit (docs/mobility.md "A redirect through a transit"): eng1 at br1 reaches app2 at br2
/// through dc1 (<see cref="TransitFabric"/>); app2 moves to a fourth router, dc2, keeping its address. br2, the old
/// egress, redirects the session; dc1 relays the redirect to br1, which follows it as from a neighbour.
/// </summary>
[Collection(AllocationMeasurement.Name)]
public sealed class TransitMobilityTests
{
    private const string Remote = "10.200.0.95";
    private const string Vault = "10.200.0.96";
    private const string App2AtBr2 = "            app2 { addresses = [\"10.30.1.30\"] }\n";
    private const string Spare2 = "            spare2 { addresses = [\"10.30.1.99\"] }\n";

    [Fact]
    public void Commit_MovingTheInstanceBehindTheTransit_TcpSessionGoesOnAtDc2ThroughIt_ReturnedSegmentEchoedAtOnce()
    {
        // dc2 on the east WAN: br1 reaches it, as br2, only through dc1.
        using var fabric = new TransitFabric(dc2On: "east");
        Open(fabric, Remote, 9000, 42000);
        var service = SvrFabric.OnlySession(fabric.Br1).Service;
        var admittedBy = fabric.Br1.Snapshot.Services[service].Runtime;

        Move(fabric);
        Assert.Equal(SvrRole.FormerEgress, SvrFabric.OnlySession(fabric.Br2).Svr);
        Assert.Equal(0, fabric.Br1.Worker.Counters.SessionsMoved);
        // The commit gave the service a new runtime at br1 (its hosting routers changed); the session still counts on the old.
        var inForce = fabric.Br1.Snapshot.Services[service].Runtime;
        Assert.NotSame(admittedBy, inForce);
        Assert.Equal((1, 0), (admittedBy.Admission.Holding, inForce.Admission.Holding));
        // It is one of the service's sessions for the policy in force too (its max-sessions counts it).
        Assert.Equal(1, inForce.Admission.Active);

        // eng1's next segment reaches br2 through dc1 and comes back in br2's redirect to dc2; dc1 relays it to br1 (naming
        // dc2), br1 moves the session onto new waypoint ports through dc1 naming dc2, and sends the segment on: app2 at dc2
        // echoes it at once, no retransmission needed.
        Echo(fabric, Remote, 9000, 42000, 107, "after!");
        Assert.Equal(1, fabric.Mover!.Received.Count(IsData));
        Assert.Equal(1, fabric.Br2.Worker.Counters.RedirectsSent);
        Assert.Equal(0, fabric.Br2.Worker.Counters.RedirectsWithoutPacket);
        Assert.Equal(1, fabric.Dc1.Worker.Counters.RedirectsRelayed);
        Assert.Equal(1, fabric.Br1.Worker.Counters.RedirectsFollowed);
        Assert.Equal(1, fabric.Br1.Worker.Counters.RedirectedPacketsResent);
        Assert.Equal(1, fabric.Br1.Worker.Counters.SessionsMoved);
        Assert.Equal(0, fabric.Br1.Worker.Counters.RedirectsRefused);
        Assert.Equal(1, fabric.Dc2!.Worker.Counters.InstancePinsHonoured);
        Assert.Equal(SvrRole.Egress, SvrFabric.OnlySession(fabric.Dc2).Svr);
        Assert.Equal(SvrFabric.OnlySession(fabric.Br1).SessionId, SvrFabric.OnlySession(fabric.Dc2).SessionId);

        // The redirect crossed dc1 on the session's reverse leg to br1 naming dc2, with the instance's tuple.
        var relayed = Assert.Single(SvrFabricTests.WaypointPackets(fabric.Br1Wan.Received), packet => Metadata(packet)?.DestinationRouter is not null);
        Assert.Equal("dc2", Metadata(relayed)!.DestinationRouter);
        Assert.NotNull(Metadata(relayed)!.ReverseContext);

        // Moved, the session counts against the runtime in force, and the replaced one holds nothing (so it can be pruned).
        Assert.Equal((0, 1), (admittedBy.Admission.Holding, inForce.Admission.Holding));
        Assert.Equal(1, inForce.Admission.Active);

        // dc1 now carries the session on to dc2 beside its old transit session, which idles out.
        Assert.Equal(2, fabric.Dc1.Worker.Sessions.Count);
        AssertNoResetNorSyn(fabric);
        Assert.All(new[] { fabric.Br1, fabric.Dc1, fabric.Br2, fabric.Dc2 }, router => Assert.Equal(0, router.Worker.Counters.Dropped));

        // The session goes on at dc2 without metadata.
        Echo(fabric, Remote, 9000, 42000, 113, "again");
        Assert.Equal(1, fabric.Dc1.Worker.Counters.RedirectsRelayed);
        Assert.Equal(1, fabric.Br2.Worker.Counters.RedirectsSent);
    }

    [Fact]
    public void Commit_MovingTheInstanceToANeighbourOfTheIngress_TcpSessionLeavesTheTransitForIt()
    {
        // dc2 on the west WAN: br1 reaches it directly, br2 only through dc1. app2 has a sibling at br2 (listed after it, so
        // br2 keeps hosting remote and br1 sees nothing to follow until br2's redirect, relayed by dc1).
        using var fabric = new TransitFabric(dc2On: "west", edit: WithSibling);
        Open(fabric, Remote, 9000, 42001);

        Move(fabric, WithSibling);
        Assert.Equal(SvrRole.FormerEgress, SvrFabric.OnlySession(fabric.Br2).Svr);

        Echo(fabric, Remote, 9000, 42001, 107, "after!");
        Assert.Equal(1, fabric.Mover!.Received.Count(IsData));
        Assert.Equal(1, fabric.Dc1.Worker.Counters.RedirectsRelayed);
        Assert.Equal(1, fabric.Br1.Worker.Counters.RedirectsFollowed);
        Assert.Equal(1, fabric.Br1.Worker.Counters.RedirectedPacketsResent);
        Assert.Equal(1, fabric.Dc2!.Worker.Counters.InstancePinsHonoured);
        Assert.Equal("dc2", PathOf(fabric.Br1));
        AssertNoResetNorSyn(fabric);

        Echo(fabric, Remote, 9000, 42001, 113, "again");
        Assert.Equal(1, fabric.Dc1.Worker.Counters.RedirectsRelayed);
    }

    [Fact]
    public void Commit_MovingTheInstanceBehindTheTransit_UdpDatagramsInFlightAllReachIt_LateRedirectRelayedToo()
    {
        using var fabric = new TransitFabric(dc2On: "east");
        fabric.Eng1.SendUdp(Remote, 42002, 9000, "d1"u8.ToArray());
        fabric.Pump();
        Assert.Single(fabric.App2.Received);

        Move(fabric);
        fabric.Mover!.IsServer = true;
        // d2 and d3 both reach br2 before br1 moved: two redirects, dc1 relays both, the second reaches br1 on the tuple
        // the session gave back and is sent on by its pin.
        fabric.Eng1.SendUdp(Remote, 42002, 9000, "d2"u8.ToArray());
        fabric.Eng1.SendUdp(Remote, 42002, 9000, "d3"u8.ToArray());
        fabric.Pump();
        fabric.Eng1.SendUdp(Remote, 42002, 9000, "d4"u8.ToArray());
        fabric.Pump();

        Assert.Equal(["d2", "d3", "d4"], fabric.Mover.Received.Select(UdpText).Order().ToArray());
        Assert.Equal(["d1", "d2", "d3", "d4"], fabric.Eng1.Received.Select(UdpText).Order().ToArray());
        Assert.Single(fabric.App2.Received);
        Assert.Equal(2, fabric.Br2.Worker.Counters.RedirectsSent);
        Assert.Equal(2, fabric.Dc1.Worker.Counters.RedirectsRelayed);
        Assert.Equal(1, fabric.Br1.Worker.Counters.RedirectsFollowed);
        Assert.Equal(2, fabric.Br1.Worker.Counters.RedirectedPacketsResent);
    }

    [Fact]
    public void Commit_MovingTheInstanceBehindTheTransit_PingEchoRequestsInFlightAllAnswered_LateRedirectRelayedToo()
    {
        // As for UDP, for a ping: its echo requests cross as UDP, come back in br2's redirects, which dc1 relays, and br1
        // rebuilds each as eng1's echo request and sends it on to the moved instance at dc2, which answers every one.
        using var fabric = new TransitFabric(dc2On: "east");
        fabric.Eng1.Ping(Remote, 11, 1);
        fabric.Pump();
        Assert.Single(fabric.App2.Received);

        Move(fabric);
        fabric.Mover!.IsServer = true;
        fabric.Eng1.Ping(Remote, 11, 2);
        fabric.Eng1.Ping(Remote, 11, 3);
        fabric.Pump();
        fabric.Eng1.Ping(Remote, 11, 4);
        fabric.Pump();

        Assert.Equal([(Icmpv4Type.EchoRequest, 11, 2), (Icmpv4Type.EchoRequest, 11, 3), (Icmpv4Type.EchoRequest, 11, 4)], fabric.Mover.Received.Select(Echo).Order().ToArray());
        Assert.Equal(
            [(Icmpv4Type.EchoReply, 11, 1), (Icmpv4Type.EchoReply, 11, 2), (Icmpv4Type.EchoReply, 11, 3), (Icmpv4Type.EchoReply, 11, 4)],
            fabric.Eng1.Received.Select(Echo).Order().ToArray());
        Assert.All(fabric.Eng1.Received, packet => Assert.True(Packets.ChecksumsValid(packet)));
        Assert.Single(fabric.App2.Received);
        Assert.Equal(2, fabric.Br2.Worker.Counters.RedirectsSent);
        Assert.Equal(0, fabric.Br2.Worker.Counters.RedirectsWithoutPacket);
        Assert.Equal(2, fabric.Dc1.Worker.Counters.RedirectsRelayed);
        Assert.Equal(1, fabric.Br1.Worker.Counters.RedirectsFollowed);
        Assert.Equal(2, fabric.Br1.Worker.Counters.RedirectedPacketsResent);
    }

    [Fact]
    public void Commit_MovingTheInstanceToTheClientsOwnRouter_BehindTheTransit_TcpSessionBecomesLocal_WithoutResetOrLostSegment()
    {
        // app2 moves from br2 to br1's apps network, where eng1's session enters the fabric. br2's redirect names br1, the
        // router dc1 has the session from: dc1 relays it, br1 makes the session local to app2 (homecomer) and sends on the
        // segment br2 returned, which is echoed at once, no retransmission needed.
        using var fabric = new TransitFabric(edit: WithBr1Apps(), withBr1Apps: true);
        Open(fabric, Remote, 9000, 42010);
        Assert.Equal(1, fabric.Br1.Snapshot.PeerPaths.Sum(path => path.Waypoints.InUse));

        MoveToBr1(fabric);
        Assert.Equal(SvrRole.FormerEgress, SvrFabric.OnlySession(fabric.Br2).Svr);
        Assert.Equal(SvrRole.Ingress, SvrFabric.OnlySession(fabric.Br1).Svr);
        var atApp2 = fabric.App2.Received.Count;

        Echo(fabric, Remote, 9000, 42010, 107, "after!");
        Assert.Equal(1, fabric.Br2.Worker.Counters.RedirectsSent);
        Assert.Equal(0, fabric.Br2.Worker.Counters.RedirectsWithoutPacket);
        Assert.Equal(1, fabric.Dc1.Worker.Counters.RedirectsRelayed);
        Assert.Equal(1, fabric.Br1.Worker.Counters.SessionsMadeLocal);
        Assert.Equal(1, fabric.Br1.Worker.Counters.RedirectedPacketsResent);
        Assert.Equal(0, fabric.Br1.Worker.Counters.RedirectsRefused);
        Assert.Equal(0, fabric.Br1.Worker.Counters.SessionsMoved);
        Assert.Equal(1, fabric.Homecomer!.Received.Count(IsData));
        Assert.Equal(atApp2, fabric.App2.Received.Count);

        // The redirect crossed dc1 on the session's reverse leg to br1, naming br1, with the instance's tuple.
        var relayed = Assert.Single(SvrFabricTests.WaypointPackets(fabric.Br1Wan.Received), packet => Metadata(packet)?.DestinationRouter is not null);
        Assert.Equal("br1", Metadata(relayed)!.DestinationRouter);
        Assert.NotNull(Metadata(relayed)!.ReverseContext);

        // br1's session is local now (the same one, no waypoint pair held); dc1's transit session is left to idle.
        Assert.Equal(SvrRole.None, SvrFabric.OnlySession(fabric.Br1).Svr);
        Assert.Equal(0, fabric.Br1.Snapshot.PeerPaths.Sum(path => path.Waypoints.InUse));
        Assert.Equal(1, fabric.Br1.Worker.Counters.SessionsCreated);
        Assert.Equal(SvrRole.Transit, SvrFabric.OnlySession(fabric.Dc1).Svr);
        AssertNoResetNorSynAtHomecomer(fabric);
        Assert.All(new[] { fabric.Br1, fabric.Dc1, fabric.Br2 }, router => Assert.Equal(0, router.Worker.Counters.Dropped));

        // The session goes on locally: nothing more reaches dc1.
        var atDc1 = fabric.DcWest.Received.Count;
        Echo(fabric, Remote, 9000, 42010, 113, "again");
        Echo(fabric, Remote, 9000, 42010, 118, "and again");
        Assert.Equal(3, fabric.Homecomer.Received.Count(IsData));
        Assert.Equal(atDc1, fabric.DcWest.Received.Count);
        Assert.Equal(1, fabric.Br2.Worker.Counters.RedirectsSent);
        Assert.All(fabric.Homecomer.Received, packet => Assert.True(Packets.ChecksumsValid(packet)));
        AssertNoResetNorSynAtHomecomer(fabric);
    }

    [Fact]
    public void Commit_MovingTheInstanceToTheClientsOwnRouter_BehindTheTransit_TwoSegmentsInFlight_LateRedirectRelayed_BothEchoed()
    {
        // Two segments reach br2 before br1 made the session local: both come back in br2's redirects, relayed by dc1; the
        // second reaches br1 on the waypoint tuple the session gave back, is found by its pin and sent on to app2 here too.
        using var fabric = new TransitFabric(edit: WithBr1Apps(), withBr1Apps: true);
        Open(fabric, Remote, 9000, 42011);
        MoveToBr1(fabric);
        var atEng1 = fabric.Eng1.Received.Count;

        fabric.Eng1.SendTcp(Remote, 42011, 9000, TcpFlags.Ack | TcpFlags.Psh, 107, 5001, "after!"u8.ToArray());
        fabric.Eng1.SendTcp(Remote, 42011, 9000, TcpFlags.Ack | TcpFlags.Psh, 113, 5001, "again"u8.ToArray());
        fabric.Pump();

        Assert.Equal(["after!", "again"], fabric.Homecomer!.Received.Where(IsData).Select(TcpText).ToArray());
        Assert.Equal(["after!", "again"], fabric.Eng1.Received.Skip(atEng1).Select(TcpText).Order().ToArray());
        Assert.All(fabric.Eng1.Received, packet => Assert.True(Packets.ChecksumsValid(packet)));
        Assert.Equal(2, fabric.Br2.Worker.Counters.RedirectsSent);
        Assert.Equal(2, fabric.Dc1.Worker.Counters.RedirectsRelayed);
        Assert.Equal(1, fabric.Br1.Worker.Counters.SessionsMadeLocal);
        Assert.Equal(2, fabric.Br1.Worker.Counters.RedirectedPacketsResent);
        Assert.Equal(0, fabric.Br1.Worker.Counters.Dropped);
        Assert.Equal(SvrRole.None, SvrFabric.OnlySession(fabric.Br1).Svr);
        AssertNoResetNorSynAtHomecomer(fabric);

        Echo(fabric, Remote, 9000, 42011, 118, "and again");
    }

    [Fact]
    public void Commit_MovingTheInstanceToTheClientsOwnRouter_BehindTheTransit_UdpSessionBecomesLocal_LosingNoDatagram()
    {
        using var fabric = new TransitFabric(edit: WithBr1Apps(), withBr1Apps: true);
        fabric.Eng1.SendUdp(Remote, 42012, 9000, "d1"u8.ToArray());
        fabric.Pump();
        Assert.Single(fabric.App2.Received);

        MoveToBr1(fabric);
        // d2 and d3 both reach br2 before br1 made the session local: two redirects, dc1 relays both, the second reaches
        // br1 on the tuple the session gave back and is sent on by its pin.
        fabric.Eng1.SendUdp(Remote, 42012, 9000, "d2"u8.ToArray());
        fabric.Eng1.SendUdp(Remote, 42012, 9000, "d3"u8.ToArray());
        fabric.Pump();
        fabric.Eng1.SendUdp(Remote, 42012, 9000, "d4"u8.ToArray());
        fabric.Pump();

        Assert.Equal(["d2", "d3", "d4"], fabric.Homecomer!.Received.Select(UdpText).Order().ToArray());
        Assert.Equal(["d1", "d2", "d3", "d4"], fabric.Eng1.Received.Select(UdpText).Order().ToArray());
        Assert.All(fabric.Eng1.Received, packet => Assert.True(Packets.ChecksumsValid(packet)));
        Assert.Single(fabric.App2.Received);
        Assert.Equal(2, fabric.Br2.Worker.Counters.RedirectsSent);
        Assert.Equal(0, fabric.Br2.Worker.Counters.RedirectsWithoutPacket);
        Assert.Equal(2, fabric.Dc1.Worker.Counters.RedirectsRelayed);
        Assert.Equal(1, fabric.Br1.Worker.Counters.SessionsMadeLocal);
        Assert.Equal(2, fabric.Br1.Worker.Counters.RedirectedPacketsResent);
        Assert.Equal(SvrRole.None, SvrFabric.OnlySession(fabric.Br1).Svr);
    }

    [Fact]
    public void Commit_MovingTheInstanceToTheTransit_TcpSessionEndsThereAsItsEgress_ReturnedSegmentEchoedAtOnce()
    {
        // app2 moves from br2 to dc1's apps network: dc1, the transit of eng1's session, is where it lands. br2's redirect
        // names dc1; dc1, hosting the pinned instance now, relays it to br1 naming itself; br1, whose path leads to dc1,
        // re-signals the session on new waypoint ports to dc1 as its destination and sends the segment on; dc1 opens it as
        // an egress on app2 (lander), which echoes it at once, no retransmission needed.
        using var fabric = new TransitFabric(withDc1Apps: true, edit: WithSibling);
        Open(fabric, Remote, 9000, 42020);

        MoveToDc1(fabric);
        Assert.Equal(SvrRole.FormerEgress, SvrFabric.OnlySession(fabric.Br2).Svr);
        Assert.Equal(SvrRole.Transit, SvrFabric.OnlySession(fabric.Dc1).Svr);
        Assert.Equal(0, fabric.Br1.Worker.Counters.SessionsMoved);
        var atApp2 = fabric.App2.Received.Count;
        var atDc1 = fabric.DcWest.Received.Count;

        Echo(fabric, Remote, 9000, 42020, 107, "after!");
        Assert.Equal(["after!"], fabric.Lander!.Received.Where(IsData).Select(TcpText).ToArray());
        Assert.Equal(atApp2, fabric.App2.Received.Count);
        Assert.Equal(1, fabric.Br2.Worker.Counters.RedirectsSent);
        Assert.Equal(0, fabric.Br2.Worker.Counters.RedirectsWithoutPacket);
        Assert.Equal(1, fabric.Dc1.Worker.Counters.RedirectsRelayed);
        Assert.Equal(1, fabric.Br1.Worker.Counters.RedirectsFollowed);
        Assert.Equal(1, fabric.Br1.Worker.Counters.SessionsMoved);
        Assert.Equal(1, fabric.Br1.Worker.Counters.RedirectedPacketsResent);
        Assert.Equal(0, fabric.Br1.Worker.Counters.RedirectsRefused);
        Assert.Equal(1, fabric.Dc1.Worker.Counters.InstancePinsHonoured);
        Assert.Equal("dc1", PathOf(fabric.Br1));

        // The redirect crossed dc1 on the session's reverse leg to br1 naming dc1, with the instance's tuple; br1's
        // re-signal names no router beyond dc1, which holds the session as its egress beside its old transit session.
        var relayed = Assert.Single(SvrFabricTests.WaypointPackets(fabric.Br1Wan.Received), packet => Metadata(packet)?.DestinationRouter is not null);
        Assert.Equal("dc1", Metadata(relayed)!.DestinationRouter);
        Assert.NotNull(Metadata(relayed)!.ReverseContext);
        var resignalled = SvrFabricTests.WaypointPackets(fabric.DcWest.Received.Skip(atDc1).ToList()).Where(packet => Metadata(packet) is not null).ToList();
        Assert.NotEmpty(resignalled);
        Assert.All(resignalled, packet => Assert.Null(Metadata(packet)!.DestinationRouter));
        Assert.All(resignalled, packet => Assert.NotNull(Metadata(packet)!.ReverseContext));
        var egress = Assert.Single(Sessions(fabric.Dc1), session => session.Svr == SvrRole.Egress);
        Assert.Equal(SvrFabric.OnlySession(fabric.Br1).SessionId, egress.SessionId);
        Assert.Single(Sessions(fabric.Dc1), session => session.Svr == SvrRole.Transit);
        AssertNoResetNorSynAt(fabric, fabric.Lander);
        Assert.All(new[] { fabric.Br1, fabric.Dc1, fabric.Br2 }, router => Assert.Equal(0, router.Worker.Counters.Dropped));

        // The session goes on at dc1 without metadata: nothing more reaches br2.
        var atBr2 = fabric.Br2East.Received.Count;
        Echo(fabric, Remote, 9000, 42020, 113, "again");
        Echo(fabric, Remote, 9000, 42020, 118, "and again");
        Assert.Equal(["after!", "again", "and again"], fabric.Lander.Received.Where(IsData).Select(TcpText).ToArray());
        Assert.Equal(atBr2, fabric.Br2East.Received.Count);
        Assert.Equal(1, fabric.Br2.Worker.Counters.RedirectsSent);
        Assert.Equal(1, fabric.Br1.Worker.Counters.SessionsMoved);
        Assert.All(fabric.Lander.Received, packet => Assert.True(Packets.ChecksumsValid(packet)));
        AssertNoResetNorSynAt(fabric, fabric.Lander);
    }

    [Fact]
    public void Commit_MovingTheInstanceToTheTransit_TwoSegmentsInFlight_LateRedirectRelayed_BothReachItInOrder()
    {
        // Two segments reach br2 before br1 moved: both come back in br2's redirects, relayed by dc1 naming itself; the
        // second reaches br1 on the waypoint tuple the session gave back, is found by its pin and sent on to dc1 too.
        using var fabric = new TransitFabric(withDc1Apps: true, edit: WithSibling);
        Open(fabric, Remote, 9000, 42021);
        MoveToDc1(fabric);
        var atEng1 = fabric.Eng1.Received.Count;

        fabric.Eng1.SendTcp(Remote, 42021, 9000, TcpFlags.Ack | TcpFlags.Psh, 107, 5001, "after!"u8.ToArray());
        fabric.Eng1.SendTcp(Remote, 42021, 9000, TcpFlags.Ack | TcpFlags.Psh, 113, 5001, "again"u8.ToArray());
        fabric.Pump();

        Assert.Equal(["after!", "again"], fabric.Lander!.Received.Where(IsData).Select(TcpText).ToArray());
        Assert.Equal(["after!", "again"], fabric.Eng1.Received.Skip(atEng1).Select(TcpText).Order().ToArray());
        Assert.All(fabric.Eng1.Received, packet => Assert.True(Packets.ChecksumsValid(packet)));
        Assert.Equal(2, fabric.Br2.Worker.Counters.RedirectsSent);
        Assert.Equal(2, fabric.Dc1.Worker.Counters.RedirectsRelayed);
        Assert.Equal(1, fabric.Br1.Worker.Counters.RedirectsFollowed);
        Assert.Equal(1, fabric.Br1.Worker.Counters.SessionsMoved);
        Assert.Equal(2, fabric.Br1.Worker.Counters.RedirectedPacketsResent);
        Assert.All(new[] { fabric.Br1, fabric.Dc1, fabric.Br2 }, router => Assert.Equal(0, router.Worker.Counters.Dropped));
        AssertNoResetNorSynAt(fabric, fabric.Lander);

        Echo(fabric, Remote, 9000, 42021, 118, "and again");
        Assert.Equal(["after!", "again", "and again"], fabric.Lander.Received.Where(IsData).Select(TcpText).ToArray());
    }

    [Fact]
    public void Commit_MovingTheInstanceToTheTransit_UdpDatagramsInFlightAllReachIt_LateRedirectRelayedToo()
    {
        using var fabric = new TransitFabric(withDc1Apps: true, edit: WithSibling);
        fabric.Eng1.SendUdp(Remote, 42022, 9000, "d1"u8.ToArray());
        fabric.Pump();
        Assert.Single(fabric.App2.Received);

        MoveToDc1(fabric);
        // d2 and d3 both reach br2 before br1 moved: two redirects, dc1 relays both, the second reaches br1 on the tuple
        // the session gave back and is sent on by its pin.
        fabric.Eng1.SendUdp(Remote, 42022, 9000, "d2"u8.ToArray());
        fabric.Eng1.SendUdp(Remote, 42022, 9000, "d3"u8.ToArray());
        fabric.Pump();
        fabric.Eng1.SendUdp(Remote, 42022, 9000, "d4"u8.ToArray());
        fabric.Pump();

        Assert.Equal(["d2", "d3", "d4"], fabric.Lander!.Received.Select(UdpText).ToArray());
        Assert.Equal(["d1", "d2", "d3", "d4"], fabric.Eng1.Received.Select(UdpText).Order().ToArray());
        Assert.All(fabric.Eng1.Received, packet => Assert.True(Packets.ChecksumsValid(packet)));
        Assert.Single(fabric.App2.Received);
        Assert.Equal(2, fabric.Br2.Worker.Counters.RedirectsSent);
        Assert.Equal(0, fabric.Br2.Worker.Counters.RedirectsWithoutPacket);
        Assert.Equal(2, fabric.Dc1.Worker.Counters.RedirectsRelayed);
        Assert.Equal(1, fabric.Br1.Worker.Counters.RedirectsFollowed);
        Assert.Equal(2, fabric.Br1.Worker.Counters.RedirectedPacketsResent);
        Assert.Equal(1, fabric.Dc1.Worker.Counters.InstancePinsHonoured);
        Assert.Equal("dc1", PathOf(fabric.Br1));
    }

    [Fact]
    public void Commit_MovingTheInstanceToTheTransit_EncryptedService_SessionGoesOnSealedAtDc1_PayloadNeverInClear()
    {
        using var fabric = new TransitFabric(withDc1Apps: true, edit: WithSibling);
        fabric.ShareKeys(fabric.Br1, fabric.Dc1, epoch: 1);
        fabric.ShareKeys(fabric.Dc1, fabric.Br2, epoch: 1);
        Open(fabric, Vault, 9443, 42023);

        MoveToDc1(fabric);
        var secret = "transfer 1000 to account 42";
        Echo(fabric, Vault, 9443, 42023, 107, secret);

        Assert.Equal([secret], fabric.Lander!.Received.Where(IsData).Select(TcpText).ToArray());
        Assert.Equal(1, fabric.Dc1.Worker.Counters.RedirectsRelayed);
        Assert.Equal(1, fabric.Br1.Worker.Counters.RedirectsFollowed);
        Assert.True(Assert.Single(Sessions(fabric.Dc1), session => session.Svr == SvrRole.Egress).Sealed);
        foreach (var wire in new[] { fabric.DcWest, fabric.DcEast, fabric.Br1Wan, fabric.Br2East })
        {
            Assert.DoesNotContain(SvrFabricTests.WaypointPackets(wire.Received), packet => packet.AsSpan().IndexOf(System.Text.Encoding.ASCII.GetBytes(secret)) >= 0);
        }

        Assert.All(new[] { fabric.Br1, fabric.Dc1, fabric.Br2 }, router => Assert.Equal(0, router.Worker.Counters.Dropped));
        AssertNoResetNorSynAt(fabric, fabric.Lander);
    }

    /// <summary>
    /// There and back: app2 moves to dc1, the transit, and the session ends there; a later commit moves app2 back to br2.
    /// dc1's egress becomes a former egress and redirects eng1's next segment to br1 naming br2, br1 moves the session
    /// through dc1 naming br2 again, and br2's former egress, an egress again once it bound the return, adopts it on its
    /// new tuple: app2 echoes the segment, no second session at br2, no reset.
    /// </summary>
    [Fact]
    public void Commit_MovingTheInstanceToTheTransitAndBack_SessionFollowsItBothWays_AdoptedAgainAtBr2()
    {
        using var fabric = new TransitFabric(withDc1Apps: true, edit: WithSibling);
        Open(fabric, Remote, 9000, 42026);
        var service = SvrFabric.OnlySession(fabric.Br2).Service;
        var admittedAtBr2 = fabric.Br2.Snapshot.Services[service].Runtime;
        MoveToDc1(fabric);
        Echo(fabric, Remote, 9000, 42026, 107, "there");
        Assert.Equal(["there"], fabric.Lander!.Received.Where(IsData).Select(TcpText).ToArray());
        var atApp2 = fabric.App2.Received.Count(IsData);

        var back = fabric.Document(WithSibling);
        fabric.Lander.IsServer = false;
        fabric.App2.IsServer = true;
        foreach (var router in new[] { fabric.Dc1, fabric.Br1, fabric.Br2 })
        {
            router.Apply(back, version: 3);
        }

        fabric.Pump();
        Echo(fabric, Remote, 9000, 42026, 112, "and back");

        Assert.Equal(atApp2 + 1, fabric.App2.Received.Count(IsData));
        Assert.Equal(["there"], fabric.Lander.Received.Where(IsData).Select(TcpText).ToArray());
        Assert.Equal(1, fabric.Dc1.Worker.Counters.RedirectsSent);
        Assert.Equal(2, fabric.Br1.Worker.Counters.RedirectsFollowed);
        Assert.Equal(2, fabric.Br1.Worker.Counters.SessionsMoved);
        Assert.Equal(SvrRole.Egress, SvrFabric.OnlySession(fabric.Br2).Svr);
        Assert.Equal(SvrFabric.OnlySession(fabric.Br1).SessionId, SvrFabric.OnlySession(fabric.Br2).SessionId);
        // Back on app2, br2's session counts on it under the service's runtime in force (the commits replaced the one that
        // admitted it, which holds nothing now): least-connections at br2 sees it.
        var inForce = fabric.Br2.Snapshot.Services[service].Runtime;
        Assert.NotSame(admittedAtBr2, inForce);
        Assert.Equal((0, 1), (admittedAtBr2.Admission.Holding, inForce.Admission.Holding));
        Assert.Equal(1, inForce.Admission.Active);
        Assert.Equal(1, Enumerable.Range(0, inForce.Load.Count).Sum(instance => inForce.Load.LocalSessions(instance)));
        // No reset on eng1's connection at either end, and app2 saw its SYN once (br2's health check of app2, back there,
        // connects from ports of its own).
        Assert.DoesNotContain(fabric.Eng1.Received, packet => FlagsOf(packet) is { } flags && (flags & TcpFlags.Rst) != 0);
        var ofEng1 = fabric.App2.Received.Where(packet => SourcePort(packet) == 42026).ToList();
        Assert.DoesNotContain(ofEng1, packet => FlagsOf(packet) is { } flags && (flags & TcpFlags.Rst) != 0);
        Assert.Single(ofEng1, packet => FlagsOf(packet) is { } flags && (flags & TcpFlags.Syn) != 0);

        Echo(fabric, Remote, 9000, 42026, 120, "again");
        Assert.Equal(atApp2 + 2, fabric.App2.Received.Count(IsData));
    }

    /// <summary>
    /// The routers apply the commit one by one. br1 last: br2's redirect naming dc1, relayed, names a router br1's entry does
    /// not list as hosting the service, so br1 refuses it (its segment lost); the retransmission after br1 applied it
    /// reaches app2 at dc1. dc1 last: dc1, not hosting app2 yet, drops the redirect naming itself as
    /// <see cref="DropReason.InstanceArriving"/> rather than have br1 move the session to it; the retransmission after dc1
    /// applied it is relayed and reaches app2 there. Nothing is echoed to eng1 before, and no packet loops.
    /// </summary>
    [Theory]
    [InlineData("br1")]
    [InlineData("dc1")]
    public void Commit_MovingTheInstanceToTheTransit_AppliedLastAtOneRouter_RedirectWaitsForIt_RetransmissionReachesTheInstance(string last)
    {
        using var fabric = new TransitFabric(withDc1Apps: true, edit: WithSibling);
        Open(fabric, Remote, 9000, 42024);
        var moved = fabric.Document(MovedToDc1);
        fabric.App2.IsServer = false;
        fabric.Lander!.IsServer = true;
        var lastRouter = last == "br1" ? fabric.Br1 : fabric.Dc1;
        foreach (var router in new[] { fabric.Dc1, fabric.Br1, fabric.Br2 }.Where(router => router != lastRouter))
        {
            router.Apply(moved, version: 2);
        }

        fabric.Pump();
        var atEng1 = fabric.Eng1.Received.Count;
        fabric.Eng1.SendTcp(Remote, 42024, 9000, TcpFlags.Ack | TcpFlags.Psh, 107, 5001, "after!"u8.ToArray());
        fabric.Pump();

        Assert.Equal(1, fabric.Br2.Worker.Counters.RedirectsSent);
        Assert.Equal(atEng1, fabric.Eng1.Received.Count);
        Assert.DoesNotContain(fabric.Lander.Received, IsData);
        Assert.Equal(0, fabric.Br1.Worker.Counters.SessionsMoved);
        if (last == "br1")
        {
            Assert.Equal(1, fabric.Dc1.Worker.Counters.RedirectsRelayed);
            Assert.Equal(1, fabric.Br1.Worker.Counters.RedirectsRefused);
        }
        else
        {
            Assert.Equal(1, SvrFabric.Drops(fabric.Dc1, DropReason.InstanceArriving));
            Assert.Equal(0, fabric.Dc1.Worker.Counters.RedirectsRelayed);
            Assert.Equal(0, fabric.Br1.Worker.Counters.RedirectsRefused);
        }

        lastRouter.Apply(moved, version: 2);
        fabric.Pump();
        Echo(fabric, Remote, 9000, 42024, 107, "after!");
        Assert.Equal(["after!"], fabric.Lander.Received.Where(IsData).Select(TcpText).ToArray());
        Assert.Equal(2, fabric.Br2.Worker.Counters.RedirectsSent);
        Assert.Equal(1, fabric.Br1.Worker.Counters.RedirectsFollowed);
        Assert.Equal(1, fabric.Br1.Worker.Counters.SessionsMoved);
        Assert.Equal(1, fabric.Dc1.Worker.Counters.InstancePinsHonoured);
        AssertNoResetNorSynAt(fabric, fabric.Lander);
    }

    /// <summary>
    /// br2 is down when app2, its only instance of remote, moves to dc1 (nothing reaches br2 and it never binds the commit):
    /// no redirect can come. br1, binding the commit, sees that the router its session goes to through dc1 (br2) no longer
    /// hosts remote while dc1 does, and moves the session at once onto new waypoint ports to dc1 as its destination: eng1's
    /// next segment reaches app2 at dc1 (lander), which dc1 opens as an egress from br1's metadata, and the connection goes
    /// on without a reset. Kept on its path, its segments would go through dc1 to br2 and be lost until the session idled
    /// out.
    /// </summary>
    [Fact]
    public void Commit_MovingTheInstanceToTheTransit_WhileTheOldEgressIsDown_TcpSessionMovesAtRebinding_GoesOnAtDc1()
    {
        using var fabric = new TransitFabric(withDc1Apps: true);
        Open(fabric, Remote, 9000, 42030);
        var service = SvrFabric.OnlySession(fabric.Br1).Service;
        var admittedBy = fabric.Br1.Snapshot.Services[service].Runtime;

        fabric.Br2East.Tamper = _ => false;
        MoveAloneToDc1(fabric, fabric.Dc1, fabric.Br1);
        var atDc1 = fabric.DcWest.Received.Count;

        Echo(fabric, Remote, 9000, 42030, 107, "after!");
        Assert.Equal(["after!"], fabric.Lander!.Received.Where(IsData).Select(TcpText).ToArray());
        Assert.Equal(1, fabric.Br1.Worker.Counters.SessionsMoved);
        Assert.Equal("dc1", PathOf(fabric.Br1));
        Assert.Equal(0, fabric.Br1.Worker.Counters.RedirectsFollowed);
        Assert.Equal(0, fabric.Dc1.Worker.Counters.RedirectsRelayed);

        // br1's re-signal names no router beyond dc1 (and no pin: no redirect came); dc1 holds the session as its egress
        // beside its old transit session, which idles out.
        var resignalled = SvrFabricTests.WaypointPackets(fabric.DcWest.Received.Skip(atDc1).ToList()).Where(packet => Metadata(packet) is not null).ToList();
        Assert.NotEmpty(resignalled);
        Assert.All(resignalled, packet => Assert.Null(Metadata(packet)!.DestinationRouter));
        var egress = Assert.Single(Sessions(fabric.Dc1), session => session.Svr == SvrRole.Egress);
        Assert.Equal(SvrFabric.OnlySession(fabric.Br1).SessionId, egress.SessionId);

        // Moved, the session counts on dc1's slot under the runtime in force; the replaced one holds nothing.
        var inForce = fabric.Br1.Snapshot.Services[service].Runtime;
        Assert.NotSame(admittedBy, inForce);
        Assert.Equal((0, 1), (admittedBy.Admission.Holding, inForce.Admission.Holding));
        Assert.Equal(1, inForce.Admission.Active);
        AssertNoResetNorSynAt(fabric, fabric.Lander);

        Echo(fabric, Remote, 9000, 42030, 113, "again");
        Assert.Equal(["after!", "again"], fabric.Lander.Received.Where(IsData).Select(TcpText).ToArray());
        Assert.Equal(1, fabric.Br1.Worker.Counters.SessionsMoved);
    }

    /// <summary>As for TCP, for a UDP session: with br2 down, br1 moves it to dc1 when it binds the commit, and every later datagram reaches app2 there.</summary>
    [Fact]
    public void Commit_MovingTheInstanceToTheTransit_WhileTheOldEgressIsDown_UdpSessionMovesAtRebinding_DatagramsReachIt()
    {
        using var fabric = new TransitFabric(withDc1Apps: true);
        fabric.Eng1.SendUdp(Remote, 42031, 9000, "d1"u8.ToArray());
        fabric.Pump();
        Assert.Single(fabric.App2.Received);

        fabric.Br2East.Tamper = _ => false;
        MoveAloneToDc1(fabric, fabric.Dc1, fabric.Br1);
        fabric.Eng1.SendUdp(Remote, 42031, 9000, "d2"u8.ToArray());
        fabric.Pump();
        fabric.Eng1.SendUdp(Remote, 42031, 9000, "d3"u8.ToArray());
        fabric.Pump();

        Assert.Equal(["d2", "d3"], fabric.Lander!.Received.Select(UdpText).ToArray());
        Assert.Equal(["d1", "d2", "d3"], fabric.Eng1.Received.Select(UdpText).Order().ToArray());
        Assert.Single(fabric.App2.Received);
        Assert.Equal(1, fabric.Br1.Worker.Counters.SessionsMoved);
        Assert.Equal("dc1", PathOf(fabric.Br1));
    }

    /// <summary>
    /// br2 up, app2 its only instance of remote: br1 moves the session to dc1 when it binds the commit, as with br2 down, so
    /// nothing more reaches br2 and nothing is redirected. When dc1 binds the commit after br1, the segment br1 re-signals
    /// before it is not delivered anywhere (dc1 does not host remote yet); the client's retransmission after dc1 bound it
    /// reaches app2 there.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Commit_MovingTheOnlyInstanceToTheTransit_OldEgressUp_SessionMovesAtRebinding_NoRedirect(bool dc1Last)
    {
        using var fabric = new TransitFabric(withDc1Apps: true);
        Open(fabric, Remote, 9000, 42033);
        MoveAloneToDc1(fabric, dc1Last ? [fabric.Br1, fabric.Br2] : [fabric.Dc1, fabric.Br1, fabric.Br2]);
        Assert.Equal(1, fabric.Br1.Worker.Counters.SessionsMoved);
        var atBr2 = fabric.Br2East.Received.Count;
        if (dc1Last)
        {
            var atEng1 = fabric.Eng1.Received.Count;
            fabric.Eng1.SendTcp(Remote, 42033, 9000, TcpFlags.Ack | TcpFlags.Psh, 107, 5001, "after!"u8.ToArray());
            fabric.Pump();
            Assert.Equal(atEng1, fabric.Eng1.Received.Count);
            Assert.DoesNotContain(fabric.Lander!.Received, IsData);
            fabric.Dc1.Apply(fabric.Document(MovedAloneToDc1), version: 2);
            fabric.Pump();
        }

        Echo(fabric, Remote, 9000, 42033, 107, "after!");
        Assert.Equal(["after!"], fabric.Lander!.Received.Where(IsData).Select(TcpText).ToArray());
        Assert.Equal(atBr2, fabric.Br2East.Received.Count);
        Assert.Equal(0, fabric.Br2.Worker.Counters.RedirectsSent);
        Assert.Equal(1, fabric.Br1.Worker.Counters.SessionsMoved);
        AssertNoResetNorSynAt(fabric, fabric.Lander);
    }

    /// <summary>
    /// The negative: br2 is up and keeps a sibling of app2 (sib), so it still hosts remote when app2 moves to dc1. br1's
    /// rebinding moves nothing (only br2 knows the session's instance moved); br2's redirect, relayed by dc1 naming itself,
    /// moves it, pinned to app2, which dc1 honours.
    /// </summary>
    [Fact]
    public void Commit_MovingOneOfTwoInstancesToTheTransit_OldEgressUp_RebindingMovesNothing_TheRedirectDecides()
    {
        using var fabric = new TransitFabric(withDc1Apps: true, edit: WithSibling);
        Open(fabric, Remote, 9000, 42032);
        var before = SvrFabric.OnlySession(fabric.Br1);

        MoveToDc1(fabric);
        var bound = SvrFabric.OnlySession(fabric.Br1);
        Assert.Equal(0, fabric.Br1.Worker.Counters.SessionsMoved);
        Assert.Equal(before.LocalWaypointPort, bound.LocalWaypointPort);
        Assert.Equal(before.Instance, bound.Instance);

        Echo(fabric, Remote, 9000, 42032, 107, "after!");
        Assert.Equal(["after!"], fabric.Lander!.Received.Where(IsData).Select(TcpText).ToArray());
        Assert.Equal(1, fabric.Br1.Worker.Counters.RedirectsFollowed);
        Assert.Equal(1, fabric.Br1.Worker.Counters.SessionsMoved);
        Assert.Equal(1, fabric.Dc1.Worker.Counters.InstancePinsHonoured);
    }

    [Fact]
    public void EncryptedService_KeysOnEveryHop_RedirectRelayedSealed_SessionGoesOnAtDc2_PayloadNeverInClear()
    {
        using var fabric = new TransitFabric(dc2On: "east");
        fabric.ShareKeys(fabric.Br1, fabric.Dc1, epoch: 1);
        fabric.ShareKeys(fabric.Dc1, fabric.Br2, epoch: 1);
        fabric.ShareKeys(fabric.Dc1, fabric.Dc2!, epoch: 1);
        Open(fabric, Vault, 9443, 42003);

        Move(fabric);
        var secret = "transfer 1000 to account 42";
        Echo(fabric, Vault, 9443, 42003, 107, secret);

        Assert.Equal(1, fabric.Mover!.Received.Count(IsData));
        Assert.Equal(1, fabric.Dc1.Worker.Counters.RedirectsRelayed);
        Assert.Equal(1, fabric.Br1.Worker.Counters.RedirectsFollowed);
        Assert.True(SvrFabric.OnlySession(fabric.Dc2!).Sealed);
        foreach (var wire in new[] { fabric.DcWest, fabric.DcEast, fabric.Br1Wan, fabric.Dc2Wan! })
        {
            Assert.DoesNotContain(SvrFabricTests.WaypointPackets(wire.Received), packet => packet.AsSpan().IndexOf(System.Text.Encoding.ASCII.GetBytes(secret)) >= 0);
        }

        Assert.All(new[] { fabric.Br1, fabric.Dc1, fabric.Br2, fabric.Dc2! }, router => Assert.Equal(0, router.Worker.Counters.Dropped));
        AssertNoResetNorSyn(fabric);
    }

    /// <summary>
    /// dc1 relaying a redirect allocates nothing: br2's redirect (returning eng1's segment) is run through dc1's worker again
    /// and again, each relayed to br1 on the session's reverse leg (dc1 keeps its old transit session; the frames it
    /// sends go nowhere).
    /// </summary>
    [Fact]
    public void RedirectRelayedByTheTransit_AllocatesNothing()
    {
        using var fabric = new TransitFabric(dc2On: "east");
        Open(fabric, Remote, 9000, 42005);
        Move(fabric);
        Echo(fabric, Remote, 9000, 42005, 107, "after!");
        var redirect = Assert.Single(fabric.DcEast.Received, frame => Metadata(frame[EthernetFrame.UntaggedHeaderLength..])?.DestinationRouter is not null);
        var worker = fabric.Dc1.Worker;
        var snapshot = fabric.Dc1.Snapshot;
        var now = fabric.Dc1.Now;
        var buffer = new byte[Fabric.Dataplane.Io.PacketBuffer.DefaultCapacity];
        fabric.DcWest.Swallow = true;
        redirect.CopyTo(buffer, 0);
        Assert.Equal(Verdict.Forward, worker.Process(buffer, redirect.Length, 1, now, snapshot));

        var allocated = ThreadAllocations.During(() =>
        {
            for (var i = 0; i < 16; i++)
            {
                redirect.CopyTo(buffer, 0);
                worker.Process(buffer, redirect.Length, 1, now, snapshot);
            }
        });

        Assert.Equal(0, allocated);
        Assert.Equal(18, worker.Counters.RedirectsRelayed);
        Assert.Equal(17, fabric.DcWest.Swallowed);
        Assert.Equal(0, worker.Counters.Dropped);
    }

    /// <summary>
    /// dc1 relaying a redirect that names itself (app2 moved to dc1) allocates nothing: br2's redirect is run through dc1's
    /// worker again and again, each checked against dc1's instances and relayed to br1 naming dc1 (the frames go nowhere).
    /// </summary>
    [Fact]
    public void RedirectNamingTheTransit_RelayedByIt_AllocatesNothing()
    {
        using var fabric = new TransitFabric(withDc1Apps: true, edit: WithSibling);
        Open(fabric, Remote, 9000, 42025);
        MoveToDc1(fabric);
        Echo(fabric, Remote, 9000, 42025, 107, "after!");
        var redirect = Assert.Single(fabric.DcEast.Received, frame => Metadata(frame[EthernetFrame.UntaggedHeaderLength..])?.DestinationRouter is not null);
        Assert.Equal("dc1", Metadata(redirect[EthernetFrame.UntaggedHeaderLength..])!.DestinationRouter);
        var worker = fabric.Dc1.Worker;
        var snapshot = fabric.Dc1.Snapshot;
        var now = fabric.Dc1.Now;
        var buffer = new byte[Fabric.Dataplane.Io.PacketBuffer.DefaultCapacity];
        fabric.DcWest.Swallow = true;
        redirect.CopyTo(buffer, 0);
        Assert.Equal(Verdict.Forward, worker.Process(buffer, redirect.Length, 1, now, snapshot));

        var allocated = ThreadAllocations.During(() =>
        {
            for (var i = 0; i < 16; i++)
            {
                redirect.CopyTo(buffer, 0);
                worker.Process(buffer, redirect.Length, 1, now, snapshot);
            }
        });

        Assert.Equal(0, allocated);
        Assert.Equal(18, worker.Counters.RedirectsRelayed);
        Assert.Equal(17, fabric.DcWest.Swallowed);
        Assert.Equal(0, worker.Counters.Dropped);
    }

    /// <summary>
    /// What reaches dc1 as a redirect is checked as any metadata before it is relayed: one naming no router of the document,
    /// one without the instance's tuple, one of another session id are dropped as <see cref="DropReason.MetadataMismatch"/>,
    /// one naming dc1 itself for an instance dc1 does not host (br1 would move the session to dc1, to no instance) as
    /// <see cref="DropReason.InstanceArriving"/>; none reaches br1, which moves nothing.
    /// </summary>
    [Theory]
    [InlineData("unknown router", DropReason.MetadataMismatch)]
    [InlineData("no reverse context", DropReason.MetadataMismatch)]
    [InlineData("other session", DropReason.MetadataMismatch)]
    [InlineData("the transit", DropReason.InstanceArriving)]
    public void RedirectReachingTheTransit_Altered_DroppedThereWithItsReason_NotRelayed(string alteration, DropReason reason)
    {
        using var fabric = new TransitFabric(dc2On: "east");
        var atEng1 = SendAfterMove_RedirectAltered(fabric, 42004, fabric.DcEast, alteration);

        Assert.Equal(1, fabric.Br2.Worker.Counters.RedirectsSent);
        Assert.Equal(1, SvrFabric.Drops(fabric.Dc1, reason));
        Assert.Equal(1, fabric.Dc1.Worker.Counters.Dropped);
        Assert.Equal(0, fabric.Dc1.Worker.Counters.RedirectsRelayed);
        Assert.Equal(0, fabric.Br1.Worker.Counters.RedirectsFollowed);
        Assert.Equal(0, fabric.Br1.Worker.Counters.SessionsMoved);
        Assert.Empty(fabric.Mover!.Received);
        Assert.Equal(atEng1, fabric.Eng1.Received.Count);
    }

    /// <summary>
    /// A redirect that reaches br1 on the session's tuple naming another session (its waypoint pair given back and taken
    /// again while an old egress still redirected its former holder's packets; here altered on its way into br1) is dropped
    /// as <see cref="DropReason.MetadataMismatch"/>: br1 moves nothing and sends nothing on, and eng1 gets nothing.
    /// </summary>
    [Fact]
    public void RedirectReachingTheIngress_OfAnotherSession_DroppedThere_MovesNothing()
    {
        using var fabric = new TransitFabric(dc2On: "east");
        var atEng1 = SendAfterMove_RedirectAltered(fabric, 42031, fabric.Br1Wan, "other session");

        Assert.Equal(1, fabric.Br2.Worker.Counters.RedirectsSent);
        Assert.Equal(1, fabric.Dc1.Worker.Counters.RedirectsRelayed);
        Assert.Equal(1, SvrFabric.Drops(fabric.Br1, DropReason.MetadataMismatch));
        Assert.Equal(0, fabric.Br1.Worker.Counters.RedirectsFollowed);
        Assert.Equal(0, fabric.Br1.Worker.Counters.SessionsMoved);
        Assert.Equal(0, fabric.Br1.Worker.Counters.RedirectedPacketsResent);
        Assert.Empty(fabric.Mover!.Received);
        Assert.Equal(atEng1, fabric.Eng1.Received.Count);
    }

    /// <summary>
    /// A redirect naming br1 for an instance br1 does not host (altered on its way into dc1: the instance would have moved
    /// to the client's own router) is relayed, as one naming the router the session came from is; br1 checks the pin against
    /// its own instances, refuses it and changes nothing, so it goes no further: the session stays as it was, eng1 gets
    /// nothing (not its own segment turned round).
    /// </summary>
    [Fact]
    public void RedirectNamingTheIngress_ForAnInstanceItDoesNotHost_RelayedByTheTransit_RefusedByTheIngress()
    {
        using var fabric = new TransitFabric(dc2On: "east");
        var atEng1 = SendAfterMove_RedirectAltered(fabric, 42013, fabric.DcEast, "the ingress");

        Assert.Equal(1, fabric.Br2.Worker.Counters.RedirectsSent);
        Assert.Equal(1, fabric.Dc1.Worker.Counters.RedirectsRelayed);
        Assert.Equal(0, fabric.Dc1.Worker.Counters.Dropped);
        Assert.Equal(1, fabric.Br1.Worker.Counters.RedirectsRefused);
        Assert.Equal(0, fabric.Br1.Worker.Counters.SessionsMadeLocal);
        Assert.Equal(0, fabric.Br1.Worker.Counters.SessionsMoved);
        Assert.Equal(SvrRole.Ingress, SvrFabric.OnlySession(fabric.Br1).Svr);
        Assert.Empty(fabric.Mover!.Received);
        Assert.Equal(atEng1, fabric.Eng1.Received.Count);
    }

    /// <summary>A waypoint frame that carries a redirect (metadata naming a destination router), altered as named; any other frame as it came.</summary>
    /// <summary>
    /// Opens a remote session from eng1's <paramref name="clientPort"/>, moves its instance by a commit, alters each frame
    /// crossing <paramref name="wire"/> as <see cref="Alter"/> does with <paramref name="alteration"/>, and
    /// sends eng1's next segment through the fabric. Returns how many frames eng1 had received before that segment.
    /// </summary>
    private static int SendAfterMove_RedirectAltered(TransitFabric fabric, ushort clientPort, WirePort wire, string alteration)
    {
        Open(fabric, Remote, 9000, clientPort);
        Move(fabric);
        wire.Faults = frame => [Alter(frame, alteration)];
        var atEng1 = fabric.Eng1.Received.Count;

        fabric.Eng1.SendTcp(Remote, clientPort, 9000, TcpFlags.Ack | TcpFlags.Psh, 107, 5001, "after!"u8.ToArray());
        fabric.Pump();
        return atEng1;
    }

    private static byte[] Alter(byte[] frame, string alteration)
    {
        var ip = frame[EthernetFrame.UntaggedHeaderLength..];
        if (!MetadataInsertion.TryLocate(ip, ip.Length, out var block, out _) || block.IsBare
            || !SvrMetadata.TryParse(block, out var metadata, out _) || metadata.DestinationRouter is null)
        {
            return frame;
        }

        var altered = alteration switch
        {
            "unknown router" => metadata with { DestinationRouter = "nowhere" },
            "no reverse context" => metadata with { ReverseContext = null },
            "other session" => metadata with { SessionId = Guid.NewGuid() },
            "the ingress" => metadata with { DestinationRouter = "br1" },
            "the transit" => metadata with { DestinationRouter = "dc1" },
            _ => throw new ArgumentOutOfRangeException(nameof(alteration)),
        };
        Assert.True(MetadataInsertion.TryStrip(ip, ip.Length, out var stripped));
        var emitted = new byte[altered.EmitLength];
        altered.Emit(emitted);
        var room = new byte[stripped + emitted.Length];
        ip.AsSpan(0, stripped).CopyTo(room);
        Assert.True(MetadataInsertion.TryInsert(room, stripped, emitted, out var length));
        Assert.True(Packets.ChecksumsValid(room[..length]));
        return [.. frame[..EthernetFrame.UntaggedHeaderLength], .. room[..length]];
    }

    /// <summary>Opens eng1's TCP session to <paramref name="service"/> (app2 at br2 answering through dc1) and exchanges "before" on it.</summary>
    private static void Open(TransitFabric fabric, string service, ushort port, ushort sourcePort)
    {
        fabric.Eng1.SendTcp(service, sourcePort, port, TcpFlags.Syn, 100, 0, []);
        fabric.Pump();
        fabric.Eng1.SendTcp(service, sourcePort, port, TcpFlags.Ack, 101, 5001, []);
        Echo(fabric, service, port, sourcePort, 101, "before");
        Assert.Contains(fabric.App2.Received, IsData);
        Assert.Equal(SvrRole.Transit, SvrFabric.OnlySession(fabric.Dc1).Svr);
    }

    /// <summary>
    /// Sends <paramref name="text"/> from eng1 on its session and checks that the far end echoed it: one reply, the text,
    /// acknowledging it (not eng1's own segment turned round, which an ingress that took a returned packet for an answer
    /// would deliver).
    /// </summary>
    private static void Echo(TransitFabric fabric, string service, ushort port, ushort sourcePort, uint sequence, string text)
    {
        fabric.Eng1.AssertTcpEcho(service, sourcePort, port, sequence, text, fabric.Pump);
        Ipv4Packet.TryCreate(fabric.Eng1.Received[^1], out var ip);
        TcpSegment.TryCreate(ip.Payload, out var tcp);
        Assert.Equal(sequence + (uint)text.Length, tcp.AcknowledgmentNumber);
    }

    /// <summary>Commits app2 at dc2's apps network (no longer at br2's LAN) to all four routers; app2's host there stops answering, mover answers.</summary>
    private static void Move(TransitFabric fabric, Func<string, string>? alsoEdit = null)
    {
        var moved = fabric.Document(text =>
        {
            var edited = (alsoEdit ?? (unchanged => unchanged))(text).Replace(App2AtBr2, "", StringComparison.Ordinal).Replace(Spare2, Spare2 + App2AtBr2, StringComparison.Ordinal);
            Assert.Single(System.Text.RegularExpressions.Regex.Matches(edited, "app2 \\{ addresses"));
            return edited;
        });
        fabric.App2.IsServer = false;
        fabric.Mover!.IsServer = true;
        foreach (var router in new[] { fabric.Dc1, fabric.Br1, fabric.Br2, fabric.Dc2! })
        {
            router.Apply(moved, version: 2);
        }

        fabric.Pump();
    }

    /// <summary>
    /// The document with app2 at dc1's apps network (no longer at br2's LAN), the transit of br1's sessions to it, and its
    /// sibling sib left at br2 (<see cref="WithSibling"/>): br2 keeps hosting the services, so br1's rebinding leaves the
    /// session where it is and br2's redirect, relayed by dc1 naming itself, moves it (with the pin).
    /// </summary>
    private static string MovedToDc1(string text) => TransitFabric.WithDc1Apps(WithSibling(text).Replace(App2AtBr2, "", StringComparison.Ordinal), App2AtBr2);

    /// <summary>
    /// The document with app2 at dc1's apps network and no instance of remote or vault left at br2 (the fabric made
    /// without <see cref="WithSibling"/>): br2 no longer hosts them.
    /// </summary>
    private static string MovedAloneToDc1(string text) => TransitFabric.WithDc1Apps(text.Replace(App2AtBr2, "", StringComparison.Ordinal), App2AtBr2);

    /// <summary>
    /// Commits app2 at dc1's apps network to dc1, br1 and br2; app2's host at br2 stops answering, lander (dc1) answers.
    /// </summary>
    private static void MoveToDc1(TransitFabric fabric)
    {
        var moved = fabric.Document(MovedToDc1);
        fabric.App2.IsServer = false;
        fabric.Lander!.IsServer = true;
        foreach (var router in new[] { fabric.Dc1, fabric.Br1, fabric.Br2 })
        {
            router.Apply(moved, version: 2);
        }

        fabric.Pump();
    }

    /// <summary>
    /// Commits app2 at dc1's apps network, with no instance left at br2 (<see cref="MovedAloneToDc1"/>), to
    /// <paramref name="routers"/> only (a router left out is down: it binds nothing); app2's host at br2 stops answering,
    /// lander (dc1) answers.
    /// </summary>
    private static void MoveAloneToDc1(TransitFabric fabric, params Fabric.Dataplane.Routing.ForwardingEngine[] routers)
    {
        var moved = fabric.Document(MovedAloneToDc1);
        fabric.App2.IsServer = false;
        fabric.Lander!.IsServer = true;
        foreach (var router in routers)
        {
            router.Apply(moved, version: 2);
        }

        fabric.Pump();
    }

    /// <summary>No host saw a reset, and <paramref name="landed"/>, where app2 moved, saw no new connection (its first segment was mid-flow data).</summary>
    private static void AssertNoResetNorSynAt(TransitFabric fabric, TestHost landed)
    {
        foreach (var host in fabric.Hosts)
        {
            Assert.DoesNotContain(host.Received, packet => FlagsOf(packet) is { } flags && (flags & TcpFlags.Rst) != 0);
        }

        Assert.DoesNotContain(landed.Received, packet => FlagsOf(packet) is { } flags && (flags & TcpFlags.Syn) != 0);
    }

    /// <summary>The document edit that gives br1 the bridged network apps (gateway 10.30.1.252/24) with <paramref name="containers"/>.</summary>
    private static Func<string, string> WithBr1Apps(string containers = "") =>
        text => SvrFabric.WithBr1Apps(text, containers, gateway: "10.30.1.252/24");

    /// <summary>
    /// Commits app2 at br1's apps network (no longer at br2's LAN), the client's own router, to dc1, br1 and br2; app2's
    /// host at br2 stops answering, homecomer answers.
    /// </summary>
    private static void MoveToBr1(TransitFabric fabric)
    {
        var moved = fabric.Document(text => WithBr1Apps(App2AtBr2)(text.Replace(App2AtBr2, "", StringComparison.Ordinal)));
        fabric.App2.IsServer = false;
        fabric.Homecomer!.IsServer = true;
        foreach (var router in new[] { fabric.Dc1, fabric.Br1, fabric.Br2 })
        {
            router.Apply(moved, version: 2);
        }

        fabric.Pump();
    }

    /// <summary>No host saw a reset, and app2 at br1 saw no new connection (its first segment was mid-flow data).</summary>
    private static void AssertNoResetNorSynAtHomecomer(TransitFabric fabric)
    {
        foreach (var host in fabric.Hosts)
        {
            Assert.DoesNotContain(host.Received, packet => FlagsOf(packet) is { } flags && (flags & TcpFlags.Rst) != 0);
        }

        Assert.DoesNotContain(fabric.Homecomer!.Received, packet => FlagsOf(packet) is { } flags && (flags & TcpFlags.Syn) != 0);
    }

    /// <summary>Gives remote and vault a second instance at br2, sib (10.30.1.40), after app2.</summary>
    private static string WithSibling(string text)
    {
        var edited = text
            .Replace(
                "policy = web\n      instances = [{ container = app2 }]\n    }\n    vault",
                "policy = bulk\n      instances = [{ container = app2 }, { container = sib }]\n    }\n    vault",
                StringComparison.Ordinal)
            .Replace("policy = secure\n      instances = [{ container = app2 }]", "policy = secure\n      instances = [{ container = app2 }, { container = sib }]", StringComparison.Ordinal)
            .Replace(App2AtBr2, App2AtBr2 + "            sib { addresses = [\"10.30.1.40\"] }\n", StringComparison.Ordinal);
        Assert.Contains("{ container = sib }", edited, StringComparison.Ordinal);
        return edited;
    }

    private static string PathOf(Fabric.Dataplane.Routing.ForwardingEngine router)
    {
        var session = SvrFabric.OnlySession(router);
        return router.Snapshot.PeerPaths.Single(path => path.PoolId == session.WaypointPool).PeerRouter;
    }

    private static void AssertNoResetNorSyn(TransitFabric fabric)
    {
        foreach (var host in fabric.Hosts)
        {
            Assert.DoesNotContain(host.Received, packet => FlagsOf(packet) is { } flags && (flags & TcpFlags.Rst) != 0);
        }

        // The moved end saw no new connection: its first segment was mid-flow data.
        Assert.DoesNotContain(fabric.Mover!.Received, packet => FlagsOf(packet) is { } flags && (flags & TcpFlags.Syn) != 0);
    }

    /// <summary>The live sessions of a router's worker.</summary>
    private static List<SessionState> Sessions(Fabric.Dataplane.Routing.ForwardingEngine router)
    {
        var sessions = router.Worker.Sessions;
        var live = new List<SessionState>();
        for (var handle = 0; handle < sessions.Capacity; handle++)
        {
            if (sessions.IsLive(handle))
            {
                live.Add(sessions.Payload(handle));
            }
        }

        return live;
    }

    private static SvrMetadata? Metadata(byte[] packet) =>
        MetadataInsertion.TryLocate(packet, packet.Length, out var block, out _) && !block.IsBare && SvrMetadata.TryParse(block, out var metadata, out _) ? metadata : null;

    /// <summary>An ICMPv4 echo's type, identifier and sequence number; (255, 0, 0) for anything else.</summary>
    private static (byte Type, ushort Identifier, ushort Sequence) Echo(byte[] packet) =>
        Ipv4Packet.TryCreate(packet, out var ip) && ip.Protocol == IpProtocol.Icmp && Icmpv4Packet.TryCreate(ip.Payload, out var icmp)
            ? (icmp.Type, icmp.Identifier, icmp.SequenceNumber)
            : ((byte)255, (ushort)0, (ushort)0);

    private static string UdpText(byte[] packet) =>
        Ipv4Packet.TryCreate(packet, out var ip) && ip.Protocol == IpProtocol.Udp && UdpDatagram.TryCreate(ip.Payload, out var udp)
            ? System.Text.Encoding.ASCII.GetString(udp.Payload)
            : "";

    private static string TcpText(byte[] packet) =>
        Ipv4Packet.TryCreate(packet, out var ip) && ip.Protocol == IpProtocol.Tcp && TcpSegment.TryCreate(ip.Payload, out var tcp)
            ? System.Text.Encoding.ASCII.GetString(tcp.Payload)
            : "";

    private static bool IsData(byte[] packet) =>
        Ipv4Packet.TryCreate(packet, out var ip) && ip.Protocol == IpProtocol.Tcp && TcpSegment.TryCreate(ip.Payload, out var tcp) && tcp.Payload.Length > 0;

    private static ushort SourcePort(byte[] packet) =>
        Ipv4Packet.TryCreate(packet, out var ip) && ip.Protocol == IpProtocol.Tcp && TcpSegment.TryCreate(ip.Payload, out var tcp) ? tcp.SourcePort : (ushort)0;

    private static TcpFlags? FlagsOf(byte[] packet) =>
        Ipv4Packet.TryCreate(packet, out var ip) && ip.Protocol == IpProtocol.Tcp && TcpSegment.TryCreate(ip.Payload, out var tcp) ? tcp.Flags : null;
}
