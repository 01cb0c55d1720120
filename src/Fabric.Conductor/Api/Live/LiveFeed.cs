using System.Collections.Immutable;
using System.Threading.Channels;
using Fabric.Actors.Telemetry;

namespace Fabric.Conductor.Api.Live;

/// <summary>One event of the live stream: its kind (the SSE event type), a sequence number (the SSE id) and its data.</summary>
public sealed record LiveEvent(string Kind, long Sequence, object Data)
{
    public const string Telemetry = "telemetry";
    public const string Rollout = "rollout";

    /// <summary>Sent to one subscriber only: events it was too slow for were dropped (<see cref="DroppedEvents"/>).</summary>
    public const string Dropped = "dropped";
}

/// <summary>A router node's new counter sample, as the stream carries it.</summary>
public sealed record TelemetryEvent(string Node, string Router, long UnixMilliseconds, IReadOnlyDictionary<string, long> Counters);

/// <summary>How far the running version has reached: each router node's applied version and drift.</summary>
public sealed record RolloutEvent(long Running, bool Converged, IReadOnlyList<RolloutNodeEvent> Nodes);

/// <summary>One router node in a <see cref="RolloutEvent"/>.</summary>
public sealed record RolloutNodeEvent(string Node, string Router, bool Reported, long Applied, bool Drift, long? FailedVersion, string? Failure);

/// <summary>How many events a slow subscriber missed before the next one it gets.</summary>
public sealed record DroppedEvents(long Count);

/// <summary>
/// What the conductor's API serves live, fed by <see cref="LiveFeedActor"/> (which follows the cluster's telemetry and
/// rollout): each router node's latest counter sample (read by <c>/metrics</c>), the rollout in force, and a stream of
/// events to every subscriber (<c>/v1/events</c>). Each subscriber reads from its own bounded channel that drops its
/// oldest event when full, so <see cref="Publish"/> never waits: a slow or stalled client loses events (and is told how
/// many), never slows the feed or the actor system behind it. Thread-safe.
/// </summary>
public sealed class LiveFeed
{
    /// <summary>Events a subscriber may fall behind by before the oldest are dropped.</summary>
    public const int DefaultCapacity = 256;

    private readonly Lock _gate = new();
    private Subscription[] _subscribers = [];
    private ImmutableDictionary<string, CounterSample> _samples = ImmutableDictionary<string, CounterSample>.Empty.WithComparers(StringComparer.Ordinal);
    private RolloutEvent? _rollout;
    private long _sequence;

    /// <summary>Each router node's latest counter sample.</summary>
    public IReadOnlyCollection<CounterSample> LatestSamples => [.. Volatile.Read(ref _samples).Values];

    /// <summary>The rollout as last published, or null before the first.</summary>
    public RolloutEvent? Rollout => Volatile.Read(ref _rollout);

    /// <summary>How many subscribers read now.</summary>
    public int Subscribers => Volatile.Read(ref _subscribers).Length;

    /// <summary>Whether <paramref name="sample"/> is newer than the node's latest (what <see cref="Sample"/> keeps).</summary>
    public bool IsNew(CounterSample sample)
    {
        ArgumentNullException.ThrowIfNull(sample);
        return !Volatile.Read(ref _samples).TryGetValue(sample.Node, out var known) || known.UnixMilliseconds < sample.UnixMilliseconds;
    }

    /// <summary>Keeps a node's sample as its latest and streams it, unless it is one already seen (gossip repeats).</summary>
    public void Sample(CounterSample sample)
    {
        ArgumentNullException.ThrowIfNull(sample);
        lock (_gate)
        {
            if (_samples.TryGetValue(sample.Node, out var known) && known.UnixMilliseconds >= sample.UnixMilliseconds)
            {
                return;
            }

            Volatile.Write(ref _samples, _samples.SetItem(sample.Node, sample));
        }

        Publish(LiveEvent.Telemetry, new TelemetryEvent(sample.Node, sample.Router, sample.UnixMilliseconds, sample.Counters));
    }

    /// <summary>Keeps the rollout in force and streams it when it differs from the last.</summary>
    public void Progress(RolloutEvent rollout)
    {
        ArgumentNullException.ThrowIfNull(rollout);
        lock (_gate)
        {
            if (_rollout is { } last && last.Running == rollout.Running && last.Converged == rollout.Converged && last.Nodes.SequenceEqual(rollout.Nodes))
            {
                return;
            }

            Volatile.Write(ref _rollout, rollout);
        }

        Publish(LiveEvent.Rollout, rollout);
    }

    /// <summary>Hands an event to every subscriber's channel; never waits (a full channel drops its oldest event).</summary>
    public void Publish(string kind, object data)
    {
        var live = new LiveEvent(kind, Interlocked.Increment(ref _sequence), data);
        foreach (var subscriber in Volatile.Read(ref _subscribers))
        {
            subscriber.Offer(live);
        }
    }

    /// <summary>A new subscriber of <paramref name="kinds"/> (all when empty); dispose it to stop.</summary>
    public Subscription Subscribe(IReadOnlySet<string> kinds, int capacity = DefaultCapacity)
    {
        var subscription = new Subscription(this, kinds, capacity);
        lock (_gate)
        {
            Volatile.Write(ref _subscribers, [.. _subscribers, subscription]);
        }

        return subscription;
    }

    private void Remove(Subscription subscription)
    {
        lock (_gate)
        {
            Volatile.Write(ref _subscribers, [.. _subscribers.Where(s => s != subscription)]);
        }
    }

    /// <summary>
    /// One subscriber: a bounded channel (oldest dropped when full) and the count of what was dropped since it last read.
    /// One reader; any number of writers.
    /// </summary>
    public sealed class Subscription : IDisposable
    {
        private readonly LiveFeed _feed;
        private readonly IReadOnlySet<string> _kinds;
        private readonly Channel<LiveEvent> _channel;
        private long _dropped;

        internal Subscription(LiveFeed feed, IReadOnlySet<string> kinds, int capacity)
        {
            _feed = feed;
            _kinds = kinds;
            _channel = Channel.CreateBounded<LiveEvent>(
                new BoundedChannelOptions(capacity) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true },
                _ => Interlocked.Increment(ref _dropped));
        }

        internal void Offer(LiveEvent live)
        {
            if (_kinds.Count == 0 || _kinds.Contains(live.Kind))
            {
                _channel.Writer.TryWrite(live);
            }
        }

        /// <summary>
        /// The events as they come, oldest first; before an event that follows dropped ones, a <see cref="LiveEvent.Dropped"/>
        /// event with how many. Ends when <paramref name="cancel"/> fires.
        /// </summary>
        public async IAsyncEnumerable<LiveEvent> ReadAll([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancel = default)
        {
            while (await _channel.Reader.WaitToReadAsync(cancel).ConfigureAwait(false))
            {
                while (_channel.Reader.TryRead(out var live))
                {
                    if (Interlocked.Exchange(ref _dropped, 0) is var dropped and > 0)
                    {
                        yield return new LiveEvent(LiveEvent.Dropped, live.Sequence, new DroppedEvents(dropped));
                    }

                    yield return live;
                }
            }
        }

        public void Dispose()
        {
            _feed.Remove(this);
            _channel.Writer.TryComplete();
        }
    }
}
