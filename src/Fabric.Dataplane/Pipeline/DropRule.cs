namespace Fabric.Dataplane.Pipeline;

/// <summary>
/// Which rule of the configuration made a stage drop a packet, where the <see cref="DropReason"/> alone does not say:
/// which of a service policy's limits refused it. A drop whose reason names its rule (<see cref="DropReason.AccessDenied"/>:
/// the service's access list; <see cref="DropReason.NoPeerKeys"/>: its policy's encryption) keeps <see cref="None"/>, and
/// the control plane names the rule from the reason, the tenant and the service. Values are stable; add new ones at the end.
/// </summary>
public enum DropRule : byte
{
    /// <summary>The reason says which rule it was, or no rule is involved.</summary>
    None = 0,

    /// <summary>The session's own rate limit (the service policy's <c>session-rate-limit</c>).</summary>
    SessionRateLimit,

    /// <summary>The service's rate limit over all its sessions (<c>service-rate-limit</c>).</summary>
    ServiceRateLimit,

    /// <summary>The tenant's rate limit for the service (<c>tenant-rate-limit</c>).</summary>
    TenantRateLimit,

    /// <summary>The service's session limit and its water marks (<c>max-sessions</c>, <c>high-water-percent</c>).</summary>
    MaxSessions,

    /// <summary>The service's new-session rate (<c>session-rate</c>).</summary>
    SessionRate,
}

/// <summary>The rules behind refusals the dataplane's own types make.</summary>
public static class DropRules
{
    /// <summary>The limit that refused a session its admission.</summary>
    public static DropRule Of(Policing.AdmissionVerdict refusal) =>
        refusal == Policing.AdmissionVerdict.SessionRateLimited ? DropRule.SessionRate : DropRule.MaxSessions;
}
