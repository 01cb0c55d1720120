using Akka.Actor;
using Akka.Event;
using Fabric.Actors.Security;
using Fabric.Dataplane.Sessions;

namespace Fabric.Actors.HighAvailability;

/// <summary>
/// One node's side of an HA pair. Whether the partner lives comes from the node's <see cref="PairLink"/> (its own
/// thread and UDP socket on the management network, authenticated heartbeats), never from actor messages: the
/// link tells the actor when it heard the partner, sent a heartbeat, or saw the dead interval run out
/// (<see cref="PairLink.Listen"/>), and <see cref="PairState"/> decides the role from the link's view of the
/// partner and the time the link vouches for it, both on the link's monotonic clock. The active node sends
/// the partner's actor (same name pattern, at the partner's management address over the cluster's remoting),
/// every replication interval, the established sessions new or changed since its last batch (everything when
/// the partner was just heard again); the standby installs them. On becoming active the node takes the router
/// over (<see cref="IPairNode.TakeOverAsync"/>) and announces its addresses twice more (after 300 ms and 1 s)
/// for caches that missed the first. Session batches count only when they come from the partner's pair actor at the
/// partner's address, sealed with the partner's cluster certificate (with cluster TLS: the sender's address alone is
/// what the sending member's remoting claims), from the partner's run its authenticated heartbeats come from, and
/// above the last batch taken from that run; anything else is refused, logged once and counted
/// (<see cref="ControlPlaneRefusals.ForeignPairMessages"/>). The node seals each batch it sends (only when it has
/// sessions to send: an idle pair signs nothing).
/// </summary>
public sealed class PairActor : ReceiveActor, IWithTimers
{
    /// <summary>Sessions per batch at most: about 40 KB, well under Akka's 128 KB remote frame.</summary>
    public const int MaxSessionsPerBatch = 256;

    private static readonly TimeSpan[] Reannouncements = [TimeSpan.FromMilliseconds(300), TimeSpan.FromSeconds(1)];

    private readonly string _node;
    private readonly IPairNode _target;
    private readonly PairSettings _settings;
    private readonly PairLink _link;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly ControlPlaneRefusals _refusals;
    private readonly NodeSigner? _signer;
    private readonly NodeVerifier? _verifier;
    private long _sentBatches;
    private (ulong Incarnation, long Sequence) _lastTaken;
    private ActorSelection _partner = null!;
    private ActorPath _partnerPath = null!;
    private bool _refusedLogged;
    private PairState _state;
    private long _heardHeartbeats;
    private bool _exporting;
    private bool _partnerNeedsEverything = true;
    private TimeSpan? _lastReclaim;
    private long _partnerTakeovers = -1;
    private bool _partnerActive;
    private ulong _partnerIncarnation;
    private Action<TimeSpan>? _listener;

    public PairActor(string node, IPairNode target, PairSettings settings, PairLink link, ControlPlaneRefusals? refusals, NodeSigner? signer)
    {
        _signer = signer;
        _verifier = signer is null ? null : new NodeVerifier(signer.Tls);
        _refusals = refusals ?? new ControlPlaneRefusals();
        _node = node;
        _target = target;
        _settings = settings;
        _link = link;
        _state = PairState.Start(settings.Preferred, link.Now, settings.Timing, target.IsActive, standingBy: link.Decided);
        Receive<LinkLooked>(looked => OnLinkLooked(looked.At));
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

    /// <param name="signer">Seals the batches the node sends, and its CA is what the partner's seals are checked against; null when the cluster runs without TLS.</param>
    public static Props Props(string node, IPairNode target, PairSettings settings, PairLink link, ControlPlaneRefusals? refusals = null, NodeSigner? signer = null) =>
        Akka.Actor.Props.Create(() => new PairActor(node, target, settings, link, refusals, signer)).WithDispatcher(Dispatcher);

    /// <summary>A thread of its own, so a takeover is not held up behind the thread pool's work.</summary>
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
        Timers.StartPeriodicTimer("replicate", ReplicateDue.Instance, _state.Timing.ReplicationInterval);
        var actor = Self;
        _listener = at => actor.Tell(new LinkLooked(at));
        _link.Listen(_listener);
    }

    /// <summary>Whether <paramref name="batch"/> came from the partner's pair actor, sealed by the partner, fresh; refused and counted otherwise.</summary>
    private bool FromPartner(PairSessionBatch batch)
    {
        var problem = !ClusterSenders.Is(Sender, _partnerPath) ? $"it comes from {Sender.Path}, not partner {_settings.Partner} at {_partnerPath}"
            : batch.Node != _settings.Partner ? $"it names node {batch.Node}, not partner {_settings.Partner}"
            : _verifier?.Problem(_settings.Partner, batch.Statement(), batch.Seal) is { } unsealed ? unsealed
            : batch.Incarnation != _link.Partner.Incarnation ? "it is not from the partner's run its heartbeats come from"
            : batch.Incarnation == _lastTaken.Incarnation && batch.Sequence <= _lastTaken.Sequence ? $"it is an earlier batch replayed (sequence {batch.Sequence}, after {_lastTaken.Sequence})"
            : null;
        if (problem is null)
        {
            _lastTaken = (batch.Incarnation, batch.Sequence);
            return true;
        }

        _refusals.CountForeignPairMessage();
        if (!_refusedLogged)
        {
            _refusedLogged = true;
            _log.Warning("HA pair {0}: refused a session batch: {1}", _node, problem);
        }

        return false;
    }

