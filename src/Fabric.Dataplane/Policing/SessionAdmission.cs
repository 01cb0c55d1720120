using Fabric.Model;

namespace Fabric.Dataplane.Policing;

/// <summary>
/// Admission control for the new sessions of one service under one policy: a cap on active sessions with water-mark
/// hysteresis, and a rate of new sessions. The active sessions it counts are the service's
/// (<see cref="AdmittedSessions"/>), shared with every admission the service had before a configuration change.
/// </summary>
/// <remarks>
/// <para>
/// Water marks, with <c>max</c> = <see cref="MaxSessions"/> (0 means no cap, and then only the rate applies):
/// a session is admitted only while the service is not refusing and fewer than <c>max</c> of the service's sessions are
/// active. The admission that brings the active count to <c>active × 100 ≥ max × high%</c> is the last one: the service
/// then refuses until a release brings it to <c>active × 100 &lt; max × low%</c> (or to zero active, so a low mark of 0
/// cannot wedge it). The comparisons are exact integer ones, so no percentage is rounded.
/// </para>
/// <para>
/// Across a configuration change: the sessions admitted under the policy before count against the new one's cap, and give
/// their place back to the same count when they end, whichever admission they hold (their runtime's). A refusal mark keeps
/// the count below which admissions resume, so whoever releases ends it at that count; an admission honours only a mark
/// it set itself (a policy that raised the cap admits at once, one that lowered it refuses by its cap), and its own
/// high water replaces the other's.
/// </para>
/// <para>
/// Session rate: a <see cref="SharedTokenBucket"/> of sessions with rate = burst = <see cref="SessionRate"/>
/// per second (0 means no rate limit), this policy's own. The cap is checked first, so a refused session normally spends no
/// rate token; only a session that passes the rate check and then loses a race for the last slot spends one
/// without being admitted, which keeps the rate an upper bound.
/// </para>
/// <para>
/// Thread-safe and lock-free: the service's active count and its refusal mark are one 64-bit word changed by
/// compare-and-swap, so the hysteresis sequence is exact under concurrency. Every admitted session must be
/// released exactly once, by the admission that admitted it (or handed on, <see cref="HandOver"/>). Nothing here allocates.
/// </para>
/// </remarks>
public sealed class SessionAdmission
{
    private readonly SharedTokenBucket? _sessionRate;
    private readonly AdmittedSessions _sessions;

    // The count below which a refusing service takes sessions again, under this policy's water marks.
    private readonly long _resumeBelow;

    // Sessions this admission admitted and that have not been released (or handed on).
    private int _holding;

    // This admission's number among those over the same sessions: a refusal mark it set carries it.
    private readonly int _number;

