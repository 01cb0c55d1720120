using Fabric.Dataplane.Routing;
using Fabric.Dataplane.Svr.Security;
using Fabric.Dataplane.Wire;
using Fabric.Model;
using Fabric.Tests.Dataplane.Routing;
using Fabric.Tests.Dataplane.Svr.Security;

namespace Fabric.Tests.Dataplane.Svr.Routers;

/// <summary>Keys derived by each router alone (clock epochs), as the router process does: encrypted traffic across a boundary and a restart.</summary>
public sealed class PeerKeyScheduleTests
{
    private const string Db = "10.10.1.20";
    private static readonly TimeSpan Hour = TimeSpan.FromHours(1);

    [Fact]
    public void ClockEpochs_BothEndsDeriveTheSameKeys_EpochsAlternateKeyPhase_SequenceStartsAtTicksIntoTheEpoch()
    {
        var east = SecurityFixtures.Identity("east", 1);
        var west = SecurityFixtures.Identity("west", 2);
        var now = new DateTimeOffset(2026, 11, 27, 4, 0, 0, TimeSpan.Zero) + TimeSpan.FromMilliseconds(1500);

        Assert.Equal(KeyAgreementResult.Ok, ClockEpochs.TryDerive(east, new PinnedPeer("west", west.PublicKey), now, Hour, out var eastKeys));
        Assert.Equal(KeyAgreementResult.Ok, ClockEpochs.TryDerive(west, new PinnedPeer("east", east.PublicKey), now, Hour, out var westKeys));

        Assert.True(eastKeys!.SendKey.SequenceEqual(westKeys!.ReceiveKey));
        Assert.True(eastKeys.SendSalt.SequenceEqual(westKeys.ReceiveSalt));
        Assert.Equal(ClockEpochs.EpochAt(now, Hour), eastKeys.Epoch);
        Assert.Equal(15_000_000UL, eastKeys.FirstSendSequence);
        Assert.Equal(ClockEpochs.EpochAt(now, Hour) - 1, ClockEpochs.EpochAt(now - TimeSpan.FromSeconds(2), Hour));
        Assert.Equal(now - TimeSpan.FromMilliseconds(1500), ClockEpochs.StartOf(eastKeys.Epoch, Hour));
    }

    [Fact]
    public void ClockEpochs_PeerPinnedWithAnotherKey_DerivesKeysThePeerCannotOpen()
    {
        var east = SecurityFixtures.Identity("east", 1);
        var west = SecurityFixtures.Identity("west", 2);
        var impostor = SecurityFixtures.Identity("west", 3);
        var now = DateTimeOffset.UnixEpoch + TimeSpan.FromDays(20_000);

        ClockEpochs.TryDerive(east, new PinnedPeer("west", impostor.PublicKey), now, Hour, out var eastKeys);
        ClockEpochs.TryDerive(west, new PinnedPeer("east", east.PublicKey), now, Hour, out var westKeys);

        Assert.False(eastKeys!.SendKey.SequenceEqual(westKeys!.ReceiveKey));
    }

