using Akka.Actor;
using Akka.DistributedData;
using Fabric.Actors.Security;

namespace Fabric.Actors.Services;

/// <summary>
/// One service on one router node: keeps this node's part of the service's live instance registry
/// (<see cref="ServiceDistribution.Instances"/>) equal to what the dataplane has — the instances behind the
/// router and their health. Each <see cref="LocalService"/> it is handed (every second, and so after every
/// applied configuration) is reconciled against the registry (<see cref="InstanceRegistry.Reconcile"/>):
/// attached instances are added, detached ones removed, a health change rewritten; nothing is written while
/// nothing changes. Each entry is sealed with the node's certificate when its content changes (not on every
/// reconcile); an entry of this node that holds anything but what it sealed (a member wrote it) is written again.
/// Writes are local; gossip carries them to every node within a second or two.
/// </summary>
public sealed class ServiceActor : ReceiveActor
{
    private readonly string _service;
    private readonly string _router;
    private readonly string _node;
    private readonly string _member;
    private readonly IActorRef _replicator;
    private readonly Akka.Cluster.UniqueAddress _self;
    private readonly NodeSigner? _signer;
    private IReadOnlyDictionary<string, SealedInstance> _registry = new Dictionary<string, SealedInstance>();
    private Dictionary<string, SealedInstance> _sealed = new(StringComparer.Ordinal);

    public ServiceActor(string service, string router, string node, NodeSigner? signer)
    {
        _service = service;
        _router = router;
        _node = node;
        _signer = signer;
        _replicator = DistributedData.Get(Context.System).Replicator;
        _self = Akka.Cluster.Cluster.Get(Context.System).SelfUniqueAddress;
        _member = ServiceDistribution.MemberId(_self);
        Receive<LocalService>(Publish);
        Receive<Changed>(changed => changed.Key.Equals(ServiceDistribution.Instances), changed =>
            _registry = changed.Get(ServiceDistribution.Instances).Entries);
        Receive<UpdateSuccess>(_ => { });
        Receive<UpdateTimeout>(_ => { });
    }

    /// <param name="signer">Seals the node's entries; null when the cluster runs without TLS.</param>
    public static Props Props(string service, string router, string node, NodeSigner? signer = null) =>
        Akka.Actor.Props.Create(() => new ServiceActor(service, router, node, signer));

    protected override void PreStart() => _replicator.Tell(Dsl.Subscribe(ServiceDistribution.Instances, Self));

    private void Publish(LocalService local)
    {
        var desired = Seal(InstanceRegistry.Desired(local, _router, _node, _member));
        var (set, remove) = InstanceRegistry.Reconcile(_registry, _service, _node, desired);
        if (set.Count == 0 && remove.Count == 0)
        {
            return;
        }

        // The view above may lag this node's own writes by the notification interval: the writes are decided
        // again on the replica itself, so a repeat changes nothing.
        var (service, node, self) = (_service, _node, _self);
        _replicator.Tell(Dsl.Update(ServiceDistribution.Instances, LWWDictionary<string, SealedInstance>.Empty, WriteLocal.Instance, registry =>
        {
            var (toSet, toRemove) = InstanceRegistry.Reconcile(registry.Entries, service, node, desired);
            foreach (var (key, entry) in toSet)
            {
                registry = registry.SetItem(self, key, entry);
            }

            foreach (var key in toRemove)
            {
                registry = registry.Remove(self, key);
            }

            return registry;
        }));
    }

    /// <summary>This node's entries, sealed: an instance whose content did not change keeps the seal it had.</summary>
    private Dictionary<string, SealedInstance> Seal(IReadOnlyDictionary<string, RegisteredInstance> desired)
    {
        var sealedNow = new Dictionary<string, SealedInstance>(StringComparer.Ordinal);
        foreach (var (key, instance) in desired)
        {
            sealedNow[key] = _sealed.TryGetValue(key, out var held) && held.Instance == instance
                ? held
                : new SealedInstance(instance, _signer?.Seal(SealedInstance.Statement(instance)));
        }

        _sealed = sealedNow;
        return sealedNow;
    }
}
