using System.Buffers.Binary;
using Fabric.Actors.Tracing;
using Fabric.Dataplane.Forwarding;
using Fabric.Dataplane.Pipeline;
using Fabric.Dataplane.Svr;
using Fabric.Dataplane.Wire;
using Fabric.Tests.Dataplane.Routing;

namespace Fabric.Tests.Dataplane.Svr.Routers;

/// <summary>
/// BFD-style liveness, echo-burst quality and session failover between two routers joined by two WANs, with time
/// driven by a manual clock (defaults: 1 s probes, down after 3 missed, 5 s hold-down, bursts of 10 every 10 s).
/// </summary>
public sealed class PeerPathMonitoringTests
{
    private const string Web = "10.200.0.80";
    private const string Bulk = "10.10.1.30";

    [Fact]
    public void PeerPath_ProbesFlowing_StaysUpAndCountsProbes()
    {
        using var fabric = new PathFabric();
        fabric.RunSeconds(10);

        var path = fabric.Br1Wan0.Health;
        Assert.Equal(PeerPathState.Up, path.State);
        Assert.Equal(0, path.Downs);
        Assert.InRange(path.ProbesReceived, 8, 10);
        Assert.Equal(PeerPathState.Up, fabric.Dc1Wan0.Health.State);
        Assert.Contains(fabric.DcWan0.Received, frame => IsUdpTo(frame, 1280));
    }

    [Fact]
    public void PeerPath_ThreeProbesMissed_GoesDown_AndWaitsHoldDownBeforeUp()
    {
        using var fabric = new PathFabric();
        fabric.RunSeconds(3);
        var br1 = fabric.Br1Wan0.Health;
        var dc1 = fabric.Dc1Wan0.Health;
        Assert.True(br1.IsUsable);

        fabric.CutWan0(true);
        fabric.RunSeconds(2);
        Assert.Equal(PeerPathState.Up, br1.State);
        Assert.Equal(2, br1.Missed);
        fabric.RunSeconds(1);
        Assert.Equal(PeerPathState.Down, br1.State);
        Assert.Equal(1, br1.Downs);
        Assert.True(fabric.Br1Wan1.Health.IsUsable);

        // dc1 heard br1's last probe just after its own went out: its third miss comes a second later.
        Assert.Equal(PeerPathState.Up, dc1.State);
        fabric.RunSeconds(1);
        Assert.Equal(PeerPathState.Down, dc1.State);

        fabric.RunSeconds(4);
        fabric.CutWan0(false);
        fabric.RunSeconds(1);
        Assert.Equal(PeerPathState.HoldDown, br1.State);
        fabric.RunSeconds(4);
        Assert.Equal(PeerPathState.HoldDown, br1.State);
        Assert.False(br1.IsUsable);
        fabric.Run(TimeSpan.FromMilliseconds(999), TimeSpan.FromMilliseconds(333));
        Assert.Equal(PeerPathState.HoldDown, br1.State);
        fabric.Run(TimeSpan.FromMilliseconds(1), TimeSpan.FromMilliseconds(1));
        Assert.Equal(PeerPathState.Up, br1.State);
        Assert.Equal(PeerPathState.Up, dc1.State);
        Assert.Equal(1, br1.Downs);
    }

    [Fact]
    public void PeerPath_PeerStartsLate_DownUntilHeard_ThenUpAtItsFirstProbe_NoHoldDown()
    {
        // dc1's probes do not reach br1 for the first 5 s (dc1 not started yet, as in a lab coming up).
        using var fabric = new PathFabric();
        fabric.CutWan0(true);
        fabric.RunSeconds(5);
        var br1 = fabric.Br1Wan0.Health;
        Assert.Equal(PeerPathState.Down, br1.State);

        // The first probe after the cut waits for the peer's address to resolve; the next one arrives (2 s, not 5 s of hold-down).
        fabric.CutWan0(false);
        fabric.RunSeconds(2);
        Assert.Equal(PeerPathState.Up, br1.State);
        Assert.True(br1.IsUsable);

        // Once heard, a later failure is damped by the hold-down again.
        fabric.CutWan0(true);
        fabric.RunSeconds(4);
        fabric.CutWan0(false);
        fabric.RunSeconds(1);
        Assert.Equal(PeerPathState.HoldDown, br1.State);
    }

