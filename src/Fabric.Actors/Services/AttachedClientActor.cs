using Akka.Actor;
using Akka.DistributedData;
using Fabric.Actors.Cluster;
using Fabric.Actors.Security;
using Fabric.Model;

namespace Fabric.Actors.Services;

/// <summary>
/// One router node's part of the attached-client registry (<see cref="AttachedClients.Registry"/>): handed the containers
/// the CNI plugin attached to the node (every <see cref="ServiceDirectory"/> tick), it keeps the node's entries equal to
/// its clients among them (<see cref="AttachedClients.Reconcile"/>), each sealed with the node's certificate when its
/// content changes; nothing is written while nothing changes. Writes are local; gossip carries them to every node.
/// </summary>
public sealed class AttachedClientActor : ReceiveActor
{
    private readonly string _router;
    private readonly string _node;
    private readonly string _member;
    private readonly IActorRef _replicator;
    private readonly Akka.Cluster.UniqueAddress _self;
    private IReadOnlyDictionary<string, SealedClient> _registry = new Dictionary<string, SealedClient>();
    private readonly SealedOnChange<RegisteredClient, SealedClient> _sealed;

    public AttachedClientActor(string router, string node, NodeSigner? signer)
    {
        _router = router;
        _node = node;
        _sealed = new(client => new SealedClient(client, signer?.Seal(SealedClient.Statement(client))), entry => entry.Client);
        _replicator = DistributedData.Get(Context.System).Replicator;
        _self = Akka.Cluster.Cluster.Get(Context.System).SelfUniqueAddress;
        _member = ServiceDistribution.MemberId(_self);
        Receive<AttachedHere>(here => Publish(here.Workloads));
        Receive<Changed>(changed => changed.Key.Equals(AttachedClients.Registry), changed => _registry = changed.Get(AttachedClients.Registry).ByName());
        Receive<UpdateSuccess>(_ => { });
        Receive<UpdateTimeout>(_ => { });
    }

    public static Props Props(string router, string node, NodeSigner? signer = null) =>
        Akka.Actor.Props.Create(() => new AttachedClientActor(router, node, signer));

    protected override void PreStart() => _replicator.Tell(Dsl.Subscribe(AttachedClients.Registry, Self));

    private void Publish(IReadOnlyList<AttachedWorkload> attachedHere)
    {
        var (node, desired) = (_node, _sealed.Seal(AttachedClients.Desired(attachedHere, _router, _node, _member)));
        OwnEntries.Publish(_replicator, AttachedClients.Registry, _self, _registry, registry => AttachedClients.Reconcile(registry, node, desired));
    }
}

/// <summary>The containers the CNI plugin attached to this node, as the node's <see cref="ServiceDirectory"/> read them. Local only.</summary>
public sealed record AttachedHere(IReadOnlyList<AttachedWorkload> Workloads);
