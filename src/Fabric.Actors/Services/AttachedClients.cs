using Akka.DistributedData;
using Fabric.Actors.Security;
using Fabric.Actors.Serialization;
using Fabric.Model;

namespace Fabric.Actors.Services;

/// <summary>
/// A client container (a tenant's, no service) the CNI plugin attached to a router node, as the node registers it in the
/// cluster: every router node compiles it in under its router (<see cref="AttachedClients.Of"/>), so every router's
/// placement of containers lists it where it is (docs/mobility.md "A client moves by the CNI plugin").
/// </summary>
/// <param name="Network">The router's host-based network it is attached to.</param>
/// <param name="Member">The registering node's cluster incarnation: when it leaves the cluster, its entries go.</param>
[WireMessage("fabric.services.client.v1")]
public sealed record RegisteredClient(string Name, string Router, string Node, string Member, string Network, string Address, string Tenant);

/// <summary>A client as its node registers it, with the node's seal (null without cluster TLS); believed like <see cref="SealedInstance"/>.</summary>
[WireMessage("fabric.services.sealed-client.v1")]
public sealed record SealedClient(RegisteredClient Client, NodeSeal? Seal) : IRouterNodeEntry
{
    string IRouterNodeEntry.Node => Client.Node;

    string IRouterNodeEntry.Router => Client.Router;

    (string Incarnation, long Sequence)? IRouterNodeEntry.Order => null;

    /// <summary>What the node signs: every field of the client.</summary>
    public static NodeStatement Statement(RegisteredClient client)
    {
        ArgumentNullException.ThrowIfNull(client);
        return new NodeStatement("fabric.services.client.v1")
            .Add(client.Name).Add(client.Router).Add(client.Node).Add(client.Member).Add(client.Network).Add(client.Address).Add(client.Tenant);
    }

    public NodeStatement Statement() => Statement(Client);

    /// <summary>The key its content files it under.</summary>
    public string OwnKey => AttachedClients.Key(Client.Name, Client.Node);

    /// <summary>The same client with the same seal.</summary>
    public bool SameAs(SealedClient? other) => other is not null && other.Client == Client && NodeSeal.Same(other.Seal, Seal);
}

/// <summary>
/// The clients the CNI plugin attached, across the cluster: the Distributed Data key, what a node writes and what a node
/// compiles in. Each router node writes only its own entries, sealed; everyone reads and believes an entry only from the
/// node it names, for that node's own router. Pure functions; thread-safe.
/// </summary>
public static class AttachedClients
{
    /// <summary>Every attached client under <see cref="Key"/>.</summary>
    public static readonly LWWDictionaryKey<Cluster.EntryName, SealedClient> Registry = new("fabric-attached-clients-v1");

    public static string Key(string name, string node) => $"client/{name}@{node}";

    /// <summary>The entries <paramref name="node"/> registers: one per client (tenant, no service) of <paramref name="attachedHere"/>.</summary>
    public static IReadOnlyDictionary<string, RegisteredClient> Desired(IEnumerable<AttachedWorkload> attachedHere, string router, string node, string member)
    {
        ArgumentNullException.ThrowIfNull(attachedHere);
        return attachedHere
            .Where(w => w.Tenant is not null && w.Service is null)
            .ToDictionary(
                w => Key(w.Name, node),
                w => new RegisteredClient(w.Name, router, node, member, w.Network, w.Address.ToString(), w.Tenant!),
                StringComparer.Ordinal);
    }

    /// <summary>
    /// The writes that make <paramref name="registry"/> hold exactly <paramref name="desired"/> of <paramref name="node"/>:
    /// entries to set (new, changed, or held with another seal) and this node's keys to remove (clients detached).
    /// </summary>
    public static (IReadOnlyList<KeyValuePair<string, SealedClient>> Set, IReadOnlyList<string> Remove) Reconcile(
        IReadOnlyDictionary<string, SealedClient> registry, string node, IReadOnlyDictionary<string, SealedClient> desired)
    {
        ArgumentNullException.ThrowIfNull(registry);
        ArgumentNullException.ThrowIfNull(desired);
        var set = desired.Where(d => !registry.TryGetValue(d.Key, out var current) || !current.SameAs(d.Value)).ToList();
        var remove = registry
            .Where(r => !desired.ContainsKey(r.Key) && (r.Value.Client.Node == node || r.Key.EndsWith("@" + node, StringComparison.Ordinal)))
            .Select(r => r.Key).ToList();
        return (set, remove);
    }

    /// <summary>The clients a reader believes (<see cref="NodeEntries.Believed{TEntry, TContent}"/>), by key.</summary>
    public static Dictionary<string, RegisteredClient> Believed(IReadOnlyDictionary<string, SealedClient> entries, NodeEntries reader, INodeRouters? routers)
    {
        ArgumentNullException.ThrowIfNull(reader);
        return reader.Believed(entries, routers, e => e.Client);
    }

    /// <summary>
    /// The clients of <paramref name="registered"/> that a router other than <paramref name="router"/> attached, as
    /// workloads its document merges in (<see cref="AttachedWorkloads.Merge"/>), ordered by name: each at its router's
    /// network, with its tenant, so this router's placement lists it there. Left out: a name the committed document or
    /// <paramref name="attachedHere"/> holds, an address either holds (a client attached here wins over another router's
    /// entry not yet withdrawn), a tenant, router or host-based network the document does not have, an unreadable address.
    /// Both nodes of an HA pair register their router's clients: one workload per name.
    /// </summary>
    public static IReadOnlyList<AttachedWorkload> Of(
        FabricConfig committed, string router, IEnumerable<RegisteredClient> registered, IEnumerable<AttachedWorkload> attachedHere)
    {
        ArgumentNullException.ThrowIfNull(committed);
        ArgumentNullException.ThrowIfNull(registered);
        ArgumentNullException.ThrowIfNull(attachedHere);
        var here = attachedHere.ToList();
        var names = committed.Containers().Select(c => c.Container.Name).Concat(here.Select(w => w.Name)).ToHashSet(StringComparer.Ordinal);
        var addresses = committed.Containers().SelectMany(c => c.Container.Addresses).Concat(here.Select(w => w.Address)).ToHashSet();
        var workloads = new SortedDictionary<string, AttachedWorkload>(StringComparer.Ordinal);
        foreach (var client in registered)
        {
            if (client.Router == router || names.Contains(client.Name) || workloads.ContainsKey(client.Name)
                || !System.Net.IPAddress.TryParse(client.Address, out var address) || addresses.Contains(address)
                || committed.FindTenant(client.Tenant) is null
                || committed.FindRouter(client.Router)?.Networks.Any(n => n.Name == client.Network && n.Model == NetworkModel.HostBased) != true)
            {
                continue;
            }

            workloads[client.Name] = new AttachedWorkload(client.Name, client.Router, client.Network, address, client.Tenant, Service: null);
        }

        return [.. workloads.Values];
    }
}
