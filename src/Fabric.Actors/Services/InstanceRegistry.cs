namespace Fabric.Actors.Services;

/// <summary>
/// The live instance registry as pure functions: what a router node must write so the registry holds exactly its
/// instances of a service, and the registry as a user reads it. Thread-safe (no state).
/// </summary>
public static class InstanceRegistry
{
    /// <summary>The entries <paramref name="node"/> registers for <paramref name="service"/>: one per instance behind it.</summary>
    public static IReadOnlyDictionary<string, RegisteredInstance> Desired(LocalService service, string router, string node, string member)
    {
        ArgumentNullException.ThrowIfNull(service);
        return service.Instances.ToDictionary(
            i => ServiceDistribution.InstanceKey(service.Name, i.Name, node),
            i => new RegisteredInstance(service.Name, i.Name, router, node, member, i.Container, i.Address, i.IsUp),
            StringComparer.Ordinal);
    }

    /// <summary>
    /// The writes that make <paramref name="registry"/> hold exactly <paramref name="desired"/> (this node's entries as
    /// it sealed them) for <paramref name="service"/> at <paramref name="node"/>: entries to set (new, changed, or held
    /// with another seal than this node's: a member wrote them) and keys to remove (instances detached, left by an
    /// earlier incarnation of the node, or filed under this node's keys by someone else). Nothing when it already
    /// does, so a steady router writes nothing.
    /// </summary>
    public static (IReadOnlyList<KeyValuePair<string, SealedInstance>> Set, IReadOnlyList<string> Remove) Reconcile(
        IReadOnlyDictionary<string, SealedInstance> registry, string service, string node, IReadOnlyDictionary<string, SealedInstance> desired)
    {
        ArgumentNullException.ThrowIfNull(registry);
        ArgumentNullException.ThrowIfNull(desired);
        var set = desired.Where(d => !registry.TryGetValue(d.Key, out var current) || !current.SameAs(d.Value)).ToList();
        var remove = registry
            .Where(r => !desired.ContainsKey(r.Key)
                && ((r.Value.Instance.Service == service && r.Value.Instance.Node == node)
                    || (r.Key.StartsWith(service + "/", StringComparison.Ordinal) && r.Key.EndsWith("@" + node, StringComparison.Ordinal))))
            .Select(r => r.Key).ToList();
        return (set, remove);
    }

    /// <summary>
    /// For a service balanced over peer routers (<see cref="LocalService.PeerRouters"/>), whether each may take new
    /// sessions by <paramref name="registered"/> (the believed registry): a router is down when it registers instances of
    /// the service and none of them is up; up otherwise (a router that registers nothing is not judged on silence, as a
    /// router that publishes no load counts 0).
    /// </summary>
    public static bool[] PeerRoutersUp(LocalService service, IEnumerable<RegisteredInstance> registered)
    {
        ArgumentNullException.ThrowIfNull(service);
        ArgumentNullException.ThrowIfNull(registered);
        var ofService = registered.Where(i => i.Service == service.Name).ToList();
        return [.. service.PeerRouters.Select(router =>
        {
            var hosted = ofService.Where(i => i.Router == router).ToList();
            return hosted.Count == 0 || hosted.Any(i => i.IsUp);
        })];
    }

    /// <summary>The keys a member that left the cluster wrote: they go with it.</summary>
    public static IReadOnlyList<string> LeftBy<T>(IReadOnlyDictionary<string, T> entries, string member, Func<T, string> memberOf)
    {
        ArgumentNullException.ThrowIfNull(entries);
        ArgumentNullException.ThrowIfNull(memberOf);
        return [.. entries.Where(e => memberOf(e.Value) == member).Select(e => e.Key)];
    }

    /// <summary>
    /// The registry as a user reads it, ordered by service, instance and node: each instance's state ("up",
    /// "down" by the dataplane's health, or "unreachable" while its node is unreachable from here) and the
    /// sessions its node reports on it.
    /// </summary>
    public static IReadOnlyList<InstanceView> View(
        IReadOnlyDictionary<string, RegisteredInstance> instances, IReadOnlyDictionary<string, ServiceLoad> loads, IReadOnlySet<string> unreachableMembers)
    {
        ArgumentNullException.ThrowIfNull(instances);
        ArgumentNullException.ThrowIfNull(loads);
        ArgumentNullException.ThrowIfNull(unreachableMembers);
        return [.. instances.Values
            .OrderBy(i => i.Service, StringComparer.Ordinal).ThenBy(i => i.Instance, StringComparer.Ordinal).ThenBy(i => i.Node, StringComparer.Ordinal)
            .Select(i => new InstanceView(
                i.Service, i.Instance, i.Router, i.Node, i.Container, i.Address,
                unreachableMembers.Contains(i.Member) ? InstanceView.Unreachable : i.IsUp ? InstanceView.Up : InstanceView.Down,
                loads.TryGetValue(ServiceDistribution.LoadKey(i.Service, i.Node), out var load) && load.Sessions.TryGetValue(i.Instance, out var n) ? n : 0))];
    }
}
