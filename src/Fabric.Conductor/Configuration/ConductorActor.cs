using Akka.Actor;
using Akka.DistributedData;
using Akka.Event;
using Akka.Persistence;
using Fabric.Actors.Cluster;
using Fabric.Actors.Configuration;
using Fabric.Actors.Security;

namespace Fabric.Conductor.Configuration;

/// <summary>
/// The conductor's configuration history, event sourced: a thin shell around <see cref="ConfigHistory"/>.
/// It decides with the pure state, persists the one event, applies it and replies; a refused command
/// persists nothing. Recovery replays the events, so a restarted conductor has the full history.
/// In a cluster it also publishes the running version to Distributed Data, signed with the conductor's key,
/// after every commit and after recovery, publishes it again whenever the key holds anything else (any member
/// can write it), and follows the routers' acks, believing only those sealed by the node they name, to show
/// which node runs which version. Commands come from this node or another conductor node (its API, or a
/// singleton proxy there), never from another member of the cluster.
/// </summary>
public sealed class ConductorActor : ReceivePersistentActor
{
    public const string Id = "fabric-conductor";

    private readonly TimeProvider _time;
    private readonly bool _distribute;
    private readonly ConductorSigningKey? _signingKey;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly NodeEntries _acks;
    private RunningConfig? _published;
    private RunningConfig? _foreign;

    // The telemetry collector (a child, so it runs wherever the singleton runs); null without a cluster.
    private readonly IActorRef? _telemetry;

    // Follows the live instance registry (a child, like the collector); null without a cluster.
    private readonly IActorRef? _services;

    // Which router each node is part of, by the running version: whom the registry's watcher believes for a router.
    private readonly ConfigNodeRouters _nodeRouters = new();
    private ConfigHistory _history = ConfigHistory.Empty;
    private readonly Dictionary<string, RouterConfigAck> _routers = new(StringComparer.Ordinal);

