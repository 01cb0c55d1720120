using System.Buffers.Binary;
using Fabric.Dataplane.HighAvailability;
using Fabric.Dataplane.Pipeline;
using Fabric.Dataplane.Routing;
using Fabric.Dataplane.Sessions;
using Fabric.Dataplane.Wire;
using Fabric.Tests.Dataplane.Svr.Routers;

namespace Fabric.Tests.Dataplane.HighAvailability;

/// <summary>
/// Session replication between the two nodes of an HA pair, in memory: a session exported from one engine and
/// imported into another (the partner on the same ports, as <see cref="SvrFabric.RestartDc1"/> stands in for it)
/// continues there with the same NAT, waypoints and instance, without a new session decision.
/// </summary>
public sealed class SessionReplicationTests
{
    internal const string Bulk = "10.10.1.30";

    /// <summary>eng1 → bulk1 through br1 (ingress) and dc1 (egress): handshake and two exchanges, 7 packets at each router.</summary>
    internal static void Establish(SvrFabric fabric)
    {
        fabric.Eng1.SendTcp(Bulk, 40000, 5201, TcpFlags.Syn, 100, 0, []);
        fabric.Pump();
        fabric.Eng1.SendTcp(Bulk, 40000, 5201, TcpFlags.Ack, 101, 5001, []);
        fabric.Eng1.SendTcp(Bulk, 40000, 5201, TcpFlags.Ack | TcpFlags.Psh, 101, 5001, "one"u8.ToArray());
        fabric.Pump();
        fabric.Eng1.SendTcp(Bulk, 40000, 5201, TcpFlags.Ack | TcpFlags.Psh, 104, 5004, "two"u8.ToArray());
        fabric.Pump();
    }

    private static async Task<SessionExport> Export(ForwardingEngine engine, bool everything = false)
    {
        var export = engine.ExportSessionsAsync(everything);
        engine.RunOnce();
        return await export;
    }

    private static async Task<SessionImportResult> Import(ForwardingEngine engine, SessionExport export)
    {
        // As the partner gets them: through the one serialized form.
        var import = engine.ImportSessionsAsync(export.Version, SessionRecords.Deserialize(SessionRecords.Serialize(export.Sessions)));
        engine.RunOnce();
        return await import;
    }

    [Fact]
    public async Task EgressSession_ImportedIntoPartner_NextPacketForwardedToSameInstanceWithoutNewSession()
    {
        using var fabric = new SvrFabric();
        Establish(fabric);
        var before = SvrFabric.OnlySession(fabric.Dc1);
        var export = await Export(fabric.Dc1);
        Assert.Single(export.Sessions);

        fabric.RestartDc1();
        Assert.Equal(new SessionImportResult(1, 0, 0), await Import(fabric.Dc1, export));
        var bulkBefore = fabric.Bulk1.Received.Count;
        fabric.Eng1.SendTcp(Bulk, 40000, 5201, TcpFlags.Ack | TcpFlags.Psh, 107, 5007, "three"u8.ToArray());
        fabric.Pump();

        Assert.Equal("three"u8.ToArray(), SvrFabricTests.TcpPayload(fabric.Eng1.Received[^1]));
        var arrived = Assert.Single(fabric.Bulk1.Received.Skip(bulkBefore));
        Assert.Equal(fabric.Eng1.Address, BinaryPrimitives.ReadUInt32BigEndian(arrived.AsSpan(12)));
        Assert.Equal(0, fabric.Dc1.Worker.Counters.SessionsCreated);
        Assert.Equal(0, fabric.Dc1.Worker.Counters.Dropped);
        var after = SvrFabric.OnlySession(fabric.Dc1);
        Assert.Equal((before.Svr, before.Tenant, before.Service, before.Instance, before.SessionId), (after.Svr, after.Tenant, after.Service, after.Instance, after.SessionId));
        Assert.Equal(before.ForwardPackets + 1, after.ForwardPackets);
        Assert.Equal(1, fabric.Dc1.Snapshot.Services[after.Service].Runtime.Admission.Active);
    }

