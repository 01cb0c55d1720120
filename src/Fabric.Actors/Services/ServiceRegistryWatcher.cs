using Akka.Actor;
using Akka.Cluster;
using Akka.DistributedData;
using Akka.Event;
using Fabric.Actors.Cluster;
using Fabric.Actors.Configuration;
using Fabric.Actors.Security;

namespace Fabric.Actors.Services;

/// <summary>
/// Follows the live instance registry and the published loads, and the cluster's membership: answers
/// <see cref="GetServiceRegistry"/> with <see cref="InstanceRegistry.View"/> (instances of an unreachable node
/// shown as unreachable), and when a node leaves the cluster (removed: left, or downed by the split-brain
/// resolver) removes every entry it wrote. Every router node and the conductor run one; the removals are
/// idempotent, so it does not matter how many survivors make them. It shows only the entries it believes
/// (<see cref="ServiceDistribution.Believed(IReadOnlyDictionary{string, SealedInstance}, NodeEntries, INodeRouters?)"/>):
/// sealed by the node they name, for the router that node is part of when the watcher knows the routers' nodes; each
/// configuration the node applies has what it read judged again (what the watcher believed before it knew the routers).
/// A router node's watcher hands every registry it believes to its <see cref="IRemoteInstanceHost"/>, which compiles in
/// the instances and the clients other routers attached (the latter from <see cref="AttachedClients.Registry"/>, believed
/// and forgotten with their node as the instances are).
/// </summary>
public sealed class ServiceRegistryWatcher : ReceiveActor
{
    private readonly IActorRef _replicator;
    private readonly UniqueAddress _self;
    private readonly HashSet<string> _unreachable = new(StringComparer.Ordinal);

    /// <summary>
    /// The members this node saw removed. A member's id carries its incarnation, so none comes back; each is a few dozen
    /// characters, kept for the process's life.
    /// </summary>
    private readonly HashSet<string> _removed = new(StringComparer.Ordinal);
    private IReadOnlyDictionary<string, SealedInstance> _instanceEntries = new Dictionary<string, SealedInstance>();
    private IReadOnlyDictionary<string, SealedLoad> _loadEntries = new Dictionary<string, SealedLoad>();
    private IReadOnlyDictionary<string, RegisteredInstance> _instances = new Dictionary<string, RegisteredInstance>();
    private IReadOnlyDictionary<string, ServiceLoad> _loads = new Dictionary<string, ServiceLoad>();
    private IReadOnlyDictionary<string, SealedClient> _clientEntries = new Dictionary<string, SealedClient>();
    private IReadOnlyDictionary<string, RegisteredClient> _clients = new Dictionary<string, RegisteredClient>();

    public ServiceRegistryWatcher(ClusterTls? tls, INodeRouters? routers, ControlPlaneRefusals? refusals, IRemoteInstanceHost? host, string? node = null)
    {
        _replicator = DistributedData.Get(Context.System).Replicator;
        _self = Akka.Cluster.Cluster.Get(Context.System).SelfUniqueAddress;
        var log = Context.GetLogger();
        var instances = new NodeEntries(tls, TimeProvider.System, log, "registered instance", refusals);
        var loads = new NodeEntries(tls, TimeProvider.System, log, "service load", refusals);
        var clients = new NodeEntries(tls, TimeProvider.System, log, "attached client", refusals);
        Receive<Changed>(changed => changed.Key.Equals(ServiceDistribution.Instances), changed =>
        {
            _instanceEntries = changed.Get(ServiceDistribution.Instances).ByName();
            ForgetAgain(_instanceEntries, i => i.Instance.Member);
            _instances = ServiceDistribution.Believed(_instanceEntries, instances, routers);
            if (host?.HostRemoteInstances([.. _instances.Values]) == true)
            {
                Recompiled(node);
            }
        });
        Receive<Changed>(changed => changed.Key.Equals(ServiceDistribution.Loads), changed =>
        {
            _loadEntries = changed.Get(ServiceDistribution.Loads).ByName();
            ForgetAgain(_loadEntries, l => l.Load.Member);
            _loads = ServiceDistribution.Believed(_loadEntries, loads, routers);
        });
        Receive<Changed>(changed => changed.Key.Equals(AttachedClients.Registry), changed =>
        {
            _clientEntries = changed.Get(AttachedClients.Registry).ByName();
            ForgetAgain(_clientEntries, c => c.Client.Member);
            _clients = AttachedClients.Believed(_clientEntries, clients, routers);
            if (host?.HostRemoteClients([.. _clients.Values]) == true)
            {
                Recompiled(node);
            }
        });
        Receive<ConfigurationApplied>(_ =>
        {
            // The configuration says which router each node is part of: what was read before it is judged again (an
            // entry believed while no configuration was in force may be refused now, and the dataplane told).
            var before = _instances;
            _instances = ServiceDistribution.Believed(_instanceEntries, instances, routers);
            _loads = ServiceDistribution.Believed(_loadEntries, loads, routers);
            if (!before.Keys.ToHashSet(StringComparer.Ordinal).SetEquals(_instances.Keys))
            {
                host?.HostRemoteInstances([.. _instances.Values]);
            }

            var clientsBefore = _clients;
            _clients = AttachedClients.Believed(_clientEntries, clients, routers);
            if (!clientsBefore.Keys.ToHashSet(StringComparer.Ordinal).SetEquals(_clients.Keys))
            {
                host?.HostRemoteClients([.. _clients.Values]);
            }
        });
        Receive<ClusterEvent.UnreachableMember>(e => _unreachable.Add(ServiceDistribution.MemberId(e.Member.UniqueAddress)));
        Receive<ClusterEvent.ReachableMember>(e => _unreachable.Remove(ServiceDistribution.MemberId(e.Member.UniqueAddress)));
        Receive<ClusterEvent.MemberRemoved>(e =>
        {
            var member = ServiceDistribution.MemberId(e.Member.UniqueAddress);
            _removed.Add(member);
            Forget(member);
        });
        Receive<ClusterEvent.IMemberEvent>(_ => { });
        Receive<GetServiceRegistry>(_ => Sender.Tell(new ServiceRegistryView(InstanceRegistry.View(_instances, _loads, _unreachable))));
        Receive<UpdateSuccess>(_ => { });
        Receive<UpdateTimeout>(_ => { });
    }

