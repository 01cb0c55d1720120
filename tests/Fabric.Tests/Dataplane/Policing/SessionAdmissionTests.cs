using Fabric.Dataplane.Policing;
using Fabric.Model;
using FsCheck.Xunit;

namespace Fabric.Tests.Dataplane.Policing;

public class SessionAdmissionTests
{
    private const long TicksPerSecond = 1_000_000_000;

    [Fact]
    public void SessionAdmission_WaterMarks_RefuseFromHighUntilBelowLow()
    {
        // Max 10, high 90 %, low 50 %: the 9th session is the last until fewer than 5 are active.
        var admission = new SessionAdmission(maxSessions: 10, highWaterPercent: 90, lowWaterPercent: 50, sessionRate: 0, TicksPerSecond, 0);

        for (var i = 1; i <= 9; i++)
        {
            Assert.Equal(AdmissionVerdict.Admitted, admission.TryAdmit(0));
            Assert.Equal(i, admission.Active);
            Assert.Equal(i == 9, admission.IsRefusing);
        }

        Assert.Equal(AdmissionVerdict.SessionLimit, admission.TryAdmit(0));
        var releasedTo = new List<(int Active, AdmissionVerdict Verdict)>();
        while (admission.Active > 4)
        {
            admission.Release();
            var verdict = admission.TryAdmit(0);
            if (verdict == AdmissionVerdict.Admitted)
            {
                admission.Release();
            }

            releasedTo.Add((admission.Active, verdict));
        }

        Assert.Equal(
            [
                (8, AdmissionVerdict.SessionLimit), (7, AdmissionVerdict.SessionLimit), (6, AdmissionVerdict.SessionLimit),
                (5, AdmissionVerdict.SessionLimit), (4, AdmissionVerdict.Admitted),
            ],
            releasedTo);
        Assert.False(admission.IsRefusing);
    }

    [Fact]
    public void SessionAdmission_RefusingAgainAfterResume_NeedsHighWaterAgain()
    {
        var admission = new SessionAdmission(10, 90, 50, 0, TicksPerSecond, 0);
        for (var i = 0; i < 9; i++)
        {
            admission.TryAdmit(0);
        }

        for (var i = 0; i < 5; i++)
        {
            admission.Release();
        }

        // 4 active, taking sessions again: 5 more bring it back to 9, the high water mark.
        for (var i = 0; i < 5; i++)
        {
            Assert.Equal(AdmissionVerdict.Admitted, admission.TryAdmit(0));
        }

        Assert.Equal(AdmissionVerdict.SessionLimit, admission.TryAdmit(0));
        Assert.Equal(9, admission.Active);
    }

    [Fact]
    public void SessionAdmission_FullHighWater_StopsAtMax()
    {
        var admission = new SessionAdmission(3, 100, 100, 0, TicksPerSecond, 0);

        Assert.Equal(AdmissionVerdict.Admitted, admission.TryAdmit(0));
        Assert.Equal(AdmissionVerdict.Admitted, admission.TryAdmit(0));
        Assert.Equal(AdmissionVerdict.Admitted, admission.TryAdmit(0));
        Assert.Equal(AdmissionVerdict.SessionLimit, admission.TryAdmit(0));
        admission.Release();
        Assert.Equal(AdmissionVerdict.Admitted, admission.TryAdmit(0));
    }

    [Fact]
    public void SessionAdmission_NoCap_CountsButNeverRefuses()
    {
        var admission = SessionAdmission.From(ServicePolicy.Default, 0, TicksPerSecond);

        for (var i = 0; i < 10_000; i++)
        {
            Assert.Equal(AdmissionVerdict.Admitted, admission.TryAdmit(0));
        }

        Assert.Equal(10_000, admission.Active);
    }

    [Fact]
    public void SessionAdmission_SessionRate_BurstThenRatePerSecond()
    {
        var admission = SessionAdmission.From(ServicePolicy.Default with { SessionRate = 5 }, 0, TicksPerSecond);

        for (var i = 0; i < 5; i++)
        {
            Assert.Equal(AdmissionVerdict.Admitted, admission.TryAdmit(0));
        }

        Assert.Equal(AdmissionVerdict.SessionRateLimited, admission.TryAdmit(0));
        Assert.Equal(AdmissionVerdict.SessionRateLimited, admission.TryAdmit(199_999_999));
        Assert.Equal(AdmissionVerdict.Admitted, admission.TryAdmit(200_000_000));
        Assert.Equal(AdmissionVerdict.SessionRateLimited, admission.TryAdmit(200_000_000));

        // Over ten seconds at a steady offer, 5 per second plus the first burst.
        var admitted = 0;
        for (long now = 200_000_000; now <= 10 * TicksPerSecond; now += 1_000_000)
        {
            admitted += admission.TryAdmit(now) == AdmissionVerdict.Admitted ? 1 : 0;
        }

        Assert.Equal(49, admitted);
    }

