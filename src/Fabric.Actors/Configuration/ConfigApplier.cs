using Akka.Actor;
using Akka.DistributedData;
using Akka.Event;
using Fabric.Config;
using Fabric.Dataplane.Forwarding;

namespace Fabric.Actors.Configuration;

/// <summary>
/// One router node's configuration applier: it subscribes to the running configuration in
/// Distributed Data, reads each new version with Fabric's strict parser, compiles it into a
/// forwarding snapshot and swaps it in through the host's <see cref="IForwardingTarget"/>, then
/// writes the node's status (applied version, or the version it could not apply and why) back to
/// Distributed Data for the conductor. A version that fails (it does not load, does not compile, or the target
/// throws) is reported once with the reason and never retried; one that does not compile keeps the snapshot in
/// force. A node that joins late receives the running value from its peers' replicas and catches up the same way.
/// </summary>
public sealed class ConfigApplier : ReceiveActor
{
    private readonly string _node;
    private readonly IForwardingTarget _target;
    private readonly IActorRef _replicator;
    private readonly Akka.Cluster.UniqueAddress _self;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private RouterConfigStatus? _reported;

    // The conductor version this applier swapped in; 0 until the first. Kept here rather than read from
    // the engine, which may run a configuration from another source (the router's last one on disk).
    private long _applied;

    public ConfigApplier(string node, IForwardingTarget target)
    {
        _node = node;
        _target = target;
        var data = DistributedData.Get(Context.System);
        _replicator = data.Replicator;
        _self = Akka.Cluster.Cluster.Get(Context.System).SelfUniqueAddress;
        Receive<Changed>(changed => changed.Key.Equals(ConfigDistribution.Running), changed => Apply(changed.Get(ConfigDistribution.Running).Value));
        Receive<UpdateSuccess>(_ => { });
        Receive<UpdateTimeout>(_ => { }); // written locally; gossip carries it to the nodes the write missed
    }

    public static Props Props(string node, IForwardingTarget target) => Akka.Actor.Props.Create(() => new ConfigApplier(node, target));

    protected override void PreStart()
    {
        Report(new RouterConfigStatus(_node, _target.RouterName, _applied, null, null));
        _replicator.Tell(Dsl.Subscribe(ConfigDistribution.Running, Self));
    }

    private void Apply(RunningConfig running)
    {
        if (running.Version == _applied || running.Version == _reported?.FailedVersion)
        {
            return;
        }

        string? failure = null;
        var loaded = FabricConfigLoader.Load(running.Text);
        if (loaded.Config is not { } config)
        {
            failure = string.Join("; ", loaded.Errors);
        }
        else
        {
            try
            {
                _target.Apply(config, running.Version);
                _applied = running.Version;
            }
            catch (SnapshotCompileException e)
            {
                failure = e.Message;
            }
            catch (ConfigNotKeptException e)
            {
                _applied = running.Version;
                _log.Warning("router node {0} applied version {1}: {2}", _node, running.Version, e.Message);
            }
            catch (Exception e)
            {
                // Whatever else the target throws fails this version only: the applier neither restarts nor retries it
                // (a restart would receive the same version and fail the same way, in a loop).
                failure = $"applying it failed: {e.GetType().Name}: {e.Message}";
            }
        }

        if (failure is not null)
        {
            _log.Warning("router node {0} keeps version {1}: version {2} does not apply: {3}", _node, _applied, running.Version, failure);
        }

        Report(new RouterConfigStatus(_node, _target.RouterName, _applied, failure is null ? null : running.Version, failure));
    }

    private void Report(RouterConfigStatus status)
    {
        _reported = status;
        _replicator.Tell(Dsl.Update(
            ConfigDistribution.Status,
            LWWDictionary<string, RouterConfigStatus>.Empty,
            new WriteAll(ConfigDistribution.WriteTimeout),
            statuses => statuses.SetItem(_self, _node, status)));
    }
}
