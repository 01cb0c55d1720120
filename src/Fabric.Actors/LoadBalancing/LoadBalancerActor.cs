using Akka.Actor;
using Akka.DistributedData;
using Akka.Event;
using Fabric.Actors.Cluster;
using Fabric.Actors.Security;
using Fabric.Actors.Services;

namespace Fabric.Actors.LoadBalancing;

/// <summary>
/// One service's load balancing on one router node, across the cluster:
/// <list type="bullet">
/// <item>publishes the sessions this node's dataplane holds on each of its own instances of the service
/// (<see cref="ServiceDistribution.Loads"/>, one entry per node and service, rewritten only when a count changes);</item>
/// <item>follows every node's entries and hands the dataplane, per slot, the sessions others hold there
/// (<see cref="ClusterLoad.SessionsOfOthers"/> → <see cref="IServiceDataplane.ReportClusterLoad"/>), whenever the
/// published counts change or the slots do (a new configuration).</item>
/// </list>
/// The dataplane also learns the same figure from reverse metadata (load feedback) on its own sessions; both write
/// the one "sessions of others" count of a slot, and the later report stands (docs/control-plane.md).
/// Each entry it publishes is sealed with the node's certificate (once per change, with a sequence that grows); it
/// believes only entries sealed by the node they name, for the router that node is part of, and not older than one
/// it believed from the same run of that node; its own entry, replaced by anyone else, it writes again.
/// </summary>
public sealed class LoadBalancerActor : ReceiveActor
{
    private readonly string _service;
    private readonly string _router;
    private readonly string _node;
    private readonly string _member;
    private readonly IServiceDataplane _dataplane;
    private readonly IActorRef _replicator;
    private readonly Akka.Cluster.UniqueAddress _self;
    private readonly NodeSigner? _signer;
    private readonly NodeEntries _entries;
    private IReadOnlyList<ServiceLoad> _loads = [];
    private LocalService? _local;
    private SealedLoad? _published;
    private long _sequence;
    private long[] _handed = [];

    public LoadBalancerActor(string service, string router, string node, IServiceDataplane dataplane, NodeSigner? signer, ControlPlaneRefusals? refusals)
    {
        _signer = signer;
        _entries = new NodeEntries(signer?.Tls, TimeProvider.System, Context.GetLogger(), "service load", refusals);
        _service = service;
        _router = router;
        _node = node;
        _dataplane = dataplane;
        _replicator = DistributedData.Get(Context.System).Replicator;
        _self = Akka.Cluster.Cluster.Get(Context.System).SelfUniqueAddress;
        _member = ServiceDistribution.MemberId(_self);
        Receive<LocalService>(Take);
        Receive<Changed>(changed => changed.Key.Equals(ServiceDistribution.Loads), changed =>
        {
            var entries = changed.Get(ServiceDistribution.Loads).ByName();
            Guard(entries);
            var ofService = entries.Where(e => e.Value.Load.Service == _service).ToDictionary(e => e.Key, e => e.Value, StringComparer.Ordinal);
            _loads = [.. ServiceDistribution.Believed(ofService, _entries, _dataplane).Values];
            HandToDataplane();
        });
        Receive<UpdateSuccess>(_ => { });
        Receive<UpdateTimeout>(_ => { });
    }

    /// <param name="signer">Seals the node's entries, and its CA is what others' seals are checked against; null when the cluster runs without TLS.</param>
    public static Props Props(string service, string router, string node, IServiceDataplane dataplane, NodeSigner? signer = null, ControlPlaneRefusals? refusals = null) =>
        Akka.Actor.Props.Create(() => new LoadBalancerActor(service, router, node, dataplane, signer, refusals));

    protected override void PreStart() => _replicator.Tell(Dsl.Subscribe(ServiceDistribution.Loads, Self));

    private void Take(LocalService local)
    {
        var slotsChanged = _local is null || !SameSlots(_local, local);
        _local = local;
        Publish(local);
        if (slotsChanged)
        {
            _handed = [];
            HandToDataplane();
        }
    }

    private static bool SameSlots(LocalService a, LocalService b) =>
        a.Instances.Select(i => i.Name).SequenceEqual(b.Instances.Select(i => i.Name)) && a.PeerRouters.SequenceEqual(b.PeerRouters);

    private void Publish(LocalService local)
    {
        var key = ServiceDistribution.LoadKey(_service, _node);
        var self = _self;
        if (local.Instances.Count == 0)
        {
            if (_published is not null)
            {
                _replicator.Tell(Dsl.Update(ServiceDistribution.Loads, LWWDictionary<EntryName, SealedLoad>.Empty, WriteLocal.Instance, loads => loads.Remove(self, key)));
                _published = null;
            }

            return;
        }

        var sessions = new Dictionary<string, long>(StringComparer.Ordinal);
        for (var i = 0; i < local.Instances.Count && i < local.LocalSessions.Count; i++)
        {
            sessions[local.Instances[i].Name] = local.LocalSessions[i];
        }

        var load = new ServiceLoad(_service, _router, _node, _member, sessions);
        if (load.SameAs(_published?.Load))
        {
            return;
        }

        var sequence = ++_sequence;
        _published = new SealedLoad(load, sequence, _signer?.Seal(SealedLoad.Statement(load, sequence)));
        Write(_published);
    }

    private void Write(SealedLoad entry)
    {
        var (self, key) = (_self, entry.OwnKey);
        _replicator.Tell(Dsl.Update(ServiceDistribution.Loads, LWWDictionary<EntryName, SealedLoad>.Empty, WriteLocal.Instance, loads => loads.SetItem(self, key, entry)));
    }

    /// <summary>This node's entry holds something other than what it last published (a member wrote it): write it again, with a clock above.</summary>
    private void Guard(Dictionary<string, SealedLoad> entries)
    {
        if (_published is { } mine && (!entries.TryGetValue(mine.OwnKey, out var held) || !mine.SameAs(held)))
        {
            Write(mine);
        }
    }

    /// <summary>
    /// Hands the dataplane each slot's sessions of others when it differs from what was handed last. The node's
    /// own counts are read now, not taken from the last poll: what it sent to a peer router since is in that
    /// router's published total too, and must come off it.
    /// </summary>
    private void HandToDataplane()
    {
        if (_local is null || _dataplane.Service(_service) is not { } local)
        {
            return;
        }

        if (!SameSlots(_local, local))
        {
            _handed = [];
        }

        _local = local;

        var others = ClusterLoad.SessionsOfOthers(local, _loads, _router, _node);
        for (var slot = 0; slot < others.Length; slot++)
        {
            if (slot >= _handed.Length || _handed[slot] != others[slot])
            {
                _dataplane.ReportClusterLoad(_service, slot, others[slot]);
            }
        }

        _handed = others;
    }
}
