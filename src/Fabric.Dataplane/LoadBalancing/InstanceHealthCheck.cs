namespace Fabric.Dataplane.LoadBalancing;

/// <summary>A service's health-check settings in ticks of the router's clock (<see cref="Model.HealthCheck"/>).</summary>
public sealed record HealthCheckSettings(long Interval, long Timeout, int HealthyThreshold, int UnhealthyThreshold)
{
    /// <summary>The settings of <paramref name="check"/>, or null when it is off.</summary>
    public static HealthCheckSettings? From(Model.HealthCheck check, long ticksPerSecond)
    {
        ArgumentNullException.ThrowIfNull(check);
        if (!check.Enabled)
        {
            return null;
        }

        long Ticks(TimeSpan span) => Math.Max(1, (long)(span.TotalSeconds * ticksPerSecond));
        return new(Ticks(check.Interval), Ticks(check.Timeout), check.HealthyThreshold, check.UnhealthyThreshold);
    }
}

/// <summary>What the last failed probe of an instance met.</summary>
public enum ProbeFailure : byte
{
    None,

    /// <summary>The instance answered with a TCP reset: nothing listens on the port.</summary>
    Refused,

    /// <summary>No answer within the timeout (the instance, or its address on the link, is gone).</summary>
    Timeout,
}

/// <summary>How one probe's outcome changed an instance's health.</summary>
public enum HealthTransition : byte
{
    None,
    WentDown,
    CameUp,
}

/// <summary>
/// The active health check of one instance, as a state machine over time passed in:
/// <list type="bullet">
/// <item>a probe is due every <see cref="HealthCheckSettings.Interval"/> from the last one sent (a router that did not
/// run for a while sends one probe when it runs again, not the ones it missed);</item>
/// <item>at most one probe is outstanding; it is answered (<see cref="Answered"/>: alive or refused) or times out
/// (<see cref="Expire"/>) after <see cref="HealthCheckSettings.Timeout"/>; an answer that does not carry the outstanding
/// probe's cookie is stale and changes nothing;</item>
/// <item><see cref="HealthCheckSettings.UnhealthyThreshold"/> failures in a row take an up instance down;
/// <see cref="HealthCheckSettings.HealthyThreshold"/> successes in a row bring a down instance up.</item>
/// </list>
/// A new check starts up, its first probe due at once. Not thread-safe: callers lock on the object (probes are sent by the
/// router's first worker, answers come back to any worker); other threads read its figures as telemetry (each one word).
/// Allocation-free.
/// </summary>
public sealed class InstanceHealthCheck(HealthCheckSettings settings, long now)
{
    public HealthCheckSettings Settings { get; } = settings;

    public bool IsUp { get; private set; } = true;

    public long NextProbe { get; private set; } = now;

    /// <summary>Whether a probe waits for its answer.</summary>
    public bool Outstanding { get; private set; }

    /// <summary>When the outstanding probe times out (meaningful while <see cref="Outstanding"/>).</summary>
    public long Deadline { get; private set; }

    /// <summary>The outstanding probe's cookie (its TCP initial sequence number, or ICMP identifier and sequence).</summary>
    public uint Cookie { get; private set; }

    public int ConsecutiveSuccesses { get; private set; }

    public int ConsecutiveFailures { get; private set; }

    public long ProbesSent { get; private set; }

    public long Successes { get; private set; }

    public long Failures { get; private set; }

    /// <summary>How many times the instance went down.</summary>
    public long Downs { get; private set; }

    public ProbeFailure LastFailure { get; private set; }

    /// <summary>The next time this check needs the worker: its probe, or its outstanding probe's timeout.</summary>
    public long NextDue => Outstanding ? Math.Min(Deadline, NextProbe) : NextProbe;

    public bool ProbeDue(long now) => now >= NextProbe;

    /// <summary>A probe carrying <paramref name="cookie"/> went out (or was meant to: an unresolved neighbour counts as sent, and times out).</summary>
    public void Sent(uint cookie, long now)
    {
        Outstanding = true;
        Cookie = cookie;
        Deadline = now + Settings.Timeout;
        NextProbe = now + Settings.Interval;
        ProbesSent++;
    }

    /// <summary>No probe could be made (the instance has no address the router can probe from): the next is due one interval on, nothing counted.</summary>
    public void Deferred(long now) => NextProbe = now + Settings.Interval;

    /// <summary>The outstanding probe timed out by <paramref name="now"/>: a failure.</summary>
    public HealthTransition Expire(long now) =>
        Outstanding && now >= Deadline ? Fail(ProbeFailure.Timeout) : HealthTransition.None;

    /// <summary>An answer carrying <paramref name="cookie"/> arrived: the instance is <paramref name="alive"/> (connected) or refused.</summary>
    public HealthTransition Answered(uint cookie, bool alive)
    {
        if (!Outstanding || cookie != Cookie)
        {
            return HealthTransition.None;
        }

        return alive ? Succeed() : Fail(ProbeFailure.Refused);
    }

    private HealthTransition Succeed()
    {
        Outstanding = false;
        Successes++;
        ConsecutiveFailures = 0;
        ConsecutiveSuccesses++;
        if (!IsUp && ConsecutiveSuccesses >= Settings.HealthyThreshold)
        {
            IsUp = true;
            return HealthTransition.CameUp;
        }

        return HealthTransition.None;
    }

    private HealthTransition Fail(ProbeFailure failure)
    {
        Outstanding = false;
        Failures++;
        LastFailure = failure;
        ConsecutiveSuccesses = 0;
        ConsecutiveFailures++;
        if (IsUp && ConsecutiveFailures >= Settings.UnhealthyThreshold)
        {
            IsUp = false;
            Downs++;
            return HealthTransition.WentDown;
        }

        return HealthTransition.None;
    }
}
