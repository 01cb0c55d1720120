using Fabric.Model;

namespace Fabric.Dataplane.Policing;

/// <summary>
/// Admission control for the new sessions of one service: a cap on active sessions with water-mark
/// hysteresis, and a rate of new sessions.
/// </summary>
/// <remarks>
/// <para>
/// Water marks, with <c>max</c> = <see cref="MaxSessions"/> (0 means no cap, and then only the rate applies):
/// a session is admitted only while the service is not refusing and fewer than <c>max</c> are active. The
/// admission that brings the active count to <c>active × 100 ≥ max × high%</c> is the last one: the service
/// then refuses until a release brings it to <c>active × 100 &lt; max × low%</c> (or to zero active, so a low
/// mark of 0 cannot wedge it). The comparisons are exact integer ones, so no percentage is rounded.
/// </para>
/// <para>
/// Session rate: a <see cref="SharedTokenBucket"/> of sessions with rate = burst = <see cref="SessionRate"/>
/// per second (0 means no rate limit). The cap is checked first, so a refused session normally spends no
/// rate token; only a session that passes the rate check and then loses a race for the last slot spends one
/// without being admitted, which keeps the rate an upper bound.
/// </para>
/// <para>
/// Thread-safe and lock-free: the active count and the refusing flag are one 64-bit word changed by
/// compare-and-swap, so the hysteresis sequence is exact under concurrency. Every admitted session must be
/// released exactly once. Nothing here allocates.
/// </para>
/// </remarks>
public sealed class SessionAdmission
{
    private const long RefusingFlag = 1L << 32;
    private const long ActiveMask = uint.MaxValue;

    private readonly SharedTokenBucket? _sessionRate;

    // Bits 0-31: active sessions; bit 32: refusing (above the high water mark, not yet below the low one).
    private long _state;

    /// <param name="maxSessions">The cap on active sessions; 0 means no cap.</param>
    /// <param name="highWaterPercent">The share of the cap at which new sessions stop (0-100).</param>
    /// <param name="lowWaterPercent">The share below which they are taken again (0 to <paramref name="highWaterPercent"/>).</param>
    /// <param name="sessionRate">New sessions per second, also the burst; 0 means no rate limit.</param>
    /// <param name="ticksPerSecond">The frequency of the clock that <paramref name="now"/> counts.</param>
    /// <param name="now">The current time in ticks.</param>
    public SessionAdmission(int maxSessions, int highWaterPercent, int lowWaterPercent, int sessionRate, long ticksPerSecond, long now)
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
    }

    /// <summary>Admission control for a service policy's max sessions, water marks and session rate.</summary>
    public static SessionAdmission From(ServicePolicy policy, long now, long ticksPerSecond) =>
        new(policy.MaxSessions, policy.HighWaterPercent, policy.LowWaterPercent, policy.SessionRate, ticksPerSecond, now);

    public int MaxSessions { get; }

    public int HighWaterPercent { get; }

    public int LowWaterPercent { get; }

    /// <summary>New sessions per second (and the burst); 0 means no rate limit.</summary>
    public int SessionRate { get; }

    /// <summary>Sessions admitted and not yet released.</summary>
    public int Active => (int)(Volatile.Read(ref _state) & ActiveMask);

    /// <summary>Whether the service has reached its high water mark and not yet fallen below its low one.</summary>
    public bool IsRefusing => (Volatile.Read(ref _state) & RefusingFlag) != 0;

    /// <summary>Decides on one new session at <paramref name="now"/>; an admitted one must later be released.</summary>
    public AdmissionVerdict TryAdmit(long now)
    {
        if (AtLimit(Volatile.Read(ref _state)))
        {
            return AdmissionVerdict.SessionLimit;
        }

        if (_sessionRate is not null && !_sessionRate.TryConsume(1, now))
        {
            return AdmissionVerdict.SessionRateLimited;
        }

        while (true)
        {
            var state = Volatile.Read(ref _state);
            if (AtLimit(state))
            {
                return AdmissionVerdict.SessionLimit;
            }

            var active = (state & ActiveMask) + 1;
            var next = active | (ReachesHighWater(active) ? RefusingFlag : 0);
            if (Interlocked.CompareExchange(ref _state, next, state) == state)
            {
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
            var state = Volatile.Read(ref _state);
            var active = Math.Min((state & ActiveMask) + 1, ActiveMask);
            var next = active | (ReachesHighWater(active) || (state & RefusingFlag) != 0 ? RefusingFlag : 0);
            if (Interlocked.CompareExchange(ref _state, next, state) == state)
            {
                return;
            }
        }
    }

    /// <summary>Ends one admitted session.</summary>
    /// <exception cref="InvalidOperationException">No session is active (a release without an admission).</exception>
    public void Release()
    {
        while (true)
        {
            var state = Volatile.Read(ref _state);
            var active = state & ActiveMask;
            if (active == 0)
            {
                throw new InvalidOperationException("A session was released that was never admitted.");
            }

            active--;
            var refusing = (state & RefusingFlag) != 0 && active > 0 && active * 100 >= (long)MaxSessions * LowWaterPercent;
            var next = active | (refusing ? RefusingFlag : 0);
            if (Interlocked.CompareExchange(ref _state, next, state) == state)
            {
                return;
            }
        }
    }

    private bool AtLimit(long state) =>
        MaxSessions > 0 && ((state & RefusingFlag) != 0 || (state & ActiveMask) >= MaxSessions);

    private bool ReachesHighWater(long active) => MaxSessions > 0 && active * 100 >= (long)MaxSessions * HighWaterPercent;
}
