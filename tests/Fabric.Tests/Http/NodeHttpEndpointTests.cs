using System.Net;
using Fabric.Actors.Telemetry;
using Fabric.Http;
using Fabric.Http.Metrics;
using Fabric.Tests.Dataplane.Routing;
using Fabric.Tests.Support;

namespace Fabric.Tests.Http;

/// <summary>
/// A router node's HTTP listener on a real loopback socket over an in-memory router with real traffic: /metrics in the
/// Prometheus text format (read by the Prometheus client's own parser), named by Prometheus conventions, moving with the
/// traffic; /healthz and /readyz.
/// </summary>
public sealed class NodeHttpEndpointTests : IDisposable
{
    private readonly RouterFixture _lab = new();

    public void Dispose() => _lab.Dispose();

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Metrics_TheRoutersCounters_ParseAsPrometheusText_AndMoveWithTraffic()
    {
        var source = new EngineTelemetrySource(_lab.Router);
        using var metrics = new FabricMetrics(() => [new CounterSample("dc1a", "dc1", 0, source.Sample())], _lab.Time);
        await using var http = await NodeHttpEndpoint.Start(IPAddress.Loopback, 0, metrics, _ => Task.FromResult<string?>(null));
        using var client = new HttpClient { BaseAddress = http.Address };

        var before = PrometheusText.Parse(await client.GetStringAsync(NodeHttp.MetricsPath, Cancel));
        Assert.Equal(0, PrometheusText.Value(before, "fabric_packets_forwarded_total", ("router", "dc1"), ("node", "dc1a")));

        for (ushort port = 30000; port < 30005; port++)
        {
            _lab.Eng1.SendUdp("10.200.0.80", port, 53, new byte[100]);
        }

        _lab.Guest1.SendTcp("10.10.1.20", 31001, 5432, Fabric.Dataplane.Wire.TcpFlags.Syn, 1, 0, []);
        _lab.Pump();
        _lab.Time.Advance(TimeSpan.FromSeconds(2)); // past the one-second reading a scrape keeps
        using var response = await client.GetAsync(NodeHttp.MetricsPath, Cancel);
        Assert.StartsWith("text/plain", response.Content.Headers.ContentType?.MediaType, StringComparison.Ordinal);
        var after = PrometheusText.Parse(await response.Content.ReadAsStringAsync(Cancel));

        // The same figures the router keeps (and ships as telemetry), under Prometheus names.
        var kept = source.Sample();
        Assert.True(kept["forwarded"] > 0);
        Assert.Equal(kept["forwarded"], PrometheusText.Value(after, "fabric_packets_forwarded_total", ("router", "dc1"), ("node", "dc1a")));
        Assert.Equal(kept["received"], PrometheusText.Value(after, "fabric_packets_received_total", ("router", "dc1"), ("node", "dc1a")));
        Assert.Equal(10, PrometheusText.Value(after, "fabric_tenant_packets_total", ("tenant", "engineering")));
        Assert.Equal(10 * (20 + 8 + 100), PrometheusText.Value(after, "fabric_service_bytes_total", ("service", "web")));
        Assert.Equal(5, PrometheusText.Value(after, "fabric_service_sessions_active", ("service", "web")));
        Assert.Equal(1, PrometheusText.Value(after, "fabric_drops_total", ("reason", "AccessDenied")));
        Assert.Equal(1, PrometheusText.Value(after, "fabric_tenant_drops_total", ("tenant", "guest")));
        Assert.Equal(5, PrometheusText.Value(after, "fabric_sessions_active"));
        Assert.Equal(1, PrometheusText.Value(after, "fabric_ha_active"));

        // Conventions: counters are counter families ending in _total; every label is one of the bounded set.
        var bounded = new HashSet<string> { "router", "node", "reason", "tenant", "service", "peer", "neighborhood", "family" };
        Assert.All(after.Where(s => s.Name.StartsWith("fabric_", StringComparison.Ordinal)), s =>
        {
            Assert.Subset(bounded, s.Labels.Keys.ToHashSet());
            Assert.Equal(s.Type == "counter", s.Name.EndsWith("_total", StringComparison.Ordinal));
        });
        Assert.Equal("counter", after.First(s => s.Name == "fabric_drops_total").Type);
        Assert.Equal("gauge", after.First(s => s.Name == "fabric_sessions_active").Type);
    }

    [Fact]
    public async Task Health_AliveAlways_ReadyOnlyWhenTheNodeSaysSo()
    {
        using var metrics = new FabricMetrics(() => []);
        string? unready = "no configuration applied yet";
        await using var http = await NodeHttpEndpoint.Start(IPAddress.Loopback, 0, metrics, _ => Task.FromResult<string?>(unready));
        using var client = new HttpClient { BaseAddress = http.Address };

        using var alive = await client.GetAsync(NodeHttp.HealthPath, Cancel);
        using var notReady = await client.GetAsync(NodeHttp.ReadyPath, Cancel);
        unready = null;
        using var ready = await client.GetAsync(NodeHttp.ReadyPath, Cancel);

        Assert.Equal(HttpStatusCode.OK, alive.StatusCode);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, notReady.StatusCode);
        Assert.Contains("no configuration applied yet", await notReady.Content.ReadAsStringAsync(Cancel), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
    }

    [Fact]
    public async Task Health_AnswersJson_OnlyToGet_NothingElseServed()
    {
        using var metrics = new FabricMetrics(() => []);
        await using var http = await NodeHttpEndpoint.Start(IPAddress.Loopback, 0, metrics, _ => Task.FromResult<string?>("dc1's config <pending>"));
        using var client = new HttpClient { BaseAddress = http.Address };

        using var alive = await client.GetAsync(NodeHttp.HealthPath, Cancel);
        using var aliveSlash = await client.GetAsync(NodeHttp.HealthPath + "/", Cancel);
        using var notReady = await client.GetAsync(NodeHttp.ReadyPath, Cancel);
        using var posted = await client.PostAsync(NodeHttp.HealthPath, new StringContent("x"), Cancel);
        using var elsewhere = await client.GetAsync("/v1/config/versions", Cancel);
        using var scraped = await client.GetAsync(NodeHttp.MetricsPath, Cancel);
        using var belowMetrics = await client.GetAsync(NodeHttp.MetricsPath + "/x", Cancel);

        Assert.Equal("application/json", alive.Content.Headers.ContentType?.MediaType);
        Assert.Equal("""{"status":"alive","reason":null}""", await alive.Content.ReadAsStringAsync(Cancel));
        Assert.Equal(HttpStatusCode.OK, aliveSlash.StatusCode);
        Assert.Equal("""{"status":"not ready","reason":"dc1's config <pending>"}""", await notReady.Content.ReadAsStringAsync(Cancel));
        Assert.Equal(HttpStatusCode.MethodNotAllowed, posted.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, elsewhere.StatusCode);
        Assert.Equal(HttpStatusCode.OK, scraped.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, belowMetrics.StatusCode);
    }
}
