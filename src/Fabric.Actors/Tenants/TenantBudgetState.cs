namespace Fabric.Actors.Tenants;

/// <summary>
/// One router node's side of the budget exchange as pure state: it measures the demand of each limited bucket
/// from the bucket's offered-bytes counter, keeps the other nodes' latest reports with the time (by this node's
/// clock) each last moved, and computes this node's share of each limit with <see cref="TenantBudgetShares"/>.
/// Times are milliseconds of one monotonic local clock. Not thread-safe (an actor's).
/// </summary>
public sealed class TenantBudgetState(string node, TenantBudgetSettings settings)
{
    private readonly Dictionary<string, Queue<(long At, long Offered)>> _samples = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (long Sequence, long HeardAt, TenantDemandReport Report)> _peers = new(StringComparer.Ordinal);
    private Dictionary<string, long> _demands = new(StringComparer.Ordinal);
    private long _sequence;

    /// <summary>This node's demands as last measured (bytes per second by bucket key).</summary>
    public IReadOnlyDictionary<string, long> Demands => _demands;

    /// <summary>
    /// Takes each bucket's offered-bytes counter at <paramref name="now"/> and returns this node's report: each
    /// bucket's demand over the last <see cref="TenantBudgetSettings.DemandWindow"/> (0 until two samples exist;
    /// a counter that went back, a bucket made anew, starts over). Buckets no longer given are forgotten.
    /// </summary>
    public TenantDemandReport Measure(string router, long now, IReadOnlyDictionary<string, long> offered)
    {
        ArgumentNullException.ThrowIfNull(offered);
        var window = (long)settings.DemandWindow.TotalMilliseconds;
        var demands = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var (key, bytes) in offered)
        {
            if (!_samples.TryGetValue(key, out var samples))
            {
                _samples[key] = samples = new Queue<(long, long)>();
            }

            if (samples.Count > 0 && bytes < samples.Last().Offered)
            {
                samples.Clear();
            }

            samples.Enqueue((now, bytes));
            // Keep the newest sample at or before the window's start as the measure's base.
            while (samples.Count > 2 && samples.ElementAt(1).At <= now - window)
            {
                samples.Dequeue();
            }

            var (firstAt, firstBytes) = samples.Peek();
            demands[key] = now > firstAt ? (long)((bytes - firstBytes) * 1000.0 / (now - firstAt)) : 0;
        }

        foreach (var gone in _samples.Keys.Where(k => !offered.ContainsKey(k)).ToList())
        {
            _samples.Remove(gone);
        }

        _demands = demands;
        return new TenantDemandReport(node, router, ++_sequence, demands);
    }

    /// <summary>Takes the reports read from the exchange at <paramref name="now"/>; a node's report counts as heard when its sequence moved. This node's own is ignored.</summary>
    public void Heard(IEnumerable<TenantDemandReport> reports, long now)
    {
        ArgumentNullException.ThrowIfNull(reports);
        foreach (var report in reports)
        {
            if (report.Node == node || (_peers.TryGetValue(report.Node, out var known) && known.Sequence == report.Sequence))
            {
                continue;
            }

            _peers[report.Node] = (report.Sequence, now, report);
        }
    }

    /// <summary>The other nodes heard within <see cref="TenantBudgetSettings.StaleAfter"/> of <paramref name="now"/>.</summary>
    public IEnumerable<TenantDemandReport> LivePeers(long now) =>
        _peers.Values.Where(p => now - p.HeardAt <= (long)settings.StaleAfter.TotalMilliseconds).Select(p => p.Report);

    /// <summary>
    /// This node's share of each limit (bytes per second by bucket key): the limit divided among this node and
    /// every live node that reports the same bucket, by their demands. Alone, the whole limit.
    /// </summary>
    public Dictionary<string, long> Shares(long now, IReadOnlyDictionary<string, long> limits)
    {
        ArgumentNullException.ThrowIfNull(limits);
        var peers = LivePeers(now).OrderBy(p => p.Node, StringComparer.Ordinal).ToList();
        var shares = new Dictionary<string, long>(StringComparer.Ordinal);
        var demands = new List<long>();
        foreach (var (key, limit) in limits)
        {
            demands.Clear();
            demands.Add(_demands.GetValueOrDefault(key));
            foreach (var peer in peers)
            {
                if (peer.Demands.TryGetValue(key, out var demand))
                {
                    demands.Add(demand);
                }
            }

            shares[key] = TenantBudgetShares.Divide(limit, System.Runtime.InteropServices.CollectionsMarshal.AsSpan(demands), settings.Headroom, settings.IdleFloor)[0];
        }

        return shares;
    }
}
