using System.Net;
using Akka.Actor;
using Akka.Cluster.Tools.PublishSubscribe;
using Fabric.Actors.Security;
using Fabric.Dataplane.Pipeline;
using Fabric.Dataplane.Sessions;
using Fabric.Dataplane.Telemetry;

namespace Fabric.Actors.Sessions;

/// <summary>
/// One router node's sessions and drops for the rest of the fabric (the design's session actor). It answers
/// <see cref="QuerySessions"/> from the dataplane's own table (the worker reads it between batches, see
/// <see cref="Dataplane.Routing.ForwardingEngine.QuerySessionsAsync"/>) and <see cref="QueryDrops"/> from its drop counters
/// and rings; and every <see cref="DefaultDrainInterval"/> it drains the rings each worker publishes sessions opening and
/// closing and drops into (sessions named router-wide, <see cref="IFlowSource.RouterHandle"/>), names what it read and publishes it in batches (<see cref="SessionEventBatch"/>,
/// <see cref="DropEventBatch"/>, at most <see cref="MaxPerBatch"/> each) on <see cref="FlowDistribution.Topic"/>. The
/// worker never waits for it: what the actor does not drain in time is overwritten and reported as lost. Registered with
/// the cluster's pub-sub mediator under <see cref="FlowDistribution.PathOf"/>, so the conductor reaches it by node name.
/// </summary>
public sealed partial class SessionActor : ReceiveActor, IWithTimers
{
    /// <summary>How often the rings are drained unless told otherwise: the live tail's delay at most.</summary>
    public static readonly TimeSpan DefaultDrainInterval = TimeSpan.FromMilliseconds(500);

    /// <summary>Events per batch at most: a batch of named sessions stays well under Akka's 128 KiB remote frame.</summary>
    public const int MaxPerBatch = 128;

    /// <summary>Events one drain reads at most; more in one interval are counted as lost (the stream is a tail, not a log).</summary>
    public const int MaxPerDrain = 4096;

    private readonly string _node;
    private readonly IFlowSource _source;
    private readonly TimeSpan _interval;
    private readonly IActorRef _mediator;
    private readonly List<SessionEvent> _sessionEvents = [];
    private readonly List<DropRecord> _drops = [];
    private readonly long[] _sessionsRead;
    private readonly long[] _dropsRead;
    private readonly NodeSigner? _signer;
    private readonly NodeVerifier? _verifier;

