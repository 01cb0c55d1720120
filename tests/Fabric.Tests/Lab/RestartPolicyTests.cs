using Fabric.Lab;

namespace Fabric.Tests.Lab;

/// <summary>When the lab's supervisor starts an ended router again, and when it gives up.</summary>
public sealed class RestartPolicyTests
{
    private static readonly RestartPolicy Policy = RestartPolicy.Default;

    [Fact]
    public void LongRun_Ended_StartedAgainAfterTheFirstDelay_CountStartsAfresh()
    {
        var (decision, failures) = Policy.After(TimeSpan.FromMinutes(5), fastFailures: 3);

        Assert.Equal(new RestartDecision(false, TimeSpan.FromMilliseconds(200)), decision);
        Assert.Equal(0, failures);
    }

    [Fact]
    public void FastFailuresInARow_DelayDoubles_ThenGivesUp()
    {
        var delays = new List<TimeSpan>();
        var failures = 0;
        RestartDecision decision;
        do
        {
            (decision, failures) = Policy.After(TimeSpan.FromSeconds(1), failures);
            delays.Add(decision.Delay);
        }
        while (!decision.GiveUp);

        Assert.Equal([200, 400, 800, 1600, 0], delays.Select(d => d.TotalMilliseconds));
        Assert.Equal(5, failures);
    }

    [Fact]
    public void ManyFastFailuresAllowed_DelayStopsAtTheLongest()
    {
        var patient = Policy with { FastFailuresAllowed = 100 };

        Assert.Equal(patient.LongestDelay, patient.After(TimeSpan.Zero, fastFailures: 20).Decision.Delay);
    }

    [Fact]
    public void StoppedOnPurpose_ExitZero_StartedAgainAtOnce_CountStartsAfresh()
    {
        var (decision, failures) = Policy.After(TimeSpan.FromSeconds(1), fastFailures: 3, exitCode: 0);

        Assert.Equal(new RestartDecision(false, TimeSpan.Zero), decision);
        Assert.Equal(0, failures);
    }
}
