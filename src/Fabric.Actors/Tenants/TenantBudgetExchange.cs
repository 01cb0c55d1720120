using Akka.Actor;
using Akka.DistributedData;
using Akka.Event;
using Fabric.Actors.Cluster;
using Fabric.Actors.Security;

namespace Fabric.Actors.Tenants;

/// <summary>
/// One router node's tenant budget exchange, which makes each service's tenant rate limit hold for the whole
/// fabric: every interval it measures the demand of each limited (service, tenant) bucket of its engine,
/// publishes it as the node's entry of <see cref="TenantBudgetDistribution.Demands"/> (written to every node),
/// reads the other nodes' entries from its local replica and sets each bucket's rate to the node's share of
/// the configured limit (<see cref="TenantBudgetState"/>). A node that hears nobody polices at the whole limit.
/// A node with no limited bucket publishes nothing; a node whose buckets stay idle (no demand in this report nor
/// the last one it published) publishes once every third of <see cref="TenantBudgetSettings.StaleAfter"/>, enough
/// for its peers to keep it live, instead of every interval (each write is a replicated update to every node).
/// Each report it publishes is sealed with the node's certificate; it believes only reports sealed by the node they
/// name, for the router that node is part of, and not older than one it believed from the same run of that node
/// (<see cref="SealedDemandReport.Believed"/>): a member cannot claim a tenant's budget in another node's name.
/// </summary>
public sealed class TenantBudgetExchange : ReceiveActor, IWithTimers
{
    private sealed record Tick
    {
        public static readonly Tick Instance = new();
    }

    private readonly string _router;
    private readonly ITenantBudgetTarget _target;
    private readonly TenantBudgetSettings _settings;
    private readonly TimeProvider _time;
    private readonly long _started;
    private readonly IActorRef _replicator;
    private readonly Akka.Cluster.UniqueAddress _self;
    private readonly string _node;
    private readonly TenantBudgetState _state;
    private readonly string _member;
    private readonly NodeSigner? _signer;
    private readonly NodeEntries _reports;
    private IReadOnlyList<Dataplane.Forwarding.TenantBucket> _buckets = [];
    private bool _publishedIdle;
    private long _publishedAt = long.MinValue / 2;

    public TenantBudgetExchange(string node, string router, ITenantBudgetTarget target, TenantBudgetSettings settings, TimeProvider time, NodeSigner? signer, ControlPlaneRefusals? refusals)
    {
        _signer = signer;
        _reports = new NodeEntries(signer?.Tls, time, Context.GetLogger(), "tenant demand report of node", refusals);
        _node = node;
        _router = router;
        _target = target;
        _settings = settings;
        _time = time;
        _started = time.GetTimestamp();
        _state = new TenantBudgetState(node, settings);
        _replicator = DistributedData.Get(Context.System).Replicator;
        _self = Akka.Cluster.Cluster.Get(Context.System).SelfUniqueAddress;
        _member = Services.ServiceDistribution.MemberId(_self);
        Receive<Tick>(_ => Exchange());
        Receive<GetSuccess>(success => SetShares(success.Get(TenantBudgetDistribution.Demands)));
        Receive<NotFound>(_ => SetShares(LWWDictionary<EntryName, SealedDemandReport>.Empty));
        Receive<GetFailure>(_ => { });
        Receive<UpdateSuccess>(_ => { });
        Receive<UpdateTimeout>(_ => { }); // written locally; gossip carries it to the nodes the write missed
    }

    public ITimerScheduler Timers { get; set; } = null!;

    /// <param name="signer">Seals the node's reports, and its CA is what others' seals are checked against; null when the cluster runs without TLS.</param>
    /// <param name="refusals">Where refused reports are counted; null: nowhere.</param>
    public static Props Props(
        string node, string router, ITenantBudgetTarget target, TenantBudgetSettings settings, TimeProvider time, NodeSigner? signer = null, ControlPlaneRefusals? refusals = null) =>
        Akka.Actor.Props.Create(() => new TenantBudgetExchange(node, router, target, settings, time, signer, refusals));

    protected override void PreStart() => Timers.StartPeriodicTimer("exchange", Tick.Instance, _settings.Interval);

    private long Now => (long)_time.GetElapsedTime(_started).TotalMilliseconds;

    private void Exchange()
    {
        var buckets = _target.LimitedTenantBuckets();
        if (buckets.Count == 0 && _buckets.Count == 0)
        {
            return;
        }

        _buckets = buckets;
        var now = Now;
        var report = _state.Measure(_router, now, buckets.ToDictionary(b => TenantBudgetDistribution.KeyOf(b.Service, b.Tenant), b => b.Bucket.OfferedBytes));
        var idle = report.Demands.Values.All(demand => demand == 0);
        if (!idle || !_publishedIdle || now - _publishedAt >= (long)(_settings.StaleAfter.TotalMilliseconds / 3))
        {
            var entry = new SealedDemandReport(report, _member, _signer?.Seal(SealedDemandReport.Statement(report, _member)));
            var (self, node) = (_self, _node);
            _replicator.Tell(Dsl.Update(
                TenantBudgetDistribution.Demands,
                LWWDictionary<EntryName, SealedDemandReport>.Empty,
                new WriteAll(_settings.Interval),
                reports => reports.SetItem(self, node, entry)));
            _publishedIdle = idle;
            _publishedAt = now;
        }

        _replicator.Tell(Dsl.Get(TenantBudgetDistribution.Demands, ReadLocal.Instance));
    }

    private void SetShares(LWWDictionary<EntryName, SealedDemandReport> reports)
    {
        var now = Now;
        // Its own report is the node's to know, not to check: only the others' are read.
        _state.Heard(SealedDemandReport.Believed(reports.ByName().Where(e => e.Key != _node), _reports, _target), now);
        var limits = _buckets.ToDictionary(b => TenantBudgetDistribution.KeyOf(b.Service, b.Tenant), b => b.Bucket.ConfiguredBytesPerSecond);
        var shares = _state.Shares(now, limits);
        var ticks = _target.Now;
        foreach (var bucket in _buckets)
        {
            bucket.Bucket.SetRate(shares[TenantBudgetDistribution.KeyOf(bucket.Service, bucket.Tenant)], ticks);
        }
    }
}
