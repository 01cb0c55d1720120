using Fabric.Bench;
using Fabric.Dataplane.LoadBalancing;
using Fabric.Model;
using FsCheck.Xunit;
using Fabric.Tests.Support;

namespace Fabric.Tests.Dataplane.LoadBalancing;

[Collection(AllocationMeasurement.Name)]
public class LoadBalancerTests
{
    private const LoadBalancingStrategy Hunt = LoadBalancingStrategy.Hunt;
    private const LoadBalancingStrategy Proportional = LoadBalancingStrategy.Proportional;

    [Fact]
    public void Hunt_FillsCheapestUntilFull_ThenNext()
    {
        // Instance 1 is cheapest, then 2 and 0 (tied on cost; 0 wins by index).
        var set = new InstanceSet([20, 10, 20], [2, 3, 1]);
        var load = new InstanceLoad(3);

        var picks = new List<int>();
        int pick;
        while ((pick = LoadBalancer.Pick(set, load, Hunt, 0)) >= 0)
        {
            picks.Add(pick);
            load.OnSessionStart(pick);
        }

        Assert.Equal([1, 1, 1, 0, 0, 2], picks);
        load.OnSessionEnd(1);
        Assert.Equal(1, LoadBalancer.Pick(set, load, Hunt, 0));
    }

    [Fact]
    public void Hunt_CheapestDown_SkipsIt()
    {
        var set = new InstanceSet([10, 20], [0, 0]);
        var load = new InstanceLoad(2);
        Assert.Equal(0, LoadBalancer.Pick(set, load, Hunt, 0));

        load.SetHealth([InstanceHealth.Down, InstanceHealth.Up]);
        Assert.Equal(1, LoadBalancer.Pick(set, load, Hunt, 0));

        load.SetHealth([InstanceHealth.Up, InstanceHealth.Up]);
        Assert.Equal(0, LoadBalancer.Pick(set, load, Hunt, 0));
    }

    [Fact]
    public void Pick_AllDownOrFull_ReturnsMinusOne()
    {
        var set = new InstanceSet([10, 20], [1, 0]);
        var load = new InstanceLoad(2);
        load.OnSessionStart(0);
        load.SetHealth([InstanceHealth.Up, InstanceHealth.Down]);

        Assert.Equal(-1, LoadBalancer.Pick(set, load, Hunt, 0));
        Assert.Equal(-1, LoadBalancer.Pick(set, load, Proportional, 0));
        Assert.Equal(-1, LoadBalancer.Pick(new InstanceSet([], []), new InstanceLoad(0), Proportional, 0));
    }

    [Fact]
    public void Pick_RemoteLoadReported_CountsTowardFull()
    {
        var set = new InstanceSet([10, 20], [5, 5]);
        var load = new InstanceLoad(2);
        load.OnSessionStart(0);
        load.ReportRemoteLoad(0, 4);

        Assert.Equal(5, load.Sessions(0));
        Assert.Equal(1, LoadBalancer.Pick(set, load, Hunt, 0));

        load.ReportRemoteLoad(0, 0);
        Assert.Equal(0, LoadBalancer.Pick(set, load, Hunt, 0));
    }

    [Fact]
    public void Proportional_EqualCapacities_SpreadsEvenly()
    {
        var counts = PickMany(new InstanceSet([0, 0, 0, 0], [1_000_000, 1_000_000, 1_000_000, 1_000_000]), new InstanceLoad(4), 40_000);

        foreach (var count in counts)
        {
            Assert.InRange(count, 9_600, 10_400);
        }
    }

    [Fact]
    public void Proportional_CapacitiesOneToThree_PicksOneToThree()
    {
        var counts = PickMany(new InstanceSet([0, 0], [100_000, 300_000]), new InstanceLoad(2), 40_000);

        Assert.InRange(counts[1] / (double)counts[0], 2.85, 3.15);
    }

    [Fact]
    public void Proportional_SessionsHeld_FillsInstancesInStep()
    {
        // Sessions held (never ended): remaining capacity steers picks so that both fill together.
        var set = new InstanceSet([0, 0], [100, 300]);
        var load = new InstanceLoad(2);
        var random = new Random(7);
        for (var i = 0; i < 200; i++)
        {
            load.OnSessionStart(LoadBalancer.Pick(set, load, Proportional, NextBits(random)));
        }

        Assert.InRange(load.Sessions(0), 40, 60);
        for (var i = 0; i < 200; i++)
        {
            load.OnSessionStart(LoadBalancer.Pick(set, load, Proportional, NextBits(random)));
        }

        Assert.Equal(100, load.Sessions(0));
        Assert.Equal(300, load.Sessions(1));
        Assert.Equal(-1, LoadBalancer.Pick(set, load, Proportional, NextBits(random)));
    }

    [Fact]
    public void Proportional_UnequalRemainingCapacity_FavoursTheEmptier()
    {
        // Equal capacities, but 90 of instance 0's 100 slots are taken: remaining 10 against 100.
        var load = new InstanceLoad(2);
        for (var i = 0; i < 90; i++)
        {
            load.OnSessionStart(0);
        }

        var counts = PickMany(new InstanceSet([0, 0], [100, 100]), load, 22_000);

        Assert.InRange(counts[1] / (double)counts[0], 9.0, 11.0);
    }

