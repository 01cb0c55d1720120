using System.Buffers.Binary;
using Fabric.Dataplane.Forwarding;
using Fabric.Dataplane.Pipeline;
using Fabric.Dataplane.Wire;
using Fabric.Tests.Dataplane.Routing;

namespace Fabric.Tests.Dataplane.Svr.Routers;

/// <summary>
/// Paths chosen by measured quality between br1 and dc1 joined by two WANs (<see cref="PathFabric"/>: bursts of 10
/// echoes every 10 s, 5 s hold-down). A path is degraded by losing br1's own echoes on it: it stays up (probes pass)
/// but breaks the web service's <c>max-loss</c> when the next burst judges the lost one.
/// </summary>
public sealed class PathQualityTests
{
    private const string Web = "10.200.0.80";
    private const string Quality = "path-quality { max-loss = 20 }";

    [Fact]
    public void DegradedPath_NewSessionsTakeTheOther_ResilientSessionMoves_BothComeBackAfterHoldDown()
    {
        using var fabric = new PathFabric("revertible-failover", Quality);
        fabric.RunSeconds(2);
        var wan0 = fabric.Br1Wan0;
        var wan1 = fabric.Br1Wan1;
        Open(fabric, 41000);
        Assert.Equal([1, 0], SessionsPerPath(fabric));

        // Lost from t = 2 s: the burst of t = 10 s is judged at t = 20 s.
        LoseEchoes(fabric.BrWan0, wan0);
        fabric.RunSeconds(17);
        Assert.True(wan0.Health.Admits(fabric.Br1.Snapshot.Services[WebIndex(fabric)].QualityBound, fabric.Br1.Now));
        fabric.RunSeconds(1);
        Assert.True(wan0.Health.IsUsable);
        Assert.Equal(1, wan0.Health.QualityBreaks);

        Open(fabric, 41001);
        Touch(fabric, 41000);
        Assert.Equal([0, 2], SessionsPerPath(fabric));
        Assert.Equal((1, 0, 1), Counted(wan0));
        Assert.Equal((1, 1, 0), Counted(wan1));

        // Restored at t = 20 s (that burst already lost): the burst of t = 30 s meets the bound, admitted from t = 35 s.
        fabric.BrWan0.Faults = null;
        fabric.RunSeconds(14);
        Open(fabric, 41002);
        Touch(fabric, 41000);
        Assert.Equal([0, 3], SessionsPerPath(fabric));
        fabric.RunSeconds(1);
        Open(fabric, 41003);
        Touch(fabric, 41000);
        Touch(fabric, 41001);

        Assert.Equal([3, 1], SessionsPerPath(fabric));
        Assert.Equal((2, 2, 1), Counted(wan0));
        Assert.Equal((2, 1, 2), Counted(wan1));
    }

    [Fact]
    public void DegradedPath_SessionWithoutResiliency_StaysOnIt_NewSessionsAvoidIt()
    {
        using var fabric = new PathFabric("none", Quality);
        fabric.RunSeconds(2);
        Open(fabric, 42000);
        LoseEchoes(fabric.BrWan0, fabric.Br1Wan0);
        fabric.RunSeconds(18);

        Touch(fabric, 42000);
        Open(fabric, 42001);

        Assert.Equal([1, 1], SessionsPerPath(fabric));
        Assert.Equal(0, fabric.Br1.Worker.Counters.SessionsMoved);
    }

    [Fact]
    public void EveryPathDegraded_NewSessionStillOpens_OnTheFirstPath()
    {
        using var fabric = new PathFabric("revertible-failover", Quality);
        fabric.RunSeconds(2);
        LoseEchoes(fabric.BrWan0, fabric.Br1Wan0);
        LoseEchoes(fabric.BrWan1, fabric.Br1Wan1);
        fabric.RunSeconds(18);
        Assert.Equal(1, fabric.Br1Wan1.Health.QualityBreaks);

        Open(fabric, 43000);
        Touch(fabric, 43000);

        Assert.Equal([1, 0], SessionsPerPath(fabric));
    }

