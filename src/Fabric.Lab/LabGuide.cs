using Fabric.Model;

namespace Fabric.Lab;

/// <summary>
/// The "try next" lines <c>lab up</c> ends with: a gateway ping, one real client command per service from a
/// container its access policy allows (on the service's own router when there is one, else across the
/// fabric through the client's router), <c>lab verify</c>, <c>lab status</c>, <c>lab restart</c> of the first client's
/// router (when it runs one node) and <c>lab down</c>. Every line works as printed on a lab that is up. Thread-safe:
/// stateless.
/// </summary>
public static class LabGuide
{
    /// <param name="configOption">The options <c>fabric config</c> needs to find this lab's conductor ("" for the defaults).</param>
    /// <param name="source">The topology file as the user named it, for the commit line.</param>
    public static IReadOnlyList<string> Lines(FabricConfig config, string labOption, string configOption = "", string? source = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        var lines = new List<string>();
        var clients = config.Containers().Where(c => (c.Container.Tenant ?? c.Network.Tenant) is not null).ToList();
        if (clients.Count > 0)
        {
            var (router, network, container) = clients[0];
            var gateway = network.Gateways.First(g => g.Address.AddressFamily == container.Addresses[0].AddressFamily && g.Contains(container.Addresses[0]));
            lines.Add($"./fabric lab exec{labOption} {container.Name} -- ping -c 3 {gateway.Address}   # router {router.Name} answers as the gateway (no kernel address there)");
        }

        foreach (var server in LabServer.For(config).GroupBy(s => (s.Service, s.ServicePort)).Select(g => g.First()))
        {
            var service = config.FindService(server.Service)!;
            var instanceRouters = service.Instances.Select(i => config.Containers().FirstOrDefault(c => c.Container.Name == i.Container).Router?.Name).ToHashSet();
            var allowed = clients.Where(c => Allowed(service, c.Container.Tenant ?? c.Network.Tenant!)).ToList();
            var local = allowed.FirstOrDefault(c => instanceRouters.Contains(c.Router.Name));
            if (local.Container is not null)
            {
                lines.Add($"./fabric lab exec{labOption} {local.Container.Name} -- {server.ClientCommand()}   # service {service.Name} on the same router");
            }
            else if (allowed.Count > 0)
            {
                lines.Add($"./fabric lab exec{labOption} {allowed[0].Container.Name} -- {server.ClientCommand()}   # service {service.Name} via router {allowed[0].Router.Name} (SVR)");
            }
        }

        lines.Add($"./fabric lab verify{labOption}   # every client × service × port against the access policy");
        if (config.Conductor.Addresses.Count > 0)
        {
            lines.Add($"./fabric config history{configOption}   # version 1 is this topology, committed by lab up");
            if (source is not null)
            {
                lines.Add($"./fabric config commit {source}{configOption} -m \"what changed\"   # after editing it: validated, pushed to every router");
            }

            lines.Add($"./fabric config status{configOption}   # which version each router node applied");
            lines.Add($"./fabric telemetry{configOption}   # each router node's counters as the conductor keeps them (every 5 s)");
        }

        lines.Add($"./fabric lab status{labOption}   # namespaces, processes, each router's version and counters");
        var restartable = clients.Count > 0 ? clients[0].Router : config.Routers.Count > 0 ? config.Routers[0] : null;
        if (restartable is { Nodes.Count: 1 })
        {
            lines.Add($"./fabric lab restart{labOption} {restartable.Nodes[0].Name}   # restart router {restartable.Name} as an upgrade does: open connections go on");
        }

        lines.Add($"./fabric lab down{labOption}     # removes every namespace, link and process of the lab");
        return lines;
    }

    /// <summary>What the access policy says: whether <paramref name="tenant"/> or one of its ancestors is in the service's access list.</summary>
    public static bool Allowed(Service service, string tenant) =>
        service.Access.Any(granted => Tenant.Inherits(tenant, granted));
}