    [Fact]
    public void TwoRouters_EachDerivingAlone_CarryAnEncryptedSession_AcrossAnEpochBoundaryAndARestart_WithoutLoss()
    {
        using var fabric = new SvrFabric();
        var policy = fabric.Model.FindSecurityPolicy(SecurityPolicy.DefaultName) ?? SecurityPolicy.Default;
        var wall = new WallClock(new DateTimeOffset(2026, 11, 27, 3, 59, 58, TimeSpan.Zero));
        var branch = new PeerKeySchedule(fabric.Br2, fabric.IdentityOf("br2"), wall);
        var datacenter = new PeerKeySchedule(fabric.Dc1, fabric.IdentityOf("dc1"), wall);
        Assert.Equal(TimeSpan.FromSeconds(2), branch.Refresh(policy));
        datacenter.Refresh(policy);

        fabric.Fin1.SendTcp(Db, 40000, 5432, TcpFlags.Syn, 100, 0, []);
        fabric.Pump();
        fabric.Fin1.SendTcp(Db, 40000, 5432, TcpFlags.Ack, 101, 5001, []);
        fabric.Pump();
        Send(fabric, 101, "before");
        var first = SecurityIdOf(fabric.Br2, "dc1");

        // Both cross the boundary (each on its own timer), then the branch restarts its keys within the epoch.
        wall.Now += TimeSpan.FromSeconds(3);
        branch.Refresh(policy);
        datacenter.Refresh(policy);
        Send(fabric, 107, "after");
        wall.Now += TimeSpan.FromSeconds(1);
        new PeerKeySchedule(fabric.Br2, fabric.IdentityOf("br2"), wall).Refresh(policy);
        Send(fabric, 112, "restart");

        Assert.Equal(first + 1, SecurityIdOf(fabric.Br2, "dc1"));
        Assert.Equal(first + 1, SecurityIdOf(fabric.Dc1, "br2"));
        Assert.Equal(["before", "after", "restart"], fabric.Db1.Received.Select(Text).Where(t => t.Length > 0));
        Assert.True(SvrFabric.OnlySession(fabric.Dc1).Sealed);
        Assert.Equal(0, fabric.Dc1.Worker.Counters.Dropped);
        Assert.Equal(0, fabric.Br2.Worker.Counters.Dropped);
    }

    [Fact]
    public void BranchRestart_ClockSteppedBackWithinTheEpoch_NeverSealsTwoPacketsWithOneNonce()
    {
        using var fabric = new SvrFabric(text => text.Replace("access = [finance]", "access = [finance, engineering]"));
        var policy = fabric.Model.FindSecurityPolicy(SecurityPolicy.DefaultName) ?? SecurityPolicy.Default;
        var wall = new WallClock(new DateTimeOffset(2026, 11, 27, 4, 0, 1, TimeSpan.Zero));
        new PeerKeySchedule(fabric.Br1, fabric.IdentityOf("br1"), wall).Refresh(policy);
        new PeerKeySchedule(fabric.Dc1, fabric.IdentityOf("dc1"), wall).Refresh(policy);
        OpenAndSend(fabric, fabric.Eng1, 41000, "first run");

        // br1 restarts and derives the same epoch's keys; its clock was stepped back to the instant the first
        // run derived them, so both runs start their sending sequence at the same value.
        fabric.RestartBr1();
        new PeerKeySchedule(fabric.Br1, fabric.IdentityOf("br1"), wall).Refresh(policy);
        OpenAndSend(fabric, fabric.Eng1, 41001, "second run");

        var counters = SealedCounters(fabric.DcWan, from: "172.16.0.2");
        Assert.True(counters.Count >= 6, $"{counters.Count} sealed packets crossed the wire");
        Assert.Equal(counters.Count, counters.Distinct().Count());
        Assert.Equal(0, fabric.Br1.Worker.Faults.Total);
        Assert.Equal(0, fabric.Dc1.Worker.Faults.Total);
    }

    [Fact]
    public void ClockSteppedBackAcrossABoundary_RenewAndAnOlderEpoch_NeverThrowOnTheWorker_AndTheSessionGoesOn()
    {
        using var fabric = new SvrFabric();
        var policy = fabric.Model.FindSecurityPolicy(SecurityPolicy.DefaultName) ?? SecurityPolicy.Default;
        var wall = new WallClock(new DateTimeOffset(2026, 11, 27, 3, 59, 58, TimeSpan.Zero));
        var branch = new PeerKeySchedule(fabric.Br2, fabric.IdentityOf("br2"), wall);
        var datacenter = new PeerKeySchedule(fabric.Dc1, fabric.IdentityOf("dc1"), wall);
        branch.Refresh(policy);
        datacenter.Refresh(policy);
        fabric.Fin1.SendTcp(Db, 40000, 5432, TcpFlags.Syn, 100, 0, []);
        fabric.Pump();
        fabric.Fin1.SendTcp(Db, 40000, 5432, TcpFlags.Ack, 101, 5001, []);
        fabric.Pump();
        Send(fabric, 101, "before");
        wall.Now += TimeSpan.FromSeconds(3);
        branch.Refresh(policy);
        datacenter.Refresh(policy);
        Send(fabric, 107, "after");
        var crossed = SecurityIdOf(fabric.Br2, "dc1");

        // The clock steps back across the boundary: the branch renews its keys (as an HA node taking over does),
        // and is handed the older epoch outright.
        wall.Now -= TimeSpan.FromSeconds(3);
        branch.Renew(policy);
        datacenter.Refresh(policy);
        Assert.Equal(KeyAgreementResult.Ok, ClockEpochs.TryDerive(fabric.IdentityOf("br2"), new PinnedPeer("dc1", fabric.IdentityOf("dc1").PublicKey), wall.Now, Hour, out var older));
        fabric.Br2.InstallPeerKeys("dc1", older!);
        Send(fabric, 112, "stepped");

        Assert.Equal(0, fabric.Br2.Worker.Faults.Total);
        Assert.Equal(crossed, SecurityIdOf(fabric.Br2, "dc1"));
        Assert.Equal(1, fabric.Br2.Snapshot.Runtimes.PeerKeys.Refused);
        Assert.Equal(["before", "after", "stepped"], fabric.Db1.Received.Select(Text).Where(t => t.Length > 0));
        Assert.Equal(0, fabric.Dc1.Worker.Counters.Dropped);
    }