    [Fact]
    public async Task IngressSession_ImportedIntoPartner_KeepsItsWaypointsAndTakesThemFromThePool()
    {
        using var fabric = new SvrFabric();
        Establish(fabric);
        var before = SvrFabric.OnlySession(fabric.Br1);
        var export = await Export(fabric.Br1);

        fabric.RestartBr1();
        Assert.Equal(new SessionImportResult(1, 0, 0), await Import(fabric.Br1, export));
        var pool = fabric.Br1.Snapshot.Runtimes.Waypoints[SvrFabric.OnlySession(fabric.Br1).WaypointPool];
        Assert.True(pool.IsInUse(before.LocalWaypointPort, before.PeerWaypointPort));
        Assert.Equal(1, pool.InUse);

        var wireBefore = fabric.DcWan.Received.Count;
        fabric.Eng1.SendTcp(Bulk, 40000, 5201, TcpFlags.Ack | TcpFlags.Psh, 107, 5007, "three"u8.ToArray());
        fabric.Pump();

        var crossed = Assert.Single(SvrFabricTests.WaypointPackets(fabric.DcWan.Received.Skip(wireBefore).ToList()));
        Ipv4Packet.TryCreate(crossed, out var outer);
        TcpSegment.TryCreate(outer.Payload, out var segment);
        Assert.Equal((before.LocalWaypointPort, before.PeerWaypointPort), (segment.SourcePort, segment.DestinationPort));
        Assert.False(SvrFabricTests.HasMetadata(crossed));
        Assert.Equal("three"u8.ToArray(), SvrFabricTests.TcpPayload(fabric.Eng1.Received[^1]));
        Assert.Equal(0, fabric.Br1.Worker.Counters.SessionsCreated);
        Assert.Equal(1, fabric.Dc1.Worker.Sessions.Count);
    }

    [Fact]
    public async Task Export_SkipsSessionsNotEstablished_AndSendsOnlyWhatChangedSinceTheLastBatch()
    {
        using var fabric = new SvrFabric();
        fabric.Eng1.SendTcp(Bulk, 40000, 5201, TcpFlags.Syn, 100, 0, []);
        fabric.Pump();
        Assert.Empty((await Export(fabric.Dc1)).Sessions); // SYN and SYN-ACK: not yet established

        fabric.Eng1.SendTcp(Bulk, 40000, 5201, TcpFlags.Ack, 101, 5001, []);
        fabric.Eng1.SendTcp(Bulk, 40000, 5201, TcpFlags.Ack | TcpFlags.Psh, 101, 5001, "one"u8.ToArray());
        fabric.Eng1.SendTcp(Bulk, 40000, 5201, TcpFlags.Ack | TcpFlags.Psh, 104, 5004, "two"u8.ToArray());
        fabric.Pump();
        fabric.Time.Advance(TimeSpan.FromMilliseconds(150));
        Assert.Single((await Export(fabric.Dc1)).Sessions);

        fabric.Time.Advance(TimeSpan.FromMilliseconds(150));
        Assert.Empty((await Export(fabric.Dc1)).Sessions); // nothing seen since
        Assert.Single((await Export(fabric.Dc1, everything: true)).Sessions);
    }

    [Fact]
    public async Task Import_UnderAnotherConfigurationVersion_RefusedAndCounted()
    {
        using var fabric = new SvrFabric();
        Establish(fabric);
        var export = await Export(fabric.Dc1);

        fabric.RestartDc1();
        Assert.Equal(new SessionImportResult(0, 0, 1), await Import(fabric.Dc1, export with { Version = export.Version + 1 }));
        Assert.Equal(1, fabric.Dc1.Worker.Counters.ReplicasRefusedVersion);
        Assert.Equal(0, fabric.Dc1.Worker.Sessions.Count);
    }

    [Fact]
    public async Task Import_SameSessionAgain_UpdatesCountersWithoutCountingItTwice()
    {
        using var fabric = new SvrFabric();
        Establish(fabric);
        var first = await Export(fabric.Dc1);
        fabric.Eng1.SendTcp(Bulk, 40000, 5201, TcpFlags.Ack | TcpFlags.Psh, 107, 5007, "three"u8.ToArray());
        fabric.Pump();
        var second = await Export(fabric.Dc1, everything: true);

        fabric.RestartDc1();
        await Import(fabric.Dc1, first);
        Assert.Equal(new SessionImportResult(0, 1, 0), await Import(fabric.Dc1, second));
        var session = SvrFabric.OnlySession(fabric.Dc1);
        Assert.Equal(second.Sessions[0].State.ForwardPackets, session.ForwardPackets);
        Assert.Equal(1, fabric.Dc1.Snapshot.Services[session.Service].Runtime.Admission.Active);
    }

