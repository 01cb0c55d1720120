using System.Net;
using Fabric.Model;

namespace Fabric.Actors.Services;

/// <summary>
/// A router node that serves, beside its committed document, the service instances other routers registered without
/// one (attached by the CNI plugin): it compiles them in (<see cref="RemoteAttachments.Of"/>), so it balances sessions to
/// their routers; and the clients other routers attached (<see cref="AttachedClients.Of"/>), so its placement of
/// containers lists them where they are. Called by the node's <see cref="ServiceRegistryWatcher"/> and
/// <see cref="ServiceDirectory"/> on their actor threads; implementations must be thread-safe.
/// </summary>
public interface IRemoteInstanceHost
{
    /// <summary>
    /// The instances the registry holds now, as the node believes them (each sealed by the node it names). True when the node
    /// compiled them in (a new snapshot forwards); false when what it compiles in did not change, or did not compile.
    /// </summary>
    bool HostRemoteInstances(IReadOnlyCollection<RegisteredInstance> registered);

    /// <summary>The clients the attached-client registry holds now, as the node believes them (each sealed by the node it names); true as for <see cref="HostRemoteInstances"/>.</summary>
    bool HostRemoteClients(IReadOnlyCollection<RegisteredClient> registered);

    /// <summary>The containers the CNI plugin attached to this node now: its clients among them are registered for the others.</summary>
    IReadOnlyList<AttachedWorkload> AttachedHere();

    /// <summary>
    /// Raised once what <see cref="AttachedHere"/> returns has changed (a container attached or detached), on the thread
    /// that changed it, so the node registers it at once rather than at its next periodic reading. A handler must return
    /// at once (the node's directory only tells itself).
    /// </summary>
    event Action? AttachedHereChanged;
}

/// <summary>The registry's instances that another router attached, as workloads a document merges in. Pure functions; thread-safe.</summary>
public static class RemoteAttachments
{
    /// <summary>
    /// The container instances of <paramref name="registered"/> that a router other than <paramref name="router"/> hosts
    /// and <paramref name="committed"/> does not list (neither as a container nor as an instance of the service), each as a
    /// workload of its router's host-based network whose gateway prefix holds its address, ordered by name: merged
    /// (<see cref="AttachedWorkloads.Merge"/>), they make their router a host of the service. Both nodes of an HA pair
    /// register their router's instances: one workload per instance. An instance of an unknown service, or whose address
    /// lies in none of its router's host-based networks, is left out.
    /// </summary>
    public static IReadOnlyList<AttachedWorkload> Of(FabricConfig committed, string router, IEnumerable<RegisteredInstance> registered)
    {
        ArgumentNullException.ThrowIfNull(committed);
        ArgumentNullException.ThrowIfNull(registered);
        var listed = committed.Containers().Select(c => c.Container.Name).ToHashSet(StringComparer.Ordinal);
        var workloads = new SortedDictionary<string, AttachedWorkload>(StringComparer.Ordinal);
        foreach (var instance in registered)
        {
            if (instance.Router == router || instance.Container is not { } name || name != instance.Instance
                || listed.Contains(name) || workloads.ContainsKey(name)
                || committed.FindService(instance.Service) is not { } service || service.Instances.Any(i => i.Name == name)
                || FirstAddress(instance.Address) is not { } address
                || NetworkOf(committed, instance.Router, address) is not { } network)
            {
                continue;
            }

            workloads[name] = new AttachedWorkload(name, instance.Router, network, address, Tenant: null, instance.Service);
        }

        return [.. workloads.Values];
    }

    /// <summary>
    /// What a router node compiles: <paramref name="committed"/> with the containers attached to it merged in, the service
    /// instances other routers attached (<see cref="Of"/>) and the clients they attached (<see cref="AttachedClients.Of"/>):
    /// the one document whose containers are the router's placement of every container, committed or attached.
    /// </summary>
    public static FabricConfig Effective(
        FabricConfig committed, string router, IReadOnlyList<AttachedWorkload> attachedHere,
        IEnumerable<RegisteredInstance> instances, IEnumerable<RegisteredClient> clients) =>
        AttachedWorkloads.Merge(committed, [.. attachedHere, .. Of(committed, router, instances), .. AttachedClients.Of(committed, router, clients, attachedHere)]);

    /// <summary>The first address of a registered instance's address text ("10.0.0.5, fd00::5 port 8080").</summary>
    private static IPAddress? FirstAddress(string text)
    {
        var first = text.Split([',', ' '], StringSplitOptions.RemoveEmptyEntries).FirstOrDefault();
        return first is not null && IPAddress.TryParse(first, out var address) ? address : null;
    }

    private static string? NetworkOf(FabricConfig committed, string router, IPAddress address) =>
        committed.FindRouter(router)?.Networks
            .FirstOrDefault(n => n.Model == NetworkModel.HostBased && n.Gateways.Any(g => g.Contains(address)))?.Name;
}