    public ConductorActor(TimeProvider time, bool distribute, ConductorSigningKey? signingKey, ClusterTls? tls)
    {
        if (distribute && signingKey is null)
        {
            throw new ArgumentException("a conductor that publishes needs its signing key", nameof(signingKey));
        }

        _time = time;
        _distribute = distribute;
        _signingKey = signingKey;
        _acks = new NodeEntries(tls, time, _log, "configuration ack");
        _telemetry = distribute ? Context.ActorOf(Telemetry.TelemetryCollector.Props(time, tls: tls), "telemetry") : null;
        _services = distribute ? Context.ActorOf(Fabric.Actors.Services.ServiceRegistryWatcher.Props(tls, _nodeRouters), "services") : null;
        Recover<ConfigCommitted>(committed => _history = _history.Apply(committed));
        Command<CommitConfig>(command => Handle(command, () => _history.Decide(command, _time.GetUtcNow())));
        Command<RollbackConfig>(command => Handle(command, () => _history.Decide(command, _time.GetUtcNow())));
        Command<GetConfigHistory>(_ => Sender.Tell(View(_history)));
        Command<GetConfigVersion>(query => Sender.Tell(
            (query.Number is { } number ? _history.Find(number) : _history.Running) is { } version
                ? new ConfigVersionView(_history.Running?.Number ?? 0, Summary(version), version.Text)
                : new ConfigVersionView(_history.Running?.Number ?? 0, null, null)));
        Command<GetConfigDiff>(query => Sender.Tell(_history.Diff(query.From, query.To)));
        Command<GetConfigRollout>(_ => Sender.Tell(new ConfigRolloutView(
            _history.Running?.Number ?? 0,
            ConfigRollout.View(_history.Running?.Number ?? 0, _history.Running?.Model, _routers.ToDictionary(r => r.Key, r => r.Value.Status, StringComparer.Ordinal)))));
        Command<Changed>(changed => changed.Key.Equals(ConfigDistribution.Status), changed => Follow(changed.Get(ConfigDistribution.Status)));
        Command<Changed>(changed => changed.Key.Equals(ConfigDistribution.Running), changed => Guard(changed.Get(ConfigDistribution.Running).Value));
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

    /// <param name="distribute">Publish the running configuration and follow router statuses (needs a cluster node and <paramref name="signingKey"/>).</param>
    /// <param name="signingKey">The conductor's key: it signs every running configuration it publishes.</param>
    /// <param name="tls">The cluster's TLS: its CA says whose seal an ack or a telemetry report carries; null when the cluster runs without TLS.</param>
    public static Props Props(TimeProvider time, bool distribute = false, ConductorSigningKey? signingKey = null, ClusterTls? tls = null) =>
        Akka.Actor.Props.Create(() => new ConductorActor(time, distribute, signingKey, tls));

    protected override void OnReplaySuccess()
    {
        if (_distribute)
        {
            var replicator = DistributedData.Get(Context.System).Replicator;
            replicator.Tell(Dsl.Subscribe(ConfigDistribution.Status, Self));
            replicator.Tell(Dsl.Subscribe(ConfigDistribution.Running, Self));
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

    /// <summary>Refuses a command from a member that is not a conductor node; else decides it (<see cref="Decide"/>).</summary>
    private void Handle(object command, Func<ConfigDecision> decide)
    {
        if (!ClusterSenders.IsLocalOrHasRole(Context, Sender, Fabric.Actors.Cluster.FabricCluster.ConductorRole))
        {
            _log.Warning("refused {0} from {1}: configuration changes come through a conductor node's API, not from other members of the cluster", command.GetType().Name, Sender.Path);
            Sender.Tell(ConfigCommandResult.Refused("refused: configuration changes come through the conductor's API, not from members of the cluster"));
            return;
        }

        Handle(Decide(decide));
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

    /// <summary>Writes the running version, signed, to every reachable node (the rest get it by gossip), replacing whatever the key holds.</summary>
    private void Publish()
    {
        if (!_distribute || _history.Running is not { } running)
        {
            return;
        }

        _nodeRouters.Take(running.Model);
        var value = _published is { } published && published.Version == running.Number
            ? published
            : new RunningConfig(running.Number, running.Text, _signingKey!.Sign(running.Number, running.Text));
        _published = value;
        var self = Akka.Cluster.Cluster.Get(Context.System).SelfUniqueAddress;
        DistributedData.Get(Context.System).Replicator.Tell(Dsl.Update(
            ConfigDistribution.Running,
            new LWWRegister<RunningConfig>(self, value, ConfigDistribution.VersionClock),
            new WriteAll(ConfigDistribution.WriteTimeout),
            register => register.Value.SameAs(value) ? register : register.WithValue(self, value, ConfigDistribution.VersionClock)));
    }

    /// <summary>
    /// The key holds something other than what this conductor published (a member wrote it, or an earlier value won
    /// a merge): publish the running version again, with a clock above what the key holds. Routers refuse a value the
    /// conductor did not sign in any case; this gets them the running version.
    /// </summary>
    private void Guard(RunningConfig value)
    {
        if (_published is not { } published || value.SameAs(published))
        {
            return;
        }

        if (!value.SameAs(_foreign))
        {
            _foreign = value;
            _log.Warning(
                "the running configuration in the cluster is version {0}, which is not what this conductor published (version {1}): publishing version {1} again",
                value.Version, published.Version);
        }

        Publish();
    }

    /// <summary>Takes each router node's ack that is sealed by the node it names (the last believed one stays otherwise); logs a refusal once per node and reason.</summary>
    private void Follow(LWWDictionary<EntryName, RouterConfigAck> acks)
    {
        foreach (var (node, ack) in acks.ByName())
        {
            if (_routers.TryGetValue(node, out var held) && held.SameAs(ack))
            {
                continue;
            }

            if (_acks.Believe(node, ack.Status.Node, ack.Statement(), ack.Seal))
            {
                _routers[node] = ack;
            }
        }
    }

    private static ConfigHistoryView View(ConfigHistory history) => new(
        history.Running?.Number ?? 0, [.. history.Versions.Select(Summary)], history.Running?.Text);

    private static ConfigVersionSummary Summary(ConfigVersion v) => new(v.Number, v.Author, v.Time, v.Message, v.RestoredFrom, v.Changes);
}
