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

    /// <summary>The router nodes whose counters a test prints.</summary>
    public static readonly string[] Nodes = ["br1a", "dc1a", "br2a"];

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

/// <summary>One lab for a class: <see cref="TransitMobilityTopology"/>, with the conductor, named with <paramref name="prefix"/>.</summary>
public abstract class TransitMobilityLabs(string prefix) : IDisposable
{
    public LabRun Run { get; } = LabRun.Started(prefix, TransitMobilityTopology.Text());

    /// <summary>The test's own programs in the lab's containers.</summary>
    public NetworkNamespaces Programs { get; } = new();

    /// <summary>
    /// eng1's long transfer to files1 (<see cref="InstanceMove.LongTransferCompletes"/>), during which files1 moves to
    /// <paramref name="node"/>'s apps network (gateway <paramref name="gateway"/>) and is committed listed there (after
    /// <paramref name="containersAnchor"/>); the counters of br1, dc1 and br2 are printed.
    /// </summary>
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public void TransferWhileFiles1Moves(ITestOutputHelper output, string node, string gateway, string containersAnchor) =>
        InstanceMove.LongTransferCompletes(
            Run, Programs, output, Run.NamespaceOf("files1"), () => MoveFiles1(node, gateway, containersAnchor), "re-plugged, committed, applied everywhere",
            landsAtDc2: false, carriedBy: "br2a", service: "10.30.2.40", nodes: TransitMobilityTopology.Nodes);

    /// <summary>Moves files1 to <paramref name="node"/>'s apps network (<see cref="LabMoves"/>), then commits it listed there.</summary>
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    private void MoveFiles1(string node, string gateway, string containersAnchor)
    {
        LabMoves.Replug(Run, "files1", node, gateway, device: "apps");
        var moved = LabMoves.Relisted(TransitMobilityTopology.Text(), TransitMobilityTopology.Files1, containersAnchor);
        LabMoves.Commit(Run, moved, $"files1 moves to {node}", nodes: 3);
    }

    public void Dispose()
    {
        Programs.Dispose();
        Run.Dispose();
        GC.SuppressFinalize(this);
    }
}

/// <summary>The lab of <see cref="LabTransitMobilityTests"/>.</summary>
public sealed class TransitMobilityLab() : TransitMobilityLabs("xm");

/// <summary>
/// Workload mobility through a transit, real router processes (docs/mobility.md "An instance moves to a transit of its
/// session"): files1, the only instance of files, moves from br2 to dc1, the transit eng1's session to it crosses,
/// keeping its address, while eng1 streams to it. br1, binding the commit, sees that br2 no longer hosts files and dc1
/// does, and re-signals the session to dc1 as its egress (step 27); a redirect br2 sends before br1 bound the commit is
/// refused there, and one after finds the session gone from its old tuple. The redirect's relay naming the transit,
/// which a sibling left at br2 would need, is tested in memory (<c>TransitMobilityTests</c>).
/// </summary>
[Collection(LabCollection.Name)]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class LabTransitMobilityTests(TransitMobilityLab lab, ITestOutputHelper output) : IClassFixture<TransitMobilityLab>
{
    private readonly LabRun _run = lab.Run;

    [Fact]
    public void LongTransferToFiles1_WhileFiles1MovesFromBr2ToTheTransitDc1_CompletesWithEveryByteIntact()
    {
        var before = Snapshot();

        lab.TransferWhileFiles1Moves(output, "dc1a", "10.30.2.253", TransitMobilityTopology.Dc1AppsContainers);

        var after = Snapshot();
        output.WriteLine(
            $"br2 redirects sent {after.Br2Sent - before.Br2Sent}, dc1 redirects relayed {after.Dc1Relayed - before.Dc1Relayed}, "
            + $"br1 redirects followed {after.Br1Followed - before.Br1Followed}, br1 refused {after.Br1Refused - before.Br1Refused}, "
            + $"br1 returned packets sent on {after.Br1Resent - before.Br1Resent}, dc1 pins honoured {after.Dc1Pinned - before.Dc1Pinned}, "
            + $"dc1 redirects held as arriving {after.Dc1Arriving - before.Dc1Arriving}, br1 sessions moved {after.Br1Moved - before.Br1Moved}");
        Assert.True(after.Br1Moved > before.Br1Moved, "br1 moved the session to new waypoints to dc1 when it bound the commit");
        Assert.Equal(before.Br1Followed, after.Br1Followed);
        Assert.Equal(before.Br1Resets, after.Br1Resets);
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

/// <summary>The lab of <see cref="LabTransitLocalMobilityTests"/>.</summary>
public sealed class TransitLocalMobilityLab() : TransitMobilityLabs("xl");

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

        lab.TransferWhileFiles1Moves(output, "br1a", "10.30.2.252", TransitMobilityTopology.Br1AppsContainers);

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
