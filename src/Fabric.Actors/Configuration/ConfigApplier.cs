using Akka.Actor;
using Akka.DistributedData;
using Akka.Event;
using Fabric.Actors.Cluster;
using Fabric.Actors.Security;
using Fabric.Config;
using Fabric.Dataplane.Forwarding;

namespace Fabric.Actors.Configuration;

/// <summary>
/// One router node's configuration applier: it subscribes to the running configuration in
/// Distributed Data, checks that the conductor's key it pins signed it and that it is newer than the version it
/// applied, reads it with Fabric's strict parser, compiles it into a forwarding snapshot and swaps it in through
/// the host's <see cref="IForwardingTarget"/>, then writes the node's status (applied version, or the version it
/// could not apply and why), sealed with its cluster certificate, back to Distributed Data for the conductor.
/// A value the key did not sign is refused, logged and counted (<see cref="ControlPlaneRefusals"/>), never
/// applied or acknowledged: any member of the cluster can write the key. A version that fails (it does not load,
/// does not compile, or the target throws) is reported once with the reason and never retried; one that does not
/// compile keeps the snapshot in force. A node that joins late receives the running value from its peers'
/// replicas and catches up the same way.
/// </summary>
public sealed class ConfigApplier : ReceiveActor
{
    private readonly string _node;
    private readonly IForwardingTarget _target;
    private readonly ConductorKeyPin _conductorKey;
    private readonly NodeSigner? _signer;
    private readonly ControlPlaneRefusals _refusals;
    private readonly IActorRef _replicator;
    private readonly Akka.Cluster.UniqueAddress _self;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private RouterConfigStatus? _reported;
    private RouterConfigAck? _ack;
    private long _lastRefused = -1;

    // The conductor version this applier swapped in; 0 until the first. Kept here rather than read from
    // the engine, which may run a configuration from another source (the router's last one on disk).
    private long _applied;

    public ConfigApplier(string node, IForwardingTarget target, ConductorKeyPin conductorKey, NodeSigner? signer, ControlPlaneRefusals? refusals)
    {
        _node = node;
        _target = target;
        _conductorKey = conductorKey;
        _signer = signer;
        _refusals = refusals ?? new ControlPlaneRefusals();
        var data = DistributedData.Get(Context.System);
        _replicator = data.Replicator;
        _self = Akka.Cluster.Cluster.Get(Context.System).SelfUniqueAddress;
        Receive<Changed>(changed => changed.Key.Equals(ConfigDistribution.Running), changed => Apply(changed.Get(ConfigDistribution.Running).Value));
        Receive<Changed>(changed => changed.Key.Equals(ConfigDistribution.Status), changed => GuardAck(changed.Get(ConfigDistribution.Status)));
        Receive<UpdateSuccess>(_ => { });
        Receive<UpdateTimeout>(_ => { }); // written locally; gossip carries it to the nodes the write missed
    }

    /// <param name="conductorKey">The conductor's public key: only what it signed is applied.</param>
    /// <param name="signer">Seals the node's acks with its cluster certificate; null when the cluster runs without TLS.</param>
    public static Props Props(string node, IForwardingTarget target, ConductorKeyPin conductorKey, NodeSigner? signer = null, ControlPlaneRefusals? refusals = null)
    {
        ArgumentNullException.ThrowIfNull(conductorKey);
        return Akka.Actor.Props.Create(() => new ConfigApplier(node, target, conductorKey, signer, refusals));
    }

    protected override void PreStart()
    {
        Report(new RouterConfigStatus(_node, _target.RouterName, _applied, null, null));
        _replicator.Tell(Dsl.Subscribe(ConfigDistribution.Running, Self));
        _replicator.Tell(Dsl.Subscribe(ConfigDistribution.Status, Self));
    }

    /// <summary>
    /// The node's entry holds something other than its last ack (a member wrote it): write the ack again. The
    /// dictionary's clock then runs above what the entry holds, so the node's own ack wins the merge.
    /// </summary>
    private void GuardAck(LWWDictionary<EntryName, RouterConfigAck> acks)
    {
        if (_reported is { } status && _ack is { } mine && (!acks.TryGetValue(new EntryName(_node), out var held) || !mine.SameAs(held)))
        {
            _log.Warning("router node {0}: its configuration ack in the cluster was replaced by another member's; writing it again", _node);
            Report(status);
        }
    }

    private void Apply(RunningConfig running)
    {
        if (running.Version == _applied || running.Version == _reported?.FailedVersion)
        {
            return;
        }

        if (!_conductorKey.Verifies(running.Version, running.Text, running.Signature))
        {
            _refusals.CountUnsignedConfig();
            if (_lastRefused != running.Version)
            {
                _lastRefused = running.Version;
                _log.Warning(
                    "router node {0} refuses version {1} of the running configuration: the conductor's key {2} did not sign it (some member of the cluster wrote it); keeping version {3}",
                    _node, running.Version, _conductorKey.PublicKeyBase64, _applied);
            }

            return;
        }

        string? failure = null;
        var loaded = running.Version < _applied ? null : FabricConfigLoader.Load(running.Text);
        if (loaded is null)
        {
            // Signed, but older: a replay of an earlier version, or a conductor that lost its history.
            _refusals.CountOlderConfig();
            failure = $"version {running.Version} is older than version {_applied}, which this node applied; a conductor that starts its history again needs the routers restarted (or a new key)";
        }
        else if (loaded.Config is not { } config)
        {
            failure = string.Join("; ", loaded.Errors);
        }
        else
        {
            try
            {
                _target.Apply(config, running.Version);
                _applied = running.Version;
                Context.System.EventStream.Publish(new ConfigurationApplied(_node, running.Version));
            }
            catch (SnapshotCompileException e)
            {
                failure = e.Message;
            }
            catch (ConfigNotKeptException e)
            {
                _applied = running.Version;
                Context.System.EventStream.Publish(new ConfigurationApplied(_node, running.Version));
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
        var ack = new RouterConfigAck(status, _signer?.Seal(RouterConfigAck.Statement(status)));
        _ack = ack;
        _replicator.Tell(Dsl.Update(
            ConfigDistribution.Status,
            LWWDictionary<EntryName, RouterConfigAck>.Empty,
            new WriteAll(ConfigDistribution.WriteTimeout),
            acks => acks.SetItem(_self, _node, ack)));
    }
}

/// <summary>
/// Published on the local actor system's event stream when router node <paramref name="Node"/> swapped version
/// <paramref name="Version"/> in: for actors of the node that act on what a configuration changed (a client that
/// arrived, <see cref="Sessions.SessionActor"/>). Never crosses the network.
/// </summary>
public sealed record ConfigurationApplied(string Node, long Version);