    [Fact]
    public void SessionAdmission_AtLimit_SpendsNoRateToken()
    {
        var admission = new SessionAdmission(1, 100, 0, 1, TicksPerSecond, 0);
        Assert.Equal(AdmissionVerdict.Admitted, admission.TryAdmit(0));
        admission.Release();
        Assert.Equal(AdmissionVerdict.SessionRateLimited, admission.TryAdmit(0));

        Assert.Equal(AdmissionVerdict.Admitted, admission.TryAdmit(TicksPerSecond));
        Assert.Equal(AdmissionVerdict.SessionLimit, admission.TryAdmit(2 * TicksPerSecond));
        admission.Release();
        Assert.Equal(AdmissionVerdict.Admitted, admission.TryAdmit(2 * TicksPerSecond));
    }

    [Fact]
    public void SessionAdmission_ReleaseWithoutAdmission_Throws()
    {
        var admission = new SessionAdmission(10, 90, 80, 0, TicksPerSecond, 0);

        Assert.Throws<InvalidOperationException>(admission.Release);
    }

    /// <summary>Random admit/release sequences against a model of the water-mark rule.</summary>
    [Property(MaxTest = 300)]
    public bool SessionAdmission_RandomSequence_MatchesWaterMarkModel(byte maxSeed, byte highSeed, byte lowSeed, bool[] admits)
    {
        admits ??= [];
        var max = 1 + (maxSeed % 40);
        var high = highSeed % 101;
        var low = Math.Min(high, lowSeed % 101);
        var admission = new SessionAdmission(max, high, low, 0, TicksPerSecond, 0);
        var active = 0;
        var refusing = false;
        foreach (var admit in admits)
        {
            if (admit)
            {
                var expected = !refusing && active < max;
                if ((admission.TryAdmit(0) == AdmissionVerdict.Admitted) != expected)
                {
                    return false;
                }

                if (expected)
                {
                    active++;
                    refusing = active * 100 >= max * high;
                }
            }
            else if (active > 0)
            {
                admission.Release();
                active--;
                refusing = refusing && active > 0 && active * 100 >= max * low;
            }

            if (admission.Active != active || admission.IsRefusing != refusing)
            {
                return false;
            }
        }

        return true;
    }

    [Fact]
    public void SessionAdmission_TwoThreads_NeverExceedMax()
    {
        var admission = new SessionAdmission(100, 100, 50, 0, TicksPerSecond, 0);
        var peak = new int[2];
        using var ready = new Barrier(2);

        void Worker(object? state)
        {
            var index = (int)state!;
            var held = 0;
            ready.SignalAndWait();
            for (var i = 0; i < 200_000; i++)
            {
                if (held < 80 && admission.TryAdmit(0) == AdmissionVerdict.Admitted)
                {
                    held++;
                    peak[index] = Math.Max(peak[index], admission.Active);
                }
                else if (held > 0)
                {
                    admission.Release();
                    held--;
                }
            }

            for (; held > 0; held--)
            {
                admission.Release();
            }
        }

        var threads = new[] { new Thread(Worker), new Thread(Worker) };
        threads[0].Start(0);
        threads[1].Start(1);
        foreach (var thread in threads)
        {
            thread.Join();
        }

        Assert.Equal(0, admission.Active);
        Assert.True(Math.Max(peak[0], peak[1]) <= 100);
        Assert.False(admission.IsRefusing);
    }

    [Fact]
    public void ANewPolicysCap_CountsTheSessionsAdmittedBefore_TheyGiveTheirPlaceBackWhenTheyEnd()
    {
        // The service had a cap of 10 and 3 sessions; a commit gives it a cap of 4 (a new admission over the same sessions).
        var before = new SessionAdmission(10, 100, 100, 0, TicksPerSecond, 0);
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(AdmissionVerdict.Admitted, before.TryAdmit(0));
        }

        var after = new SessionAdmission(4, 100, 100, 0, TicksPerSecond, 0, before.Sessions);
        Assert.Equal(3, after.Active);
        Assert.Equal(AdmissionVerdict.Admitted, after.TryAdmit(0));
        Assert.Equal(AdmissionVerdict.SessionLimit, after.TryAdmit(0));

