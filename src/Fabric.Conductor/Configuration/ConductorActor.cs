using Akka.Actor;
using Akka.DistributedData;
using Akka.Persistence;
using Fabric.Actors.Configuration;

namespace Fabric.Conductor.Configuration;

/// <summary>
/// The conductor's configuration history, event sourced: a thin shell around <see cref="ConfigHistory"/>.
/// It decides with the pure state, persists the one event, applies it and replies; a refused command
/// persists nothing. Recovery replays the events, so a restarted conductor has the full history.
/// In a cluster it also publishes the running version to Distributed Data after every commit and
/// after recovery, and follows the routers' statuses to show which node runs which version.
/// </summary>
public sealed class ConductorActor : ReceivePersistentActor
{
    public const string Id = "fabric-conductor";

    private readonly TimeProvider _time;
    private readonly bool _distribute;

    // The telemetry collector (a child, so it runs wherever the singleton runs); null without a cluster.
    private readonly IActorRef? _telemetry;

    // Follows the live instance registry (a child, like the collector); null without a cluster.
    private readonly IActorRef? _services;
    private ConfigHistory _history = ConfigHistory.Empty;
    private IReadOnlyDictionary<string, RouterConfigStatus> _routers = new Dictionary<string, RouterConfigStatus>();

    public ConductorActor(TimeProvider time, bool distribute)
    {
        _time = time;
        _distribute = distribute;
        _telemetry = distribute ? Context.ActorOf(Telemetry.TelemetryCollector.Props(time), "telemetry") : null;
        _services = distribute ? Context.ActorOf(Fabric.Actors.Services.ServiceRegistryWatcher.Props(), "services") : null;
        Recover<ConfigCommitted>(committed => _history = _history.Apply(committed));
        Command<CommitConfig>(command => Handle(Decide(() => _history.Decide(command, _time.GetUtcNow()))));
        Command<RollbackConfig>(command => Handle(Decide(() => _history.Decide(command, _time.GetUtcNow()))));
        Command<GetConfigHistory>(_ => Sender.Tell(View(_history)));
        Command<GetConfigVersion>(query => Sender.Tell(
            (query.Number is { } number ? _history.Find(number) : _history.Running) is { } version
                ? new ConfigVersionView(_history.Running?.Number ?? 0, Summary(version), version.Text)
                : new ConfigVersionView(_history.Running?.Number ?? 0, null, null)));
        Command<GetConfigDiff>(query => Sender.Tell(_history.Diff(query.From, query.To)));
        Command<GetConfigRollout>(_ => Sender.Tell(new ConfigRolloutView(
            _history.Running?.Number ?? 0, ConfigRollout.View(_history.Running?.Number ?? 0, _history.Running?.Model, _routers))));
        Command<Changed>(changed => changed.Key.Equals(ConfigDistribution.Status), changed =>
            _routers = changed.Get(ConfigDistribution.Status).Entries);
        Command<Telemetry.GetTelemetry>(query =>
        {
            if (_telemetry is null)
            {
                Sender.Tell(new Telemetry.TelemetryView([]));
            }
            else
            {
                _telemetry.Forward(query);
            }
        });
        Command<Fabric.Actors.Services.GetServiceRegistry>(query =>
        {
            if (_services is null)
            {
                Sender.Tell(new Fabric.Actors.Services.ServiceRegistryView([]));
            }
            else
            {
                _services.Forward(query);
            }
        });
        Command<UpdateSuccess>(_ => { });
        Command<UpdateTimeout>(_ => { }); // written locally; gossip carries it to the nodes the write missed
    }

    public override string PersistenceId => Id;

    /// <param name="distribute">Publish the running configuration and follow router statuses (needs a cluster node).</param>
    public static Props Props(TimeProvider time, bool distribute = false) => Akka.Actor.Props.Create(() => new ConductorActor(time, distribute));

    protected override void OnReplaySuccess()
    {
        if (_distribute)
        {
            DistributedData.Get(Context.System).Replicator.Tell(Dsl.Subscribe(ConfigDistribution.Status, Self));
            Publish();
        }
    }

    /// <summary>
    /// A decision that cannot be made is a refusal with the reason, never an exception: one would restart the
    /// actor (replaying the whole journal) and leave the asker without an answer.
    /// </summary>
    private static ConfigDecision Decide(Func<ConfigDecision> decide)
    {
        try
        {
            return decide();
        }
#pragma warning disable CA1031 // Whatever a malformed command trips, the asker gets a refusal and the history stays as it is.
        catch (Exception e)
#pragma warning restore CA1031
        {
            return ConfigDecision.Refuse($"the command cannot be decided: {e.Message}");
        }
    }

    private void Handle(ConfigDecision decision)
    {
        if (decision.Event is not { } committed)
        {
            Sender.Tell(new ConfigCommandResult(false, null, decision.Errors));
            return;
        }

        var replyTo = Sender;
        Persist(committed, persisted =>
        {
            _history = _history.Apply(persisted);
            Publish();
            replyTo.Tell(new ConfigCommandResult(true, persisted.Version, []));
        });
    }

    /// <summary>Writes the running version to every reachable node (the rest get it by gossip).</summary>
    private void Publish()
    {
        if (!_distribute || _history.Running is not { } running)
        {
            return;
        }

        var value = new RunningConfig(running.Number, running.Text);
        var self = Akka.Cluster.Cluster.Get(Context.System).SelfUniqueAddress;
        DistributedData.Get(Context.System).Replicator.Tell(Dsl.Update(
            ConfigDistribution.Running,
            new LWWRegister<RunningConfig>(self, value, ConfigDistribution.VersionClock),
            new WriteAll(ConfigDistribution.WriteTimeout),
            register => register.Value.Version >= value.Version ? register : register.WithValue(self, value, ConfigDistribution.VersionClock)));
    }

    private static ConfigHistoryView View(ConfigHistory history) => new(
        history.Running?.Number ?? 0, [.. history.Versions.Select(Summary)], history.Running?.Text);

    private static ConfigVersionSummary Summary(ConfigVersion v) => new(v.Number, v.Author, v.Time, v.Message, v.RestoredFrom, v.Changes);
}
