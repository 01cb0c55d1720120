namespace Fabric.Model;

/// <summary>How the sessions of a service are treated. Zero means "no limit" for every limit.</summary>
/// <param name="HighWaterPercent">At this share of <paramref name="MaxSessions"/> the service stops taking new sessions.</param>
/// <param name="LowWaterPercent">Below this share it takes new sessions again.</param>
public sealed record ServicePolicy(
    string Name,
    LoadBalancingStrategy LoadBalancing,
    EncryptionMode Encryption,
    string SecurityPolicy,
    RateLimit SessionRateLimit,
    RateLimit TenantRateLimit,
    RateLimit ServiceRateLimit,
    int MaxSessions,
    int SessionRate,
    int HighWaterPercent,
    int LowWaterPercent,
    IdleTimeouts IdleTimeouts,
    TransportStateEnforcement TransportStateEnforcement,
    SessionResiliency Resiliency)
{
    public const string DefaultName = "default";

    /// <summary>How each router that hosts instances of the service checks them; off unless the policy asks (docs/load-balancing.md).</summary>
    public HealthCheck HealthCheck { get; init; } = HealthCheck.Off;

    /// <summary>The policy every key of which takes its documented default (hocon/fabric.reference.conf).</summary>
    public static ServicePolicy Default { get; } = new(
        DefaultName,
        LoadBalancingStrategy.Proportional,
        EncryptionMode.None,
        Model.SecurityPolicy.DefaultName,
        RateLimit.Unlimited,
        RateLimit.Unlimited,
        RateLimit.Unlimited,
        MaxSessions: 0,
        SessionRate: 0,
        HighWaterPercent: 90,
        LowWaterPercent: 80,
        IdleTimeouts.Default,
        TransportStateEnforcement.Reset,
        SessionResiliency.None);

    /// <summary>The peer-path quality the service's sessions require (docs/routing.md, "Paths by quality"); by default none.</summary>
    public PathQuality PathQuality { get; init; } = PathQuality.Any;

    /// <summary>How a new session of the service picks among the paths that meet <see cref="PathQuality"/>.</summary>
    public PathChoice PathChoice { get; init; } = PathChoice.Ordered;
}

/// <summary>
/// Bounds on a peer path's measured quality (the figures of its last echo burst); a null bound is no bound. A path that
/// breaks any bound takes no new session of the service, and the service's resilient sessions leave it.
/// </summary>
/// <param name="MaxLatency">One-way latency (mean round trip / 2).</param>
/// <param name="MaxJitter">Mean difference of consecutive round trips.</param>
/// <param name="MaxLossPercent">Echoes of a burst that did not come back, in percent (0 to 100).</param>
public sealed record PathQuality(TimeSpan? MaxLatency, TimeSpan? MaxJitter, int? MaxLossPercent)
{
    public static PathQuality Any { get; } = new(null, null, null);

    /// <summary>Whether any bound is set.</summary>
    public bool IsBounded => MaxLatency is not null || MaxJitter is not null || MaxLossPercent is not null;
}

/// <summary>How a new session picks among the peer paths that meet its service's quality.</summary>
public enum PathChoice
{
    /// <summary>The first in configuration order (the others are for failover).</summary>
    Ordered,

    /// <summary>The one carrying the fewest sessions now (ties: configuration order).</summary>
    Balance,
}

public enum LoadBalancingStrategy
{
    /// <summary>The lowest-cost healthy instance until it is full, then the next.</summary>
    Hunt,

    /// <summary>Spread by remaining capacity, using load feedback.</summary>
    Proportional,
}

public enum EncryptionMode
{
    None,
    Required,
}

/// <summary>What happens to a mid-flow TCP packet of a session whose handshake the router never saw.</summary>
public enum TransportStateEnforcement
{
    /// <summary>Drop it and answer with a TCP reset.</summary>
    Reset,

    /// <summary>Forward it and adopt the session.</summary>
    Allow,

    /// <summary>Drop it silently.</summary>
    Block,
}

/// <summary>
/// The active health check of a service's instances, made by each router that hosts them: a TCP connect to the
/// service's port (ICMP echo for a service without a TCP port) every <paramref name="Interval"/>; a probe not answered
/// within <paramref name="Timeout"/>, or refused, fails. <paramref name="UnhealthyThreshold"/> failures in a row take the
/// instance out of load balancing; <paramref name="HealthyThreshold"/> successes in a row bring it back.
/// </summary>
public sealed record HealthCheck(bool Enabled, TimeSpan Interval, TimeSpan Timeout, int HealthyThreshold, int UnhealthyThreshold)
{
    /// <summary>The values a <c>health-check {}</c> block takes for every key it leaves out: on, every second, 1 s timeout, 2 up, 3 down.</summary>
    public static HealthCheck Default { get; } = new(true, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1), 2, 3);

    /// <summary>No health check: what a policy without a <c>health-check</c> block has.</summary>
    public static HealthCheck Off { get; } = Default with { Enabled = false };
}

public enum SessionResiliency
{
    None,
    Failover,
    RevertibleFailover,
}

/// <summary>A token bucket: sustained rate and the burst it may save up. Zero rate means unlimited.</summary>
public readonly record struct RateLimit(long BytesPerSecond, long BurstBytes)
{
    public static RateLimit Unlimited => default;

    public bool IsUnlimited => BytesPerSecond == 0;
}

/// <summary>How long a session may stay idle before it is removed, per protocol.</summary>
/// <param name="HalfOpen">
/// How long a half-open session may stay idle: a TCP session whose handshake has not completed, or any other session
/// nothing has answered yet. The protocol's own timeout applies once it completes (if shorter, it applies at once).
/// </param>
public sealed record IdleTimeouts(TimeSpan Tcp, TimeSpan Udp, TimeSpan Icmp, TimeSpan HalfOpen)
{
    /// <summary>
    /// The SVR defaults for TCP (1900 s) and UDP (180 s), 30 s for ICMP, and 20 s for a half-open session (a firewall's
    /// usual embryonic-connection timeout: long enough for SYN retransmissions, short enough that a SYN flood drains).
    /// </summary>
    public static IdleTimeouts Default { get; } =
        new(TimeSpan.FromSeconds(1900), TimeSpan.FromSeconds(180), TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(20));
}