    [Fact]
    public void PeerPath_ClockStalledForMinutes_DoesNotBlameThePeer()
    {
        using var fabric = new PathFabric();
        fabric.RunSeconds(2);
        fabric.Time.Advance(TimeSpan.FromMinutes(10));
        fabric.Pump();
        fabric.RunSeconds(1);

        Assert.Equal(PeerPathState.Up, fabric.Br1Wan0.Health.State);
        Assert.Equal(0, fabric.Br1Wan0.Health.Downs);
    }

    [Fact]
    public void EchoBurst_RepliesHeldBack_GivesLatencyJitterAndLoss()
    {
        using var fabric = new PathFabric();
        var health = fabric.Br1Wan0.Health;
        var held = new List<byte[]>();
        fabric.BrWan0.Faults = frame =>
        {
            // br1's own echoes coming back from dc1: hold them so the test decides when they arrive.
            if (IsUdpTo(frame, 3785) && BinaryPrimitives.ReadUInt32BigEndian(frame.AsSpan(42)) == health.Discriminator)
            {
                held.Add(frame);
                return [];
            }

            return [frame];
        };

        fabric.RunSeconds(10);
        Assert.Equal(10, held.Count);
        Assert.Equal(-1, health.LatencyMicroseconds);

        // 5 come back after 20 ms, 3 after 40 ms, 2 never: RTT 20 ms ×5 and 40 ms ×3.
        fabric.Time.Advance(TimeSpan.FromMilliseconds(20));
        held.Take(5).ToList().ForEach(fabric.BrWan0.Later.Enqueue);
        fabric.Pump();
        fabric.Time.Advance(TimeSpan.FromMilliseconds(20));
        held.Skip(5).Take(3).ToList().ForEach(fabric.BrWan0.Later.Enqueue);
        fabric.Pump();
        Assert.Equal(-1, health.LossBasisPoints);

        // The next burst judges this one.
        fabric.RunSeconds(10);
        Assert.Equal(2_000, health.LossBasisPoints);
        Assert.Equal((((5 * 20_000) + (3 * 40_000)) / 8) / 2, health.LatencyMicroseconds);
        Assert.Equal(20_000 / 7, health.JitterMicroseconds);
        Assert.Equal(20, health.EchoesSent);
        Assert.Equal(8, health.EchoesReceived);
    }

    [Fact]
    public void Failover_EstablishedTcpSession_MovesToOtherPathWithoutReset_AndRevertsWhenPathReturns()
    {
        using var fabric = new PathFabric("revertible-failover");
        var (home, backup) = OpenWebSessionOnItsHomePath(fabric);

        fabric.CutWan0(true);
        fabric.RunSeconds(3);
        Assert.False(home.Health.IsUsable);

        Exchange(fabric, 107, "during");
        var moved = SvrFabric.OnlySession(fabric.Br1);
        Assert.Equal(backup.PoolId, moved.WaypointPool);
        Assert.Equal(backup.Port, moved.ForwardPort);
        Assert.Equal(1, fabric.Br1.Worker.Counters.SessionsMoved);
        Assert.Equal(1, fabric.Dc1.Worker.Counters.SessionsMoved);
        Assert.Equal(1, fabric.Dc1.Worker.Sessions.Count);
        Assert.Contains(fabric.DcWan1.Received, frame => IsTcp(frame));

        fabric.CutWan0(false);
        fabric.RunSeconds(6);
        Assert.True(home.Health.IsUsable);
        Exchange(fabric, 113, "after!");
        Assert.Equal(home.PoolId, SvrFabric.OnlySession(fabric.Br1).WaypointPool);
        Assert.Equal(2, fabric.Br1.Worker.Counters.SessionsMoved);
        Assert.Equal(1, fabric.Dc1.Worker.Sessions.Count);

        fabric.AssertOneWebConnectionNeverReset();
    }