    /// <param name="tls">The cluster TLS whose CA the entries' seals must chain to; null when the cluster runs without it (no seal is checked).</param>
    /// <param name="routers">Which router each node is part of; null: not checked (a node's seal is still).</param>
    /// <param name="refusals">Where refused entries are counted; null: nowhere.</param>
    /// <param name="host">The router node that compiles in the instances other routers attached; null: none (the conductor).</param>
    /// <param name="node">The router node <paramref name="host"/> is, named in the <see cref="PlacementRecompiled"/> it publishes after it handed the host the registry.</param>
    public static Props Props(ClusterTls? tls = null, INodeRouters? routers = null, ControlPlaneRefusals? refusals = null, IRemoteInstanceHost? host = null, string? node = null) =>
        Akka.Actor.Props.Create(() => new ServiceRegistryWatcher(tls, routers, refusals, host, node));

    /// <summary>Tells the node's actors that its host compiled what the registry holds in (a router node only).</summary>
    private static void Recompiled(string? node)
    {
        if (node is not null)
        {
            Context.System.EventStream.Publish(new PlacementRecompiled(node));
        }
    }

    protected override void PreStart()
    {
        _replicator.Tell(Dsl.Subscribe(ServiceDistribution.Instances, Self));
        _replicator.Tell(Dsl.Subscribe(ServiceDistribution.Loads, Self));
        _replicator.Tell(Dsl.Subscribe(AttachedClients.Registry, Self));
        Context.System.EventStream.Subscribe(Self, typeof(ConfigurationApplied));
        Akka.Cluster.Cluster.Get(Context.System).Subscribe(
            Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents, typeof(ClusterEvent.IMemberEvent), typeof(ClusterEvent.IReachabilityEvent));
    }

    protected override void PostStop()
    {
        Akka.Cluster.Cluster.Get(Context.System).Unsubscribe(Self);
        Context.System.EventStream.Unsubscribe(Self, typeof(ConfigurationApplied));
    }

    /// <summary>
    /// Removes again what a removed member wrote that is back in a replica: a write the member made while it left (its
    /// load balancer rewrites its entry when it sees it gone) can reach this replica after the removal, from a replica
    /// that had not yet seen the member go; nothing else would ever remove it, and its sessions would count at its
    /// router for good.
    /// </summary>
    private void ForgetAgain<T>(IReadOnlyDictionary<string, T> entries, Func<T, string> memberOf)
    {
        if (_removed.Count == 0)
        {
            return;
        }

        foreach (var member in entries.Values.Select(memberOf).Where(_removed.Contains).Distinct(StringComparer.Ordinal).ToList())
        {
            Forget(member);
        }
    }

    /// <summary>Removes what a member that left wrote, deciding on the replica itself (this view may lag).</summary>
    private void Forget(string member)
    {
        _unreachable.Remove(member);
        var self = _self;
        _replicator.Tell(Dsl.Update(ServiceDistribution.Instances, LWWDictionary<EntryName, SealedInstance>.Empty, WriteLocal.Instance, registry =>
        {
            foreach (var key in InstanceRegistry.LeftBy(registry.ByName(), member, i => i.Instance.Member))
            {
                registry = registry.Remove(self, key);
            }

            return registry;
        }));
        _replicator.Tell(Dsl.Update(ServiceDistribution.Loads, LWWDictionary<EntryName, SealedLoad>.Empty, WriteLocal.Instance, loads =>
        {
            foreach (var key in InstanceRegistry.LeftBy(loads.ByName(), member, l => l.Load.Member))
            {
                loads = loads.Remove(self, key);
            }

            return loads;
        }));
        _replicator.Tell(Dsl.Update(AttachedClients.Registry, LWWDictionary<EntryName, SealedClient>.Empty, WriteLocal.Instance, registry =>
        {
            foreach (var key in InstanceRegistry.LeftBy(registry.ByName(), member, c => c.Client.Member))
            {
                registry = registry.Remove(self, key);
            }

            return registry;
        }));
    }
}

/// <summary>
/// Published on the local event stream when router node <paramref name="Node"/> may have compiled in a change of what is
/// attached, here (<see cref="IRemoteInstanceHost.AttachedHereChanged"/>) or at other routers (the registries), at the
/// version it runs: for actors of the node that act on a new placement at once rather than at their next tick (a
/// client that arrived or left, <see cref="Sessions.SessionActor"/>). Never crosses the network.
/// </summary>
public sealed record PlacementRecompiled(string Node);
