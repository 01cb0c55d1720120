using Fabric.Actors.HighAvailability;

namespace Fabric.Tests.Actors.HighAvailability;

/// <summary>Which authentic heartbeats prove the partner lives now: replays and heartbeats from before this run never do.</summary>
public sealed class HeartbeatFreshnessTests
{
    private const ulong Us = 0xAAAA;
    private const ulong Partner = 0xBBBB;
    private static readonly TimeSpan Dead = TimeSpan.FromSeconds(1);

    private static TimeSpan At(double milliseconds) => TimeSpan.FromMilliseconds(milliseconds);

    private static PairHeartbeat From(ulong incarnation, ulong sequence, ulong echo) => new(PairRole.Active, incarnation, sequence, echo, Takeovers: 0);

    [Fact]
    public void Start_PartnerLearnsUs_ThenItsHeartbeatsCount()
    {
        var us = new HeartbeatFreshness(Us, Dead);
        Assert.Equal(0UL, us.EchoAt(At(0)));

        // The partner has not heard us yet: authentic, but proof of nothing; we echo it so it can answer.
        Assert.Equal(HeartbeatVerdict.Unbound, us.Consider(From(Partner, 1, echo: 0), At(10)));
        Assert.Equal(Partner, us.EchoAt(At(20)));

        Assert.Equal(HeartbeatVerdict.Fresh, us.Consider(From(Partner, 2, echo: Us), At(110)));
        Assert.Equal(HeartbeatVerdict.Fresh, us.Consider(From(Partner, 3, echo: Us), At(210)));
    }

    [Fact]
    public void Replay_SameOrOlderSequence_Stale()
    {
        var us = new HeartbeatFreshness(Us, Dead);
        Assert.Equal(HeartbeatVerdict.Fresh, us.Consider(From(Partner, 5, Us), At(0)));

        Assert.Equal(HeartbeatVerdict.Stale, us.Consider(From(Partner, 5, Us), At(100)));
        Assert.Equal(HeartbeatVerdict.Stale, us.Consider(From(Partner, 4, Us), At(200)));
        Assert.Equal(HeartbeatVerdict.Fresh, us.Consider(From(Partner, 6, Us), At(300)));
    }

    [Fact]
    public void CapturedBeforeThisRun_NeverCounts()
    {
        // Heartbeats a partner sent to our previous run echo that run's incarnation, whatever their sequence.
        var us = new HeartbeatFreshness(Us, Dead);

        for (ulong sequence = 1; sequence < 50; sequence++)
        {
            Assert.Equal(HeartbeatVerdict.Unbound, us.Consider(From(Partner, 1000 + sequence, echo: 0x1234), At(sequence)));
        }
    }

    [Fact]
    public void PartnerRestarts_NewIncarnationCounts_TheOldOneIsRetiredForGood()
    {
        var us = new HeartbeatFreshness(Us, Dead);
        Assert.Equal(HeartbeatVerdict.Fresh, us.Consider(From(Partner, 900, Us), At(0)));

        const ulong Restarted = 0xCCCC;
        Assert.Equal(HeartbeatVerdict.Fresh, us.Consider(From(Restarted, 1, Us), At(100)));

        // Replaying the old run's heartbeats, even with higher sequences, proves nothing.
        Assert.Equal(HeartbeatVerdict.Stale, us.Consider(From(Partner, 901, Us), At(200)));
        Assert.Equal(HeartbeatVerdict.Stale, us.Consider(From(Partner, 5000, Us), At(300)));
        Assert.Equal(HeartbeatVerdict.Fresh, us.Consider(From(Restarted, 2, Us), At(400)));
    }

    [Fact]
    public void Bound_AnUnboundHeartbeatDoesNotChangeWhatWeEcho()
    {
        var us = new HeartbeatFreshness(Us, Dead);
        Assert.Equal(HeartbeatVerdict.Fresh, us.Consider(From(Partner, 1, Us), At(0)));

        Assert.Equal(HeartbeatVerdict.Unbound, us.Consider(From(0xDDDD, 7, echo: 0x1234), At(100)));

        Assert.Equal(Partner, us.EchoAt(At(150)));
    }

    [Fact]
    public void PartnerSilentForTheDeadInterval_ThenBack_CountsAgain()
    {
        var us = new HeartbeatFreshness(Us, Dead);
        Assert.Equal(HeartbeatVerdict.Fresh, us.Consider(From(Partner, 1, Us), At(0)));

        // A partition: the partner still echoes us, and its sequence went on.
        Assert.Equal(HeartbeatVerdict.Fresh, us.Consider(From(Partner, 60, Us), At(6000)));
        Assert.Equal(Partner, us.EchoAt(At(6000)));
    }
}