    [Fact]
    public void Reclaim_EpochInstalledAgain_KeepsItsReplayWindow_ACapturedPacketIsNotAcceptedAgain()
    {
        using var fabric = new SvrFabric();
        var policy = fabric.Model.FindSecurityPolicy(SecurityPolicy.DefaultName) ?? SecurityPolicy.Default;
        var wall = new WallClock(new DateTimeOffset(2026, 11, 27, 4, 10, 0, TimeSpan.Zero));
        new PeerKeySchedule(fabric.Br2, fabric.IdentityOf("br2"), wall).Refresh(policy);
        var datacenter = new PeerKeySchedule(fabric.Dc1, fabric.IdentityOf("dc1"), wall);
        datacenter.Refresh(policy);
        fabric.Fin1.SendTcp(Db, 40000, 5432, TcpFlags.Syn, 100, 0, []);
        fabric.Pump();
        fabric.Fin1.SendTcp(Db, 40000, 5432, TcpFlags.Ack, 101, 5001, []);
        fabric.Pump();
        Send(fabric, 101, "once");
        var captured = SealedFrames(fabric.DcWan, from: "172.16.0.3")[^1];

        // dc1 reclaims the router (an HA node becoming active again renews its keys), then the captured
        // packet of the same epoch is sent to it again.
        wall.Now += TimeSpan.FromSeconds(1);
        datacenter.Renew(policy);
        fabric.Pump();
        fabric.DcWan.Later.Enqueue(captured);
        fabric.Pump();

        Assert.Equal(["once"], fabric.Db1.Received.Select(Text).Where(t => t.Length > 0));
        Assert.Equal(1, SvrFabric.Drops(fabric.Dc1, Fabric.Dataplane.Pipeline.DropReason.Replayed));
    }

    [Fact]
    public void CipherChangedWhileRunning_RunningRouterRebuildsItsKeys_TalksToOneStartedWithTheNewCipher()
    {
        using var fabric = new SvrFabric();
        var aes128 = fabric.Document(text => text.Replace("  neighborhoods {", "  security-policies { default { cipher = aes-128-gcm } }\n  neighborhoods {"));
        Assert.Equal(Cipher.Aes128Gcm, aes128.FindSecurityPolicy(SecurityPolicy.DefaultName)!.Cipher);
        var wall = new WallClock(new DateTimeOffset(2026, 11, 27, 4, 20, 0, TimeSpan.Zero));
        var branch = new PeerKeySchedule(fabric.Br2, fabric.IdentityOf("br2"), wall);
        branch.Refresh(SecurityPolicy.Default);
        new PeerKeySchedule(fabric.Dc1, fabric.IdentityOf("dc1"), wall).Refresh(SecurityPolicy.Default);
        OpenAndSend(fabric, fabric.Fin1, 40000, "aes-256");

        // The new document reaches the running branch; dc1 restarts and starts with it.
        wall.Now += TimeSpan.FromSeconds(1);
        fabric.Br2.Apply(aes128, version: 2);
        branch.Refresh(aes128.FindSecurityPolicy(SecurityPolicy.DefaultName)!);
        fabric.RestartDc1(model: aes128);
        new PeerKeySchedule(fabric.Dc1, fabric.IdentityOf("dc1"), wall).Refresh(aes128.FindSecurityPolicy(SecurityPolicy.DefaultName)!);
        OpenAndSend(fabric, fabric.Fin1, 40001, "aes-128");

        Assert.Equal(["aes-256", "aes-128"], fabric.Db1.Received.Select(Text).Where(t => t.Length > 0));
        Assert.Equal(0, SvrFabric.Drops(fabric.Dc1, Fabric.Dataplane.Pipeline.DropReason.Tampered));
        Assert.Equal(Cipher.Aes128Gcm, fabric.Br2.Snapshot.Runtimes.PeerKeys[Array.Find(fabric.Br2.Snapshot.PeerPaths, p => p.PeerRouter == "dc1")!.KeysId].Policy.Cipher);
    }

