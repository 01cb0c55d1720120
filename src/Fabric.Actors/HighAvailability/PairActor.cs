using Akka.Actor;
using Akka.Event;
using Fabric.Actors.Security;
using Fabric.Dataplane.HighAvailability;

namespace Fabric.Actors.HighAvailability;

/// <summary>
/// One node's side of an HA pair. Every heartbeat interval it tells the partner's actor (same name pattern,
/// at the partner's management address over the cluster's remoting) that it lives and whether it is active;
/// <see cref="PairState"/> decides the role from what it hears and from time passing. The active node sends
/// the partner, every replication interval, the established sessions new or changed since its last batch
/// (everything when the partner was just heard again); the standby installs them. On becoming active the node
/// takes the router over (<see cref="IPairNode.TakeOverAsync"/>) and announces its addresses twice more
/// (after 300 ms and 1 s) for caches that missed the first. Heartbeats and session batches count only when they
/// come from the partner's pair actor at the partner's address; from anyone else in the cluster they are refused,
/// logged once and counted (<see cref="ControlPlaneRefusals.ForeignPairMessages"/>).
/// </summary>
public sealed class PairActor : ReceiveActor, IWithTimers
{
    /// <summary>Sessions per batch at most: about 40 KB, well under Akka's 128 KB remote frame.</summary>
    public const int MaxSessionsPerBatch = 256;

    private static readonly TimeSpan[] Reannouncements = [TimeSpan.FromMilliseconds(300), TimeSpan.FromSeconds(1)];

    private readonly string _node;
    private readonly IPairNode _target;
    private readonly PairSettings _settings;
    private readonly TimeProvider _time;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly ControlPlaneRefusals _refusals;
    private ActorSelection _partner = null!;
    private ActorPath _partnerPath = null!;
    private bool _refusedLogged;
    private PairState _state;
    private long _sequence;
    private bool _exporting;
    private bool _partnerNeedsEverything = true;
    private DateTimeOffset _lastReclaim = DateTimeOffset.MinValue;
    private long _takeovers;
    private long _partnerTakeovers = -1;
    private bool _partnerActive;

    public PairActor(string node, IPairNode target, PairSettings settings, TimeProvider time, ControlPlaneRefusals? refusals)
    {
        _refusals = refusals ?? new ControlPlaneRefusals();
        _node = node;
        _target = target;
        _settings = settings;
        _time = time;
        _state = PairState.Start(settings.Preferred, time.GetUtcNow(), settings.Timing, target.IsActive);
        Receive<Heartbeat>(_ => SendHeartbeat());
        Receive<Tick>(_ => Apply(_state.Tick(_time.GetUtcNow())));
        Receive<PairHeartbeat>(heartbeat =>
        {
            if (FromPartner(heartbeat))
            {
                Heard(heartbeat);
            }
        });
        Receive<ReplicateDue>(_ => Replicate());
        Receive<SessionExport>(Send);
        Receive<Status.Failure>(f => { _exporting = false; _log.Warning("HA pair {0}: replication failed: {1}", _node, f.Cause.Message); });
        Receive<PairSessionBatch>(batch =>
        {
            if (FromPartner(batch))
            {
                Install(batch);
            }
        });
        Receive<ReannounceDue>(_ => _target.AnnounceAsync());
    }

    public ITimerScheduler Timers { get; set; } = null!;

    /// <summary>The actor's name on a node: the partner finds it by the same pattern.</summary>
    public static string NameOf(string node) => $"ha-{node}";

    public static Props Props(string node, IPairNode target, PairSettings settings, TimeProvider? time = null, ControlPlaneRefusals? refusals = null) =>
        Akka.Actor.Props.Create(() => new PairActor(node, target, settings, time ?? TimeProvider.System, refusals))
            .WithDispatcher(Dispatcher);

    /// <summary>A thread of its own, so heartbeats are neither late nor missed when the thread pool is busy (the dead interval is short).</summary>
    public const string Dispatcher = "fabric.pair-dispatcher";

    /// <summary>The HOCON that defines <see cref="Dispatcher"/>.</summary>
    public const string DispatcherHocon = """
        fabric.pair-dispatcher {
          type = PinnedDispatcher            # one dedicated thread per pair actor
          executor = fork-join-executor
        }
        """;

    protected override void PreStart()
    {
        var self = Akka.Cluster.Cluster.Get(Context.System).SelfAddress;
        var partner = new Address(self.Protocol, self.System, _settings.PartnerHost, self.Port);
        _partnerPath = new RootActorPath(partner) / "user" / NameOf(_settings.Partner);
        _partner = Context.ActorSelection(_partnerPath);
        var timing = _state.Timing;
        Timers.StartPeriodicTimer("heartbeat", Heartbeat.Instance, TimeSpan.Zero, timing.HeartbeatInterval);
        Timers.StartPeriodicTimer("tick", Tick.Instance, timing.HeartbeatInterval / 4);
        Timers.StartPeriodicTimer("replicate", ReplicateDue.Instance, timing.ReplicationInterval);
    }

    /// <summary>Whether <paramref name="message"/> came from the partner's pair actor; refused and counted otherwise.</summary>
    private bool FromPartner(object message)
    {
        if (ClusterSenders.Is(Sender, _partnerPath))
        {
            return true;
        }

        _refusals.CountForeignPairMessage();
        if (!_refusedLogged)
        {
            _refusedLogged = true;
            _log.Warning("HA pair {0}: refused a {1} from {2}: only partner {3} at {4} speaks to this pair actor", _node, message.GetType().Name, Sender.Path, _settings.Partner, _partnerPath);
        }

        return false;
    }

