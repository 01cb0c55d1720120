namespace Fabric.Dataplane.LoadBalancing;

/// <summary>
/// The mutable side of one service's <see cref="InstanceSet"/>: active sessions per instance (this router's
/// own, plus those other routers report), and the health and weight the control plane publishes. A runtime that a
/// commit replaced over the same slots and health check shares it with the runtime in force (<see cref="Forwarding.ServiceRuntimes"/>),
/// so the sessions it admitted give their slots back to the counts the balancer decides on.
/// </summary>
/// <remarks>
/// <para>
/// Thread-safe. Workers call <see cref="OnSessionStart"/> and <see cref="OnSessionEnd"/> (interlocked
/// counters). Health and weights are published as a whole new array (<see cref="SetHealth"/> by the control plane,
/// <see cref="SetUp"/> by an instance health check or the cluster's view of a peer router; one at a time, then
/// <see cref="Volatile.Write{T}(ref T, T)"/>), so a pick sees one consistent
/// health vector, never a mix. Remote loads are single 64-bit words written with
/// <see cref="Volatile.Write(ref long, long)"/>.
/// </para>
/// <para>
/// A pick and the following <see cref="OnSessionStart"/> are not one atomic step: workers picking at the same
/// moment may each see the last free slot of an instance, so an instance can exceed its capacity by at most
/// the number of workers less one. Capacity is a balancing target, not a hard limit
/// (<see cref="Policing.SessionAdmission"/> is the hard limit for a service).
/// </para>
/// </remarks>
public sealed class InstanceLoad
{
    private readonly long[] _localSessions;
    private readonly long[] _remoteSessions;
    private readonly Lock _publishing = new();
    private InstanceHealth[] _health;

    /// <summary>Creates the load of <paramref name="count"/> instances: all up, weight 1, no sessions.</summary>
    public InstanceLoad(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, InstanceSet.MaxInstances);
        _localSessions = new long[count];
        _remoteSessions = new long[count];
        _health = new InstanceHealth[count];
        Array.Fill(_health, InstanceHealth.Up);
    }

    public int Count => _localSessions.Length;

    /// <summary>The health vector in force; a published array is never changed again.</summary>
    internal InstanceHealth[] HealthSnapshot => Volatile.Read(ref _health);

    /// <summary>Records that a session was placed on <paramref name="instance"/> (once per session: picks are sticky).</summary>
    public void OnSessionStart(int instance) => Interlocked.Increment(ref _localSessions[instance]);

    /// <summary>Records that a session placed on <paramref name="instance"/> ended.</summary>
    public void OnSessionEnd(int instance) => Interlocked.Decrement(ref _localSessions[instance]);

    /// <summary>
    /// Sets how many sessions other routers hold on <paramref name="instance"/> (load feedback, SVR metadata
    /// TLV 13); it is added to this router's own count in every decision. The caller reports only the
    /// sessions of other routers, and reports 0 when the feedback grows stale. Negative values count as 0.
    /// </summary>
    public void ReportRemoteLoad(int instance, long activeSessions) =>
        Volatile.Write(ref _remoteSessions[instance], Math.Max(0, activeSessions));

    /// <summary>Publishes a new health vector, one entry per instance; later picks use it.</summary>
    public void SetHealth(ReadOnlySpan<InstanceHealth> health)
    {
        if (health.Length != Count)
        {
            throw new ArgumentException($"{health.Length} entries for {Count} instances.", nameof(health));
        }

        lock (_publishing)
        {
            Volatile.Write(ref _health, health.ToArray());
        }
    }

    /// <summary>
    /// Publishes whether <paramref name="instance"/> is up, its weight kept: a new vector (allocated on a health change
    /// only, never per packet). Publishers are serialised with each other, so two changes of different instances both stand.
    /// </summary>
    public void SetUp(int instance, bool isUp)
    {
        lock (_publishing)
        {
            var current = HealthSnapshot;
            if (current[instance].IsUp == isUp)
            {
                return;
            }

            var next = (InstanceHealth[])current.Clone();
            next[instance] = next[instance] with { IsUp = isUp };
            Volatile.Write(ref _health, next);
        }
    }

    public InstanceHealth Health(int instance) => HealthSnapshot[instance];

    /// <summary>Sessions this router placed on <paramref name="instance"/> and that have not ended.</summary>
    public long LocalSessions(int instance) => Volatile.Read(ref _localSessions[instance]);

    /// <summary>The last count other routers reported for <paramref name="instance"/>.</summary>
    public long RemoteSessions(int instance) => Volatile.Read(ref _remoteSessions[instance]);

    /// <summary>The load decisions use: local plus remote sessions (never below 0).</summary>
    public long Sessions(int instance) => Math.Max(0, LocalSessions(instance) + RemoteSessions(instance));
}