    [Fact]
    public void Proportional_Weights_ScaleShares()
    {
        var load = new InstanceLoad(2);
        load.SetHealth([new InstanceHealth(true, 1), new InstanceHealth(true, 4)]);

        var counts = PickMany(new InstanceSet([0, 0], [1_000_000, 1_000_000]), load, 40_000);

        Assert.InRange(counts[1] / (double)counts[0], 3.8, 4.2);
    }

    [Fact]
    public void Proportional_UnlimitedCapacity_PicksLeastConnectionsByWeight()
    {
        var set = new InstanceSet([0, 0, 0], [0, 0, 0]);
        var load = new InstanceLoad(3);
        load.SetHealth([new InstanceHealth(true, 1), new InstanceHealth(true, 2), new InstanceHealth(true, 1)]);
        var random = new Random(3);
        for (var i = 0; i < 400; i++)
        {
            load.OnSessionStart(LoadBalancer.Pick(set, load, Proportional, NextBits(random)));
        }

        Assert.Equal(100, load.Sessions(0));
        Assert.Equal(200, load.Sessions(1));
        Assert.Equal(100, load.Sessions(2));
    }

    [Fact]
    public void Proportional_LeastConnectionsTies_BrokenByRandomBits()
    {
        var set = new InstanceSet([0, 0, 0], [0, 0, 0]);
        var counts = PickMany(set, new InstanceLoad(3), 30_000);

        foreach (var count in counts)
        {
            Assert.InRange(count, 9_500, 10_500);
        }
    }

    [Property(MaxTest = 500)]
    public bool Pick_RandomInstancesAndLoads_ReturnsAnEligibleInstanceOrNoneExists(
        (byte Cost, byte Capacity, byte Sessions, byte Remote, bool Up, byte Weight)[] instances, ulong randomBits, bool hunt)
    {
        instances ??= [];
        var costs = instances.Select(x => (int)x.Cost).ToArray();
        var capacities = instances.Select(x => x.Capacity % 8).ToArray();
        var set = new InstanceSet(costs, capacities);
        var load = new InstanceLoad(instances.Length);
        for (var i = 0; i < instances.Length; i++)
        {
            for (var s = 0; s < instances[i].Sessions % 8; s++)
            {
                load.OnSessionStart(i);
            }

            load.ReportRemoteLoad(i, instances[i].Remote % 4);
        }

        load.SetHealth(instances.Select(x => new InstanceHealth(x.Up, x.Weight)).ToArray());
        bool Eligible(int i) => instances[i].Up && (capacities[i] == 0 || load.Sessions(i) < capacities[i]);

        var pick = LoadBalancer.Pick(set, load, hunt ? Hunt : Proportional, randomBits);
        if (pick < 0)
        {
            return !Enumerable.Range(0, instances.Length).Any(Eligible);
        }

        if (!Eligible(pick))
        {
            return false;
        }

        // Hunt: nothing eligible is cheaper, nor as cheap at a lower index.
        return !hunt || !Enumerable.Range(0, instances.Length)
            .Any(i => Eligible(i) && (costs[i] < costs[pick] || (costs[i] == costs[pick] && i < pick)));
    }

    [Fact]
    public void Pick_BothStrategies_AllocatesNothing()
    {
        var capped = new InstanceSet([3, 1, 2, 1], [100, 200, 300, 400]);
        var unlimited = new InstanceSet([3, 1, 2, 1], [0, 0, 0, 0]);
        var load = new InstanceLoad(4);
        var picked = 0L;
        LoadBalancer.Pick(capped, load, Proportional, 1);
        LoadBalancer.Pick(unlimited, load, Proportional, 1);
        LoadBalancer.Pick(capped, load, Hunt, 1);

        var allocated = ThreadAllocations.During(() =>
        {
            for (var i = 0UL; i < 10_000; i++)
            {
                var bits = i * 0x9E3779B97F4A7C15UL;
                picked += LoadBalancer.Pick(capped, load, Proportional, bits);
                picked += LoadBalancer.Pick(unlimited, load, Proportional, bits);
                picked += LoadBalancer.Pick(capped, load, Hunt, bits);
            }
        });

        Assert.Equal(0, allocated);
        Assert.True(picked > 10_000);
    }

    /// <summary>Picks <paramref name="picks"/> times without holding sessions and counts where each went.</summary>
    private static int[] PickMany(InstanceSet set, InstanceLoad load, int picks)
    {
        var random = new Random(12345);
        var counts = new int[set.Count];
        for (var i = 0; i < picks; i++)
        {
            counts[LoadBalancer.Pick(set, load, Proportional, NextBits(random))]++;
        }

        return counts;
    }

    private static ulong NextBits(Random random) => (ulong)random.NextInt64() ^ ((ulong)random.Next(2) << 63);
}
