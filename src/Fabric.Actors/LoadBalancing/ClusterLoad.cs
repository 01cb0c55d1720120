using Fabric.Actors.Services;

namespace Fabric.Actors.LoadBalancing;

/// <summary>
/// Turns the per-instance session counts the cluster publishes into what one router node's load balancer
/// needs: for each of its slots, the sessions held there by others. Pure; thread-safe.
/// </summary>
public static class ClusterLoad
{
    /// <summary>
    /// The sessions of others on each slot of <paramref name="service"/> at <paramref name="node"/> of
    /// <paramref name="router"/>, from <paramref name="loads"/> (every node's <see cref="ServiceLoad"/> of this service):
    /// <list type="bullet">
    /// <item>slots that are instances behind this router: what the router's other node (an HA partner) holds on
    /// them — no other router can place sessions on this router's instances;</item>
    /// <item>slots that are peer routers hosting the service: what every node of that router holds on all its
    /// instances of the service, less the sessions this node placed there itself (the egress counts those too),
    /// never below 0.</item>
    /// </list>
    /// A router that publishes nothing (gone from the cluster, or never heard) counts 0.
    /// </summary>
    public static long[] SessionsOfOthers(LocalService service, IEnumerable<ServiceLoad> loads, string router, string node)
    {
        ArgumentNullException.ThrowIfNull(service);
        ArgumentNullException.ThrowIfNull(loads);
        var published = loads.Where(l => l.Service == service.Name).ToList();
        var others = new long[service.LocalSessions.Count];
        if (service.Instances.Count > 0)
        {
            for (var slot = 0; slot < others.Length && slot < service.Instances.Count; slot++)
            {
                var instance = service.Instances[slot].Name;
                others[slot] = published.Where(l => l.Router == router && l.Node != node)
                    .Sum(l => l.Sessions.TryGetValue(instance, out var n) ? n : 0);
            }

            return others;
        }

        for (var slot = 0; slot < others.Length && slot < service.PeerRouters.Count; slot++)
        {
            var total = published.Where(l => l.Router == service.PeerRouters[slot]).Sum(l => l.Sessions.Values.Sum());
            others[slot] = Math.Max(0, total - service.LocalSessions[slot]);
        }

        return others;
    }
}
