using Fabric.Dataplane.Svr;

namespace Fabric.Tests.Dataplane.Svr;

/// <summary>
/// A peer path graded against path-quality bounds (<see cref="PeerPathHealth.Admits"/>): broken at the first burst
/// outside a bound, admitted again only after a hold-down of good bursts. The clock ticks in milliseconds.
/// </summary>
public sealed class PathQualityGradeTests
{
    private static readonly PathQualityBounds Latency50Ms = new(MaxLatencyMicroseconds: 50_000, MaxJitterMicroseconds: -1, MaxLossBasisPoints: -1);

    private static PeerPathHealth Path()
    {
        var health = new PeerPathHealth(new PathMonitorSettings(Interval: 1_000, Multiplier: 3, HoldDown: 5_000, EchoInterval: 10_000, EchoBurst: 2), 7, ticksPerSecond: 1_000, now: 0);
        health.Require([Latency50Ms], now: 0);
        return health;
    }

    /// <summary>A burst at <paramref name="at"/> whose two echoes come back after <paramref name="rttMs"/>.</summary>
    private static void Burst(PeerPathHealth health, long at, long rttMs)
    {
        Assert.True(health.BurstDue(at));
        health.EchoReturned(health.EchoSequence(0), at, at + rttMs);
        health.EchoReturned(health.EchoSequence(1), at, at + rttMs);
    }

    [Fact]
    public void Admits_NothingMeasuredYet_AdmitsUnderEveryBound()
    {
        var health = Path();

        Assert.True(health.Admits(0, now: 1));
        Assert.True(health.Admits(-1, now: 1));
    }

    [Fact]
    public void Admits_BurstAboveLatencyBound_RefusedAtOnce_AdmittedAgainAfterHoldDownOfGoodBursts()
    {
        var health = Path();

        Burst(health, at: 10_000, rttMs: 200);
        Assert.Equal(100_000, health.LatencyMicroseconds);
        Assert.False(health.Admits(0, now: 10_200));
        Assert.True(health.Admits(-1, now: 10_200));
        Assert.True(health.IsUsable);
        Assert.Equal(1, health.QualityBreaks);

        Burst(health, at: 20_000, rttMs: 20);
        Assert.Equal(10_000, health.LatencyMicroseconds);
        Assert.False(health.Admits(0, now: 25_019));
        Assert.True(health.Admits(0, now: 25_020));
        Assert.Equal(1, health.QualityBreaks);
    }

    [Fact]
    public void Admits_BurstLost_BreaksLossBound_WhenTheNextBurstJudgesIt()
    {
        var health = new PeerPathHealth(new PathMonitorSettings(1_000, 3, 5_000, 10_000, 10), 7, 1_000, 0);
        health.Require([new PathQualityBounds(-1, -1, MaxLossBasisPoints: 2_000)], now: 0);

        Assert.True(health.BurstDue(10_000));
        for (var i = 0; i < 7; i++)
        {
            health.EchoReturned(health.EchoSequence(i), 10_000, 10_010);
        }

        Assert.True(health.Admits(0, now: 19_999));
        Assert.True(health.BurstDue(20_000));

        Assert.Equal(3_000, health.LossBasisPoints);
        Assert.False(health.Admits(0, now: 20_000));
    }

    [Fact]
    public void Require_SameBoundAgain_KeepsItsGradeAndHoldDown_NewBoundGradedOnTheLastBurst()
    {
        var health = Path();
        Burst(health, at: 10_000, rttMs: 200);
        Burst(health, at: 20_000, rttMs: 20);

        var loose = new PathQualityBounds(500_000, -1, -1);
        health.Require([loose, Latency50Ms], now: 21_000);

        Assert.True(health.Admits(0, now: 21_000));
        Assert.False(health.Admits(1, now: 25_019));
        Assert.True(health.Admits(1, now: 25_020));
    }

    [Theory]
    [InlineData(-1, -1, -1, true)]
    [InlineData(50_000, 10_000, 500, true)]
    [InlineData(50_001, 10_000, 500, false)]
    [InlineData(50_000, 10_001, 500, false)]
    [InlineData(50_000, 10_000, 501, false)]
    public void MetBy_EachFigureAgainstItsBound_UnmeasuredMeetsAny(long latency, long jitter, long loss, bool met)
    {
        var bounds = PathQualityBounds.From(new Model.PathQuality(TimeSpan.FromMilliseconds(50), TimeSpan.FromMilliseconds(10), MaxLossPercent: 5));

        Assert.Equal(new PathQualityBounds(50_000, 10_000, 500), bounds);
        Assert.Equal(met, bounds.MetBy(latency, jitter, loss));
    }
}
