using Fabric.Tests.Support;

namespace Fabric.Tests.Lab;

/// <summary>
/// The mobility topology (hocon/lab-mobility.conf) with a bridged network apps at br1 (gateway 10.10.5.253/24, the prefix
/// of dc1's and dc2's apps, with a placeholder container so the lab makes its bridge): where mob1 lands when it moves to
/// the router its client eng1 is at.
/// </summary>
public sealed class LocalMobilityLab : IDisposable
{
    /// <summary>br1's apps network, after its hosts network.</summary>
    public const string Br1Apps = """
                apps {
                  model = bridged
                  gateways = ["10.10.5.253/24"]
                  containers {
                    spare1 { addresses = ["10.10.5.99"] }
                  }
                }

        """;

    /// <summary>The line br1's apps network's containers block starts after.</summary>
    public const string Br1AppsContainers = "            spare1 { addresses = [\"10.10.5.99\"] }\n";

    public LabRun Run { get; } = LabRun.Started("ml", Topology());

    /// <summary>The test's own programs in the lab's containers.</summary>
    public NetworkNamespaces Programs { get; } = new();

    /// <summary>hocon/lab-mobility.conf with br1's apps network.</summary>
    public static string Topology()
    {
        const string hosts = "            eng1 { addresses = [\"10.20.1.10\"], tenant = engineering }\n          }\n        }\n";
        var text = Repository.Read("hocon/lab-mobility.conf");
        var edited = text.Replace(hosts, hosts + Br1Apps.Replace("\r", "", StringComparison.Ordinal), StringComparison.Ordinal);
        Assert.NotEqual(text, edited);
        return edited;
    }

    public void Dispose()
    {
        Programs.Dispose();
        Run.Dispose();
    }
}

/// <summary>
/// Workload mobility through real router processes (docs/mobility.md "An instance moves to the client's router"): mob1
/// moves from dc1 to br1, where eng1's session to it enters the fabric, keeping its address, while eng1 streams to it;
/// dc1's redirect names br1, which makes the session a local session to mob1 without a reset.
/// </summary>
[Collection(LabCollection.Name)]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class LabLocalMobilityTests(LocalMobilityLab lab, ITestOutputHelper output) : IClassFixture<LocalMobilityLab>
{
    private readonly LabRun _run = lab.Run;

    [Fact]
    public void LongTransferToMob1_WhileMob1MovesFromDc1ToTheClientsRouterBr1_CompletesWithEveryByteIntact()
    {
        var madeLocalBefore = _run.Counters("br1a").GetProperty("sessions_made_local").GetInt64();

        InstanceMove.LongTransferCompletes(_run, lab.Programs, output, _run.NamespaceOf("mob1"), MoveMob1ToBr1, "re-plugged, committed, applied everywhere", landsAtDc2: false);

        output.WriteLine(
            $"dc1 redirects sent {_run.Counters("dc1a").GetProperty("redirects_sent").GetInt64()}, br1 sessions made local "
            + $"{_run.Counters("br1a").GetProperty("sessions_made_local").GetInt64() - madeLocalBefore}, br1 redirects refused "
            + $"{_run.Counters("br1a").GetProperty("redirects_refused").GetInt64()}, br1 returned packets sent on "
            + $"{_run.Counters("br1a").GetProperty("redirected_packets_resent").GetInt64()}");
        Assert.True(_run.Counters("br1a").GetProperty("sessions_made_local").GetInt64() > madeLocalBefore, "br1 made the session local");
        Assert.Equal(0, _run.Counters("br1a").GetProperty("session_resets").GetInt64());
        Assert.Equal(0, _run.Counters("dc2a").GetProperty("sessions").GetInt64());
    }

    /// <summary>Moves mob1 to br1's apps network (<see cref="LabMoves"/>), then commits it listed there.</summary>
    private void MoveMob1ToBr1()
    {
        LabMoves.Replug(_run, "mob1", "br1a", "10.10.5.253");
        var moved = LabMoves.Relisted(LocalMobilityLab.Topology(), "            mob1 { addresses = [\"10.10.5.10\"] }\n", LocalMobilityLab.Br1AppsContainers);
        LabMoves.Commit(_run, moved, "mob1 moves to br1", nodes: 4);
    }
}
