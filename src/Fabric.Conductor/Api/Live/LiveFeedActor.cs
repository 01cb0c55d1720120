using Akka.Actor;
using Akka.Cluster.Tools.PublishSubscribe;
using Akka.DistributedData;
using Akka.Event;
using Fabric.Actors.Cluster;
using Fabric.Actors.Configuration;
using Fabric.Actors.Security;
using Fabric.Actors.Sessions;
using Fabric.Actors.Telemetry;
using Fabric.Conductor.Configuration;
using Fabric.Config;
using Fabric.Model;

namespace Fabric.Conductor.Api.Live;

/// <summary>
/// Feeds a <see cref="LiveFeed"/> on every conductor node (not only the singleton's: each node serves the API): follows
/// the routers' configuration statuses (<see cref="ConfigDistribution.Status"/>) and the running version
/// (<see cref="ConfigDistribution.Running"/>) in Distributed Data, as the conductor does, and subscribes to the routers'
/// samples (<see cref="TelemetryDistribution.Topic"/>) and flows (<see cref="FlowDistribution.Topic"/>: sessions
/// opening and closing, drops); it hands the feed each new sample, each flow batch and each change of the rollout. It
/// believes what the conductor believes: samples and acks sealed by the node they name (<see cref="NodeEntries"/>),
/// and a running configuration only when the conductor's key signed it, since any member can write those keys.
/// The feed never blocks, so neither does this actor.
/// </summary>
public sealed class LiveFeedActor : ReceiveActor
{
    private readonly LiveFeed _feed;
    private readonly ConductorKeyPin _conductorKey;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly NodeEntries _samples;
    private readonly NodeEntries _acks;
    private readonly Dictionary<string, RouterConfigStatus> _statuses = new(StringComparer.Ordinal);
    private long _running;
    private FabricConfig? _model;

    public LiveFeedActor(LiveFeed feed, ConductorKeyPin conductorKey, ClusterTls? tls, TimeProvider time)
    {
        _feed = feed;
        _conductorKey = conductorKey;
        _samples = new NodeEntries(tls, time, _log, "telemetry");
        _acks = new NodeEntries(tls, time, _log, "configuration ack");
        Receive<SessionEventBatch>(_feed.Sessions);
        Receive<DropEventBatch>(_feed.Drops);
        Receive<SubscribeAck>(_ => { });
        Receive<TelemetryReport>(report =>
        {
            if (_feed.IsNew(report.Sample) && _samples.Believe(report.Sample.Node, report.Sample.Node, TelemetryReport.Statement(report.Sample), report.Seal))
            {
                _feed.Sample(report.Sample);
            }
        });
        Receive<Changed>(changed => changed.Key.Equals(ConfigDistribution.Status), changed =>
        {
            var moved = false;
            foreach (var (node, ack) in changed.Get(ConfigDistribution.Status).ByName())
            {
                if ((!_statuses.TryGetValue(node, out var held) || held != ack.Status) && _acks.Believe(node, ack.Status.Node, ack.Statement(), ack.Seal))
                {
                    _statuses[node] = ack.Status;
                    moved = true;
                }
            }

            if (moved)
            {
                Progress();
            }
        });
        Receive<Changed>(changed => changed.Key.Equals(ConfigDistribution.Running), changed =>
        {
            var running = changed.Get(ConfigDistribution.Running).Value;
            if (running is not null && running.Version != _running && _conductorKey.Verifies(running.Version, running.Text, running.Signature))
            {
                _running = running.Version;
                _model = FabricConfigLoader.Load(running.Text).Config;
                Progress();
            }
        });
    }

    /// <param name="conductorKey">The conductor's public key: the running configuration counts only when it signed it.</param>
    /// <param name="tls">The cluster's TLS: its CA says whose seal an ack or a sample carries; null when the cluster runs without TLS.</param>
    public static Props Props(LiveFeed feed, ConductorKeyPin conductorKey, ClusterTls? tls, TimeProvider time) =>
        Akka.Actor.Props.Create(() => new LiveFeedActor(feed, conductorKey, tls, time));

    protected override void PreStart()
    {
        var mediator = DistributedPubSub.Get(Context.System).Mediator;
        mediator.Tell(new Akka.Cluster.Tools.PublishSubscribe.Subscribe(FlowDistribution.Topic, Self));
        mediator.Tell(new Akka.Cluster.Tools.PublishSubscribe.Subscribe(TelemetryDistribution.Topic, Self));
        var replicator = DistributedData.Get(Context.System).Replicator;
        replicator.Tell(Dsl.Subscribe(ConfigDistribution.Status, Self));
        replicator.Tell(Dsl.Subscribe(ConfigDistribution.Running, Self));
    }

    private void Progress()
    {
        var nodes = ConfigRollout.View(_running, _model, _statuses);
        _feed.Progress(new RolloutEvent(
            _running,
            nodes.Count > 0 && nodes.All(n => !n.Drift),
            [.. nodes.Select(n => new RolloutNodeEvent(n.Node, n.Router, n.Reported, n.Applied, n.Drift, n.FailedVersion, n.Failure))]));
    }
}
