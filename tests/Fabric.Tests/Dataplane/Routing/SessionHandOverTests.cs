using Fabric.Dataplane.Pipeline;
using Fabric.Dataplane.Routing;
using Fabric.Dataplane.Sessions;
using Fabric.Dataplane.Wire;
using Fabric.Tests.Dataplane.HighAvailability;
using Fabric.Tests.Dataplane.Svr.Routers;

namespace Fabric.Tests.Dataplane.Routing;

/// <summary>
/// A router process restarting in memory (docs/sessions.md "Restarts"): the stopping engine hands every live session
/// over (<see cref="ForwardingEngine.StopForHandOver"/>), through the one serialized form, to a new engine on the same
/// ports before it forwards (<see cref="ForwardingEngine.TakeHandOver"/>); a mid-flow TCP packet then goes on as before.
/// </summary>
public sealed class SessionHandOverTests
{
    private const string Bulk = SessionReplicationTests.Bulk;

    /// <summary>As the next process gets them: through <see cref="SessionRecords"/>.</summary>
    private static SessionHandOver Carried(SessionHandOver handOver) =>
        handOver with { Shards = [.. handOver.Shards.Select(shard => SessionRecords.Deserialize(SessionRecords.Serialize(shard)))] };

    /// <summary>A mid-flow packet from eng1; true when its echo came back (bulk echoes what it gets).</summary>
    private static bool MidFlowPacketEchoed(SvrFabric fabric)
    {
        var before = fabric.Eng1.Received.Count;
        fabric.Eng1.SendTcp(Bulk, 40000, 5201, TcpFlags.Ack | TcpFlags.Psh, 107, 5007, "three"u8.ToArray());
        fabric.Pump();
        return fabric.Eng1.Received.Skip(before).Any(frame => SvrFabricTests.TcpPayload(frame).AsSpan().SequenceEqual("three"u8));
    }

    [Theory]
    [InlineData("br1")]
    [InlineData("dc1")]
    public void RouterRestarted_SessionsHandedOver_MidFlowPacketForwardedNeitherDroppedNorReset(string router)
    {
        using var fabric = new SvrFabric();
        SessionReplicationTests.Establish(fabric);
        var stopping = router == "br1" ? fabric.Br1 : fabric.Dc1;
        var handOver = Carried(stopping.StopForHandOver());

        if (router == "br1")
        {
            fabric.RestartBr1();
        }
        else
        {
            fabric.RestartDc1();
        }

        var started = router == "br1" ? fabric.Br1 : fabric.Dc1;
        Assert.Equal(new SessionImportResult(1, 0, 0), started.TakeHandOver(handOver));
        Assert.True(MidFlowPacketEchoed(fabric));
        Assert.Equal(0, started.Worker.Counters.SessionsCreated);
        Assert.Equal(0, started.DropTotal(DropReason.NoHandshake));
    }

    [Fact]
    public void RouterRestarted_NothingHandedOver_MidFlowPacketMeetsTransportStateEnforcement()
    {
        using var fabric = new SvrFabric();
        SessionReplicationTests.Establish(fabric);

        fabric.RestartBr1();

        Assert.False(MidFlowPacketEchoed(fabric));
        Assert.Equal(1, fabric.Br1.DropTotal(DropReason.NoHandshake));
    }

    [Fact]
    public void HandOver_RunningEngine_Refused()
    {
        using var fabric = new SvrFabric();
        SessionReplicationTests.Establish(fabric);
        var handOver = fabric.Br1.StopForHandOver();
        fabric.RestartBr1();
        fabric.Br1.Start();

        Assert.Throws<InvalidOperationException>(() => fabric.Br1.TakeHandOver(handOver));
    }
}
