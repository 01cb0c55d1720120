namespace Fabric.Actors.HighAvailability;

/// <summary>What a node of an HA pair is to its router right now (its heartbeats carry it: the values are on the wire).</summary>
public enum PairRole : byte
{
    /// <summary>Just started (no sessions yet): stands by (answers nothing) until it hears its partner or the startup hold passes.</summary>
    Starting,

    /// <summary>Receives, replicates the partner's sessions in, forwards nothing.</summary>
    Standby,

    /// <summary>Owns the router's addresses and forwards; replicates its sessions out.</summary>
    Active,
}

/// <summary>Why a node changed role (logged, and the reason is counted on the node).</summary>
public enum PairTransition
{
    None,

    /// <summary>Starting, and so is the partner: the preferred node (the first in configuration order) takes the router.</summary>
    PreferredAtStart,

    /// <summary>Starting, and nothing was heard of the partner for the whole startup hold: the node runs the router alone.</summary>
    PartnerAbsentAtStart,

    /// <summary>Starting, and the partner is active: stand by (non-preemptive, whoever is preferred).</summary>
    PartnerActive,

    /// <summary>Starting, the partner is starting too, and this node is not preferred: stand by for the preferred one.</summary>
    NotPreferred,

    /// <summary>Starting, and the partner stands by: it holds the replicated sessions, so it takes the router and this node stands by.</summary>
    PartnerStandsBy,

    /// <summary>Standby, and the partner missed its heartbeats for the dead interval: take over.</summary>
    PartnerDead,

    /// <summary>Standby, and the partner is heard again as a new run (it restarted, losing its sessions): take over.</summary>
    PartnerRestarted,

    /// <summary>Standby and the partner is heard, not active: the preferred node takes the router at once, the other after the startup hold.</summary>
    NeitherActive,

    /// <summary>Active, and so is the partner (after a partition or a false failover): the node that is not preferred yields.</summary>
    BothActive,
}

/// <summary>The timing of an HA pair: heartbeat and dead interval from the router's <c>high-availability</c> settings, the rest fixed.</summary>
/// <param name="HeartbeatInterval">How often each node tells its partner it lives and which role it has.</param>
/// <param name="DeadAfter">A partner not heard for this long is dead: the dead interval.</param>
/// <param name="StartupHold">How long a starting node waits to hear its partner before it runs the router alone.</param>
/// <param name="ReplicationInterval">How often the active node sends the sessions new or changed since its last batch.</param>
public sealed record PairTiming(TimeSpan HeartbeatInterval, TimeSpan DeadAfter, TimeSpan StartupHold, TimeSpan ReplicationInterval)
{
    /// <summary>How long a starting node waits for its partner at least (a few dead intervals when those are longer).</summary>
    public static readonly TimeSpan MinimumStartupHold = TimeSpan.FromSeconds(5);

    /// <summary>How often the active node replicates its sessions.</summary>
    public static readonly TimeSpan DefaultReplicationInterval = TimeSpan.FromMilliseconds(150);

    public static PairTiming Default { get; } = From(Fabric.Model.PairLiveness.Default);

    /// <summary>The timing a router's <c>high-availability</c> settings give.</summary>
    public static PairTiming From(Fabric.Model.PairLiveness liveness)
    {
        ArgumentNullException.ThrowIfNull(liveness);
        var hold = liveness.DeadInterval * 3 > MinimumStartupHold ? liveness.DeadInterval * 3 : MinimumStartupHold;
        return new(liveness.HeartbeatInterval, liveness.DeadInterval, hold, DefaultReplicationInterval);
    }
}