    /// <param name="maxSessions">The cap on active sessions; 0 means no cap.</param>
    /// <param name="highWaterPercent">The share of the cap at which new sessions stop (0-100).</param>
    /// <param name="lowWaterPercent">The share below which they are taken again (0 to <paramref name="highWaterPercent"/>).</param>
    /// <param name="sessionRate">New sessions per second, also the burst; 0 means no rate limit.</param>
    /// <param name="ticksPerSecond">The frequency of the clock that <paramref name="now"/> counts.</param>
    /// <param name="now">The current time in ticks.</param>
    /// <param name="sessions">The service's active sessions, counted by its earlier admissions too; null: a service with none yet.</param>
    public SessionAdmission(int maxSessions, int highWaterPercent, int lowWaterPercent, int sessionRate, long ticksPerSecond, long now, AdmittedSessions? sessions = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxSessions);
        ArgumentOutOfRangeException.ThrowIfNegative(highWaterPercent);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(highWaterPercent, 100);
        ArgumentOutOfRangeException.ThrowIfNegative(lowWaterPercent);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(lowWaterPercent, highWaterPercent);
        ArgumentOutOfRangeException.ThrowIfNegative(sessionRate);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(ticksPerSecond);
        MaxSessions = maxSessions;
        HighWaterPercent = highWaterPercent;
        LowWaterPercent = lowWaterPercent;
        SessionRate = sessionRate;
        _sessionRate = sessionRate == 0 ? null : new SharedTokenBucket(sessionRate, sessionRate, ticksPerSecond, now);
        _sessions = sessions ?? new AdmittedSessions();
        _number = _sessions.NextAdmission();
        // active × 100 < max × low% exactly when active < ⌈max × low / 100⌉.
        _resumeBelow = (((long)maxSessions * lowWaterPercent) + 99) / 100;
    }

    /// <summary>Admission control for a service policy's max sessions, water marks and session rate, over the service's <paramref name="sessions"/>.</summary>
    public static SessionAdmission From(ServicePolicy policy, long now, long ticksPerSecond, AdmittedSessions? sessions = null) =>
        new(policy.MaxSessions, policy.HighWaterPercent, policy.LowWaterPercent, policy.SessionRate, ticksPerSecond, now, sessions);

    public int MaxSessions { get; }

    public int HighWaterPercent { get; }

    public int LowWaterPercent { get; }

    /// <summary>New sessions per second (and the burst); 0 means no rate limit.</summary>
    public int SessionRate { get; }

    /// <summary>The service's active sessions, shared by its admissions before and after a configuration change.</summary>
    public AdmittedSessions Sessions => _sessions;

    /// <summary>The service's sessions admitted and not yet released, whichever of its admissions took them.</summary>
    public int Active => AdmittedSessions.ActiveOf(_sessions.Read());

    /// <summary>The sessions this admission admitted (or was handed) and that have not been released.</summary>
    public int Holding => Volatile.Read(ref _holding);

    /// <summary>Whether the service has reached this policy's high water mark and not yet fallen below its low one.</summary>
    public bool IsRefusing => Honours(_sessions.Read());

    /// <summary>Decides on one new session at <paramref name="now"/>; an admitted one must later be released.</summary>
    public AdmissionVerdict TryAdmit(long now)
    {
        if (AtLimit(_sessions.Read()))
        {
            return AdmissionVerdict.SessionLimit;
        }

        if (_sessionRate is not null && !_sessionRate.TryConsume(1, now))
        {
            return AdmissionVerdict.SessionRateLimited;
        }

        while (true)
        {
            var state = _sessions.Read();
            if (AtLimit(state))
            {
                return AdmissionVerdict.SessionLimit;
            }

            // Admitted: a mark this policy does not honour (another's water marks) goes; its own high water sets its own.
            var active = AdmittedSessions.ActiveOf(state) + 1L;
            var next = ReachesHighWater(active) ? Mark(active) : active;
            if (_sessions.TryChange(state, next))
            {
                Interlocked.Increment(ref _holding);
                return AdmissionVerdict.Admitted;
            }
        }
    }

    /// <summary>
    /// Counts a session another node admitted (a replica from the HA partner) without judging it: it exists
    /// already, so limits and the session rate do not apply. Released like any admitted session.
    /// </summary>
    public void AdmitReplica()
    {
        while (true)
        {
            var state = _sessions.Read();
            var active = Math.Min(AdmittedSessions.ActiveOf(state) + 1L, uint.MaxValue);
            var next = ReachesHighWater(active) ? Mark(active) : AdmittedSessions.WithActive(state, active);
            if (_sessions.TryChange(state, next))
            {
                Interlocked.Increment(ref _holding);
                return;
            }
        }
    }

    /// <summary>Ends one session this admission admitted.</summary>
    /// <exception cref="InvalidOperationException">It holds no session (a release without an admission).</exception>
    public void Release()
    {
        GiveUpOne("released");
        _sessions.Release();
    }

    /// <summary>
    /// Hands one session this admission admitted on to <paramref name="to"/>, which then holds it (a session that moved to
    /// the runtime in force): the service's count does not change when both count the same service's sessions; otherwise
    /// <paramref name="to"/> counts it as an existing session (as <see cref="AdmitReplica"/>) and this one releases it.
    /// </summary>
    public void HandOver(SessionAdmission to)
    {
        ArgumentNullException.ThrowIfNull(to);
        if (ReferenceEquals(to, this))
        {
            return;
        }

        if (!ReferenceEquals(to._sessions, _sessions))
        {
            to.AdmitReplica();
            Release();
            return;
        }

        GiveUpOne("handed on");
        Interlocked.Increment(ref to._holding);
    }

    /// <summary>Counts one session fewer held here; throws when none is (a session <paramref name="how"/> that was never admitted).</summary>
    private void GiveUpOne(string how)
    {
        if (Interlocked.Decrement(ref _holding) < 0)
        {
            Interlocked.Increment(ref _holding);
            throw new InvalidOperationException($"A session was {how} that was never admitted.");
        }
    }

    private bool Honours(long state) =>
        AdmittedSessions.IsMarked(state) && AdmittedSessions.ResumeBelowOf(state) == _resumeBelow && _sessions.MarkedBy == _number;

    // The state of a service this admission marks refusing at `active`; claims the mark first, so whoever sees the mark
    // sees whose it is.
    private long Mark(long active)
    {
        _sessions.MarkedBy = _number;
        return AdmittedSessions.Refusing(active, _resumeBelow);
    }

    private bool AtLimit(long state) => MaxSessions > 0 && (Honours(state) || AdmittedSessions.ActiveOf(state) >= MaxSessions);

    private bool ReachesHighWater(long active) => MaxSessions > 0 && active * 100 >= (long)MaxSessions * HighWaterPercent;
}
