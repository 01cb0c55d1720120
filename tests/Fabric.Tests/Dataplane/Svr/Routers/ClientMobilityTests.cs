using Fabric.Bench;
using Fabric.Dataplane.Forwarding;
using Fabric.Dataplane.Pipeline;
using Fabric.Dataplane.Pipeline.Workers;
using Fabric.Dataplane.Routing;
using Fabric.Dataplane.Sessions;
using Fabric.Dataplane.Svr;
using Fabric.Dataplane.Wire;
using Fabric.Tests.Dataplane.Routing;
using Fabric.Tests.Support;

namespace Fabric.Tests.Dataplane.Svr.Routers;

/// <summary>
/// A client moves (docs/mobility.md "A client moves") on the lab fabric in memory: eng1 (10.20.1.10) moves from br1 to
/// br2's LAN by a commit, keeping its address; br1 gives up its sessions as records, br2 takes them on its own path to
/// dc1, and dc1 adopts each from its metadata, so eng1's established TCP session to web goes on without a reset or a new
/// handshake; br2 drops, not resets, eng1's mid-flow packets while they come. What carries the records between the
/// routers (their session actors) is in <c>ClusterClientMobilityTests</c>.
/// </summary>
[Collection(AllocationMeasurement.Name)]
public sealed class ClientMobilityTests
{
    internal const string Web = "10.200.0.80";

    /// <summary>bulk1's address: its service takes TCP, UDP and ICMP on 5201 (one instance).</summary>
    private const string Bulk = "10.10.1.30";

    [Fact]
    public async Task ClientMovedToBr2_SessionsHandedOver_EstablishedTcpSessionContinuesThroughBr2_WithoutReset()
    {
        using var fabric = new SvrFabric(AtBr1);
        Open(fabric, 42000);
        var server = fabric.Web1.Received.Count > 0 ? fabric.Web1 : fabric.Web2;
        var atServer = server.Received.Count;

        var moved = fabric.Document(AtBr2);
        foreach (var router in new[] { fabric.Dc1, fabric.Br1, fabric.Br2 })
        {
            router.Apply(moved, version: 2);
        }

        var given = await GiveUp(fabric.Br1, Address("10.20.1.10"));
        var taken = await Take(fabric.Br2, given);

        Assert.Single(given.Sessions);
        Assert.Equal(new SessionImportResult(1, 0, 0), taken);
        Assert.Equal(0, fabric.Br1.Worker.Sessions.Count);

        fabric.Nomad.AssertTcpEcho(Web, 42000, 80, 107, "moved!", fabric.Pump);

        Assert.Equal(atServer + 1, server.Received.Count);
        Assert.Equal(1, fabric.Dc1.Worker.Counters.SessionsMoved);
        // sessions_moved as a user reads it: br1 gave the session up once, br2 took it once.
        Assert.Equal((1L, 1L), (fabric.Br1.Counters().SessionsMoved, fabric.Br2.Counters().SessionsMoved));
        Assert.Equal(1, fabric.Dc1.Worker.Sessions.Count);
        Assert.Equal(SvrRole.Ingress, SvrFabric.OnlySession(fabric.Br2).Svr);
        AssertNoReset(fabric);

        // The server saw no new connection after the move: its next segment was mid-flow data.
        AssertNoNewConnection(server, atServer);
    }

