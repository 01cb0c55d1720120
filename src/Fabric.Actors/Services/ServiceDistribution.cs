using Akka.DistributedData;
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
/// The Distributed Data keys of the live service registry and of per-instance load. Each router node writes
/// only its own entries (and removes those of a node that left the cluster); everyone reads.
/// </summary>
public static class ServiceDistribution
{
    /// <summary>Every registered instance under <see cref="InstanceKey"/>: the live instance registry.</summary>
    public static readonly LWWDictionaryKey<string, RegisteredInstance> Instances = new("fabric-service-instances");

    /// <summary>Every node's load on its instances of each service under <see cref="LoadKey"/>.</summary>
    public static readonly LWWDictionaryKey<string, ServiceLoad> Loads = new("fabric-instance-load");

    /// <summary>How often a router node reads its dataplane's instances, health and session counts unless told otherwise.</summary>
    public static readonly TimeSpan DefaultInterval = TimeSpan.FromSeconds(1);

    /// <summary>A cluster incarnation as entries name it: <c>address#uid</c> (a restarted node is a new one).</summary>
    public static string MemberId(Akka.Cluster.UniqueAddress member)
    {
        ArgumentNullException.ThrowIfNull(member);
        return $"{member.Address}#{member.Uid}";
    }

    public static string InstanceKey(string service, string instance, string node) => $"{service}/{instance}@{node}";

    public static string LoadKey(string service, string node) => $"{service}@{node}";
}