    private void SendHeartbeat() => _partner.Tell(new PairHeartbeat(_node, _state.Role == PairRole.Active, ++_sequence, _takeovers));

    private void Heard(PairHeartbeat heartbeat)
    {
        if (heartbeat.Node != _settings.Partner)
        {
            return;
        }

        var now = _time.GetUtcNow();
        if (!_state.PartnerAlive(now) || heartbeat.Active)
        {
            // Heard again after silence (or for the first time), or active (it ignores batches meanwhile): once it
            // stands by, it needs every session, not only those that changed since a batch it did not take.
            _partnerNeedsEverything = true;
        }

        if (_state.LastHeard is { } previous && now - previous > _state.Timing.HeartbeatInterval * 3)
        {
            _log.Warning("HA pair {0}: partner {1} heard again after {2:0} ms", _node, _settings.Partner, (now - previous).TotalMilliseconds);
        }

        // The partner was active while we were too (a false failover, a partition), however briefly: it may have
        // sent with send counters above ours and announced our addresses as its own.
        var partnerTookOver = _partnerTakeovers >= 0 && heartbeat.Takeovers > _partnerTakeovers;
        var partnerYielded = _partnerActive && !heartbeat.Active;
        _partnerTakeovers = heartbeat.Takeovers;
        _partnerActive = heartbeat.Active;
        var bothActive = _state.Role == PairRole.Active && (heartbeat.Active || partnerTookOver);
        Apply(_state.Heard(heartbeat.Active, now));
        if (bothActive && _state.Role == PairRole.Active && (partnerTookOver || now - _lastReclaim > _state.Timing.DeadAfter))
        {
            // We keep the router: fresh keys (above the partner's counters) and the addresses back.
            _lastReclaim = now;
            _log.Warning("HA pair {0}: partner {1} was active too; keeping the router with fresh keys and announcing its addresses again", _node, _settings.Partner);
            _target.ReclaimAsync();
            Reannounce();
        }
        else if (partnerYielded && _state.Role == PairRole.Active)
        {
            // The partner stood by after announcing our addresses as its own: the last announcement must be ours,
            // or hosts and peers keep sending to a node that ignores them.
            _log.Warning("HA pair {0}: partner {1} stood by; announcing the router's addresses again", _node, _settings.Partner);
            _target.AnnounceAsync();
            Reannounce();
        }
    }

    private void Apply((PairState State, PairTransition Transition) step)
    {
        var was = _state.Role;
        _state = step.State;
        if (step.Transition == PairTransition.None || was == _state.Role)
        {
            return;
        }

        _log.Warning("HA pair {0}: {1} -> {2} ({3}); partner {4}", _node, was, _state.Role, step.Transition, _settings.Partner);
        if (_state.Role == PairRole.Active)
        {
            _takeovers++;
            _target.TakeOverAsync();
            Reannounce();

            _partnerNeedsEverything = true;
        }
        else if (was == PairRole.Active)
        {
            _target.StandByAsync();
        }
    }

    /// <summary>Announces the router's addresses again after 300 ms and 1 s (an announcement already due is pushed back).</summary>
    private void Reannounce()
    {
        for (var i = 0; i < Reannouncements.Length; i++)
        {
            Timers.StartSingleTimer($"announce-{i}", ReannounceDue.Instance, Reannouncements[i]);
        }
    }

    private void Replicate()
    {
        if (_state.Role != PairRole.Active || _exporting || !_state.PartnerAlive(_time.GetUtcNow()))
        {
            return;
        }

        _exporting = true;
        var everything = _partnerNeedsEverything;
        _partnerNeedsEverything = false;
        _target.ExportSessionsAsync(everything).PipeTo(Self);
    }

    private void Send(SessionExport export)
    {
        _exporting = false;
        var sessions = export.Sessions;
        for (var start = 0; start < sessions.Length; start += MaxSessionsPerBatch)
        {
            var count = Math.Min(MaxSessionsPerBatch, sessions.Length - start);
            var batch = new ReplicatedSession[count];
            for (var i = 0; i < count; i++)
            {
                batch[i] = ReplicatedSession.From(sessions[start + i]);
            }

            _partner.Tell(new PairSessionBatch(_node, export.Version, batch));
        }
    }

    private void Install(PairSessionBatch batch)
    {
        if (batch.Node != _settings.Partner || _state.Role == PairRole.Active)
        {
            // An active node keeps its own sessions: a batch from a partner that also thought itself active is stale.
            return;
        }

        var records = new SessionRecord[batch.Sessions.Count];
        for (var i = 0; i < records.Length; i++)
        {
            records[i] = batch.Sessions[i].ToRecord();
        }

        _target.ImportSessionsAsync(batch.Version, records);
    }

    private sealed record Heartbeat
    {
        public static readonly Heartbeat Instance = new();
    }

    private sealed record Tick
    {
        public static readonly Tick Instance = new();
    }

    private sealed record ReplicateDue
    {
        public static readonly ReplicateDue Instance = new();
    }

    private sealed record ReannounceDue
    {
        public static readonly ReannounceDue Instance = new();
    }
}
