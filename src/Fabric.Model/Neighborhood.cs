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
}