    [Fact]
    public async Task ClientMovedToBr2_Br1RunsTheCommitBeforeItIsAsked_SessionHeldNotEnded_HandedOverWithoutReset()
    {
        using var fabric = new SvrFabric(AtBr1);
        Open(fabric, 42003);
        var server = fabric.Web1.Received.Count > 0 ? fabric.Web1 : fabric.Web2;
        var atServer = server.Received.Count;
        foreach (var router in new[] { fabric.Dc1, fabric.Br1, fabric.Br2 })
        {
            router.Apply(fabric.Document(AtBr2), version: 2);
        }

        // br1's worker binds the commit that lists eng1 under br2 (eng1's port at br1 loses its device) before br2 asks.
        fabric.Pump();
        Assert.Equal(0, fabric.Br1.Worker.Sessions.Count);
        Assert.Equal(1, fabric.Br1.Worker.Resources.MovedClients.Count);
        Assert.Equal(0, SvrFabric.Drops(fabric.Br1, DropReason.Revoked));

        var given = await GiveUp(fabric.Br1, Address("10.20.1.10"));
        var taken = await Take(fabric.Br2, given);

        Assert.Single(given.Sessions);
        Assert.Equal(new SessionImportResult(1, 0, 0), taken);
        Assert.Equal(0, fabric.Br1.Worker.Resources.MovedClients.Count);
        fabric.Nomad.AssertTcpEcho(Web, 42003, 80, 107, "moved!", fabric.Pump);
        Assert.Equal(atServer + 1, server.Received.Count);
        AssertNoReset(fabric);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public async Task ClientMovedToBr2_TwoWorkersPerBranch_EverySessionOfBothShardsHandedOver_EachGoesOnFromItsOwnerAtBr2AndDc1_WithoutReset(int dc1Workers)
    {
        // Enough sessions that br1's fanout gives each of its workers some, and br2's take gives each of its workers some.
        const int count = 24;
        using var fabric = new SvrFabric(AtBr1, workers: 2, dc1Workers: dc1Workers);
        var ports = Enumerable.Range(43100, count).Select(p => (ushort)p).ToArray();
        foreach (var port in ports)
        {
            Open(fabric, port);
        }

        Assert.All(fabric.Br1.Workers, worker => Assert.InRange(worker.Sessions.Count, 1, count - 1));
        // dc1's side of each session, by what its instance answers with: the instance and the worker holding it.
        var atDc1 = ports.ToDictionary(port => port, port => Assert.Single(EgressHolders(fabric.Dc1, port)));
        if (dc1Workers > 1)
        {
            Assert.All(fabric.Dc1.Workers, worker => Assert.InRange(worker.Sessions.Count, 1, count - 1));
        }

        var atServers = fabric.Web1.Received.Count + fabric.Web2.Received.Count;
        foreach (var router in new[] { fabric.Dc1, fabric.Br1, fabric.Br2 })
        {
            router.Apply(fabric.Document(AtBr2), version: 2);
        }

        // Every worker of br1 holds its own shard's sessions of eng1 when it binds the commit.
        fabric.Pump();
        Assert.All(fabric.Br1.Workers, worker => Assert.InRange(worker.Resources.MovedClients.Count, 1, count - 1));

        var given = await GiveUp(fabric.Br1, Address("10.20.1.10"));
        var taken = await Take(fabric.Br2, given);

        Assert.Equal(count, given.Sessions.Length);
        Assert.Equal(new SessionImportResult(count, 0, 0), taken);
        Assert.Equal(0, fabric.Br1.SessionCount);
        Assert.All(fabric.Br1.Workers, worker => Assert.Equal(0, worker.Resources.MovedClients.Count));
        Assert.All(fabric.Br2.Workers, worker => Assert.InRange(worker.Sessions.Count, 1, count - 1));

        var handedOff = fabric.Br2.Counters().HandedOff;
        foreach (var port in ports)
        {
            fabric.Nomad.AssertTcpEcho(Web, port, 80, 107, "moved!", fabric.Pump);
        }

        // Each session went on from the br2 worker that took it: no worker opened another for the client's tuple, every
        // packet it and the server sent that reached another worker first was handed to it, and dc1 adopted every one.
        Assert.Equal(count, fabric.Br2.SessionCount);
        foreach (var port in ports)
        {
            var key = SessionKey.V4(IpAddressConversions.ParseIpv4("10.20.1.10"), IpAddressConversions.ParseIpv4(Web), port, 80, IpProtocol.Tcp);
            Assert.Single(fabric.Br2.Workers, worker => worker.Sessions.TryFind(key, out _, out _));
        }

        Assert.True(fabric.Br2.Counters().HandedOff > handedOff);
        Assert.Equal(atServers + count, fabric.Web1.Received.Count + fabric.Web2.Received.Count);
        Assert.Equal(count, fabric.Dc1.Counters().SessionsMoved);
        Assert.Equal(count, fabric.Dc1.SessionCount);
        // dc1 adopted each session where it was, on the instance it had: one worker holds it, the one that held it before.
        foreach (var port in ports)
        {
            Assert.Equal(atDc1[port], Assert.Single(EgressHolders(fabric.Dc1, port)));
        }

        // dc1 answered with metadata, so br2 sends the sessions' next packets without: they reach the holder by their
        // new waypoint tuple alone, whichever of dc1's workers its port names.
        Assert.All(fabric.Br2.Workers, worker => Assert.DoesNotContain(LivePayloads(worker), state => state.SendMetadata));
        foreach (var port in ports)
        {
            fabric.Nomad.AssertTcpEcho(Web, port, 80, 113, "again!", fabric.Pump);
        }

        Assert.Equal(atServers + 2 * count, fabric.Web1.Received.Count + fabric.Web2.Received.Count);
        Assert.Equal(count, fabric.Dc1.SessionCount);
        foreach (var port in ports)
        {
            Assert.Equal(atDc1[port], Assert.Single(EgressHolders(fabric.Dc1, port)));
        }

        Assert.Equal(0, fabric.Dc1.DropTotal(DropReason.WaypointNoSession));
        Assert.Equal(0, fabric.Br2.DropTotal(DropReason.ClientArriving));
        AssertNoReset(fabric);
    }

    private static List<SessionState> LivePayloads(PacketWorker worker)
    {
        var payloads = new List<SessionState>();
        for (var handle = 0; handle < worker.Sessions.Capacity; handle++)
        {
            if (worker.Sessions.IsLive(handle))
            {
                payloads.Add(worker.Sessions.Payload(handle));
            }
        }

        return payloads;
    }

    /// <summary>
    /// The SVR egress sessions of eng1's tuple (10.20.1.10) from <paramref name="clientPort"/> at <paramref name="router"/>:
    /// the worker holding each and the reverse key its instance answers with.
    /// </summary>
    internal static List<(int Worker, SessionKey Reverse)> EgressHolders(ForwardingEngine router, ushort clientPort)
    {
        var eng1 = IpAddressConversions.ParseIpv4("10.20.1.10");
        var holders = new List<(int, SessionKey)>();
        for (var worker = 0; worker < router.Workers.Count; worker++)
        {
            var sessions = router.Workers[worker].Sessions;
            for (var handle = 0; handle < sessions.Capacity; handle++)
            {
                if (sessions.IsLive(handle) && sessions.Payload(handle).Svr == SvrRole.Egress
                    && sessions.ReverseKey(handle) is var reverse && reverse.Destination == eng1 && reverse.DestinationPort == clientPort)
                {
                    holders.Add((worker, reverse));
                }
            }
        }

        return holders;
    }

    [Theory]
    [InlineData("forward-context-length", 0, DropReason.MetadataMalformed)]
    [InlineData("forward-context-length", 1, DropReason.MetadataMalformed)]
    [InlineData("payload-encrypted", 0, DropReason.MetadataMismatch)]
    [InlineData("payload-encrypted", 1, DropReason.MetadataMismatch)]
    public void WaypointPacketWithDamagedMetadata_AtDc1OfTwoWorkers_DroppedAndCountedOnceWithItsReason_ByTheWorkerItsPortNames(
        string damage, int portOwner, DropReason reason)
    {
        // A block that locates (its framing is whole) but does not read: what the steering peeks at before a worker takes
        // the packet. Worker 0 receives it; its port names portOwner.
        using var fabric = new SvrFabric(AtBr1, dc1Workers: 2);
        var block = damage == "payload-encrypted"
            ? Emit(MovedMetadata(42010) with { PayloadEncrypted = true })
            : ForwardContextOfAnotherLength();
        var frame = ToDc1Waypoint(fabric, WaypointPortOwnedBy(portOwner), block);
        var receiver = fabric.Dc1.Workers[0];

        var verdict = receiver.Process(frame, frame.Length, 0, fabric.Dc1.Now, fabric.Dc1.Snapshot);
        fabric.Pump();

        Assert.Equal(portOwner == 0 ? Verdict.Drop : Verdict.Consumed, verdict);
        Assert.Equal(portOwner == 0 ? 0 : 1, receiver.Counters.HandedOff);
        Assert.Equal(1, fabric.Dc1.DropTotal(reason));
        Assert.Equal(1, fabric.Dc1.Workers[portOwner].Drops.Total(reason));
        Assert.Equal(1, fabric.Dc1.Counters().Dropped);
        Assert.Equal(0, fabric.Dc1.SessionCount);
        Assert.Empty(fabric.Web1.Received);
        Assert.Empty(fabric.Web2.Received);
    }

    [Fact]
    public void MovedSessionsFirstPacket_AtTheDc1WorkerThatDoesNotHoldIt_HandedToTheHolder_AllocatingNothing()
    {
        using var fabric = new SvrFabric(AtBr1, dc1Workers: 2);
        Open(fabric, 42011);
        var (holder, _) = Assert.Single(EgressHolders(fabric.Dc1, 42011));
        var other = 1 - holder;
        // Metadata naming eng1's session on a new waypoint tuple whose port names the worker that receives it, not the holder.
        var frame = ToDc1Waypoint(fabric, WaypointPortOwnedBy(other), Emit(MovedMetadata(42011)));
        var receiver = fabric.Dc1.Workers[other];
        var snapshot = fabric.Dc1.Snapshot;
        var now = fabric.Dc1.Now;
        var handedOff = receiver.Counters.HandedOff;
        Assert.Equal(Verdict.Consumed, receiver.Process(frame, frame.Length, 0, now, snapshot));

        var allocated = ThreadAllocations.During(() =>
        {
            for (var i = 0; i < 16; i++)
            {
                receiver.Process(frame, frame.Length, 0, now, snapshot);
            }
        });

        Assert.Equal(0, allocated);
        Assert.Equal(handedOff + 17, receiver.Counters.HandedOff);
        Assert.Equal(0, fabric.Dc1.Counters().Dropped);
    }

    /// <summary>The forward metadata br2 sends on eng1's moved TCP session to web from <paramref name="clientPort"/>.</summary>
    private static SvrMetadata MovedMetadata(ushort clientPort) => new()
    {
        ForwardContext = new MetadataContext(
            SessionKey.V4(IpAddressConversions.ParseIpv4("10.20.1.10"), IpAddressConversions.ParseIpv4(Web), clientPort, 80, IpProtocol.Tcp)),
        SessionId = Guid.NewGuid(),
        Tenant = "engineering",
        Service = "web",
        SourceRouter = "br2",
    };

    private static byte[] Emit(SvrMetadata metadata)
    {
        var block = new byte[metadata.EmitLength];
        metadata.Emit(block);
        return block;
    }

    /// <summary>A block whose forward context is 12 octets, not 13: whole as a block, not as a session's metadata.</summary>
    private static byte[] ForwardContextOfAnotherLength()
    {
        var block = new byte[256];
        var writer = new MetadataWriter(block);
        writer.BeginHeader();
        writer.BeginPayload();
        writer.AddTlv(MetadataTlvType.ForwardContextV4, new byte[MetadataContext.Ipv4Length - 1]);
        writer.AddTlv(MetadataTlvType.Tenant, "engineering"u8);
        writer.AddTlv(MetadataTlvType.Service, "web"u8);
        Assert.True(writer.Finish(out var length));
        return block[..length];
    }

    /// <summary>A waypoint port of dc1 (two workers) whose pair <paramref name="worker"/> owns.</summary>
    private static ushort WaypointPortOwnedBy(int worker)
    {
        var port = (ushort)(16385 + (2 * worker));
        Assert.Equal(worker, WorkerOwnership.OwnerOfWaypoint(port, 2));
        return port;
    }

    /// <summary>A TCP waypoint frame from br2's WAN address to dc1's <paramref name="waypointPort"/> carrying <paramref name="block"/>, to dc1's wan0.</summary>
    private static byte[] ToDc1Waypoint(SvrFabric fabric, ushort waypointPort, byte[] block)
    {
        var plain = Packets.Tcp(
            IpAddressConversions.ParseIpv4("172.16.0.3"), IpAddressConversions.ParseIpv4("172.16.0.1"), 20000, waypointPort,
            TcpFlags.Ack | TcpFlags.Psh, 107, 5001, "moved!"u8.ToArray());
        var packet = new byte[plain.Length + block.Length];
        plain.CopyTo(packet, 0);
        Assert.True(MetadataInsertion.TryInsert(packet, plain.Length, block, out var length));
        var frame = new byte[EthernetFrame.UntaggedHeaderLength + length];
        new EthernetHeader(fabric.Dc1.Ports[0].Mac, fabric.Attacker.Mac, EtherType.Ipv4).Emit(frame);
        packet.AsSpan(0, length).CopyTo(frame.AsSpan(EthernetFrame.UntaggedHeaderLength));
        return frame;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Ipv6ClientMovedToBr2_EstablishedTcpSessionContinuesThroughBr2_WithoutReset(bool ipv6Wan)
    {
        Func<string, string> wan = ipv6Wan ? SvrFabric.Ipv6Wan : text => text;
        using var fabric = new SvrFabric(text => wan(Ipv6AtBr2Lan(SvrFabric.DualStack(AtBr1(text)))));
        var eng1 = IpAddressConversions.ParseIpv6("fd00:20:1::10");
        var web = IpAddressConversions.ParseIpv6("fd00:200::80");
        fabric.Eng1.SendIpv6(fabric.Br1.Ports[1].Mac, Packets.Tcp6(eng1, web, 44000, 80, TcpFlags.Syn, 100, 0, []));
        fabric.Pump();
        fabric.Eng1.SendIpv6(fabric.Br1.Ports[1].Mac, Packets.Tcp6(eng1, web, 44000, 80, TcpFlags.Ack, 101, 5001, []));
        fabric.Eng1.SendIpv6(fabric.Br1.Ports[1].Mac, Packets.Tcp6(eng1, web, 44000, 80, TcpFlags.Ack | TcpFlags.Psh, 101, 5001, "before"u8.ToArray()));
        fabric.Pump();
        Assert.Equal("before", TcpText6(fabric.Eng1.Received6[^1]));
        var server = fabric.Web1.Received6.Count > 0 ? fabric.Web1 : fabric.Web2;
        var atServer = server.Received6.Count;
        var ingress = SvrFabric.OnlySession(fabric.Br1);
        Assert.Equal((SvrRole.Ingress, true), (ingress.Svr, ingress.IsIpv6));

        foreach (var router in new[] { fabric.Dc1, fabric.Br1, fabric.Br2 })
        {
            router.Apply(fabric.Document(text => wan(Ipv6AtBr2Lan(SvrFabric.DualStack(AtBr2(text))))), version: 2);
        }

        fabric.Pump();
        var given = await GiveUp(fabric.Br1, ClientAddress.Of(System.Net.IPAddress.Parse("fd00:20:1::10")));
        var taken = await Take(fabric.Br2, given);

        Assert.Single(given.Sessions);
        Assert.Equal(new SessionImportResult(1, 0, 0), taken);
        var moved = SvrFabric.OnlySession(fabric.Br2);
        Assert.Equal((SvrRole.Ingress, true), (moved.Svr, moved.IsIpv6));
        // Its waypoints are of the family of br2's path to dc1, whatever the client's.
        Assert.Equal(ipv6Wan, AnyLive(fabric.Br2, reverse => reverse.IsIpv6));

        fabric.Nomad.SendIpv6(fabric.Br2.Ports[1].Mac, Packets.Tcp6(eng1, web, 44000, 80, TcpFlags.Ack | TcpFlags.Psh, 107, 5001, "moved!"u8.ToArray()));
        fabric.Pump();

        Assert.Equal("moved!", TcpText6(Assert.Single(fabric.Nomad.Received6)));
        Assert.Equal(atServer + 1, server.Received6.Count);
        Assert.Equal(1, fabric.Dc1.Worker.Counters.SessionsMoved);
        Assert.Equal(1, fabric.Dc1.Worker.Sessions.Count);
        foreach (var host in new[] { fabric.Eng1, fabric.Nomad, fabric.Web1, fabric.Web2 })
        {
            Assert.DoesNotContain(host.Received6, packet => Flags6(packet) is { } flags && (flags & TcpFlags.Rst) != 0);
        }

        // The server saw no new connection after the move: its next segment was mid-flow data.
        Assert.DoesNotContain(server.Received6.Skip(atServer), packet => Flags6(packet) is { } flags && (flags & TcpFlags.Syn) != 0);
    }

    /// <summary>
    /// The CNI path (docs/mobility.md "A client moves by the CNI plugin"): eng1 is detached from br1 and attached at br2.
    /// Each router compiles what the live registry makes of its document (the containers attached here and at other routers
    /// merged in) at the version it runs, as a router node does on every attach or detach; here the documents stand for
    /// those merges. br1 holds eng1's session when the detach takes its port; br2, whose placement had eng1 at br1 before
    /// the detach, treats the attach as an arrival from br1 and takes the session, which goes on without a reset.
    /// </summary>
    [Fact]
    public async Task ClientDetachedAtBr1ThenAttachedAtBr2_ByTheRegistry_SessionHeldThenHandedOver_TcpSessionGoesOnFromBr2_WithoutReset()
    {
        using var fabric = new SvrFabric(AtBr1);
        Open(fabric, 42100);
        var server = fabric.Web1.Received.Count > 0 ? fabric.Web1 : fabric.Web2;
        var atServer = server.Received.Count;
        var eng1 = Address("10.20.1.10");

        // The detach at br1: every router's registry loses eng1 (its port at br1 loses its device).
        Recompile(fabric, Detached);
        fabric.Pump();
        Assert.Equal(0, fabric.Br1.Worker.Sessions.Count);
        Assert.Equal(1, fabric.Br1.Worker.Resources.MovedClients.Count);
        Assert.Equal(0, SvrFabric.Drops(fabric.Br1, DropReason.Revoked));
        Assert.Empty(fabric.Br2.Snapshot.ArrivedClients);

        // The attach at br2, a snapshot later: br2 counts eng1 as arrived from br1, and br1's placement has it at br2.
        var beforeAttach = fabric.Br2.Snapshot;
        Recompile(fabric, AtBr2);
        Assert.Equal("br1", fabric.Br2.Snapshot.ArrivedClients[eng1]);
        Assert.Null(Fabric.Actors.Sessions.ClientHandOver.Refusal(fabric.Br1.Snapshot, "br2a", ["10.20.1.10"], out _));

        // Another recompile at once (the registry's next change): it names no arrival of its own, but an observer that last
        // ran the snapshot before the attach (br2's session actor, between two drains) still reads eng1's.
        Recompile(fabric, AtBr2);
        Assert.Empty(fabric.Br2.Snapshot.ArrivedClients);
        Assert.Equal("br1", Assert.Single(fabric.Br2.Snapshot.ArrivalsSince(beforeAttach)).Value);

        var given = await GiveUp(fabric.Br1, eng1);
        var taken = await Take(fabric.Br2, given);

        Assert.Single(given.Sessions);
        Assert.Equal(new SessionImportResult(1, 0, 0), taken);
        fabric.Nomad.AssertTcpEcho(Web, 42100, 80, 107, "moved!", fabric.Pump);
        Assert.Equal(atServer + 1, server.Received.Count);
        Assert.Equal(1, fabric.Dc1.Worker.Counters.SessionsMoved);
        Assert.Equal(SvrRole.Ingress, SvrFabric.OnlySession(fabric.Br2).Svr);
        AssertNoReset(fabric);
        AssertNoNewConnection(server, atServer);
    }

    /// <summary>
    /// A detach that no attach elsewhere follows: eng1's session leaves br1 at the detach as it did when it was revoked
    /// (no reset towards anyone, dc1's end left to its idle timeout), held instead, and forgotten after the hold; no
    /// router counts eng1 as arrived.
    /// </summary>
    [Fact]
    public async Task ClientDetachedAtBr1_NotAttachedElsewhere_EndsNothingSooner_HeldSessionForgottenAfterTheHold()
    {
        using var fabric = new SvrFabric(AtBr1);
        Open(fabric, 42101);

        Recompile(fabric, Detached);
        fabric.Pump();

        Assert.Equal(0, fabric.Br1.Worker.Sessions.Count);
        Assert.Equal(1, fabric.Dc1.Worker.Sessions.Count);
        Assert.Equal(1, fabric.Br1.Worker.Resources.MovedClients.Count);
        Assert.All(new[] { fabric.Dc1, fabric.Br1, fabric.Br2 }, router => Assert.Empty(router.Snapshot.ArrivedClients));
        AssertNoReset(fabric);

        fabric.Time.Advance(SvrStage.ClientHandOverHold + TimeSpan.FromSeconds(1));
        Recompile(fabric, AtBr2);
        Assert.Empty(fabric.Br2.Snapshot.ArrivedClients);
        var given = await GiveUp(fabric.Br1, Address("10.20.1.10"));
        Assert.Empty(given.Sessions);
        Assert.Equal(0, fabric.Br1.Worker.Resources.MovedClients.Count);
        Assert.Equal(1, fabric.Dc1.Worker.Sessions.Count);
    }

    /// <summary>
    /// eng1 detached from br1 and attached at br2 under another tenant (guest, which may reach web too): br2 counts it as
    /// arrived, but refuses its records, whose tenant (engineering) is not the one br2 gives its packets.
    /// </summary>
    [Fact]
    public async Task ClientDetachedAtBr1_AttachedAtBr2UnderAnotherTenant_RecordsRefused()
    {
        using var fabric = new SvrFabric(AtBr1);
        Open(fabric, 42102);
        Recompile(fabric, Detached);
        fabric.Pump();
        Recompile(fabric, text => AtBr2(text).Replace("eng1 { addresses = [\"10.20.1.10\"], tenant = engineering }", "eng1 { addresses = [\"10.20.1.10\"], tenant = guest }", StringComparison.Ordinal));
        Assert.Equal("br1", fabric.Br2.Snapshot.ArrivedClients[Address("10.20.1.10")]);

        var given = await GiveUp(fabric.Br1, Address("10.20.1.10"));
        var taken = await Take(fabric.Br2, given);

        Assert.Single(given.Sessions);
        Assert.Equal(new SessionImportResult(0, 0, 1), taken);
        Assert.Equal(0, fabric.Br2.Worker.Sessions.Count);
    }

    /// <summary>Every router compiles <paramref name="edit"/> of lab.conf at the version it runs: a registry change, no commit.</summary>
    private static void Recompile(SvrFabric fabric, Func<string, string> edit)
    {
        var document = fabric.Document(edit);
        foreach (var router in new[] { fabric.Dc1, fabric.Br1, fabric.Br2 })
        {
            router.Apply(document, router.AppliedVersion);
        }
    }

    /// <summary>As <see cref="AtBr1"/> without eng1: detached from br1, attached nowhere yet.</summary>
    internal static string Detached(string text)
    {
        const string eng1 = "            eng1 { addresses = [\"10.20.1.10\"], tenant = engineering }\n";
        var edited = AtBr1(text);
        Assert.Contains(eng1, edited, StringComparison.Ordinal);
        return edited.Replace(eng1, string.Empty, StringComparison.Ordinal);
    }

    [Fact]
    public async Task HeldSessions_AskedForAfterTheHold_Forgotten()
    {
        using var fabric = new SvrFabric(AtBr1);
        Open(fabric, 42004);
        fabric.Br1.Apply(fabric.Document(AtBr2), version: 2);
        fabric.Pump();
        Assert.Equal(1, fabric.Br1.Worker.Resources.MovedClients.Count);

        fabric.Time.Advance(SvrStage.ClientHandOverHold + TimeSpan.FromSeconds(1));
        var given = await GiveUp(fabric.Br1, Address("10.20.1.10"));

        Assert.Empty(given.Sessions);
        Assert.Equal(0, fabric.Br1.Worker.Resources.MovedClients.Count);
    }

    [Fact]
    public void ClientArrivedAtBr2_MidFlowPacketBeforeItsSessions_DroppedNotReset_ResetOnceTheGraceIsOver()
    {
        using var fabric = new SvrFabric(AtBr1);
        Open(fabric, 42005);
        fabric.Br2.Apply(fabric.Document(AtBr2), version: 2);

        fabric.Nomad.SendTcp(Web, 42005, 80, TcpFlags.Ack | TcpFlags.Psh, 107, 5001, "moved!"u8.ToArray());
        fabric.Pump();

        Assert.Equal(1, SvrFabric.Drops(fabric.Br2, DropReason.ClientArriving));
        Assert.DoesNotContain(fabric.Nomad.Received, packet => FlagsOf(packet) is { } flags && (flags & TcpFlags.Rst) != 0);

        // The check on the packet path allocates nothing.
        var resources = fabric.Br2.Worker.Resources;
        var eng1 = IpAddressConversions.ParseIpv4("10.20.1.10");
        var now = fabric.Br2.Now;
        Assert.True(resources.IsArriving(eng1, isIpv6: false, now));
        var allocated = ThreadAllocations.During(() =>
        {
            for (var i = 0; i < 1000; i++)
            {
                _ = resources.IsArriving(eng1, isIpv6: false, now);
            }
        });

        Assert.Equal(0, allocated);

        fabric.Time.Advance(SvrStage.ClientArrivalGrace + TimeSpan.FromMilliseconds(100));
        fabric.Nomad.SendTcp(Web, 42005, 80, TcpFlags.Ack | TcpFlags.Psh, 107, 5001, "moved!"u8.ToArray());
        fabric.Pump();

        Assert.Equal(1, SvrFabric.Drops(fabric.Br2, DropReason.ClientArriving));
        Assert.Contains(fabric.Nomad.Received, packet => FlagsOf(packet) is { } flags && (flags & TcpFlags.Rst) != 0);
    }

    [Fact]
    public void ClientArrivedAtBr2_UdpDatagramAndEchoBeforeItsSessions_DroppedAsArriving_NoSessionOpened()
    {
        using var fabric = new SvrFabric(AtBr1);
        OpenUdp(fabric, 45000);
        var atBulk = fabric.Bulk1.Received.Count;
        fabric.Br2.Apply(fabric.Document(AtBr2), version: 2);

        fabric.Nomad.SendUdp(Bulk, 45000, 5201, "moved"u8.ToArray());
        fabric.Nomad.Ping(Bulk, 7, 1);
        fabric.Pump();

        Assert.Equal(2, SvrFabric.Drops(fabric.Br2, DropReason.ClientArriving));
        Assert.Equal(0, fabric.Br2.Worker.Sessions.Count);
        Assert.Equal(atBulk, fabric.Bulk1.Received.Count);
        Assert.Empty(fabric.Nomad.Received);
    }

    [Fact]
    public async Task ClientMovedToBr2_UdpDatagramInTheGrace_Dropped_FlowThenGoesOnInItsOldSessionOnceItsRecordsAreTaken()
    {
        using var fabric = new SvrFabric(AtBr1);
        OpenUdp(fabric, 45001);
        var sessionId = SvrFabric.OnlySession(fabric.Br1).SessionId;
        var instance = SvrFabric.OnlySession(fabric.Dc1).Instance;
        var atBulk = fabric.Bulk1.Received.Count;
        foreach (var router in new[] { fabric.Dc1, fabric.Br1, fabric.Br2 })
        {
            router.Apply(fabric.Document(AtBr2), version: 2);
        }

        // The datagram comes before the records: had it opened a session at br2, the record's tuple would be in use there.
        fabric.Nomad.SendUdp(Bulk, 45001, 5201, "early"u8.ToArray());
        fabric.Pump();
        Assert.Equal(1, SvrFabric.Drops(fabric.Br2, DropReason.ClientArriving));
        Assert.Equal(0, fabric.Br2.Worker.Sessions.Count);

        var given = await GiveUp(fabric.Br1, Address("10.20.1.10"));
        var taken = await Take(fabric.Br2, given);
        Assert.Equal(new SessionImportResult(1, 0, 0), taken);

        fabric.Nomad.SendUdp(Bulk, 45001, 5201, "moved"u8.ToArray());
        fabric.Pump();

        Assert.Equal("moved", UdpText(Assert.Single(fabric.Nomad.Received)));
        Assert.Equal(atBulk + 1, fabric.Bulk1.Received.Count);
        // The same session at both ends: br2's carries br1's session id, and dc1 adopted its own (same instance), opening none.
        Assert.Equal(sessionId, SvrFabric.OnlySession(fabric.Br2).SessionId);
        Assert.Equal(instance, SvrFabric.OnlySession(fabric.Dc1).Instance);
        Assert.Equal(1, fabric.Dc1.Worker.Counters.SessionsMoved);
        Assert.Equal(1, SvrFabric.Drops(fabric.Br2, DropReason.ClientArriving));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public async Task ClientMovedToBr2_HandOverOver_NewUdpFlowsOpenAtOnceOnEveryWorker_MovedFlowGoesOnInItsOldSession(int workers)
    {
        using var fabric = new SvrFabric(AtBr1, workers: workers);
        OpenUdp(fabric, 45010);
        var sessionId = Assert.Single(SvrIngressSessions(fabric.Br1)).SessionId;
        foreach (var router in new[] { fabric.Dc1, fabric.Br1, fabric.Br2 })
        {
            router.Apply(fabric.Document(AtBr2), version: 2);
        }

        // Before the hand-over, a new flow's datagram waits out the grace like any of the client's.
        fabric.Nomad.SendUdp(Bulk, 46000, 5201, "early"u8.ToArray());
        fabric.Pump();
        Assert.Equal(1, fabric.Br2.DropTotal(DropReason.ClientArriving));

        var given = await GiveUp(fabric.Br1, Address("10.20.1.10"));
        Assert.Equal(new SessionImportResult(1, 0, 0), await Take(fabric.Br2, given));
        var ended = fabric.Br2.EndClientArrivalsAsync([Address("10.20.1.10")]);
        fabric.Br2.RunOnce();
        await ended;

        // Still within the grace: new flows (which br2's fanout spreads over its workers) open sessions at once.
        var ports = Enumerable.Range(46001, 8).Select(port => (ushort)port).ToArray();
        foreach (var port in ports)
        {
            fabric.Nomad.SendUdp(Bulk, port, 5201, System.Text.Encoding.ASCII.GetBytes($"new {port}"));
            fabric.Pump();
        }

        Assert.Equal(ports.Select(port => $"new {port}"), fabric.Nomad.Received.Select(UdpText));
        Assert.Equal(1, fabric.Br2.DropTotal(DropReason.ClientArriving));
        Assert.All(fabric.Br2.Workers, worker => Assert.InRange(worker.Sessions.Count, 1, ports.Length + 1));

        // The moved flow goes on in its old session: br1's session id, adopted by dc1.
        fabric.Nomad.Received.Clear();
        fabric.Nomad.SendUdp(Bulk, 45010, 5201, "moved"u8.ToArray());
        fabric.Pump();
        Assert.Equal("moved", UdpText(Assert.Single(fabric.Nomad.Received)));
        var moved = SessionKey.V4(IpAddressConversions.ParseIpv4("10.20.1.10"), IpAddressConversions.ParseIpv4(Bulk), 45010, 5201, IpProtocol.Udp);
        var holder = Assert.Single(fabric.Br2.Workers, worker => worker.Sessions.TryFind(moved, out _, out _));
        Assert.True(holder.Sessions.TryFind(moved, out var handle, out _));
        Assert.Equal(sessionId, holder.Sessions.Payload(handle).SessionId);
        Assert.Equal(1, fabric.Dc1.Counters().SessionsMoved);
        Assert.Equal(1, fabric.Br2.DropTotal(DropReason.ClientArriving));
    }

    /// <summary>The SVR ingress sessions of every worker of <paramref name="router"/>.</summary>
    private static List<SessionState> SvrIngressSessions(ForwardingEngine router) =>
        [.. router.Workers.SelectMany(LivePayloads).Where(state => state.Svr == SvrRole.Ingress)];

    [Fact]
    public void ClientArrivedAtBr2_UdpDatagramAfterTheGraceWithoutItsRecords_OpensANewSession()
    {
        using var fabric = new SvrFabric(AtBr1);
        OpenUdp(fabric, 45002);
        foreach (var router in new[] { fabric.Dc1, fabric.Br1, fabric.Br2 })
        {
            router.Apply(fabric.Document(AtBr2), version: 2);
        }

        fabric.Nomad.SendUdp(Bulk, 45002, 5201, "early"u8.ToArray());
        fabric.Pump();
        Assert.Equal(1, SvrFabric.Drops(fabric.Br2, DropReason.ClientArriving));

        fabric.Time.Advance(SvrStage.ClientArrivalGrace + TimeSpan.FromMilliseconds(100));
        fabric.Nomad.SendUdp(Bulk, 45002, 5201, "late"u8.ToArray());
        fabric.Pump();

        Assert.Equal("late", UdpText(Assert.Single(fabric.Nomad.Received)));
        Assert.Equal(SvrRole.Ingress, SvrFabric.OnlySession(fabric.Br2).Svr);
        Assert.Equal(1, SvrFabric.Drops(fabric.Br2, DropReason.ClientArriving));
    }

    [Fact]
    public void ClientMovedToBr2_WithoutTheHandOver_MidFlowPacketAtBr2_IsNotCarried()
    {
        using var fabric = new SvrFabric(AtBr1);
        Open(fabric, 42001);
        var atServers = fabric.Web1.Received.Count + fabric.Web2.Received.Count;
        foreach (var router in new[] { fabric.Dc1, fabric.Br1, fabric.Br2 })
        {
            router.Apply(fabric.Document(AtBr2), version: 2);
        }

        fabric.Nomad.SendTcp(Web, 42001, 80, TcpFlags.Ack | TcpFlags.Psh, 107, 5001, "moved!"u8.ToArray());
        fabric.Pump();

        Assert.Equal(atServers, fabric.Web1.Received.Count + fabric.Web2.Received.Count);
    }

    [Theory]
    [InlineData("br1")]
    [InlineData("br2")]
    public async Task ClientMovedToBr2_AnUnrelatedCommitReachesOneBranchBeforeTheHandOver_SessionTakenAndGoesOnWithoutReset(string ahead)
    {
        using var fabric = new SvrFabric(AtBr1);
        Open(fabric, 42006);
        var server = fabric.Web1.Received.Count > 0 ? fabric.Web1 : fabric.Web2;
        var atServer = server.Received.Count;
        foreach (var router in new[] { fabric.Dc1, fabric.Br1, fabric.Br2 })
        {
            router.Apply(fabric.Document(AtBr2), version: 2);
        }

        fabric.Pump();
        Assert.Equal(1, fabric.Br1.Worker.Resources.MovedClients.Count);

        // Another tenant and another service come first in the document (renumbering both) and db's access changes: nothing
        // of eng1's placement or of its tenant's access to web.
        var unrelated = fabric.Document(text => UnrelatedCommit(AtBr2(text)));
        var aheadRouter = ahead == "br1" ? fabric.Br1 : fabric.Br2;
        aheadRouter.Apply(unrelated, version: 3);
        Assert.NotEqual(fabric.Br1.Snapshot.ServiceIndex("web"), fabric.Br2.Snapshot.ServiceIndex("web"));
        Assert.NotEqual(fabric.Br1.Snapshot.TenantIndex("engineering"), fabric.Br2.Snapshot.TenantIndex("engineering"));

        var given = await GiveUp(fabric.Br1, Address("10.20.1.10"));
        var taken = await Take(fabric.Br2, given);

        Assert.Single(given.Sessions);
        Assert.Equal(new SessionImportResult(1, 0, 0), taken);
        var session = SvrFabric.OnlySession(fabric.Br2);
        Assert.Equal((fabric.Br2.Snapshot.TenantIndex("engineering"), fabric.Br2.Snapshot.ServiceIndex("web")), ((int)session.Tenant, (int)session.Service));
        fabric.Nomad.AssertTcpEcho(Web, 42006, 80, 107, "moved!", fabric.Pump);
        Assert.Equal(atServer + 1, server.Received.Count);
        Assert.Equal(1, fabric.Dc1.Worker.Counters.SessionsMoved);
        AssertNoReset(fabric);
        AssertNoNewConnection(server, atServer);
    }

    [Theory]
    [InlineData(1, true)]
    [InlineData(2, true)]
    [InlineData(1, false)]
    public async Task ClientMovedToBr2ThenBackToBr1BeforeTheHandOver_SessionGoesOnAtBr1_Br2GivenNothing_WithoutReset(int workers, bool br1BindsTheMove)
    {
        using var fabric = new SvrFabric(AtBr1, workers: workers);
        Open(fabric, 42008);
        var server = fabric.Web1.Received.Count > 0 ? fabric.Web1 : fabric.Web2;
        var atServer = server.Received.Count;
        var sessionId = Assert.Single(SvrIngressSessions(fabric.Br1)).SessionId;
        foreach (var router in new[] { fabric.Dc1, fabric.Br1, fabric.Br2 })
        {
            router.Apply(fabric.Document(AtBr2), version: 2);
        }

        if (br1BindsTheMove)
        {
            // br1's workers bind the move: the session is held for br2.
            fabric.Pump();
            Assert.Equal(1, fabric.Br1.Workers.Sum(worker => worker.Resources.MovedClients.Count));
            Assert.Equal(0, fabric.Br1.SessionCount);
        }

        // The next commit lists eng1 under br1 again, before br2 asked.
        foreach (var router in new[] { fabric.Dc1, fabric.Br1, fabric.Br2 })
        {
            router.Apply(fabric.Document(AtBr1), version: 3);
        }

        fabric.Pump();
        Assert.Equal(0, fabric.Br1.Workers.Sum(worker => worker.Resources.MovedClients.Count));
        Assert.Equal(sessionId, Assert.Single(SvrIngressSessions(fabric.Br1)).SessionId);

        // br2's request, late (checked against version 2 where eng1 was br2's), gets nothing, and br2 would take nothing.
        var given = await GiveUp(fabric.Br1, Address("10.20.1.10"));
        Assert.Empty(given.Sessions);
        Assert.Equal(1, fabric.Br1.SessionCount);
        Assert.Equal(0, fabric.Br2.SessionCount);

        fabric.Eng1.AssertTcpEcho(Web, 42008, 80, 107, "back!!", fabric.Pump);
        Assert.Equal(atServer + 1, server.Received.Count);
        Assert.Equal(sessionId, Assert.Single(SvrIngressSessions(fabric.Br1)).SessionId);
        // dc1 kept its session (same instance): adopted on br1's new waypoint tuple after a hold, as it was without one.
        Assert.Equal(br1BindsTheMove ? 1 : 0, fabric.Dc1.Counters().SessionsMoved);
        // What `fabric router counters` shows as sessions_moved: br1 counts the session once, when it held it (the resume
        // is that move undone, not a second one); br2, given nothing, none.
        Assert.Equal((br1BindsTheMove ? 1 : 0, 0), (fabric.Br1.Counters().SessionsMoved, fabric.Br2.Counters().SessionsMoved));
        Assert.Equal(1, fabric.Dc1.SessionCount);
        Assert.Equal(0, fabric.Br1.DropTotal(DropReason.ClientArriving));
        AssertNoReset(fabric);
        AssertNoNewConnection(server, atServer);
    }

    [Fact]
    public async Task ClientMovedBackToBr1_WhileHeld_Br2RunningTheMove_TakesNothing()
    {
        // br2 runs the move only, and asks; br1 has run the commit that moves eng1 back.
        using var fabric = new SvrFabric(AtBr1);
        Open(fabric, 42009);
        fabric.Br1.Apply(fabric.Document(AtBr2), version: 2);
        fabric.Br2.Apply(fabric.Document(AtBr2), version: 2);
        fabric.Pump();
        Assert.Equal(1, fabric.Br1.Worker.Resources.MovedClients.Count);
        fabric.Br1.Apply(fabric.Document(AtBr1), version: 3);

        var given = await GiveUp(fabric.Br1, Address("10.20.1.10"));
        var taken = await Take(fabric.Br2, given);

        Assert.Empty(given.Sessions);
        Assert.Equal(new SessionImportResult(0, 0, 0), taken);
        Assert.Equal(0, fabric.Br2.SessionCount);
        Assert.Equal(SvrRole.Ingress, SvrFabric.OnlySession(fabric.Br1).Svr);
        fabric.Eng1.AssertTcpEcho(Web, 42009, 80, 107, "back!!", fabric.Pump);
        AssertNoReset(fabric);
    }

    [Fact]
    public async Task Records_ForATenantThatNoLongerReachesTheService_AreRefused()
    {
        using var fabric = new SvrFabric(AtBr1);
        Open(fabric, 42002);
        foreach (var router in new[] { fabric.Dc1, fabric.Br1, fabric.Br2 })
        {
            router.Apply(fabric.Document(AtBr2), version: 2);
        }

        var given = await GiveUp(fabric.Br1, Address("10.20.1.10"));
        fabric.Br2.Apply(fabric.Document(text => WithoutEngineeringAtWeb(UnrelatedCommit(AtBr2(text)))), version: 3);

        var taken = await Take(fabric.Br2, given);

        Assert.Single(given.Sessions);
        Assert.Equal(new SessionImportResult(0, 0, 1), taken);
        Assert.Equal(0, fabric.Br2.Worker.Sessions.Count);
    }

    [Fact]
    public async Task Records_ForAClientBr2sConfigurationDoesNotListUnderBr2_AreRefused()
    {
        // br2's LAN serves eng1's prefix, but br2 runs a configuration that keeps eng1 at br1.
        using var fabric = new SvrFabric(AtBr1);
        Open(fabric, 42007);
        fabric.Br1.Apply(fabric.Document(AtBr2), version: 2);
        var given = await GiveUp(fabric.Br1, Address("10.20.1.10"));

        var taken = await Take(fabric.Br2, given);

        Assert.Single(given.Sessions);
        Assert.Equal(new SessionImportResult(0, 0, 1), taken);
        Assert.Equal(0, fabric.Br2.Worker.Sessions.Count);
    }

    private static ClientAddress Address(string text) => ClientAddress.Of(System.Net.IPAddress.Parse(text));

    private static async Task<ClientSessionRecords> GiveUp(ForwardingEngine router, ClientAddress client)
    {
        var given = router.GiveUpClientSessionsAsync([client]);
        router.RunOnce();
        return await given;
    }

    private static async Task<SessionImportResult> Take(ForwardingEngine router, ClientSessionRecords given)
    {
        // As the other router gets them: through the one serialized form.
        var taken = router.TakeClientSessionsAsync(given with { Sessions = SessionRecords.Deserialize(SessionRecords.Serialize(given.Sessions)) });
        router.RunOnce();
        return await taken;
    }

    /// <summary>lab.conf with br2's LAN also the gateway 10.20.1.254/24 (eng1 is still at br1).</summary>
    internal static string AtBr1(string text)
    {
        var edited = text.Replace("gateways = [\"10.30.1.1/24\"]", "gateways = [\"10.30.1.1/24\", \"10.20.1.254/24\"]", StringComparison.Ordinal);
        Assert.Contains("10.20.1.254/24", edited, StringComparison.Ordinal);
        return edited;
    }

    /// <summary>As <see cref="AtBr1"/> with eng1 listed under br2's LAN, keeping its address.</summary>
    internal static string AtBr2(string text)
    {
        const string eng1 = "            eng1 { addresses = [\"10.20.1.10\"], tenant = engineering }\n";
        const string fin1 = "            fin1 { addresses = [\"10.30.1.20\"], tenant = finance }\n";
        var edited = AtBr1(text);
        Assert.Contains(eng1, edited, StringComparison.Ordinal);
        return edited.Replace(eng1, string.Empty, StringComparison.Ordinal).Replace(fin1, fin1 + eng1, StringComparison.Ordinal);
    }

    /// <summary>
    /// A commit about nothing eng1's sessions need: a tenant and a service listed before all others (the routers number
    /// tenants and services anew) and db reachable by guest too.
    /// </summary>
    internal static string UnrelatedCommit(string text)
    {
        var edited = text
            .Replace("  tenants {\n", "  tenants {\n    audit {}\n", StringComparison.Ordinal)
            .Replace("  services {\n", "  services {\n    api {\n      addresses = [\"10.200.0.81/32\"]\n      transports = [{ protocol = tcp, ports = [\"81\"] }]\n      access = [audit]\n      instances = [{ container = web1 }]\n    }\n", StringComparison.Ordinal)
            .Replace("access = [finance]\n      policy = secure", "access = [finance, guest]\n      policy = secure", StringComparison.Ordinal);
        Assert.Contains("audit {}", edited, StringComparison.Ordinal);
        Assert.Contains("10.200.0.81/32", edited, StringComparison.Ordinal);
        Assert.Contains("access = [finance, guest]", edited, StringComparison.Ordinal);
        return edited;
    }

    /// <summary>web no longer reachable by engineering.</summary>
    internal static string WithoutEngineeringAtWeb(string text)
    {
        var edited = text.Replace("access = [engineering, guest, finance]", "access = [guest, finance]", StringComparison.Ordinal);
        Assert.Contains("access = [guest, finance]", edited, StringComparison.Ordinal);
        return edited;
    }

    /// <summary>br2's LAN also the IPv6 gateway fd00:20:1::fe/64, on eng1's IPv6 prefix (<see cref="SvrFabric.DualStack"/> gives br1 fd00:20:1::1).</summary>
    internal static string Ipv6AtBr2Lan(string text)
    {
        var edited = text.Replace("\"10.20.1.254/24\"]", "\"10.20.1.254/24\", \"fd00:20:1::fe/64\"]", StringComparison.Ordinal);
        Assert.Contains("fd00:20:1::fe/64", edited, StringComparison.Ordinal);
        return edited;
    }

    /// <summary>Whether a live session of the router has a reverse key <paramref name="test"/> accepts.</summary>
    private static bool AnyLive(ForwardingEngine router, Func<SessionKey, bool> test)
    {
        var sessions = router.Worker.Sessions;
        for (var handle = 0; handle < sessions.Capacity; handle++)
        {
            if (sessions.IsLive(handle) && test(sessions.ReverseKey(handle)))
            {
                return true;
            }
        }

        return false;
    }

    private static string TcpText6(byte[] packet)
    {
        Assert.True(Ipv6Packet.TryCreate(packet, out var ip));
        Assert.True(TcpSegment.TryCreate(ip.UpperLayer, out var tcp));
        return System.Text.Encoding.ASCII.GetString(tcp.Payload);
    }

    private static TcpFlags? Flags6(byte[] packet) =>
        Ipv6Packet.TryCreate(packet, out var ip) && ip.UpperLayerProtocol == IpProtocol.Tcp && TcpSegment.TryCreate(ip.UpperLayer, out var tcp) ? tcp.Flags : null;

    /// <summary>Opens eng1's TCP session to web from <paramref name="sourcePort"/> at br1 and exchanges "before" on it.</summary>
    internal static void Open(SvrFabric fabric, ushort sourcePort)
    {
        fabric.Eng1.SendTcp(Web, sourcePort, 80, TcpFlags.Syn, 100, 0, []);
        fabric.Pump();
        fabric.Eng1.SendTcp(Web, sourcePort, 80, TcpFlags.Ack, 101, 5001, []);
        fabric.Eng1.AssertTcpEcho(Web, sourcePort, 80, 101, "before", fabric.Pump);
    }

    /// <summary>Opens eng1's UDP session to bulk (5201) from <paramref name="sourcePort"/> at br1 and exchanges "before" on it.</summary>
    private static void OpenUdp(SvrFabric fabric, ushort sourcePort)
    {
        fabric.Eng1.SendUdp(Bulk, sourcePort, 5201, "before"u8.ToArray());
        fabric.Pump();
        Assert.Equal("before", UdpText(Assert.Single(fabric.Eng1.Received)));
        Assert.Equal(1, fabric.Br1.SessionCount);
    }

    private static string UdpText(byte[] packet)
    {
        Assert.True(Ipv4Packet.TryCreate(packet, out var ip));
        Assert.True(UdpDatagram.TryCreate(ip.Payload, out var udp));
        return System.Text.Encoding.ASCII.GetString(udp.Payload);
    }

    /// <summary>No end of eng1's session, at br1 or at br2, nor a web instance, received a reset.</summary>
    internal static void AssertNoReset(SvrFabric fabric)
    {
        foreach (var host in new[] { fabric.Eng1, fabric.Nomad, fabric.Web1, fabric.Web2 })
        {
            Assert.DoesNotContain(host.Received, packet => FlagsOf(packet) is { } flags && (flags & TcpFlags.Rst) != 0);
        }
    }

    /// <summary>The server saw no new connection after its first <paramref name="atServer"/> packets: what came later was mid-flow.</summary>
    private static void AssertNoNewConnection(TestHost server, int atServer) =>
        Assert.DoesNotContain(server.Received.Skip(atServer), packet => FlagsOf(packet) is { } flags && (flags & TcpFlags.Syn) != 0);

    internal static TcpFlags? FlagsOf(byte[] packet) =>
        Ipv4Packet.TryCreate(packet, out var ip) && ip.Protocol == IpProtocol.Tcp && TcpSegment.TryCreate(ip.Payload, out var tcp) ? tcp.Flags : null;
}
