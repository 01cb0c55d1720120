using Fabric.Tests.Support;

namespace Fabric.Tests.Lab;

/// <summary>
/// The transit topology (hocon/lab-transit.conf: br1 ═ dc1 ═ br2, eng1 at br1 reaching files1 at br2 through dc1) with
/// room for files1 to move keeping its address: files admits TCP 7000–7010 beside 8080 (the lab's own listener takes
/// 7000, the test's receiver 7001), and dc1 and br1 each get a bridged network apps on files1's prefix (gateways
/// 10.30.2.253/24 and 10.30.2.252/24, each with a placeholder container so the lab makes its bridge).
/// </summary>
public static class TransitMobilityTopology
{
    /// <summary>The files1 line of br2's svc network's containers block.</summary>
    public const string Files1 = "            files1 { addresses = [\"10.30.2.40\"] }\n";

    /// <summary>The line dc1's apps network's containers block starts after.</summary>
    public const string Dc1AppsContainers = "            spare1 { addresses = [\"10.30.2.99\"] }\n";

    /// <summary>The line br1's apps network's containers block starts after.</summary>
    public const string Br1AppsContainers = "            spare2 { addresses = [\"10.30.2.98\"] }\n";

    /// <summary>hocon/lab-transit.conf with files' test ports and the apps networks at dc1 and br1.</summary>
    public static string Text()
    {
        const string web1 = "            web1 { addresses = [\"10.10.1.11\"] }\n          }\n        }\n";
        const string fin1 = "            fin1 { addresses = [\"10.20.1.30\"], tenant = finance }\n          }\n        }\n";
        var text = Repository.Read("hocon/lab-transit.conf").Replace("\r", "", StringComparison.Ordinal);
        var edited = Edited(text, "ports = [\"8080\"]", "ports = [\"8080\", \"7000-7010\"]");
        edited = Edited(edited, web1, web1 + Apps("10.30.2.253/24", Dc1AppsContainers));
        edited = Edited(edited, fin1, fin1 + Apps("10.30.2.252/24", Br1AppsContainers));
        return edited;
    }

    private static string Apps(string gateway, string placeholder) => $$"""
                apps {
                  model = bridged
                  gateways = ["{{gateway}}"]
                  containers {
        {{placeholder}}          }
                }

        """.Replace("\r", "", StringComparison.Ordinal);

    private static string Edited(string text, string anchor, string replacement)
    {
        var edited = text.Replace(anchor, replacement, StringComparison.Ordinal);
        Assert.NotEqual(text, edited);
        return edited;
    }
}

/// <summary>One lab for the class: <see cref="TransitMobilityTopology"/>, with the conductor.</summary>
public sealed class TransitMobilityLab : IDisposable
{
    public LabRun Run { get; } = LabRun.Started("xm", TransitMobilityTopology.Text());

    /// <summary>The test's own programs in the lab's containers.</summary>
    public NetworkNamespaces Programs { get; } = new();

    public void Dispose()
    {
        Programs.Dispose();
        Run.Dispose();
    }
}

/// <summary>
/// Workload mobility through a transit, real router processes (docs/mobility.md "An instance moves to a transit of its
/// session"): files1 moves from br2 to dc1, the transit eng1's session to it crosses, keeping its address, while eng1
/// streams to it. br2's redirect names dc1; dc1, hosting files1 now, relays it naming itself; br1 re-signals the session
/// to dc1 as its egress, pinned to files1.
/// </summary>
[Collection(LabCollection.Name)]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class LabTransitMobilityTests(TransitMobilityLab lab, ITestOutputHelper output) : IClassFixture<TransitMobilityLab>
{
    private static readonly string[] Nodes = ["br1a", "dc1a", "br2a"];

    private readonly LabRun _run = lab.Run;

    [Fact]
    public void LongTransferToFiles1_WhileFiles1MovesFromBr2ToTheTransitDc1_CompletesWithEveryByteIntact()
    {
        var before = Snapshot();

        InstanceMove.LongTransferCompletes(
            _run, lab.Programs, output, _run.NamespaceOf("files1"), MoveFiles1ToDc1, "re-plugged, committed, applied everywhere",
            landsAtDc2: false, carriedBy: "br2a", service: "10.30.2.40", nodes: Nodes);

        var after = Snapshot();
        output.WriteLine(
            $"br2 redirects sent {after.Br2Sent - before.Br2Sent}, dc1 redirects relayed {after.Dc1Relayed - before.Dc1Relayed}, "
            + $"br1 redirects followed {after.Br1Followed - before.Br1Followed}, br1 refused {after.Br1Refused - before.Br1Refused}, "
            + $"br1 returned packets sent on {after.Br1Resent - before.Br1Resent}, dc1 pins honoured {after.Dc1Pinned - before.Dc1Pinned}, "
            + $"dc1 redirects held as arriving {after.Dc1Arriving - before.Dc1Arriving}, br1 sessions moved {after.Br1Moved - before.Br1Moved}");
        // Two routes take the session to dc1 (docs/mobility.md steps 22-27), and the lab does not choose the order in which
        // the routers apply the commit: br2 first, the client's next segment reaches br2, which redirects it, dc1 relays the
        // redirect naming itself and br1 follows it with the pin; br1 first, it moves the session to dc1 itself when it binds
        // the commit (br2 no longer hosts files). Either way br1 moved the session once and reset nothing.
        Assert.True(after.Br1Moved > before.Br1Moved, "br1 moved the session to new waypoints (by br2's redirect or at the commit)");
        if (after.Br1Followed > before.Br1Followed)
        {
            Assert.True(after.Br2Sent > before.Br2Sent, "br2 redirected the session after files1 left");
            Assert.True(after.Dc1Relayed > before.Dc1Relayed, "dc1 relayed br2's redirect naming itself");
            Assert.True(after.Dc1Pinned > before.Dc1Pinned, "dc1 opened the session as its egress on files1 by the pin");
        }

        Assert.Equal(before.Br1Resets, after.Br1Resets);
    }

    /// <summary>Moves files1 to dc1's apps network (<see cref="LabMoves"/>), then commits it listed there.</summary>
    private void MoveFiles1ToDc1()
    {
        LabMoves.Replug(_run, "files1", "dc1a", "10.30.2.253", device: "apps");
        var moved = LabMoves.Relisted(TransitMobilityTopology.Text(), TransitMobilityTopology.Files1, TransitMobilityTopology.Dc1AppsContainers);
        LabMoves.Commit(_run, moved, "files1 moves to dc1", nodes: 3);
    }

    private Counted Snapshot()
    {
        var br1 = _run.Counters("br1a");
        var dc1 = _run.Counters("dc1a");
        return new Counted(
            _run.Counters("br2a").GetProperty("redirects_sent").GetInt64(),
            dc1.GetProperty("redirects_relayed").GetInt64(),
            dc1.GetProperty("instance_pins_honoured").GetInt64(),
            dc1.GetProperty("drops").GetProperty("InstanceArriving").GetInt64(),
            br1.GetProperty("redirects_followed").GetInt64(),
            br1.GetProperty("redirects_refused").GetInt64(),
            br1.GetProperty("redirected_packets_resent").GetInt64(),
            br1.GetProperty("session_resets").GetInt64(),
            br1.GetProperty("sessions_moved").GetInt64());
    }

    /// <summary>The counters the move shows in.</summary>
    private sealed record Counted(
        long Br2Sent, long Dc1Relayed, long Dc1Pinned, long Dc1Arriving, long Br1Followed, long Br1Refused, long Br1Resent, long Br1Resets, long Br1Moved);
}

