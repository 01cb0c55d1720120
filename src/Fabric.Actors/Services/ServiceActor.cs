using Akka.Actor;
using Akka.DistributedData;
using Akka.Event;
using Fabric.Actors.Cluster;
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
/// For a service this node balances over peer routers, it also reads the registry the other way: a router whose
/// instances of the service are all down (as the entries it sealed say) takes no new sessions from this node
/// (<see cref="IServiceDataplane.ReportPeerHealth"/>) until one is up again.
/// </summary>
public sealed class ServiceActor : ReceiveActor
{
    private readonly string _service;
    private readonly string _router;
    private readonly string _node;
    private readonly string _member;
    private readonly IActorRef _replicator;
    private readonly Akka.Cluster.UniqueAddress _self;
    private readonly IServiceDataplane _dataplane;
    private readonly NodeEntries _entries;
    private IReadOnlyDictionary<string, SealedInstance> _registry = new Dictionary<string, SealedInstance>();
    private readonly SealedOnChange<RegisteredInstance, SealedInstance> _sealed;
    private IReadOnlyList<RegisteredInstance> _believed = [];
    private LocalService? _local;

    public ServiceActor(string service, string router, string node, IServiceDataplane dataplane, NodeSigner? signer)
    {
        _service = service;
        _router = router;
        _node = node;
        _dataplane = dataplane;
        _sealed = new(instance => new SealedInstance(instance, signer?.Seal(SealedInstance.Statement(instance))), entry => entry.Instance);
        // Refusals are not counted here: the node's ServiceRegistryWatcher judges the same entries and counts each once.
        _entries = new NodeEntries(signer?.Tls, TimeProvider.System, Context.GetLogger(), "registered instance");
        _replicator = DistributedData.Get(Context.System).Replicator;
        _self = Akka.Cluster.Cluster.Get(Context.System).SelfUniqueAddress;
        _member = ServiceDistribution.MemberId(_self);
        Receive<LocalService>(local =>
        {
            // A new configuration may say otherwise which router each node is part of: the entries are judged again.
            _local = local;
            Believe();
            Publish(local);
            HandPeerHealth();
        });
        Receive<Changed>(changed => changed.Key.Equals(ServiceDistribution.Instances), changed =>
        {
            _registry = changed.Get(ServiceDistribution.Instances).ByName();
            Believe();
            HandPeerHealth();
        });
        Receive<UpdateSuccess>(_ => { });
        Receive<UpdateTimeout>(_ => { });
    }

    /// <param name="dataplane">Where the health of the peer routers that host the service is handed (a service with no instance here).</param>
    /// <param name="signer">Seals the node's entries, and its CA is what others' seals are checked against; null when the cluster runs without TLS.</param>
    public static Props Props(string service, string router, string node, IServiceDataplane dataplane, NodeSigner? signer = null) =>
        Akka.Actor.Props.Create(() => new ServiceActor(service, router, node, dataplane, signer));

    /// <summary>
    /// Hands the dataplane, for a service balanced over peer routers, whether each router may take its sessions
    /// (<see cref="InstanceRegistry.PeerRoutersUp"/>); every time, since a configuration that changes the slots starts them up again.
    /// </summary>
    private void HandPeerHealth()
    {
        if (_local is not { PeerRouters.Count: > 0 } local)
        {
            return;
        }

        var up = InstanceRegistry.PeerRoutersUp(local, _believed);
        for (var slot = 0; slot < up.Length; slot++)
        {
            _dataplane.ReportPeerHealth(_service, slot, local.PeerRouters[slot], up[slot]);
        }
    }

    protected override void PreStart() => _replicator.Tell(Dsl.Subscribe(ServiceDistribution.Instances, Self));

    /// <summary>The service's entries of the registry as last read that this node believes, as it knows the routers now.</summary>
    private void Believe()
    {
        var ofService = _registry.Where(e => e.Value.Instance.Service == _service).ToDictionary(e => e.Key, e => e.Value, StringComparer.Ordinal);
        _believed = [.. ServiceDistribution.Believed(ofService, _entries, _dataplane).Values];
    }

    private void Publish(LocalService local)
    {
        var (service, node) = (_service, _node);
        var desired = _sealed.Seal(InstanceRegistry.Desired(local, _router, _node, _member));
        OwnEntries.Publish(_replicator, ServiceDistribution.Instances, _self, _registry, registry => InstanceRegistry.Reconcile(registry, service, node, desired));
    }
}
