using Fabric.Model.Collections;

namespace Fabric.Model;

/// <summary>
/// The whole authority as one immutable value: what one HOCON document describes.
/// Every named collection is sorted by name, so two equal documents give equal models.
/// Thread-safe: immutable.
/// </summary>
public sealed record FabricConfig(
    string Name,
    ValueList<Tenant> Tenants,
    ValueList<Service> Services,
    ValueList<ServicePolicy> ServicePolicies,
    ValueList<SecurityPolicy> SecurityPolicies,
    ValueList<Neighborhood> Neighborhoods,
    ValueList<Router> Routers,
    ConductorSettings Conductor)
{
    public Tenant? FindTenant(string name) => Find(Tenants, name, t => t.Name);

    public Service? FindService(string name) => Find(Services, name, s => s.Name);

    public Router? FindRouter(string name) => Find(Routers, name, r => r.Name);

    /// <summary>The router each node is part of, by node name (node names are unique in a valid document; the first router wins otherwise).</summary>
    public Dictionary<string, string> RouterOfNode()
    {
        var routers = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var router in Routers)
        {
            foreach (var node in router.Nodes)
            {
                routers.TryAdd(node.Name, router.Name);
            }
        }

        return routers;
    }

    public Neighborhood? FindNeighborhood(string name) => Find(Neighborhoods, name, n => n.Name);

    /// <summary>The named service policy; "default" resolves to the built-in defaults unless the document defines it.</summary>
    public ServicePolicy? FindServicePolicy(string name) =>
        Find(ServicePolicies, name, p => p.Name) ?? (name == ServicePolicy.DefaultName ? ServicePolicy.Default : null);

    /// <summary>The named security policy; "default" resolves to the built-in defaults unless the document defines it.</summary>
    public SecurityPolicy? FindSecurityPolicy(string name) =>
        Find(SecurityPolicies, name, p => p.Name) ?? (name == SecurityPolicy.DefaultName ? SecurityPolicy.Default : null);

    /// <summary>Every container of every router, with the router and network it sits on.</summary>
    public IEnumerable<(Router Router, Network Network, Container Container)> Containers() =>
        from router in Routers
        from network in router.Networks
        from container in network.Containers
        select (router, network, container);

    private static T? Find<T>(ValueList<T> items, string name, Func<T, string> nameOf)
        where T : class
    {
        foreach (var item in items)
        {
            if (nameOf(item) == name)
            {
                return item;
            }
        }

        return null;
    }
}
