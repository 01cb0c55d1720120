using Fabric.Dataplane.Pipeline;

namespace Fabric.Tests.Dataplane.Pipeline;

public sealed class IcmpErrorLimiterTests
{
    private const long TicksPerSecond = 1_000_000;

    [Fact]
    public void TryTake_BurstSpent_RefusesUntilTokensComeBackAtTheRate()
    {
        var limiter = new IcmpErrorLimiter(TicksPerSecond);
        var taken = 0;
        while (limiter.TryTake(0))
        {
            taken++;
        }

        Assert.Equal(IcmpErrorLimiter.ErrorsPerSecond, taken);
        Assert.False(limiter.TryTake((TicksPerSecond / IcmpErrorLimiter.ErrorsPerSecond) - 1));
        Assert.True(limiter.TryTake(TicksPerSecond / IcmpErrorLimiter.ErrorsPerSecond));
        Assert.False(limiter.TryTake(TicksPerSecond / IcmpErrorLimiter.ErrorsPerSecond));
    }

    [Fact]
    public void TryTake_LongIdle_BurstIsCappedAtOneSecondOfErrors()
    {
        var limiter = new IcmpErrorLimiter(TicksPerSecond);
        var taken = 0;
        while (limiter.TryTake(60 * TicksPerSecond))
        {
            taken++;
        }

        Assert.Equal(IcmpErrorLimiter.ErrorsPerSecond, taken);
    }
}