/// <summary>One lab for the class: <see cref="TransitMobilityTopology"/>, with the conductor.</summary>
public sealed class TransitLocalMobilityLab : IDisposable
{
    public LabRun Run { get; } = LabRun.Started("xl", TransitMobilityTopology.Text());

    /// <summary>The test's own programs in the lab's containers.</summary>
    public NetworkNamespaces Programs { get; } = new();

    public void Dispose()
    {
        Programs.Dispose();
        Run.Dispose();
    }
}

/// <summary>
/// Workload mobility through a transit to the client's router, real router processes (docs/mobility.md "An instance moves
/// to the client's router", step 15): files1 moves from br2 to br1, where eng1's session to it enters the fabric, keeping
/// its address, while eng1 streams to it. br2's redirect names br1; dc1 relays it; br1 makes the session a local session
/// to files1 without a reset.
/// </summary>
[Collection(LabCollection.Name)]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class LabTransitLocalMobilityTests(TransitLocalMobilityLab lab, ITestOutputHelper output) : IClassFixture<TransitLocalMobilityLab>
{
    private readonly LabRun _run = lab.Run;

    [Fact]
    public void LongTransferToFiles1_WhileFiles1MovesFromBr2ThroughTheTransitToTheClientsRouterBr1_CompletesWithEveryByteIntact()
    {
        var (sentBefore, relayedBefore, madeLocalBefore, resetsBefore) = Snapshot();

        InstanceMove.LongTransferCompletes(
            _run, lab.Programs, output, _run.NamespaceOf("files1"), MoveFiles1ToBr1, "re-plugged, committed, applied everywhere",
            landsAtDc2: false, carriedBy: "br2a", service: "10.30.2.40", nodes: ["br1a", "dc1a", "br2a"]);

        var (sent, relayed, madeLocal, resets) = Snapshot();
        output.WriteLine(
            $"br2 redirects sent {sent - sentBefore}, dc1 redirects relayed {relayed - relayedBefore}, br1 sessions made local {madeLocal - madeLocalBefore}, "
            + $"br1 returned packets sent on {_run.Counters("br1a").GetProperty("redirected_packets_resent").GetInt64()}, "
            + $"br1 redirects refused {_run.Counters("br1a").GetProperty("redirects_refused").GetInt64()}");
        Assert.True(sent > sentBefore, "br2 redirected the session after files1 left");
        Assert.True(relayed > relayedBefore, "dc1 relayed br2's redirect naming br1");
        Assert.True(madeLocal > madeLocalBefore, "br1 made the session local");
        Assert.Equal(resetsBefore, resets);
    }

    /// <summary>Moves files1 to br1's apps network (<see cref="LabMoves"/>), then commits it listed there.</summary>
    private void MoveFiles1ToBr1()
    {
        LabMoves.Replug(_run, "files1", "br1a", "10.30.2.252", device: "apps");
        var moved = LabMoves.Relisted(TransitMobilityTopology.Text(), TransitMobilityTopology.Files1, TransitMobilityTopology.Br1AppsContainers);
        LabMoves.Commit(_run, moved, "files1 moves to br1", nodes: 3);
    }

    private (long Br2Sent, long Dc1Relayed, long Br1MadeLocal, long Br1Resets) Snapshot()
    {
        var br1 = _run.Counters("br1a");
        return (
            _run.Counters("br2a").GetProperty("redirects_sent").GetInt64(),
            _run.Counters("dc1a").GetProperty("redirects_relayed").GetInt64(),
            br1.GetProperty("sessions_made_local").GetInt64(),
            br1.GetProperty("session_resets").GetInt64());
    }
}