    protected override void PostStop()
    {
        if (_listener is not null)
        {
            _link.Unlisten(_listener);
        }
    }

    /// <summary>
    /// Takes what the link heard, then lets time pass up to <paramref name="at"/>: the link had every heartbeat that
    /// arrived before it, and the view is read after, so a partner is never judged dead from heartbeats still queued.
    /// </summary>
    private void OnLinkLooked(TimeSpan at)
    {
        var view = _link.Partner;
        if (view.Heartbeats != _heardHeartbeats)
        {
            _heardHeartbeats = view.Heartbeats;
            Heard(view);
        }

        Apply(_state.Tick(at));
    }

    private void Heard(PartnerView heartbeat)
    {
        var now = heartbeat.LastHeard;
        var active = heartbeat.Role == PairRole.Active;
        var restarted = _partnerIncarnation != 0 && heartbeat.Incarnation != _partnerIncarnation;
        _partnerIncarnation = heartbeat.Incarnation;
        if (restarted)
        {
            _log.Warning("HA pair {0}: partner {1} restarted (heard as {2})", _node, _settings.Partner, heartbeat.Role);
            _partnerTakeovers = -1;
        }

        if (!_state.PartnerAlive(now) || active || restarted)
        {
            // Heard again after silence (or for the first time), restarted, or active (it ignores batches meanwhile):
            // once it stands by, it needs every session, not only those that changed since a batch it did not take.
            _partnerNeedsEverything = true;
        }

        if (_state.LastHeard is not null && !restarted && heartbeat.Gap > _state.Timing.HeartbeatInterval * 3)
        {
            _log.Warning("HA pair {0}: partner {1} heard again after {2:0} ms", _node, _settings.Partner, heartbeat.Gap.TotalMilliseconds);
        }

        // The partner was active while we were too (a false failover, a partition), however briefly: it may have
        // sent with send counters above ours and announced our addresses as its own.
        var partnerTookOver = _partnerTakeovers >= 0 && heartbeat.Takeovers > _partnerTakeovers;
        var partnerYielded = _partnerActive && !active;
        _partnerTakeovers = heartbeat.Takeovers;
        _partnerActive = active;
        var bothActive = _state.Role == PairRole.Active && (active || partnerTookOver);
        Apply(_state.Heard(heartbeat.Role, now, restarted));
        if (bothActive && _state.Role == PairRole.Active && (partnerTookOver || _lastReclaim is not { } last || now - last > _state.Timing.DeadAfter))
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
        _link.Decided = _state.Role != PairRole.Starting;
        if (step.Transition == PairTransition.None || was == _state.Role)
        {
            return;
        }

        _log.Warning("HA pair {0}: {1} -> {2} ({3}); partner {4}", _node, was, _state.Role, step.Transition, _settings.Partner);
        if (_state.Role == PairRole.Active)
        {
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
        if (_state.Role != PairRole.Active || _exporting || !_state.PartnerAlive(_link.Now))
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
            var batch = SessionRecords.Serialize(sessions.AsSpan(start, count));
            var (incarnation, sequence) = (_link.Incarnation, ++_sentBatches);
            var seal = _signer?.Seal(PairSessionBatch.Statement(_node, export.Version, incarnation, sequence, batch));
            _partner.Tell(new PairSessionBatch(_node, export.Version, incarnation, sequence, batch, seal));
        }
    }

    private void Install(PairSessionBatch batch)
    {
        if (_state.Role == PairRole.Active)
        {
            // An active node keeps its own sessions: a batch from a partner that also thought itself active is stale.
            return;
        }

        SessionRecord[] records;
        try
        {
            records = SessionRecords.Deserialize(batch.Sessions);
        }
        catch (SessionRecordsException e)
        {
            // Sealed by the partner, yet unreadable: a partner of another build. Counted as a refused batch.
            _refusals.CountForeignPairMessage();
            _log.Warning("HA pair {0}: refused a session batch from {1}: {2}", _node, batch.Node, e.Message);
            return;
        }

        _target.ImportSessionsAsync(batch.Version, records);
    }

    /// <summary>The link looked at its socket at <paramref name="At"/> (see <see cref="PairLink.Listen"/>).</summary>
    private sealed record LinkLooked(TimeSpan At);

    private sealed record ReplicateDue
    {
        public static readonly ReplicateDue Instance = new();
    }

    private sealed record ReannounceDue
    {
        public static readonly ReannounceDue Instance = new();
    }
}
