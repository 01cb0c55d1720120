using System.Diagnostics.Metrics;
using Fabric.Conductor.Api.Live;
using Fabric.Http.Metrics;

namespace Fabric.Conductor.Api;

/// <summary>
/// The conductor's <c>/metrics</c>: every router node's latest counters (<see cref="FabricMetrics"/> over the
/// <see cref="LiveFeed"/>'s samples, labelled with the router and node they came from) and the rollout:
/// <c>fabric_config_running_version</c>, and per router node <c>fabric_router_applied_version</c> and
/// <c>fabric_router_drift</c> (1 while it does not run the running version). Thread-safe.
/// </summary>
public static class ConductorMetrics
{
    public static FabricMetrics Create(LiveFeed feed)
    {
        ArgumentNullException.ThrowIfNull(feed);
        var metrics = new FabricMetrics(() => feed.LatestSamples);
        metrics.Meter.CreateObservableGauge(
            "fabric.config.running_version",
            () => feed.Rollout is { } rollout ? [new Measurement<long>(rollout.Running)] : Array.Empty<Measurement<long>>(),
            description: "The running configuration version (0 before the first commit).");
        metrics.Meter.CreateObservableGauge(
            "fabric.router.applied_version",
            () => Nodes(feed, n => n.Applied),
            description: "The configuration version each router node applied (0 before it reports).");
        metrics.Meter.CreateObservableGauge(
            "fabric.router.drift",
            () => Nodes(feed, n => n.Drift ? 1 : 0),
            description: "1 while the router node does not run the running version, else 0.");
        return metrics;
    }

    private static IEnumerable<Measurement<long>> Nodes(LiveFeed feed, Func<RolloutNodeEvent, long> value) =>
        (feed.Rollout?.Nodes ?? []).Select(n => new Measurement<long>(value(n), new KeyValuePair<string, object?>("router", n.Router), new KeyValuePair<string, object?>("node", n.Node)));
}