    private static void OpenAndSend(SvrFabric fabric, TestHost client, ushort port, string text)
    {
        client.SendTcp(Db, port, 5432, TcpFlags.Syn, 100, 0, []);
        fabric.Pump();
        client.SendTcp(Db, port, 5432, TcpFlags.Ack, 101, 5001, []);
        fabric.Pump();
        client.SendTcp(Db, port, 5432, TcpFlags.Ack | TcpFlags.Psh, 101, 5001, System.Text.Encoding.ASCII.GetBytes(text));
        fabric.Pump();
    }

    /// <summary>The explicit counters (nonce counter fields) of the sealed TCP packets from <paramref name="from"/> that crossed the wire.</summary>
    private static List<ulong> SealedCounters(WirePort wire, string from) =>
        [.. SealedFrames(wire, from).Select(frame => System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(Trailer(frame)))];

    /// <summary>The frames of sealed TCP packets from <paramref name="from"/> that crossed the wire, in order.</summary>
    private static List<byte[]> SealedFrames(WirePort wire, string from)
    {
        var source = IpAddressConversions.ParseIpv4(from);
        return wire.Received.FindAll(frame =>
        {
            var copy = (byte[])frame.Clone();
            return EthernetFrame.TryCreate(copy, out var ethernet) && Ipv4Packet.TryCreate(ethernet.Payload, out var ip) && ip.Source == source
                && TcpSegment.TryCreate(ip.Payload, out var tcp) && tcp.Payload.Length >= PacketSealer.TrailerLength;
        });
    }

    private static byte[] Trailer(byte[] frame)
    {
        var copy = (byte[])frame.Clone();
        EthernetFrame.TryCreate(copy, out var ethernet);
        Ipv4Packet.TryCreate(ethernet.Payload, out var ip);
        TcpSegment.TryCreate(ip.Payload, out var tcp);
        return tcp.Payload[^PacketSealer.TrailerLength..].ToArray();
    }

    private static void Send(SvrFabric fabric, uint sequence, string text)
    {
        fabric.Fin1.SendTcp(Db, 40000, 5432, TcpFlags.Ack | TcpFlags.Psh, sequence, 5001, System.Text.Encoding.ASCII.GetBytes(text));
        fabric.Pump();
    }

    private static uint SecurityIdOf(ForwardingEngine router, string peer)
    {
        var snapshot = router.Snapshot;
        return snapshot.Runtimes.PeerKeys[Array.Find(snapshot.PeerPaths, p => p.PeerRouter == peer)!.KeysId].SecurityId;
    }

    private static string Text(byte[] packet) =>
        Ipv4Packet.TryCreate(packet, out var ip) && TcpSegment.TryCreate(ip.Payload, out var tcp) ? System.Text.Encoding.ASCII.GetString(tcp.Payload) : "";

    /// <summary>A wall clock the test sets; only <see cref="GetUtcNow"/> is used by the schedule.</summary>
    private sealed class WallClock(DateTimeOffset now) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = now;

        public override DateTimeOffset GetUtcNow() => Now;
    }
}
