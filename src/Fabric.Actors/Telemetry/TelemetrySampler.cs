using Akka.Actor;
using Akka.Cluster.Tools.PublishSubscribe;
using Fabric.Actors.Security;

namespace Fabric.Actors.Telemetry;

/// <summary>
/// One router node's telemetry sampler: every interval it samples its <see cref="ITelemetrySource"/> and
/// publishes the sample, sealed with the node's cluster certificate, on <see cref="TelemetryDistribution.Topic"/>
/// (the pub-sub mediator sends it to each conductor node that subscribes; none subscribing, it is dropped).
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
    private readonly IActorRef _mediator;

    public TelemetrySampler(string node, string router, ITelemetrySource source, TimeProvider time, TimeSpan interval, NodeSigner? signer)
    {
        _signer = signer;
        _node = node;
        _router = router;
        _source = source;
        _time = time;
        _interval = interval;
        _mediator = DistributedPubSub.Get(Context.System).Mediator;
        Receive<Tick>(_ => Sample());
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
        _mediator.Tell(new Publish(TelemetryDistribution.Topic, report));
    }
}