    [Fact]
    public void Revert_HomePathWithoutAFreeWaypointPair_SessionGoesOnOverTheBackup_RevertsOnceAPairIsFree()
    {
        using var fabric = new PathFabric("revertible-failover");
        var (home, backup) = OpenWebSessionOnItsHomePath(fabric);
        fabric.CutWan0(true);
        fabric.RunSeconds(3);
        Exchange(fabric, 107, "during");
        Assert.Equal(backup.PoolId, SvrFabric.OnlySession(fabric.Br1).WaypointPool);

        // While the home path is down, other sessions take every pair it has.
        var taken = new List<(ushort Local, ushort Peer)>();
        while (home.Waypoints.TryAllocate(out var local, out var peer, 0))
        {
            taken.Add((local, peer));
        }

        fabric.CutWan0(false);
        fabric.RunSeconds(6);
        Assert.True(home.Health.IsUsable);

        // The session cannot go home; it goes on over the backup, which still carries it.
        Exchange(fabric, 113, "after!");
        Assert.Equal(backup.PoolId, SvrFabric.OnlySession(fabric.Br1).WaypointPool);
        Assert.Equal(0, SvrFabric.Drops(fabric.Br1, DropReason.WaypointsExhausted));

        foreach (var (local, peer) in taken)
        {
            home.Waypoints.Release(local, peer);
        }

        Exchange(fabric, 119, "again!");
        Assert.Equal(home.PoolId, SvrFabric.OnlySession(fabric.Br1).WaypointPool);
        Assert.Equal(2, fabric.Br1.Worker.Counters.SessionsMoved);
        fabric.AssertOneWebConnectionNeverReset();
    }

    [Fact]
    public void Failover_ToAPathThatMayNotSignalTheSession_SessionKeepsItsPath_AndGoesOnWhenItReturns()
    {
        // No path has keys, and wan2's peer refuses unauthenticated metadata: no session may be signalled over wan2.
        using var fabric = new PathFabric("failover", edit: text => text.Replace("wan2 { allow-unauthenticated-metadata = true }", "wan2 {}", StringComparison.Ordinal));
        var (home, _) = OpenWebSessionOnItsHomePath(fabric);
        fabric.CutWan0(true);
        fabric.RunSeconds(3);

        // The session does not move where its metadata would be refused (it would stay there for good: failover does not
        // revert); its packet is dropped for why, and it keeps its pair on the home path.
        fabric.Eng1.SendTcp(Web, 40000, 80, TcpFlags.Ack | TcpFlags.Psh, 107, 5007, "during"u8.ToArray());
        fabric.Pump();
        Assert.Equal(home.PoolId, SvrFabric.OnlySession(fabric.Br1).WaypointPool);
        Assert.Equal(0, fabric.Br1.Worker.Counters.SessionsMoved);
        Assert.Equal(1, SvrFabric.Drops(fabric.Br1, DropReason.NoPeerKeys));

        fabric.CutWan0(false);
        fabric.RunSeconds(6);
        Exchange(fabric, 107, "during");
        fabric.AssertOneWebConnectionNeverReset();
    }

    [Fact]
    public void NewSession_ItsHomePathMayNotSignalIt_OpensOnAPathThatMay_AndStaysThere()
    {
        // No path has keys, and wan's peer refuses unauthenticated metadata: sessions may be signalled over wan2 only.
        using var fabric = new PathFabric(edit: text => text.Replace("wan { allow-unauthenticated-metadata = true }", "wan {}", StringComparison.Ordinal));
        fabric.RunSeconds(2);

        // fabric trace names the path the session will take.
        var trace = PacketTracer.Trace("br1a", fabric.Br1.Snapshot, new TraceQuestion("eng1", "10.20.1.10", 40000, Web, 80, "tcp"));
        Assert.Equal(("dc1", "dc1 over wan2"), (trace.NextRouter, trace.Steps.Single(step => step.Step == "peer_path").Result));

        fabric.Eng1.SendTcp(Web, 40000, 80, TcpFlags.Syn, 100, 0, []);
        fabric.Pump();
        Assert.Equal(0, SvrFabric.Drops(fabric.Br1, DropReason.NoPeerKeys));
        Assert.Equal(fabric.Br1Wan1.PoolId, SvrFabric.OnlySession(fabric.Br1).WaypointPool);
        fabric.Eng1.SendTcp(Web, 40000, 80, TcpFlags.Ack, 101, 5001, []);
        Exchange(fabric, 101, "before");

        // Both paths are up and within quality: revertible failover calls a session home, but not to a path that may not signal it.
        fabric.RunSeconds(6);
        Exchange(fabric, 107, "after!");
        Assert.Equal(fabric.Br1Wan1.PoolId, SvrFabric.OnlySession(fabric.Br1).WaypointPool);
        Assert.Equal((0L, 0L), (fabric.Br1.Worker.Counters.SessionsMoved, SvrFabric.Drops(fabric.Br1, DropReason.NoPeerKeys)));
        fabric.AssertOneWebConnectionNeverReset();
    }