    [Fact]
    public async Task SessionClosedOnActive_UpdatedOnPartner_LingersThenExpiresAndGivesBackItsAdmission()
    {
        using var fabric = new SvrFabric();
        Establish(fabric);
        var open = await Export(fabric.Dc1);
        fabric.Eng1.SendTcp(Bulk, 40000, 5201, TcpFlags.Rst, 107, 0, []);
        fabric.Pump();
        var closed = await Export(fabric.Dc1, everything: true);

        fabric.RestartDc1(active: false);
        await Import(fabric.Dc1, open);
        Assert.Equal(new SessionImportResult(0, 1, 0), await Import(fabric.Dc1, closed));
        var service = SvrFabric.OnlySession(fabric.Dc1).Service;

        fabric.Time.Advance(Fabric.Dataplane.Sessions.TcpTracker.ClosedLinger + TimeSpan.FromSeconds(1));
        fabric.Dc1.RunOnce();
        Assert.Equal(0, fabric.Dc1.Worker.Sessions.Count);
        Assert.Equal(0, fabric.Dc1.Snapshot.Services[service].Runtime.Admission.Active);
    }

    [Fact]
    public async Task Standby_AnswersNothing_ThenTakesOverAndAnnouncesEveryAddress()
    {
        using var fabric = new SvrFabric();
        Establish(fabric);
        var export = await Export(fabric.Dc1);
        fabric.RestartDc1(active: false);
        await Import(fabric.Dc1, export);

        var bulkBefore = fabric.Bulk1.Received.Count;
        fabric.Eng1.SendTcp(Bulk, 40000, 5201, TcpFlags.Ack | TcpFlags.Psh, 107, 5007, "three"u8.ToArray());
        fabric.Pump();
        Assert.Equal(bulkBefore, fabric.Bulk1.Received.Count);
        Assert.True(fabric.Dc1.Worker.Counters.StandbyIgnored > 0);
        Assert.Equal(0, fabric.Dc1.Worker.Counters.Forwarded);
        Assert.Equal(0, fabric.Dc1.Worker.Counters.Generated);

        var takeover = fabric.Dc1.TakeOverAsync();
        var wireBefore = fabric.BrWan.Received.Count;
        fabric.Pump();
        Assert.True(await takeover);
        var announcement = Assert.Single(fabric.BrWan.Received.Skip(wireBefore), IsGratuitousArp);
        EthernetFrame.TryCreate(announcement, out var ethernet);
        Assert.Equal(fabric.Dc1.Ports[0].Mac, ethernet.Source);
        Assert.Equal(2, fabric.Dc1.Worker.Counters.Announcements); // 172.16.0.1 on wan0, 10.10.1.1 on svc

        // The retransmission gets through, re-signalled to the peer (metadata again) as after any failover.
        fabric.Eng1.SendTcp(Bulk, 40000, 5201, TcpFlags.Ack | TcpFlags.Psh, 107, 5007, "three"u8.ToArray());
        fabric.Pump();
        Assert.Equal("three"u8.ToArray(), SvrFabricTests.TcpPayload(fabric.Eng1.Received[^1]));
        Assert.DoesNotContain(fabric.Eng1.Received, SvrFabricTests.IsReset);
        Assert.Equal(0, fabric.Dc1.Worker.Counters.SessionsCreated);
    }

    private static bool IsGratuitousArp(byte[] frame) =>
        EthernetFrame.TryCreate(frame, out var ethernet) && ethernet.EtherType == EtherType.Arp && ethernet.Destination == MacAddress.Broadcast
        && ArpPacket.TryCreate(ethernet.Payload, out var arp) && arp.Operation == ArpOperation.Request
        && arp.SenderProtocolAddress == arp.TargetProtocolAddress && arp.SenderProtocolAddress == IpAddressConversions.ParseIpv4("172.16.0.1");
}
