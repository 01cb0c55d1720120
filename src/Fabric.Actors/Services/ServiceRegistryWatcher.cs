using Akka.Actor;
using Akka.Cluster;
using Akka.DistributedData;

namespace Fabric.Actors.Services;

/// <summary>
/// Follows the live instance registry and the published loads, and the cluster's membership: answers
/// <see cref="GetServiceRegistry"/> with <see cref="InstanceRegistry.View"/> (instances of an unreachable node
/// shown as unreachable), and when a node leaves the cluster (removed: left, or downed by the split-brain
/// resolver) removes every entry it wrote. Every router node and the conductor run one; the removals are
/// idempotent, so it does not matter how many survivors make them.
/// </summary>
public sealed class ServiceRegistryWatcher : ReceiveActor
{
    private readonly IActorRef _replicator;
    private readonly UniqueAddress _self;
    private readonly HashSet<string> _unreachable = new(StringComparer.Ordinal);
    private IReadOnlyDictionary<string, RegisteredInstance> _instances = new Dictionary<string, RegisteredInstance>();
    private IReadOnlyDictionary<string, ServiceLoad> _loads = new Dictionary<string, ServiceLoad>();

    public ServiceRegistryWatcher()
    {
        _replicator = DistributedData.Get(Context.System).Replicator;
        _self = Akka.Cluster.Cluster.Get(Context.System).SelfUniqueAddress;
        Receive<Changed>(changed => changed.Key.Equals(ServiceDistribution.Instances), changed => _instances = changed.Get(ServiceDistribution.Instances).Entries);
        Receive<Changed>(changed => changed.Key.Equals(ServiceDistribution.Loads), changed => _loads = changed.Get(ServiceDistribution.Loads).Entries);
        Receive<ClusterEvent.UnreachableMember>(e => _unreachable.Add(ServiceDistribution.MemberId(e.Member.UniqueAddress)));
        Receive<ClusterEvent.ReachableMember>(e => _unreachable.Remove(ServiceDistribution.MemberId(e.Member.UniqueAddress)));
        Receive<ClusterEvent.MemberRemoved>(e => Forget(ServiceDistribution.MemberId(e.Member.UniqueAddress)));
        Receive<ClusterEvent.IMemberEvent>(_ => { });
        Receive<GetServiceRegistry>(_ => Sender.Tell(new ServiceRegistryView(InstanceRegistry.View(_instances, _loads, _unreachable))));
        Receive<UpdateSuccess>(_ => { });
        Receive<UpdateTimeout>(_ => { });
    }

    public static Props Props() => Akka.Actor.Props.Create(() => new ServiceRegistryWatcher());

    protected override void PreStart()
    {
        _replicator.Tell(Dsl.Subscribe(ServiceDistribution.Instances, Self));
        _replicator.Tell(Dsl.Subscribe(ServiceDistribution.Loads, Self));
        Akka.Cluster.Cluster.Get(Context.System).Subscribe(
            Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents, typeof(ClusterEvent.IMemberEvent), typeof(ClusterEvent.IReachabilityEvent));
    }

    protected override void PostStop() => Akka.Cluster.Cluster.Get(Context.System).Unsubscribe(Self);

    /// <summary>Removes what a member that left wrote, deciding on the replica itself (this view may lag).</summary>
    private void Forget(string member)
    {
        _unreachable.Remove(member);
        var self = _self;
        _replicator.Tell(Dsl.Update(ServiceDistribution.Instances, LWWDictionary<string, RegisteredInstance>.Empty, WriteLocal.Instance, registry =>
        {
            foreach (var key in InstanceRegistry.LeftBy(registry.Entries, member, i => i.Member))
            {
                registry = registry.Remove(self, key);
            }

            return registry;
        }));
        _replicator.Tell(Dsl.Update(ServiceDistribution.Loads, LWWDictionary<string, ServiceLoad>.Empty, WriteLocal.Instance, loads =>
        {
            foreach (var key in InstanceRegistry.LeftBy(loads.Entries, member, l => l.Member))
            {
                loads = loads.Remove(self, key);
            }

            return loads;
        }));
    }
}
