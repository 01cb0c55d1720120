using Fabric.Actors.Tenants;

namespace Fabric.Tests.Actors.Tenants;

public class TenantBudgetStateTests
{
    private const string Bulk = "bulk/engineering";
    private static readonly Dictionary<string, long> Limit = new() { [Bulk] = 1_000_000 };

    private static Dictionary<string, long> Offered(long bytes) => new() { [Bulk] = bytes };

    [Fact]
    public void Measure_DemandIsOfferedBytesOverTheWindow_AndStartsOverWhenTheCounterGoesBack()
    {
        var state = new TenantBudgetState("br1a", TenantBudgetSettings.Default);
        Assert.Equal(0, state.Measure("br1", 0, Offered(0)).Demands[Bulk]);
        Assert.Equal(2_000_000, state.Measure("br1", 250, Offered(500_000)).Demands[Bulk]);
        Assert.Equal(2_000_000, state.Measure("br1", 500, Offered(1_000_000)).Demands[Bulk]);

        // Over the last second only: at 1.5 s the first half second (1 MB) is out of the window.
        state.Measure("br1", 1000, Offered(1_500_000));
        var report = state.Measure("br1", 1500, Offered(1_500_000));
        Assert.Equal(500_000, report.Demands[Bulk]);
        Assert.Equal(("br1a", "br1", 5L), (report.Node, report.Router, report.Sequence));

        // The bucket was made anew (a recompile): its counter restarted, so does the measure.
        Assert.Equal(0, state.Measure("br1", 1750, Offered(10)).Demands[Bulk]);
        Assert.Equal(40_000, state.Measure("br1", 2000, Offered(10_010)).Demands[Bulk]);
    }

    [Fact]
    public void Shares_AloneThenWithAPeerThenThePeerGoesQuiet()
    {
        var state = new TenantBudgetState("br1a", TenantBudgetSettings.Default);
        state.Measure("br1", 0, Offered(0));
        state.Measure("br1", 250, Offered(500_000));
        Assert.Equal(1_000_000, state.Shares(250, Limit)[Bulk]);

        // br2a offers twice the limit too: half each. Its own report is nobody's peer.
        state.Heard([new TenantDemandReport("br2a", "br2", 7, Offered(2_000_000)), new TenantDemandReport("br1a", "br1", 99, Offered(0))], 250);
        Assert.Equal(500_000, state.Shares(250, Limit)[Bulk]);

        // br2a's report does not move for longer than StaleAfter (its router died): br1a has the limit to itself again.
        state.Heard([new TenantDemandReport("br2a", "br2", 7, Offered(2_000_000))], 3000);
        Assert.Equal(500_000, state.Shares(3000, Limit)[Bulk]);
        Assert.Equal(1_000_000, state.Shares(3251, Limit)[Bulk]);

        // It comes back (its sequence moves), offering 0.4 of the limit: it gets that with headroom, br1a the rest.
        state.Heard([new TenantDemandReport("br2a", "br2", 8, Offered(400_000))], 3500);
        Assert.Equal(560_000, state.Shares(3500, Limit)[Bulk]);
    }
}
