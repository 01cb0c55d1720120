using Fabric.Model.Addressing;

namespace Fabric.Model;

/// <summary>
/// Routers whose interfaces share a neighborhood peer with each other over those interfaces.
/// </summary>
/// <param name="WaypointPorts">The ports peers may use as waypoints (SVR default 16384-65534).</param>
/// <param name="MaxWaypoints">The most waypoint ports in use at once on one peer path.</param>
public sealed record Neighborhood(string Name, PortRange WaypointPorts, int MaxWaypoints)
{
    public static PortRange DefaultWaypointPorts => new(16384, 65534);

    public const int DefaultMaxWaypoints = 50_000;

    /// <summary>How each peer path over this neighborhood is watched (liveness and quality).</summary>
    public PathMonitoring Monitoring { get; init; } = PathMonitoring.Default;

    /// <summary>
    /// Whether a router takes metadata that is not authenticated from a peer over this neighborhood with which it
    /// has no keys (either end pins no identity). False by default: such metadata is refused, since any host that
    /// spoofs a peer's waypoint could claim a tenant and service with it (docs/svr-security.md).
    /// </summary>
    public bool AllowUnauthenticatedMetadata { get; init; }
}

/// <summary>
/// BFD-style liveness and echo-burst quality measurement of a peer path.
/// </summary>
/// <param name="Interval">How often a liveness probe is sent (SVR default 1 s).</param>
/// <param name="Multiplier">Intervals without a probe from the peer after which the path is down (default 3).</param>
/// <param name="HoldDown">How long a path that came back must stay alive before it is used again (default 5 s).</param>
/// <param name="EchoInterval">How often an echo burst measures latency, jitter and loss (default 10 s).</param>
/// <param name="EchoBurst">Echo packets per burst (default 10).</param>
public sealed record PathMonitoring(TimeSpan Interval, int Multiplier, TimeSpan HoldDown, TimeSpan EchoInterval, int EchoBurst)
{
    public static PathMonitoring Default { get; } = new(TimeSpan.FromSeconds(1), 3, TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(10), 10);

    /// <summary>The UDP port liveness probes travel to, between waypoint addresses (SVR: BFD on 1280).</summary>
    public const int ControlPort = 1280;

    /// <summary>The UDP port echo packets travel to; the peer sends them back (RFC 5881's echo port).</summary>
    public const int EchoPort = 3785;
}
