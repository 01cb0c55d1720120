using Akka.DistributedData;
using Fabric.Actors.Cluster;
using Fabric.Actors.Security;
using Fabric.Actors.Serialization;

namespace Fabric.Actors.Services;

/// <summary>
/// One instance of a service as a router node registers it in the cluster-wide registry.
/// </summary>
/// <param name="Router">The router the instance lives behind (an instance lives behind one router).</param>
/// <param name="Node">The router node that registered it (both nodes of an HA pair register their router's instances).</param>
/// <param name="Member">The registering node's cluster incarnation (<c>address#uid</c>): when it leaves the cluster, its entries go.</param>
/// <param name="Container">The container the instance is, or null for an address instance.</param>
/// <param name="Address">The instance's addresses as the dataplane reaches them (IPv4 first), and its port when it rewrites one.</param>
/// <param name="IsUp">The dataplane's health of the instance: whether it takes new sessions.</param>
[WireMessage("fabric.services.instance.v1")]
public sealed record RegisteredInstance(string Service, string Instance, string Router, string Node, string Member, string? Container, string Address, bool IsUp);

/// <summary>
/// One router node's active sessions on its own instances of one service, by instance name: the sessions its
/// dataplane placed there, whoever opened them (an egress counts the sessions other routers send it).
/// </summary>
[WireMessage("fabric.services.load.v1")]
public sealed record ServiceLoad(string Service, string Router, string Node, string Member, IReadOnlyDictionary<string, long> Sessions)
{
    /// <summary>Same service, node, incarnation and counts (records compare dictionaries by reference).</summary>
    public bool SameAs(ServiceLoad? other) =>
        other is not null && other.Service == Service && other.Router == Router && other.Node == Node && other.Member == Member
        && other.Sessions.Count == Sessions.Count && Sessions.All(s => other.Sessions.TryGetValue(s.Key, out var n) && n == s.Value);
}

/// <summary>
/// An instance as its node registers it, with the node's seal (<see cref="NodeSigner"/>), null when the cluster runs
/// without TLS. A reader believes it only under its own key (<see cref="ServiceDistribution.InstanceKey"/>), sealed by
/// the node it names, for the router that node is part of (<see cref="NodeEntries"/>).
/// </summary>
[WireMessage("fabric.services.sealed-instance.v1")]
public sealed record SealedInstance(RegisteredInstance Instance, NodeSeal? Seal) : IRouterNodeEntry
{
    string IRouterNodeEntry.Node => Instance.Node;

    string IRouterNodeEntry.Router => Instance.Router;

    (string Incarnation, long Sequence)? IRouterNodeEntry.Order => null;

    /// <summary>What the node signs: every field of the instance.</summary>
    public static NodeStatement Statement(RegisteredInstance instance)
    {
        ArgumentNullException.ThrowIfNull(instance);
        return new NodeStatement("fabric.services.instance.v1")
            .Add(instance.Service).Add(instance.Instance).Add(instance.Router).Add(instance.Node).Add(instance.Member)
            .Add(instance.Container).Add(instance.Address).Add(instance.IsUp);
    }

    public NodeStatement Statement() => Statement(Instance);

    /// <summary>The key its content files it under.</summary>
    public string OwnKey => ServiceDistribution.InstanceKey(Instance.Service, Instance.Instance, Instance.Node);

    /// <summary>The same instance with the same seal (records compare arrays by reference).</summary>
    public bool SameAs(SealedInstance? other) => other is not null && other.Instance == Instance && NodeSeal.Same(other.Seal, Seal);
}

/// <summary>
/// A node's load on one service as it publishes it: <paramref name="Sequence"/> grows with every entry the node's run
/// (<see cref="ServiceLoad.Member"/>) publishes, so a reader refuses an earlier entry replayed; with the node's seal,
/// null when the cluster runs without TLS. Believed like <see cref="SealedInstance"/>.
/// </summary>
[WireMessage("fabric.services.sealed-load.v1")]
public sealed record SealedLoad(ServiceLoad Load, long Sequence, NodeSeal? Seal) : IRouterNodeEntry
{
    string IRouterNodeEntry.Node => Load.Node;

