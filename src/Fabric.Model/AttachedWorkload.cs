using System.Net;
using Fabric.Model.Collections;

namespace Fabric.Model;

/// <summary>
/// A container attached to a router while it runs (by the CNI plugin), not listed in the document: a host-based
/// container of one of the router's host-based networks, a tenant's client when <paramref name="Tenant"/> is set, an
/// instance of <paramref name="Service"/> when that is set. A router forwards for it as if the document listed it
/// (<see cref="AttachedWorkloads.Merge"/>).
/// </summary>
/// <param name="Name">The container's name, unique in the fabric; the router's device towards it has the same name.</param>
/// <param name="Network">The router's host-based network it is attached to.</param>
public sealed record AttachedWorkload(string Name, string Router, string Network, IPAddress Address, string? Tenant, string? Service);

/// <summary>How attached workloads join a committed document. Pure functions; thread-safe.</summary>
public static class AttachedWorkloads
{
    /// <summary>
    /// <paramref name="config"/> with each workload added: a container in its router's network (with its tenant) and,
    /// for a service instance, a container instance of the service (cost 0, no capacity limit). A workload whose name,
    /// router, network or service the document does not hold as it needs (an unknown network, a name the document already
    /// uses, an unknown service) is left out: the document wins, and <see cref="Problem"/> says why it is refused.
    /// </summary>
    public static FabricConfig Merge(FabricConfig config, IEnumerable<AttachedWorkload> workloads)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(workloads);
        var taken = config.Containers().Select(c => c.Container.Name).ToHashSet(StringComparer.Ordinal);
        var accepted = workloads.Where(w => Fits(config, w) && taken.Add(w.Name)).ToList();
        if (accepted.Count == 0)
        {
            return config;
        }

        var routers = config.Routers.Select(router =>
        {
            var mine = accepted.Where(w => w.Router == router.Name).ToList();
            return mine.Count == 0 ? router : router with
            {
                Networks = new ValueList<Network>(router.Networks.Select(network =>
                {
                    var joining = mine.Where(w => w.Network == network.Name).Select(w => new Container(w.Name, [w.Address], w.Tenant));
                    return network with { Containers = new ValueList<Container>([.. network.Containers, .. joining]) };
                })),
            };
        });
        var services = config.Services.Select(service =>
        {
            var instances = accepted.Where(w => w.Service == service.Name).Select(w => new ServiceInstance(w.Name, null, null, null, 0, 0)).ToList();
            return instances.Count == 0 ? service : service with { Instances = new ValueList<ServiceInstance>([.. service.Instances, .. instances]) };
        });
        return config with { Routers = new ValueList<Router>(routers), Services = new ValueList<Service>(services) };
    }

    /// <summary>
    /// Why <paramref name="workload"/> cannot join <paramref name="config"/> beside <paramref name="others"/> (the workloads
    /// attached already), in one sentence, or null when it can: the names it refers to must exist, the network must be
    /// host-based, and the merged document must validate (unique names and addresses, the address inside a gateway prefix).
    /// </summary>
    public static string? Problem(FabricConfig config, AttachedWorkload workload, IEnumerable<AttachedWorkload> others)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(workload);
        if (config.FindRouter(workload.Router) is not { } router)
        {
            return $"router \"{workload.Router}\" is not in the committed document";
        }

        if (router.Networks.FirstOrDefault(n => n.Name == workload.Network) is not { } network)
        {
            return $"router {router.Name} has no network \"{workload.Network}\" (networks: {string.Join(", ", router.Networks.Select(n => n.Name))})";
        }

        if (network.Model != NetworkModel.HostBased)
        {
            return $"network {network.Name} of router {router.Name} is bridged: containers attach to host-based networks";
        }

        if (workload.Tenant is { } tenant && config.FindTenant(tenant) is null)
        {
            return $"unknown tenant \"{tenant}\" (tenants: {string.Join(", ", config.Tenants.Select(t => t.Name))})";
        }

        if (workload.Service is { } service && config.FindService(service) is null)
        {
            return $"unknown service \"{service}\" (services: {string.Join(", ", config.Services.Select(s => s.Name))})";
        }

        if (config.Containers().Any(c => c.Container.Name == workload.Name))
        {
            return $"the committed document already has a container named \"{workload.Name}\"";
        }

        var merged = Merge(config, [.. others.Where(o => o.Name != workload.Name), workload]);
        var errors = Validation.FabricValidator.Validate(merged);
        var own = errors.Where(e => e.Path.Contains($".{workload.Name}", StringComparison.Ordinal) || e.Message.Contains(workload.Name, StringComparison.Ordinal)
            || e.Message.Contains(workload.Address.ToString(), StringComparison.Ordinal)).ToList();
        return own.Count == 0 ? null : string.Join("; ", own.Select(e => e.Message));
    }

    /// <summary>
    /// The first address of <paramref name="network"/>'s IPv4 gateway prefix that neither a gateway, a container of the
    /// document, nor <paramref name="others"/> holds (network and broadcast addresses excluded); null when none is free.
    /// </summary>
    public static IPAddress? FreeAddress(FabricConfig config, Network network, IEnumerable<AttachedWorkload> others)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(network);
        var used = config.Containers().SelectMany(c => c.Container.Addresses)
            .Concat(others.Select(o => o.Address))
            .Concat(network.Gateways.Select(g => g.Address))
            .ToHashSet();
        foreach (var gateway in network.Gateways.Where(g => g.IsIPv4))
        {
            var bytes = gateway.Network.Address.GetAddressBytes();
            var first = System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(bytes);
            var size = gateway.Length >= 31 ? 0u : (1u << (32 - gateway.Length)) - 2;
            for (var host = 1u; host <= size; host++)
            {
                var candidate = new IPAddress(System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(first + host));
                if (!used.Contains(candidate))
                {
                    return candidate;
                }
            }
        }

        return null;
    }

    private static bool Fits(FabricConfig config, AttachedWorkload workload) =>
        config.FindRouter(workload.Router)?.Networks.Any(n => n.Name == workload.Network && n.Model == NetworkModel.HostBased) == true
        && (workload.Tenant is null || config.FindTenant(workload.Tenant) is not null)
        && (workload.Service is null || config.FindService(workload.Service) is not null);
}