    public SessionActor(string node, IFlowSource source, TimeSpan interval, NodeSigner? signer)
    {
        _node = node;
        _signer = signer;
        _verifier = signer is null ? null : new NodeVerifier(signer.Tls);
        _source = source;
        _interval = interval;
        _sessionsRead = new long[source.SessionEvents.Count];
        _dropsRead = new long[source.Drops.Count];
        _mediator = DistributedPubSub.Get(Context.System).Mediator;
        Receive<Drain>(_ =>
        {
            DrainRings();
            ConfigurationChanged();
        });
        Receive<QuerySessions>(Query);
        Receive<QueryDrops>(query => Sender.Tell(Drops(query.Limit)));
        ReceiveClientHandOver();
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static string NameOf(string node) => $"sessions-{node}";

    /// <param name="signer">Seals the node's requests for a client's sessions, and its CA is what other nodes' requests are checked against; null when the cluster runs without TLS.</param>
    public static Props Props(string node, IFlowSource source, TimeSpan? interval = null, NodeSigner? signer = null) =>
        Akka.Actor.Props.Create(() => new SessionActor(node, source, interval ?? DefaultDrainInterval, signer));

    protected override void PreStart()
    {
        // The stream starts now: what happened before this node joined is in its counters, not replayed.
        for (var w = 0; w < _sessionsRead.Length; w++)
        {
            _sessionsRead[w] = _source.SessionEvents[w].Written;
        }

        for (var w = 0; w < _dropsRead.Length; w++)
        {
            _dropsRead[w] = _source.Drops[w].Written;
        }
        _mediator.Tell(new Put(Self));
        Timers.StartPeriodicTimer("drain", Drain.Instance, _interval);
        Context.System.EventStream.Subscribe(Self, typeof(Configuration.ConfigurationApplied));
        Context.System.EventStream.Subscribe(Self, typeof(Services.PlacementRecompiled));
        _arrivalsSeen = _source.Snapshot;
    }

    protected override void PostStop()
    {
        Context.System.EventStream.Unsubscribe(Self);
        _mediator.Tell(new Remove(FlowDistribution.PathOf(_node)));
    }

    private void Query(QuerySessions query)
    {
        var snapshot = _source.Snapshot;
        var router = snapshot?.Router ?? "";
        var version = snapshot?.Version ?? 0;
        IPAddress? address = null;
        if (query.Address is not null && !IPAddress.TryParse(query.Address, out address))
        {
            Sender.Tell(new SessionPageView(_node, router, version, [], -1, 0, $"\"{query.Address}\" is not an IP address"));
            return;
        }

        var node = _node;
        var source = _source;
        _source.QuerySessionsAsync(new SessionQuery(query.Tenant, query.Service, address, query.Limit, query.Cursor, query.TopByBytes))
            .ContinueWith(
                answered =>
                {
                    if (!answered.IsCompletedSuccessfully)
                    {
                        return new SessionPageView(node, router, version, [], -1, 0, answered.Exception?.GetBaseException().Message ?? "the query was cancelled");
                    }

                    var page = answered.Result;
                    var clock = source.Clock() with { Now = page.Now };
                    var sessions = new List<SessionView>(page.Sessions.Count);
                    foreach (var session in page.Sessions)
                    {
                        sessions.Add(FlowNames.Session(node, page.Snapshot, session, clock));
                    }

                    return new SessionPageView(node, page.Snapshot?.Router ?? router, page.Snapshot?.Version ?? 0, sessions, page.Next, page.Live);
                },
                CancellationToken.None,
                TaskContinuationOptions.ExecuteSynchronously,
                TaskScheduler.Default)
            .PipeTo(Sender);
    }

    private DropsView Drops(int limit)
    {
        var snapshot = _source.Snapshot;
        var clock = _source.Clock();
        var counts = new List<DropCountView>();
        var router = snapshot?.Router ?? "";
        var tenants = snapshot?.Tenants.Length ?? 0;
        var services = snapshot?.Services.Length ?? 0;
        foreach (var reason in Enum.GetValues<DropReason>())
        {
            for (var t = -1; t < tenants; t++)
            {
                for (var s = -1; s < services; s++)
                {
                    var count = reason == DropReason.None ? 0 : _source.DropCount(reason, t, s);
                    if (count > 0)
                    {
                        var (rule, why) = FlowNames.Rule(reason, DropRule.None, t, s, snapshot);
                        counts.Add(new DropCountView(_node, router, FlowNames.Of(reason), FlowNames.TenantName(snapshot, t), FlowNames.ServiceName(snapshot, s), rule, why, count));
                    }
                }
            }
        }

        var recent = _source.Drops.SelectMany(ring => ring.Snapshot()).OrderBy(d => d.Time).ToArray();
        var views = new List<DropView>();
        for (var i = Math.Max(0, recent.Length - Math.Clamp(limit, 0, recent.Length)); i < recent.Length; i++)
        {
            views.Add(FlowNames.Drop(_node, snapshot, recent[i], clock));
        }

        return new DropsView(_node, router, snapshot?.Version ?? 0, counts, views);
    }

    private void DrainRings()
    {
        var snapshot = _source.Snapshot;
        var router = snapshot?.Router ?? "";
        var clock = _source.Clock();
        _sessionEvents.Clear();
        long lostSessions = 0;
        for (var w = 0; w < _sessionsRead.Length; w++)
        {
            var from = _sessionEvents.Count;
            _sessionsRead[w] = _source.SessionEvents[w].ReadFrom(_sessionsRead[w], _sessionEvents, MaxPerDrain, out var lost);
            lostSessions += lost;
            for (var i = from; i < _sessionEvents.Count; i++)
            {
                _sessionEvents[i] = _sessionEvents[i] with { Handle = _source.RouterHandle(w, _sessionEvents[i].Handle) };
            }
        }

        _sessionEvents.Sort(static (a, b) => a.Time.CompareTo(b.Time));
        if (_sessionEvents.Count > 0 || lostSessions > 0)
        {
            var views = new List<SessionEventView>(_sessionEvents.Count);
            foreach (var e in _sessionEvents)
            {
                var session = FlowNames.Session(_node, snapshot, e.Handle, e.Generation, e.Forward, e.Reverse, e.State, null, e.Opened, e.Time, clock);
                views.Add(new SessionEventView(e.Kind == SessionEventKind.Opened ? "opened" : "closed", session, clock.UnixMilliseconds(e.Time)));
            }

            Publish(views, lostSessions, (chunk, lost) => new SessionEventBatch(_node, router, chunk, lost));
        }

        _drops.Clear();
        long lostDrops = 0;
        for (var w = 0; w < _dropsRead.Length; w++)
        {
            _dropsRead[w] = _source.Drops[w].ReadFrom(_dropsRead[w], _drops, MaxPerDrain, out var lost);
            lostDrops += lost;
        }

        _drops.Sort(static (a, b) => a.Time.CompareTo(b.Time));
        if (_drops.Count > 0 || lostDrops > 0)
        {
            var views = new List<DropView>(_drops.Count);
            foreach (var drop in _drops)
            {
                views.Add(FlowNames.Drop(_node, snapshot, drop, clock));
            }

            Publish(views, lostDrops, (chunk, lost) => new DropEventBatch(_node, router, chunk, lost));
        }
    }

    /// <summary>Publishes <paramref name="items"/> in batches of at most <see cref="MaxPerBatch"/>; the first carries the count of what was lost.</summary>
    private void Publish<T>(List<T> items, long lost, Func<IReadOnlyList<T>, long, object> batch)
    {
        for (var start = 0; start < items.Count || (start == 0 && lost > 0); start += MaxPerBatch)
        {
            var chunk = items.GetRange(start, Math.Min(MaxPerBatch, items.Count - start));
            _mediator.Tell(new Publish(FlowDistribution.Topic, batch(chunk, start == 0 ? lost : 0)));
        }
    }

    private sealed record Drain
    {
        public static readonly Drain Instance = new();
    }
}
