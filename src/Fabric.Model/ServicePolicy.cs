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
public sealed record IdleTimeouts(TimeSpan Tcp, TimeSpan Udp, TimeSpan Icmp)
{
    /// <summary>The SVR defaults for TCP (1900 s) and UDP (180 s), and 30 s for ICMP.</summary>
    public static IdleTimeouts Default { get; } = new(TimeSpan.FromSeconds(1900), TimeSpan.FromSeconds(180), TimeSpan.FromSeconds(30));
}