    [Fact]
    public void NewSession_NoPathMaySignalIt_RefusedAsNoPeerKeys_AndTheTraceSaysSo()
    {
        // No path has keys and neither peer takes unauthenticated metadata.
        using var fabric = new PathFabric(edit: text => text
            .Replace("wan { allow-unauthenticated-metadata = true }", "wan {}", StringComparison.Ordinal)
            .Replace("wan2 { allow-unauthenticated-metadata = true }", "wan2 {}", StringComparison.Ordinal));
        fabric.RunSeconds(2);

        var trace = PacketTracer.Trace("br1a", fabric.Br1.Snapshot, new TraceQuestion("eng1", "10.20.1.10", 40000, Web, 80, "tcp"));
        Assert.Equal(("dropped", "no_peer_keys"), (trace.Verdict, trace.Reason));
        Assert.Contains("refuses unauthenticated metadata", trace.Summary, StringComparison.Ordinal);

        fabric.Eng1.SendTcp(Web, 40000, 80, TcpFlags.Syn, 100, 0, []);
        fabric.Pump();
        Assert.Equal(1, SvrFabric.Drops(fabric.Br1, DropReason.NoPeerKeys));
        Assert.Equal(0, fabric.Br1.Worker.Sessions.Count);
    }

    [Fact]
    public void Failover_ResiliencyFailover_StaysOnBackupWhenPathReturns()
    {
        using var fabric = new PathFabric("failover");
        fabric.RunSeconds(2);
        fabric.Eng1.SendTcp(Web, 40001, 80, TcpFlags.Syn, 100, 0, []);
        fabric.Pump();
        fabric.Eng1.SendTcp(Web, 40001, 80, TcpFlags.Ack, 101, 5001, []);
        fabric.CutWan0(true);
        fabric.RunSeconds(3);
        Exchange(fabric, 101, "during", sourcePort: 40001);
        fabric.CutWan0(false);
        fabric.RunSeconds(6);
        Exchange(fabric, 107, "after!", sourcePort: 40001);

        Assert.Equal(fabric.Br1Wan1.PoolId, SvrFabric.OnlySession(fabric.Br1).WaypointPool);
        Assert.Equal(1, fabric.Br1.Worker.Counters.SessionsMoved);
    }

    [Fact]
    public void PathDown_ServiceWithoutFailover_KeepsPathAndDropsWithReason()
    {
        using var fabric = new PathFabric();
        fabric.RunSeconds(2);
        fabric.Eng1.SendUdp(Bulk, 5000, 5201, [1, 2, 3]);
        fabric.Pump();
        Assert.Single(fabric.Eng1.Received);

        fabric.CutWan0(true);
        fabric.RunSeconds(3);
        fabric.Eng1.SendUdp(Bulk, 5000, 5201, [4, 5, 6]);
        fabric.Pump();

        Assert.Single(fabric.Eng1.Received);
        Assert.Equal(1, SvrFabric.Drops(fabric.Br1, DropReason.PeerPathDown));
        Assert.Equal(fabric.Br1Wan0.PoolId, SvrFabric.OnlySession(fabric.Br1).WaypointPool);
        Assert.Equal(0, fabric.Br1.Worker.Counters.SessionsMoved);
    }

    [Fact]
    public void NewSession_PreferredPathDown_OpensOnLivePath()
    {
        using var fabric = new PathFabric();
        fabric.CutWan0(true);
        fabric.RunSeconds(3);
        fabric.Eng1.SendUdp(Bulk, 5002, 5201, [7]);
        fabric.Pump();

        Assert.Single(fabric.Eng1.Received);
        Assert.Equal(fabric.Br1Wan1.PoolId, SvrFabric.OnlySession(fabric.Br1).WaypointPool);
    }

