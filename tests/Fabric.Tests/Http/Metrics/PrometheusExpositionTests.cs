using System.Diagnostics.Metrics;
using System.Text;
using Fabric.Actors.Telemetry;
using Fabric.Http.Metrics;
using Fabric.Tests.Dataplane.Routing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.TestHost;
using OpenTelemetry;
using OpenTelemetry.Metrics;

namespace Fabric.Tests.Http.Metrics;

/// <summary>
/// The fabric's own Prometheus rendering (<see cref="PrometheusExposition"/>) writes what the OpenTelemetry Prometheus
/// exporter, configured as the nodes had it (no scope labels, no target_info, no cache), writes for the same instruments:
/// every family of <see cref="CounterFamilies"/> and the conductor's own gauges, byte for byte; and nothing but the
/// conductor's gauges when no router has reported.
/// </summary>
public sealed class PrometheusExpositionTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    /// <summary>A counter of every family, from two router nodes, with label values that need escaping.</summary>
    private static CounterSample[] Samples() =>
    [
        new("dc1a", "dc1", 0, new Dictionary<string, long>
        {
            ["received"] = 1234, ["forwarded"] = 1200, ["dropped"] = 34, ["generated"] = 7, ["sessions"] = 5,
            ["sessions.created"] = 9, ["sessions.expired"] = 4, ["sessions.evicted"] = 0, ["sessions.superseded"] = 1, ["sessions.revoked"] = 2,
            ["drop.AccessDenied"] = 30, ["drop.NoRoute"] = 4,
            ["tenant.engineering.packets"] = 10, ["tenant.web.eng.dev.bytes"] = 1280, ["tenant.guest.sessions.opened"] = 3, ["tenant.guest.sessions.active"] = 1, ["tenant.guest.drops"] = 1,
            ["service.web.packets"] = 10, ["service.web.bytes"] = 1280, ["service.web.sessions.opened"] = 5, ["service.web.sessions.active"] = 5, ["service.web.sessions"] = 5, ["service.web.drops"] = 0,
            ["path.dc2/wan/ipv4.sessions"] = 3, ["path.dc2/wan/ipv4.up"] = 1, ["path.dc2/wan/ipv6.up"] = 0, ["path.dc2/wan/ipv4.rtt-us"] = 1530, ["path.dc2/wan/ipv4.jitter-us"] = 12,
            ["path.dc2/wan/ipv4.loss-bp"] = 250, ["path.dc3/lte.rtt-us"] = 40000,
            ["tenant-limit.web.eng.dev.configured"] = 125000, ["tenant-limit.web.eng.dev.rate"] = 62500, ["tenant-limit.web.eng.dev.offered-bytes"] = 99999, ["tenant-limit.web.eng.dev.refused-bytes"] = 17,
            ["ha.active"] = 1, ["not.a.family"] = 5,
        }),
        new("dc2\"b\\", "dc2\nx", 0, new Dictionary<string, long> { ["forwarded"] = long.MaxValue, ["path.dc1/wan/ipv4.rtt-us"] = 1, ["ha.active"] = 0 }),
    ];

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Scrape_WritesWhatTheOpenTelemetryExporterWrites(bool reported)
    {
        using var metrics = new FabricMetrics(reported ? Samples : () => [], new ManualTime());
        // As the conductor adds its rollout gauges: no unit, with and without labels.
        metrics.Meter.CreateObservableGauge("fabric.config.running_version", () => new Measurement<long>(7), description: "The running configuration version (0 before the first commit).");
        metrics.Meter.CreateObservableGauge(
            "fabric.router.drift", () => new[] { new Measurement<long>(1, new("router", "dc1"), new("node", "dc1a")), new Measurement<long>(0, new("router", "dc2"), new("node", "dc2a")) },
            description: "1 while the router node does not run the running version, else 0.");

        var exporter = await ExporterScrape(metrics);
        var ours = Encoding.UTF8.GetString(metrics.Scrape());

        Assert.Equal(reported, ours.Contains("fabric_peer_path_rtt_seconds{", StringComparison.Ordinal));
        Assert.Equal(exporter, ours);
    }

    [Fact]
    public void Scrape_AnInstrumentThrows_TheOthersAreWritten()
    {
        using var metrics = new FabricMetrics(() => []);
        metrics.Meter.CreateObservableGauge("fabric.config.running_version", () => new Measurement<long>(7));
        metrics.Meter.CreateObservableGauge<long>("fabric.broken", Broken);

        var ours = Encoding.UTF8.GetString(metrics.Scrape());

        static IEnumerable<Measurement<long>> Broken() => throw new InvalidOperationException("the state is gone");
        Assert.Contains("fabric_config_running_version{} 7\n", ours, StringComparison.Ordinal);
        Assert.DoesNotContain("fabric_broken{", ours, StringComparison.Ordinal);
    }

    /// <summary>The exporter's answer to a scrape that asks for no format in particular (the nodes' configuration before).</summary>
    private static async Task<string> ExporterScrape(FabricMetrics metrics)
    {
        using var meters = Sdk.CreateMeterProviderBuilder()
            .AddMeter(FabricMetrics.MeterName)
            .AddView(instrument => instrument.Meter == metrics.Meter ? null : MetricStreamConfiguration.Drop)
            .AddPrometheusExporter(o =>
            {
                o.ScrapeResponseCacheDurationMilliseconds = 0;
                o.ScopeInfoEnabled = false;
                o.TargetInfoEnabled = false;
            })
            .Build();
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseTestServer();
        await using var app = builder.Build();
        app.UseOpenTelemetryPrometheusScrapingEndpoint(meters, predicate: _ => true, path: null, configureBranchedPipeline: null, optionsName: null);
        await app.StartAsync(Cancel);
        using var client = app.GetTestClient();
        using var response = await client.GetAsync(new Uri("/metrics", UriKind.Relative), Cancel);
        Assert.Equal(PrometheusExposition.ContentType.Replace(" ", "", StringComparison.Ordinal), response.Content.Headers.ContentType?.ToString().Replace(" ", "", StringComparison.Ordinal));
        var text = await response.Content.ReadAsStringAsync(Cancel);
        await app.StopAsync(Cancel);
        return text;
    }
}
