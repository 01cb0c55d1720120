using Fabric.Actors.Serialization;
using Fabric.Actors.Telemetry;

namespace Fabric.Conductor.Telemetry;

/// <summary>
/// The conductor's telemetry history, per router node: every sample at full resolution for
/// <see cref="FullRetention"/>, and one rollup per <see cref="RollupInterval"/> for
/// <see cref="RollupRetention"/>. Counters are cumulative, so a rollup is the last sample of its interval:
/// the difference of two rollups is exactly what was counted between them. Time comes from the injected
/// clock (retention is measured against it, not against the samples' own times). Not thread-safe: one
/// actor owns it.
/// </summary>
public sealed class TelemetryStore(TimeProvider time)
{
    public static readonly TimeSpan FullRetention = TimeSpan.FromHours(1);
    public static readonly TimeSpan RollupInterval = TimeSpan.FromMinutes(5);
    public static readonly TimeSpan RollupRetention = TimeSpan.FromDays(1);

    private readonly Dictionary<string, List<CounterSample>> _full = new(StringComparer.Ordinal);
    private readonly Dictionary<string, SortedList<long, CounterSample>> _rollups = new(StringComparer.Ordinal);

    /// <summary>Keeps <paramref name="sample"/> unless it is not newer than the node's last one (a repeat from gossip); returns whether it was kept.</summary>
    public bool Add(CounterSample sample)
    {
        if (!IsNew(sample))
        {
            return false;
        }

        var (full, rollups) = Track(sample.Node);
        full.Add(sample);
        var interval = (long)RollupInterval.TotalMilliseconds;
        rollups[sample.UnixMilliseconds - (sample.UnixMilliseconds % interval)] = sample;
        Prune();
        return true;
    }

    /// <summary>Whether <paramref name="sample"/> is newer than the last sample kept of its node (what <see cref="Add"/> keeps).</summary>
    public bool IsNew(CounterSample sample)
    {
        ArgumentNullException.ThrowIfNull(sample);
        return !_full.TryGetValue(sample.Node, out var full) || full.Count == 0 || full[^1].UnixMilliseconds < sample.UnixMilliseconds;
    }

    /// <summary>Full-resolution samples kept, over every node.</summary>
    public int SampleCount => _full.Values.Sum(samples => samples.Count);

    /// <summary>Everything kept, as the conductor persists it: every full-resolution sample and every rollup's sample.</summary>
    public TelemetryHistory History()
    {
        Prune();
        return new TelemetryHistory(
            [.. _full.Values.SelectMany(samples => samples)],
            [.. _rollups.Values.SelectMany(rollups => rollups.Values)]);
    }

    /// <summary>
    /// A store holding <paramref name="history"/> (from <see cref="History"/>), less what is past retention now.
    /// A rollup's interval is the one its sample falls in.
    /// </summary>
    public static TelemetryStore Restore(TimeProvider time, TelemetryHistory history)
    {
        ArgumentNullException.ThrowIfNull(history);
        var store = new TelemetryStore(time);
        var interval = (long)RollupInterval.TotalMilliseconds;
        foreach (var sample in history.Rollups)
        {
            store.Track(sample.Node).Rollups[sample.UnixMilliseconds - (sample.UnixMilliseconds % interval)] = sample;
        }

        foreach (var sample in history.Samples.OrderBy(s => s.UnixMilliseconds))
        {
            var full = store.Track(sample.Node).Full;
            if (full.Count == 0 || full[^1].UnixMilliseconds < sample.UnixMilliseconds)
            {
                full.Add(sample);
            }
        }

        store.Prune();
        return store;
    }

    private (List<CounterSample> Full, SortedList<long, CounterSample> Rollups) Track(string node)
    {
        if (!_full.TryGetValue(node, out var full))
        {
            _full[node] = full = [];
            _rollups[node] = new SortedList<long, CounterSample>();
        }

        return (full, _rollups[node]);
    }

    /// <summary>What is kept for every node (or one), oldest first.</summary>
    /// <param name="since">Only points at or after this time (Unix milliseconds).</param>
    /// <param name="latest">Only each node's latest sample, no rollups.</param>
    public TelemetryView View(string? node = null, long? since = null, bool latest = false)
    {
        Prune();
        var from = since ?? long.MinValue;
        return new TelemetryView([.. _full.Keys.Where(n => node is null || n == node).Order(StringComparer.Ordinal).Select(n => new NodeTelemetry(
            n,
            _full[n].Count > 0 ? _full[n][^1].Router : "",
            [.. (latest ? _full[n].TakeLast(1) : _full[n]).Where(s => s.UnixMilliseconds >= from).Select(Point)],
            latest ? [] : [.. _rollups[n].Where(r => r.Key >= from).Select(r => Point(r.Value) with { UnixMilliseconds = r.Key })]))]);
    }

    private static TelemetryPoint Point(CounterSample sample) => new(sample.UnixMilliseconds, sample.Counters);

    private void Prune()
    {
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        var fullFrom = now - (long)FullRetention.TotalMilliseconds;
        var rollupFrom = now - (long)RollupRetention.TotalMilliseconds;
        foreach (var full in _full.Values)
        {
            var old = full.FindIndex(s => s.UnixMilliseconds >= fullFrom);
            full.RemoveRange(0, old < 0 ? full.Count : old);
        }

        foreach (var rollups in _rollups.Values)
        {
            while (rollups.Count > 0 && rollups.Keys[0] < rollupFrom)
            {
                rollups.RemoveAt(0);
            }
        }
    }
}

/// <summary>What the conductor persists of its telemetry: the full-resolution samples and the samples rollups hold, of every node.</summary>
[WireMessage("fabric.telemetry.history.v1")]
public sealed record TelemetryHistory(IReadOnlyList<CounterSample> Samples, IReadOnlyList<CounterSample> Rollups);

/// <summary>One point: when (Unix milliseconds; for a rollup, the start of its interval) and the counters.</summary>
public sealed record TelemetryPoint(long UnixMilliseconds, IReadOnlyDictionary<string, long> Counters);

/// <summary>One router node's history: full-resolution samples and rollups, oldest first.</summary>
public sealed record NodeTelemetry(string Node, string Router, IReadOnlyList<TelemetryPoint> Samples, IReadOnlyList<TelemetryPoint> Rollups);

/// <summary>The telemetry the conductor keeps, per node.</summary>
[WireMessage("fabric.telemetry.view.v1")]
public sealed record TelemetryView(IReadOnlyList<NodeTelemetry> Nodes);

/// <summary>Ask the conductor for its telemetry, of one node or (null) all; only what is newer than <paramref name="SinceUnixMilliseconds"/>, or only each node's latest sample.</summary>
[WireMessage("fabric.telemetry.get.v2")]
public sealed record GetTelemetry(string? Node, long? SinceUnixMilliseconds = null, bool Latest = false);