/// <summary>
/// The active/standby decision of one node of an HA pair, as pure state: <see cref="Heard"/> and
/// <see cref="Tick"/> give the next state and the transition taken (<see cref="PairTransition.None"/> when the
/// role stays). Rules (docs/high-availability.md): when both start, the preferred node (first in configuration
/// order) becomes active; a node that starts while its partner runs stands by (the partner holds the sessions);
/// afterwards the decision is non-preemptive: a standby takes over only when the active partner is dead or
/// restarted, a returning preferred node stands by. When both are active the one not preferred yields; when
/// neither is, the preferred one takes the router at once and the other after the startup hold. Immutable.
/// </summary>
/// <remarks>Times are on a monotonic clock (the heartbeat link's): a wall clock stepped by NTP neither kills nor revives a partner.</remarks>
/// <param name="LastHeard">When the partner's last heartbeat arrived, or null: never.</param>
/// <param name="PartnerRole">What the partner's last heartbeat said.</param>
/// <param name="PartnerIdleSince">Since when the partner's heartbeats say it is not active (null while it is, or never heard).</param>
public sealed record PairState(PairRole Role, bool Preferred, TimeSpan Started, TimeSpan? LastHeard, PairRole PartnerRole, TimeSpan? PartnerIdleSince, PairTiming Timing)
{
    /// <summary>
    /// A node's state when its actor starts: <paramref name="active"/> when its dataplane forwards already, or
    /// <paramref name="standingBy"/> when an earlier actor of this process had decided it stands by (the actor system
    /// restarted under a running node: its replicated sessions are still there); else starting.
    /// </summary>
    public static PairState Start(bool preferred, TimeSpan now, PairTiming? timing = null, bool active = false, bool standingBy = false) =>
        new(active ? PairRole.Active : standingBy ? PairRole.Standby : PairRole.Starting, preferred, now, null, PairRole.Starting, null, timing ?? PairTiming.Default);

    /// <summary>Whether the partner was heard within the dead interval before <paramref name="now"/>.</summary>
    public bool PartnerAlive(TimeSpan now) => LastHeard is { } heard && now - heard < Timing.DeadAfter;

    /// <summary>
    /// The partner's heartbeat arrived at <paramref name="now"/>, saying its role; <paramref name="restarted"/>: it comes
    /// from a new run of the partner (its process started again since the heartbeat before).
    /// </summary>
    public (PairState State, PairTransition Transition) Heard(PairRole partner, TimeSpan now, bool restarted = false)
    {
        TimeSpan? idleSince = partner == PairRole.Active ? null : restarted ? now : PartnerIdleSince ?? now;
        var next = this with { LastHeard = now, PartnerRole = partner, PartnerIdleSince = idleSince };
        return (Role, partner) switch
        {
            (PairRole.Starting, PairRole.Active) => (next with { Role = PairRole.Standby }, PairTransition.PartnerActive),
            (PairRole.Starting, PairRole.Standby) => (next with { Role = PairRole.Standby }, PairTransition.PartnerStandsBy),
            (PairRole.Starting, _) when Preferred => (next with { Role = PairRole.Active }, PairTransition.PreferredAtStart),
            (PairRole.Starting, _) => (next with { Role = PairRole.Standby }, PairTransition.NotPreferred),
            (PairRole.Standby, not PairRole.Active) when restarted => (next with { Role = PairRole.Active }, PairTransition.PartnerRestarted),
            (PairRole.Standby, not PairRole.Active) when Preferred => (next with { Role = PairRole.Active }, PairTransition.NeitherActive),
            (PairRole.Active, PairRole.Active) when !Preferred => (next with { Role = PairRole.Standby }, PairTransition.BothActive),
            _ => (next, PairTransition.None),
        };
    }

    /// <summary>
    /// Time passes: a starting node whose hold ran out, a standby whose partner died, or a standby whose living partner
    /// has not been active for the startup hold (someone must forward), takes the router.
    /// </summary>
    public (PairState State, PairTransition Transition) Tick(TimeSpan now)
    {
        if (Role == PairRole.Starting && LastHeard is null && now - Started >= Timing.StartupHold)
        {
            return (this with { Role = PairRole.Active }, PairTransition.PartnerAbsentAtStart);
        }

        if (Role == PairRole.Standby && !PartnerAlive(now))
        {
            return (this with { Role = PairRole.Active }, PairTransition.PartnerDead);
        }

        if (Role == PairRole.Standby && PartnerIdleSince is { } idle && now - idle >= Timing.StartupHold)
        {
            return (this with { Role = PairRole.Active }, PairTransition.NeitherActive);
        }

        return (this, PairTransition.None);
    }
}
