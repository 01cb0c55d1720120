using Fabric.Tests.Support;

namespace Fabric.Tests.Lab;

/// <summary>
/// The mobility topology with br1's apps network (<see cref="LocalMobilityLab.Topology"/>) and mob1 starting there, at the
/// router its client eng1 is at: eng1's sessions to mobile are local sessions to mob1 (br1 hosts an instance of the service).
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class LocalInstanceLeavesLab : IDisposable
{
    public LabRun Run { get; } = LabRun.Started("mr", Topology());

    /// <summary>The test's own programs in the lab's containers.</summary>
    public NetworkNamespaces Programs { get; } = new();

    /// <summary><see cref="LocalMobilityLab.Topology"/> with mob1 listed under br1's apps network instead of dc1's.</summary>
    public static string Topology() =>
        LabMoves.Relisted(LocalMobilityLab.Topology(), "            mob1 { addresses = [\"10.10.5.10\"] }\n", LocalMobilityLab.Br1AppsContainers);

    public void Dispose()
    {
        Programs.Dispose();
        Run.Dispose();
    }
}

/// <summary>
/// Workload mobility through real router processes (docs/mobility.md "A local session's instance moves away"): mob1 moves
/// from br1, where eng1's session to it is a local session, to dc1, keeping its address, while eng1 streams to it; br1
/// makes the session an SVR ingress session to dc1 pinned to mob1 (mob3, its sibling at dc1, never sees it).
/// </summary>
[Collection(LabCollection.Name)]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class LabLocalInstanceLeavesTests(LocalInstanceLeavesLab lab, ITestOutputHelper output) : IClassFixture<LocalInstanceLeavesLab>
{
    private readonly LabRun _run = lab.Run;

    [Fact]
    public void LongTransferToMob1_WhileMob1MovesFromTheClientsRouterBr1ToDc1_CompletesWithEveryByteIntact()
    {
        var madeRemoteBefore = _run.Counters("br1a").GetProperty("sessions_made_remote").GetInt64();
        var pinnedBefore = _run.Counters("dc1a").GetProperty("instance_pins_honoured").GetInt64();

        InstanceMove.LongTransferCompletes(
            _run, lab.Programs, output, _run.NamespaceOf("mob1"), MoveMob1ToDc1, "re-plugged, committed, applied everywhere", landsAtDc2: false, carriedBy: "br1a");

        output.WriteLine(
            $"br1 sessions made remote {_run.Counters("br1a").GetProperty("sessions_made_remote").GetInt64() - madeRemoteBefore}, dc1 pins honoured "
            + $"{_run.Counters("dc1a").GetProperty("instance_pins_honoured").GetInt64() - pinnedBefore}, br1 session resets "
            + $"{_run.Counters("br1a").GetProperty("session_resets").GetInt64()}");
        Assert.True(_run.Counters("br1a").GetProperty("sessions_made_remote").GetInt64() > madeRemoteBefore, "br1 made the session remote");
        Assert.True(_run.Counters("dc1a").GetProperty("instance_pins_honoured").GetInt64() > pinnedBefore, "dc1 put the session on mob1 by its pin");
        Assert.Equal(0, _run.Counters("br1a").GetProperty("session_resets").GetInt64());
    }

    /// <summary>Moves mob1 back to dc1's apps network (<see cref="LabMoves"/>), then commits it listed there.</summary>
    private void MoveMob1ToDc1()
    {
        LabMoves.Replug(_run, "mob1", "dc1a", "10.10.5.1");
        LabMoves.Commit(_run, LocalMobilityLab.Topology(), "mob1 moves to dc1", nodes: 4);
    }
}
