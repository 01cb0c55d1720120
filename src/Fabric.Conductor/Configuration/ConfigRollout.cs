using Fabric.Actors.Configuration;
using Fabric.Model;

namespace Fabric.Conductor.Configuration;

/// <summary>
/// Which router node runs which version, as the conductor shows it: every node the running
/// configuration names, and every node that reported, whether or not the configuration names it.
/// A node drifts when it does not run the running version. Pure function; thread-safe.
/// </summary>
public static class ConfigRollout
{
    public static IReadOnlyList<RouterRollout> View(long running, FabricConfig? model, IReadOnlyDictionary<string, RouterConfigStatus> reported)
    {
        ArgumentNullException.ThrowIfNull(reported);
        var expected = model?.Routers.SelectMany(r => r.Nodes.Select(n => (Node: n.Name, Router: r.Name))) ?? [];
        var nodes = expected.ToDictionary(e => e.Node, e => e.Router, StringComparer.Ordinal);
        foreach (var status in reported.Values)
        {
            nodes.TryAdd(status.Node, status.Router);
        }

        return [.. nodes.OrderBy(n => n.Key, StringComparer.Ordinal).Select(n =>
        {
            var status = reported.GetValueOrDefault(n.Key);
            var applied = status?.Applied ?? 0;
            return new RouterRollout(n.Key, n.Value, status is not null, applied, status?.FailedVersion, status?.Failure, applied != running);
        })];
    }
}