        // A session of before ends: its place goes back to the service, and the new policy takes one more.
        before.Release();
        Assert.Equal(AdmissionVerdict.Admitted, after.TryAdmit(0));
        Assert.Equal((2, 2, 4), (before.Holding, after.Holding, after.Active));
        Assert.Equal(AdmissionVerdict.SessionLimit, after.TryAdmit(0));
    }

    [Fact]
    public void ARaisedCap_AdmitsAtOnce_ThoughTheServiceRefusedUnderTheOldWaterMarks()
    {
        // Cap 4, resume below 50 %: the 4th session marks the service refusing until fewer than 2 are active.
        var before = new SessionAdmission(4, 100, 50, 0, TicksPerSecond, 0);
        for (var i = 0; i < 4; i++)
        {
            before.TryAdmit(0);
        }

        before.Release();
        Assert.True(before.IsRefusing);
        Assert.Equal(AdmissionVerdict.SessionLimit, before.TryAdmit(0));

        // The operator raised the cap to 10: the new policy does not wait for the old low water mark.
        var raised = new SessionAdmission(10, 100, 50, 0, TicksPerSecond, 0, before.Sessions);
        Assert.False(raised.IsRefusing);
        Assert.Equal(AdmissionVerdict.Admitted, raised.TryAdmit(0));
        Assert.Equal(4, raised.Active);

        // The same when the raised cap's low water mark falls at the same count as the old one's (8 × 25 % = 4 × 50 %).
        var again = new SessionAdmission(4, 100, 50, 0, TicksPerSecond, 0);
        for (var i = 0; i < 4; i++)
        {
            again.TryAdmit(0);
        }

        var doubled = new SessionAdmission(8, 100, 25, 0, TicksPerSecond, 0, again.Sessions);
        Assert.True(again.IsRefusing);
        Assert.False(doubled.IsRefusing);
        Assert.Equal(AdmissionVerdict.Admitted, doubled.TryAdmit(0));
    }

    [Fact]
    public void ALoweredCap_RefusesUntilBelowItsOwnLowWaterMark_WhoeverReleases()
    {
        var before = new SessionAdmission(10, 100, 100, 0, TicksPerSecond, 0);
        for (var i = 0; i < 6; i++)
        {
            before.TryAdmit(0);
        }

        // Cap 4, resume below 50 % (2): refused while 6, then 5, then 4 are active.
        var lowered = new SessionAdmission(4, 100, 50, 0, TicksPerSecond, 0, before.Sessions);
        var verdicts = new List<(int Active, AdmissionVerdict Verdict)>();
        while (before.Holding > 0)
        {
            var verdict = lowered.TryAdmit(0);
            verdicts.Add((lowered.Active, verdict));
            before.Release();
        }

        // 6, 5, 4: at or above the cap; at 3 one more is taken, which reaches high water (4) and marks the service;
        // then the old sessions end, 3, 2: still refused (not below 2); at 1 one is taken.
        Assert.Equal(
            [
                (6, AdmissionVerdict.SessionLimit), (5, AdmissionVerdict.SessionLimit), (4, AdmissionVerdict.SessionLimit),
                (4, AdmissionVerdict.Admitted), (3, AdmissionVerdict.SessionLimit), (2, AdmissionVerdict.SessionLimit),
            ],
            verdicts);
        Assert.Equal(AdmissionVerdict.Admitted, lowered.TryAdmit(0));
        Assert.Equal((0, 2, 2), (before.Holding, lowered.Holding, lowered.Active));
    }

    [Fact]
    public void HandOver_ToTheSameServicesNewPolicy_MovesTheSessionNotTheCount_ToAnotherService_MovesBoth()
    {
        var before = new SessionAdmission(2, 100, 100, 0, TicksPerSecond, 0);
        before.TryAdmit(0);
        before.TryAdmit(0);
        var after = new SessionAdmission(2, 100, 100, 0, TicksPerSecond, 0, before.Sessions);

        before.HandOver(after);
        Assert.Equal((1, 1, 2), (before.Holding, after.Holding, after.Active));
        Assert.Equal(AdmissionVerdict.SessionLimit, after.TryAdmit(0));

        var other = new SessionAdmission(0, 100, 100, 0, TicksPerSecond, 0);
        before.HandOver(other);
        Assert.Equal((0, 1, 1), (before.Holding, after.Active, other.Active));
        Assert.Throws<InvalidOperationException>(() => before.HandOver(after));
        Assert.Throws<InvalidOperationException>(before.Release);
    }
}
