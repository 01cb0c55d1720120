using Fabric.Tests.Support;

namespace Fabric.Tests.Lab;

/// <summary>One lab for the class: the shipped transit topology (hocon/lab-transit.conf).</summary>
public sealed class TransitLab : IDisposable
{
    public LabRun Run { get; } = LabRun.Started("x", Repository.Read("hocon/lab-transit.conf"));

    public void Dispose() => Run.Dispose();
}

/// <summary>
/// Transit through a real router process: br1 (neighbourhood west) and br2 (east) share no neighbourhood, so their
/// sessions to each other go through dc1, which is on both; nothing in the topology says transit.
/// </summary>
[Collection(LabCollection.Name)]
public sealed class LabTransitTests(TransitLab lab) : IClassFixture<TransitLab>
{
    /// <summary>The routers' WAN addresses on each neighbourhood's bridge.</summary>
    private static readonly string[] West = ["172.16.1.1", "172.16.1.2"];
    private static readonly string[] East = ["172.16.2.1", "172.16.2.2"];

    private readonly LabRun _run = lab.Run;

    [Fact]
    public void Verify_EveryCellAgreesWithThePolicy_AcrossTheTransit()
    {
        var verify = _run.Verify();

        Assert.True(verify.Succeeded, verify.ToString());
        Assert.Matches(@"\d+ correct, 0 wrong\n$", verify.Output);
    }

    [Fact]
    public void BranchToBranch_PlainAndSealed_CrossBothHops_WithSvrOnEachWire()
    {
        List<byte[]> west, east;
        using (var westCapture = WireCapture.Start(_run, "west"))
        using (var eastCapture = WireCapture.Start(_run, "east"))
        {
            // eng1 (br1) to files at br2; fin2 (br2) to ledger at br1, sealed on each hop; eng2 (br2) to web at dc1.
            var files = _run.Exec("eng1", "curl", "-s", "-m", "5", "http://10.30.2.40:8080/");
            Assert.True(files.Succeeded, files.ToString());
            Assert.Equal("files1", files.Output.Trim());
            var ledger = _run.Exec("fin2", "timeout", "5", "bash", "-c", "cat </dev/tcp/10.20.2.50/5432");
            Assert.True(ledger.Succeeded, ledger.ToString());
            Assert.Equal("ledger1", ledger.Output.Trim());

            west = westCapture.Stop();
            east = eastCapture.Stop();
        }

        // Both sessions cross both wires, each hop between that wire's waypoints only.
        WireCapture.AssertSvrOnly(west, West, sessionDirections: 4);
        WireCapture.AssertSvrOnly(east, East, sessionDirections: 4);
    }
}
