namespace Fabric.Actors.Security;

/// <summary>
/// Which router each node of the fabric is part of, by the configuration a router node runs: whom a reader believes
/// about a router's instances, load and tenant demands. Implementations are read from actor threads: thread-safe.
/// </summary>
public interface INodeRouters
{
    /// <summary>
    /// False when no configuration is in force yet (nothing can be told); else true, with the router
    /// <paramref name="node"/> is part of, or null when it is no router node of the configuration.
    /// </summary>
    bool TryRouterOf(string node, out string? router);
}

/// <summary>What a reader says of an entry whose node may not write it for <c>router</c>. Thread-safe: stateless.</summary>
public static class NodeRouters
{
    /// <summary>Null when <paramref name="node"/> may speak for <paramref name="router"/> (or nothing can be told), else why not.</summary>
    public static string? NotAllowed(INodeRouters? routers, string node, string router)
    {
        if (routers is null || !routers.TryRouterOf(node, out var actual))
        {
            return null;
        }

        return actual is null
            ? $"node {node} is no router node of the configuration in force"
            : actual == router ? null : $"node {node} is part of router {actual}, not {router}";
    }
}

/// <summary>The routers' nodes of the configuration a <see cref="Fabric.Dataplane.Routing.ForwardingEngine"/> runs. Thread-safe as the engine is.</summary>
public static class EngineNodeRouters
{
    public static bool TryRouterOf(Fabric.Dataplane.Routing.ForwardingEngine engine, string node, out string? router)
    {
        ArgumentNullException.ThrowIfNull(engine);
        router = null;
        if (engine.AppliedVersion == 0)
        {
            return false;
        }

        router = engine.Snapshot.RouterOfNode.GetValueOrDefault(node);
        return true;
    }
}

/// <summary>
/// The routers' nodes of a configuration the holder is handed (the conductor's running version): none until the
/// first. Thread-safe: the map is swapped whole.
/// </summary>
public sealed class ConfigNodeRouters : INodeRouters
{
    private volatile IReadOnlyDictionary<string, string>? _routers;

    public void Take(Fabric.Model.FabricConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        _routers = config.RouterOfNode();
    }

    public bool TryRouterOf(string node, out string? router)
    {
        router = null;
        if (_routers is not { } routers)
        {
            return false;
        }

        router = routers.GetValueOrDefault(node);
        return true;
    }
}
