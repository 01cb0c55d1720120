using Fabric.Actors.Tenants;
using FsCheck.Xunit;

namespace Fabric.Tests.Actors.Tenants;

public class TenantBudgetSharesTests
{
    private const double Headroom = 0.1;
    private const double IdleFloor = 0.05;

    [Fact]
    public void Divide_Alone_GetsTheWholeLimit()
    {
        Assert.Equal([1_000_000L], TenantBudgetShares.Divide(1_000_000, [0], Headroom, IdleFloor));
        Assert.Equal([1_000_000L], TenantBudgetShares.Divide(1_000_000, [5_000_000], Headroom, IdleFloor));
    }

    [Fact]
    public void Divide_TwoNodesBothAboveTheLimit_SplitEvenly()
    {
        Assert.Equal([500_000L, 500_000L], TenantBudgetShares.Divide(1_000_000, [2_000_000, 2_000_000], Headroom, IdleFloor));
    }

    [Fact]
    public void Divide_SmallDemand_GetsItWithHeadroom_TheRestGoesToTheBigOne()
    {
        // 0.4 of the limit wants 0.44 with 10 % headroom; the node offering 3× the limit gets the other 0.56.
        Assert.Equal([560_000L, 440_000L], TenantBudgetShares.Divide(1_000_000, [3_000_000, 400_000], Headroom, IdleFloor));
    }

    [Fact]
    public void Divide_IdleNodes_KeepOnlyTheFloorBetweenThem()
    {
        var shares = TenantBudgetShares.Divide(1_000_000, [2_000_000, 0, 0, 0, 0], Headroom, IdleFloor);
        Assert.Equal([960_000L, 10_000L, 10_000L, 10_000L, 10_000L], shares);
    }

    [Fact]
    public void Divide_LittleDemandEverywhere_SpreadsWhatIsLeft()
    {
        // Both want 110 000 (demand plus headroom); the 780 000 nobody wants is split evenly.
        Assert.Equal([500_000L, 500_000L], TenantBudgetShares.Divide(1_000_000, [100_000, 100_000], Headroom, IdleFloor));
        // An idle node wants the floor (25 000), the other 220 000; each gets half of the 755 000 left on top.
        Assert.Equal([402_500L, 597_500L], TenantBudgetShares.Divide(1_000_000, [0, 200_000], Headroom, IdleFloor));
    }

    /// <summary>Shares add up to the limit and never exceed it; an equal share or less is met; whoever is cut short gets the most (less rounding).</summary>
    [Property(MaxTest = 1000)]
    public bool Divide_AnyDemands_IsMaxMinFairAndAddsUpToTheLimit(int seed)
    {
        var random = new Random(seed);
        long limit = random.Next(1, 3) == 1 ? random.Next(1, 100) : random.NextInt64(1, 10_000_000_000);
        var demands = new long[random.Next(1, 9)];
        for (var i = 0; i < demands.Length; i++)
        {
            demands[i] = random.Next(4) switch
            {
                0 => 0,
                1 => random.NextInt64(0, Math.Max(1, limit / demands.Length)),
                2 => random.NextInt64(0, limit + 1),
                _ => random.NextInt64(limit, (limit * 4) + 1),
            };
        }

        var shares = TenantBudgetShares.Divide(limit, demands, Headroom, IdleFloor);
        if (shares.Sum() != limit || shares.Any(s => s < 0 || s > limit))
        {
            return false;
        }

        if (demands.Length == 1)
        {
            return shares[0] == limit;
        }

        var max = shares.Max();
        for (var i = 0; i < demands.Length; i++)
        {
            var wants = Math.Min(limit, demands[i] + (long)Math.Ceiling(demands[i] * Headroom));
            // Demanding no more than an equal share: its demand (and its headroom when that fits too).
            if (wants <= limit / demands.Length && shares[i] < wants)
            {
                return false;
            }

            // Cut short: nobody gets more than it (less one byte of rounding).
            if (shares[i] < wants && shares[i] < max - 1)
            {
                return false;
            }
        }

        return true;
    }
}
