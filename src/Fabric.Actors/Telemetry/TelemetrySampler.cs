using Akka.Actor;
using Akka.DistributedData;
using Fabric.Actors.Security;

namespace Fabric.Actors.Telemetry;

/// <summary>
/// One router node's telemetry sampler: every interval it samples its <see cref="ITelemetrySource"/> and
/// writes the sample, sealed with the node's cluster certificate, as the node's entry of
/// <see cref="TelemetryDistribution.Latest"/> (a local write; gossip carries it to the conductor within a second).
/// </summary>
public sealed class TelemetrySampler : ReceiveActor, IWithTimers
{
    private sealed record Tick
    {
        public static readonly Tick Instance = new();
    }

    private readonly string _node;
    private readonly string _router;
    private readonly ITelemetrySource _source;
    private readonly TimeProvider _time;
    private readonly TimeSpan _interval;
    private readonly NodeSigner? _signer;
    private readonly IActorRef _replicator;
    private readonly Akka.Cluster.UniqueAddress _self;

    public TelemetrySampler(string node, string router, ITelemetrySource source, TimeProvider time, TimeSpan interval, NodeSigner? signer)
    {
        _signer = signer;
        _node = node;
        _router = router;
        _source = source;
        _time = time;
        _interval = interval;
        _replicator = DistributedData.Get(Context.System).Replicator;
        _self = Akka.Cluster.Cluster.Get(Context.System).SelfUniqueAddress;
        Receive<Tick>(_ => Sample());
        Receive<UpdateSuccess>(_ => { });
        Receive<UpdateTimeout>(_ => { });
    }

    public ITimerScheduler Timers { get; set; } = null!;

    /// <param name="signer">Seals each sample with the node's cluster certificate; null when the cluster runs without TLS.</param>
    public static Props Props(string node, string router, ITelemetrySource source, TimeProvider time, TimeSpan interval, NodeSigner? signer = null) =>
        Akka.Actor.Props.Create(() => new TelemetrySampler(node, router, source, time, interval, signer));

    protected override void PreStart() => Timers.StartPeriodicTimer("sample", Tick.Instance, _interval);

    private void Sample()
    {
        var sample = new CounterSample(_node, _router, _time.GetUtcNow().ToUnixTimeMilliseconds(), _source.Sample());
        var report = new TelemetryReport(sample, _signer?.Seal(TelemetryReport.Statement(sample)));
        _replicator.Tell(Dsl.Update(
            TelemetryDistribution.Latest,
            LWWDictionary<string, TelemetryReport>.Empty,
            WriteLocal.Instance,
            reports => reports.SetItem(_self, _node, report)));
    }
}