    [Fact]
    public void BalanceChoice_NewSessions_SpreadOverBothPaths_AndAvoidADegradedOne()
    {
        using var fabric = new PathFabric("failover", Quality + "\n      path-choice = balance");
        fabric.RunSeconds(2);
        for (ushort port = 44000; port < 44004; port++)
        {
            Open(fabric, port);
        }

        Assert.Equal([2, 2], SessionsPerPath(fabric));

        LoseEchoes(fabric.BrWan0, fabric.Br1Wan0);
        fabric.RunSeconds(18);
        Open(fabric, 44004);
        Open(fabric, 44005);
        for (ushort port = 44000; port < 44004; port++)
        {
            Touch(fabric, port);
        }

        Assert.Equal([0, 6], SessionsPerPath(fabric));
    }

    [Fact]
    public void Config_PathQuality_ReachesTheServiceEntry_AsOneSharedBound()
    {
        using var fabric = new PathFabric("failover", Quality);

        var services = fabric.Br1.Snapshot.Services;
        Assert.Equal(0, services[WebIndex(fabric)].QualityBound);
        Assert.All(services.Where(s => s.Name != "web"), s => Assert.Equal(-1, s.QualityBound));
    }

    /// <summary>Drops the echoes of <paramref name="path"/>'s router coming back to it on <paramref name="port"/>.</summary>
    private static void LoseEchoes(WirePort port, PeerPath path)
    {
        var discriminator = path.Health.Discriminator;
        port.Faults = frame => IsUdpTo(frame, 3785) && BinaryPrimitives.ReadUInt32BigEndian(frame.AsSpan(42)) == discriminator ? [] : [frame];
    }

    /// <summary>Opens a TCP session from eng1 to web (handshake and one exchange).</summary>
    private static void Open(PathFabric fabric, ushort port)
    {
        fabric.Eng1.SendTcp(Web, port, 80, TcpFlags.Syn, 100, 0, []);
        fabric.Pump();
        fabric.Eng1.SendTcp(Web, port, 80, TcpFlags.Ack, 101, 5001, []);
        fabric.Pump();
        Touch(fabric, port);
    }

    /// <summary>A data segment on the session from <paramref name="port"/>; its echo must come back.</summary>
    private static void Touch(PathFabric fabric, ushort port)
    {
        var before = fabric.Eng1.Received.Count;
        fabric.Eng1.SendTcp(Web, port, 80, TcpFlags.Ack | TcpFlags.Psh, 101, 5001, "ping"u8.ToArray());
        fabric.Pump();
        Assert.Contains(fabric.Eng1.Received.Skip(before), packet =>
            Ipv4Packet.TryCreate(packet, out var ip) && TcpSegment.TryCreate(ip.Payload, out var tcp) && tcp.DestinationPort == port && tcp.Payload.SequenceEqual("ping"u8));
    }

    /// <summary>br1's ingress sessions on wan0 and on wan1.</summary>
    private static int[] SessionsPerPath(PathFabric fabric)
    {
        var counts = new int[2];
        var sessions = fabric.Br1.Worker.Sessions;
        for (var handle = 0; handle < sessions.Capacity; handle++)
        {
            if (sessions.IsLive(handle) && sessions.Payload(handle) is { Svr: SvrRole.Ingress } state)
            {
                counts[state.WaypointPool == fabric.Br1Wan0.PoolId ? 0 : 1]++;
            }
        }

        Assert.Equal(counts[0], fabric.Br1Wan0.Waypoints.InUse);
        Assert.Equal(counts[1], fabric.Br1Wan1.Waypoints.InUse);
        return counts;
    }

    /// <summary>A path's sessions opened, moved in and moved out.</summary>
    private static (long Opened, long MovedIn, long MovedOut) Counted(PeerPath path) =>
        (path.Health.SessionsOpened, path.Health.SessionsMovedIn, path.Health.SessionsMovedOut);

    private static int WebIndex(PathFabric fabric) => Array.FindIndex(fabric.Br1.Snapshot.Services, s => s.Name == "web");

    private static bool IsUdpTo(byte[] frame, ushort port) =>
        frame.Length >= 42 && frame[23] == IpProtocol.Udp && BinaryPrimitives.ReadUInt16BigEndian(frame.AsSpan(36)) == port;
}
