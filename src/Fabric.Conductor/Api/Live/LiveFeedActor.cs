using Akka.Actor;
using Akka.Cluster.Tools.PublishSubscribe;
using Akka.DistributedData;
using Fabric.Actors.Sessions;
using Fabric.Actors.Configuration;
using Fabric.Actors.Telemetry;
using Fabric.Conductor.Configuration;
using Fabric.Config;
using Fabric.Model;

namespace Fabric.Conductor.Api.Live;

/// <summary>
/// Feeds a <see cref="LiveFeed"/> on every conductor node (not only the singleton's: each node serves the API): follows
/// the routers' samples (<see cref="TelemetryDistribution.Latest"/>), their configuration statuses
/// (<see cref="ConfigDistribution.Status"/>) and the running version (<see cref="ConfigDistribution.Running"/>) in
/// Distributed Data, as the conductor does, and hands the feed each new sample and each change of the rollout; and it
/// subscribes to the routers' flows (<see cref="FlowDistribution.Topic"/>: sessions opening and closing, drops). The feed
/// never blocks, so neither does this actor.
/// </summary>
public sealed class LiveFeedActor : ReceiveActor
{
    private readonly LiveFeed _feed;
    private IReadOnlyDictionary<string, RouterConfigStatus> _statuses = new Dictionary<string, RouterConfigStatus>();
    private long _running;
    private FabricConfig? _model;

    public LiveFeedActor(LiveFeed feed)
    {
        _feed = feed;
        Receive<SessionEventBatch>(_feed.Sessions);
        Receive<DropEventBatch>(_feed.Drops);
        Receive<SubscribeAck>(_ => { });
        Receive<Changed>(changed => changed.Key.Equals(TelemetryDistribution.Latest), changed =>
        {
            foreach (var sample in changed.Get(TelemetryDistribution.Latest).Entries.Values)
            {
                _feed.Sample(sample);
            }
        });
        Receive<Changed>(changed => changed.Key.Equals(ConfigDistribution.Status), changed =>
        {
            _statuses = changed.Get(ConfigDistribution.Status).Entries;
            Progress();
        });
        Receive<Changed>(changed => changed.Key.Equals(ConfigDistribution.Running), changed =>
        {
            var running = changed.Get(ConfigDistribution.Running).Value;
            if (running is not null && running.Version != _running)
            {
                _running = running.Version;
                _model = FabricConfigLoader.Load(running.Text).Config;
                Progress();
            }
        });
    }

    public static Props Props(LiveFeed feed) => Akka.Actor.Props.Create(() => new LiveFeedActor(feed));

    protected override void PreStart()
    {
        DistributedPubSub.Get(Context.System).Mediator.Tell(new Akka.Cluster.Tools.PublishSubscribe.Subscribe(FlowDistribution.Topic, Self));
        var replicator = DistributedData.Get(Context.System).Replicator;
        replicator.Tell(Dsl.Subscribe(TelemetryDistribution.Latest, Self));
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