    /// <summary>Sends a data segment from eng1 on the web connection and checks the server's echo comes back whole.</summary>
    [Fact]
    public void Failover_TwoWorkersAtDc1_EveryEstablishedSessionMovesToOtherPath_AdoptedByTheDc1WorkerHoldingIt()
    {
        // Enough sessions that dc1's fanout gives each worker some and br1's new waypoint ports name both of dc1's workers.
        const int count = 16;
        using var fabric = new PathFabric(dc1Workers: 2);
        fabric.RunSeconds(2);
        var ports = Enumerable.Range(40100, count).Select(p => (ushort)p).ToArray();
        foreach (var port in ports)
        {
            fabric.Eng1.SendTcp(Web, port, 80, TcpFlags.Syn, 100, 0, []);
            fabric.Pump();
            fabric.Eng1.SendTcp(Web, port, 80, TcpFlags.Ack, 101, 5001, []);
            Exchange(fabric, 101, "before", port);
        }

        var atDc1 = ports.ToDictionary(port => port, port => Assert.Single(ClientMobilityTests.EgressHolders(fabric.Dc1, port)));
        Assert.All(fabric.Dc1.Workers, worker => Assert.InRange(worker.Sessions.Count, 1, count - 1));

        fabric.CutWan0(true);
        fabric.RunSeconds(3);
        Assert.False(fabric.Br1Wan0.Health.IsUsable);
        foreach (var port in ports)
        {
            Exchange(fabric, 107, "during", port);
        }

        // dc1 adopted every session on the worker and instance that held it, on br1's new waypoint tuple whatever worker
        // its port names; once it answered with metadata, br1's next packets (without) reach the same worker.
        Assert.Equal(count, fabric.Br1.Worker.Counters.SessionsMoved);
        Assert.Equal(count, fabric.Dc1.Counters().SessionsMoved);
        foreach (var port in ports)
        {
            Exchange(fabric, 113, "after!", port);
        }

        Assert.Equal(count, fabric.Dc1.SessionCount);
        foreach (var port in ports)
        {
            Assert.Equal(atDc1[port], Assert.Single(ClientMobilityTests.EgressHolders(fabric.Dc1, port)));
        }

        Assert.Equal(0, fabric.Dc1.DropTotal(DropReason.WaypointNoSession));
        foreach (var host in new[] { fabric.Eng1, fabric.Web1, fabric.Web2 })
        {
            Assert.DoesNotContain(host.Received, packet => TcpFlagsOf(packet) is { } flags && (flags & TcpFlags.Rst) != 0);
        }
    }

    /// <summary>
    /// After the paths' first probes, eng1's TCP session to web (port 40000) through its handshake and one exchange (its
    /// next sequence number is 107), on br1's home path (wan0); returns br1's home and backup paths.
    /// </summary>
    private static (PeerPath Home, PeerPath Backup) OpenWebSessionOnItsHomePath(PathFabric fabric)
    {
        fabric.RunSeconds(2);
        fabric.Eng1.SendTcp(Web, 40000, 80, TcpFlags.Syn, 100, 0, []);
        fabric.Pump();
        fabric.Eng1.SendTcp(Web, 40000, 80, TcpFlags.Ack, 101, 5001, []);
        Exchange(fabric, 101, "before");
        Assert.Equal(fabric.Br1Wan0.PoolId, SvrFabric.OnlySession(fabric.Br1).WaypointPool);
        return (fabric.Br1Wan0, fabric.Br1Wan1);
    }

    private static void Exchange(PathFabric fabric, uint sequence, string text, ushort sourcePort = 40000) =>
        fabric.Eng1.AssertTcpEcho(Web, sourcePort, 80, sequence, text, fabric.Pump);

    private static bool IsUdpTo(byte[] frame, ushort port) =>
        frame.Length >= 42 && frame[23] == IpProtocol.Udp && BinaryPrimitives.ReadUInt16BigEndian(frame.AsSpan(36)) == port;

    private static bool IsTcp(byte[] frame) => frame.Length >= 34 && frame[23] == IpProtocol.Tcp;

    private static TcpFlags? TcpFlagsOf(byte[] packet) => PathFabric.TcpFlagsOf(packet);
}
