namespace Fabric.Model;

/// <summary>
/// How the two nodes of an HA pair tell each other they live: an authenticated UDP heartbeat between their
/// management addresses, on a thread of its own in each node (docs/high-availability.md). A router with one node
/// ignores it.
/// </summary>
/// <param name="HeartbeatInterval">How often each node sends its partner a heartbeat.</param>
/// <param name="DeadInterval">A partner not heard for this long is dead: the standby takes over.</param>
/// <param name="Port">The UDP port both nodes send heartbeats to and receive them on, at their management addresses.</param>
public sealed record PairLiveness(TimeSpan HeartbeatInterval, TimeSpan DeadInterval, int Port)
{
    public static PairLiveness Default { get; } = new(TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(1), DefaultPort);

    /// <summary>The heartbeat port unless configured: next to the cluster's default port (4053).</summary>
    public const int DefaultPort = 4054;

    /// <summary>The shortest heartbeat interval a document may give.</summary>
    public static TimeSpan MinimumHeartbeatInterval { get; } = TimeSpan.FromMilliseconds(10);

    /// <summary>The dead interval is at least this many heartbeat intervals: one late heartbeat is never a takeover.</summary>
    public const int MinimumHeartbeatsPerDeadInterval = 2;

    /// <summary>The longest dead interval a document may give (a standby waits this long before taking over).</summary>
    public static TimeSpan MaximumDeadInterval { get; } = TimeSpan.FromMinutes(1);
}
