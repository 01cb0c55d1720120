using Fabric.Dataplane.LoadBalancing;

namespace Fabric.Tests.Dataplane.LoadBalancing;

/// <summary>The health check of one instance as a state machine: probes due, answers, timeouts, thresholds.</summary>
public sealed class InstanceHealthCheckTests
{
    // Ticks: interval 10, timeout 4, 2 successes bring it up, 3 failures take it down.
    private static readonly HealthCheckSettings Settings = new(Interval: 10, Timeout: 4, HealthyThreshold: 2, UnhealthyThreshold: 3);

    [Fact]
    public void New_IsUp_FirstProbeDueAtOnce()
    {
        var check = new InstanceHealthCheck(Settings, now: 100);

        Assert.True(check.IsUp);
        Assert.True(check.ProbeDue(100));
        Assert.Equal(100, check.NextDue);
    }

    [Fact]
    public void Sent_NextProbeOneIntervalOn_TimeoutDueFirst()
    {
        var check = new InstanceHealthCheck(Settings, now: 0);

        check.Sent(cookie: 7, now: 0);

        Assert.False(check.ProbeDue(9));
        Assert.True(check.ProbeDue(10));
        Assert.Equal(4, check.NextDue);
        Assert.Equal(1, check.ProbesSent);
    }

    [Fact]
    public void Refused_UnhealthyThresholdTimesInARow_GoesDownOnce()
    {
        var check = new InstanceHealthCheck(Settings, now: 0);
        var transitions = new List<HealthTransition>();

        for (var i = 0; i < 4; i++)
        {
            check.Sent(cookie: (uint)i, now: i * 10);
            transitions.Add(check.Answered((uint)i, alive: false));
        }

        Assert.Equal([HealthTransition.None, HealthTransition.None, HealthTransition.WentDown, HealthTransition.None], transitions);
        Assert.False(check.IsUp);
        Assert.Equal(1, check.Downs);
        Assert.Equal(ProbeFailure.Refused, check.LastFailure);
    }

    [Fact]
    public void Timeouts_CountAsFailures_OncePerProbe()
    {
        var check = new InstanceHealthCheck(Settings, now: 0);

        check.Sent(1, now: 0);
        Assert.Equal(HealthTransition.None, check.Expire(3));
        Assert.Equal(HealthTransition.None, check.Expire(4));
        Assert.Equal(HealthTransition.None, check.Expire(9));
        Assert.Equal(1, check.Failures);

        check.Sent(2, now: 10);
        check.Expire(14);
        check.Sent(3, now: 20);
        Assert.Equal(HealthTransition.WentDown, check.Expire(24));
        Assert.Equal(ProbeFailure.Timeout, check.LastFailure);
    }

    [Fact]
    public void A_LongPause_IsOneProbe_NotTheMissedOnes()
    {
        var check = new InstanceHealthCheck(Settings, now: 0);
        check.Sent(1, now: 0);

        // The router did not run for a thousand intervals: one probe timed out, the instance is still up.
        Assert.Equal(HealthTransition.None, check.Expire(10_000));
        Assert.True(check.ProbeDue(10_000));
        check.Sent(2, now: 10_000);
        Assert.Equal(10_010, check.NextProbe);
        Assert.True(check.IsUp);
    }

    [Fact]
    public void Down_HealthyThresholdSuccessesInARow_ComesUp()
    {
        var check = Down();

        check.Sent(10, now: 100);
        Assert.Equal(HealthTransition.None, check.Answered(10, alive: true));
        check.Sent(11, now: 110);
        Assert.Equal(HealthTransition.CameUp, check.Answered(11, alive: true));
        Assert.True(check.IsUp);
    }

    [Fact]
    public void Down_AFailureBetweenSuccesses_StartsTheCountAgain()
    {
        var check = Down();

        check.Sent(10, now: 100);
        check.Answered(10, alive: true);
        check.Sent(11, now: 110);
        check.Answered(11, alive: false);
        check.Sent(12, now: 120);
        Assert.Equal(HealthTransition.None, check.Answered(12, alive: true));
        Assert.False(check.IsUp);
    }

    [Fact]
    public void Answer_WithAnotherCookie_OrTwice_ChangesNothing()
    {
        var check = new InstanceHealthCheck(Settings, now: 0);
        check.Sent(5, now: 0);

        Assert.Equal(HealthTransition.None, check.Answered(6, alive: false));
        Assert.True(check.Outstanding);
        Assert.Equal(0, check.Failures);

        check.Answered(5, alive: true);
        check.Answered(5, alive: true);
        Assert.Equal(1, check.Successes);
        Assert.False(check.Outstanding);
    }

    [Fact]
    public void Up_SuccessesAfterFailures_ClearTheFailures()
    {
        var check = new InstanceHealthCheck(Settings, now: 0);
        check.Sent(1, now: 0);
        check.Answered(1, alive: false);
        check.Sent(2, now: 10);
        check.Answered(2, alive: false);
        check.Sent(3, now: 20);
        check.Answered(3, alive: true);
        check.Sent(4, now: 30);

        Assert.Equal(HealthTransition.None, check.Answered(4, alive: false));
        Assert.True(check.IsUp);
    }

    [Fact]
    public void Deferred_NothingCounted_NextProbeOneIntervalOn()
    {
        var check = new InstanceHealthCheck(Settings, now: 0);

        check.Deferred(0);

        Assert.Equal(10, check.NextDue);
        Assert.Equal(0, check.ProbesSent);
        Assert.True(check.IsUp);
    }

    private static InstanceHealthCheck Down()
    {
        var check = new InstanceHealthCheck(Settings, now: 0);
        for (var i = 0; i < Settings.UnhealthyThreshold; i++)
        {
            check.Sent((uint)i, now: i * 10);
            check.Answered((uint)i, alive: false);
        }

        Assert.False(check.IsUp);
        return check;
    }
}