    string IRouterNodeEntry.Router => Load.Router;

    (string Incarnation, long Sequence)? IRouterNodeEntry.Order => (Load.Member, Sequence);

    /// <summary>What the node signs: every field of the load, and the sequence.</summary>
    public static NodeStatement Statement(ServiceLoad load, long sequence)
    {
        ArgumentNullException.ThrowIfNull(load);
        return new NodeStatement("fabric.services.load.v1")
            .Add(load.Service).Add(load.Router).Add(load.Node).Add(load.Member).Add(sequence).Add(load.Sessions);
    }

    public NodeStatement Statement() => Statement(Load, Sequence);

    /// <summary>The key its content files it under.</summary>
    public string OwnKey => ServiceDistribution.LoadKey(Load.Service, Load.Node);

    /// <summary>The same entry with the same seal.</summary>
    public bool SameAs(SealedLoad? other) => other is not null && other.Load.SameAs(Load) && other.Sequence == Sequence && NodeSeal.Same(other.Seal, Seal);
}

/// <summary>
/// The Distributed Data keys of the live service registry and of per-instance load. Each router node writes
/// only its own entries, sealed (and removes those of a node that left the cluster); everyone reads, and believes an
/// entry only from the node it names, for that node's own router (any member can write any entry).
/// </summary>
public static class ServiceDistribution
{
    /// <summary>Every registered instance under <see cref="InstanceKey"/>: the live instance registry.</summary>
    public static readonly LWWDictionaryKey<EntryName, SealedInstance> Instances = new("fabric-service-instances-v3");

    /// <summary>Every node's load on its instances of each service under <see cref="LoadKey"/>.</summary>
    public static readonly LWWDictionaryKey<EntryName, SealedLoad> Loads = new("fabric-instance-load-v3");

    /// <summary>How often a router node reads its dataplane's instances, health and session counts unless told otherwise.</summary>
    public static readonly TimeSpan DefaultInterval = TimeSpan.FromSeconds(1);

    /// <summary>
    /// The least time between two readings a node makes because what it attached changed: the first change is read at
    /// once, those that follow within this time together at its end (a runtime attaching 100 containers causes about one
    /// write of the registries per spacing, not 100). One scheduler tick.
    /// </summary>
    public static readonly TimeSpan AttachmentReadSpacing = TimeSpan.FromMilliseconds(100);

    /// <summary>A cluster incarnation as entries name it: <c>address#uid</c> (a restarted node is a new one).</summary>
    public static string MemberId(Akka.Cluster.UniqueAddress member)
    {
        ArgumentNullException.ThrowIfNull(member);
        return $"{member.Address}#{member.Uid}";
    }

    public static string InstanceKey(string service, string instance, string node) => $"{service}/{instance}@{node}";

    public static string LoadKey(string service, string node) => $"{service}@{node}";

    /// <summary>The instances a reader believes (<see cref="NodeEntries.Believed{TEntry, TContent}"/>), by key.</summary>
    public static Dictionary<string, RegisteredInstance> Believed(IReadOnlyDictionary<string, SealedInstance> entries, NodeEntries reader, INodeRouters? routers)
    {
        ArgumentNullException.ThrowIfNull(reader);
        return reader.Believed(entries, routers, e => e.Instance);
    }

    /// <summary>The loads a reader believes (<see cref="NodeEntries.Believed{TEntry, TContent}"/>; an earlier entry of a node's run is not), by key.</summary>
    public static Dictionary<string, ServiceLoad> Believed(IReadOnlyDictionary<string, SealedLoad> entries, NodeEntries reader, INodeRouters? routers)
    {
        ArgumentNullException.ThrowIfNull(reader);
        return reader.Believed(entries, routers, e => e.Load);
    }
}
