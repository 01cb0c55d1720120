using System.Net;
using System.Security.Cryptography.X509Certificates;
using Fabric.Http.Metrics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using OpenTelemetry;
using OpenTelemetry.Metrics;

namespace Fabric.Http;

/// <summary>Whether a node serves: null when ready, else why not, in one sentence.</summary>
public delegate Task<string?> Readiness(CancellationToken cancel);

/// <summary>
/// What every node's HTTP listener serves, the conductor's and each router's alike:
/// <list type="bullet">
/// <item><c>GET /metrics</c>: <see cref="FabricMetrics"/> in the Prometheus text format (OpenMetrics when the scraper asks for it).</item>
/// <item><c>GET /healthz</c>: 200 while the process serves HTTP (liveness).</item>
/// <item><c>GET /readyz</c>: 200 when the node does its job, 503 with the reason otherwise (readiness).</item>
/// </list>
/// Thread-safe: stateless.
/// </summary>
public static class NodeHttp
{
    public const string MetricsPath = "/metrics";
    public const string HealthPath = "/healthz";
    public const string ReadyPath = "/readyz";

    /// <summary>
    /// A meter provider that exports exactly <paramref name="metrics"/>' instruments to the Prometheus scrape endpoint
    /// (other instances' meters of the same name in this process are dropped by a view). Scrapes are not cached: each
    /// reads the samples anew. The caller disposes it with its host.
    /// </summary>
    public static MeterProvider MeterProvider(FabricMetrics metrics)
    {
        ArgumentNullException.ThrowIfNull(metrics);
        var meter = metrics.Meter;
        return Sdk.CreateMeterProviderBuilder()
            .AddMeter(FabricMetrics.MeterName)
            .AddView(instrument => instrument.Meter == meter ? null : MetricStreamConfiguration.Drop)
            .AddPrometheusExporter(o =>
            {
                // Only the fabric's own families and labels: no otel_scope_* label on every sample, no target_info family.
                o.ScrapeResponseCacheDurationMilliseconds = 0;
                o.ScopeInfoEnabled = false;
                o.TargetInfoEnabled = false;
            })
            .Build();
    }

    /// <summary>Maps <c>/metrics</c>, <c>/healthz</c> and <c>/readyz</c>; returns the metrics endpoint (to require authorization on it).</summary>
    public static IEndpointConventionBuilder MapOperations(this IEndpointRouteBuilder endpoints, MeterProvider meters, Readiness readiness)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentNullException.ThrowIfNull(readiness);
        endpoints.MapGet(HealthPath, () => TypedResults.Ok(new HealthView("alive", null))).ExcludeFromDescription();
        endpoints.MapGet(ReadyPath, async Task<IResult> (CancellationToken cancel) => await readiness(cancel).ConfigureAwait(false) is { } reason
            ? TypedResults.Json(new HealthView("not ready", reason), statusCode: StatusCodes.Status503ServiceUnavailable)
            : TypedResults.Ok(new HealthView("ready", null))).ExcludeFromDescription();
        return endpoints.MapPrometheusScrapingEndpoint(MetricsPath, meters, null!, null!).ExcludeFromDescription();
    }

    /// <summary>Kestrel on <paramref name="address"/>:<paramref name="port"/>, over HTTPS when <paramref name="certificate"/> is given.</summary>
    public static void Listen(this IWebHostBuilder web, IPAddress address, int port, X509Certificate2? certificate, long maxRequestBodyBytes)
    {
        ArgumentNullException.ThrowIfNull(web);
        web.UseKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = maxRequestBodyBytes;
            kestrel.Listen(address, port, listen =>
            {
                if (certificate is not null)
                {
                    listen.UseHttps(certificate);
                }
            });
        });
    }
}

/// <summary>A health answer: <c>alive</c>, <c>ready</c> or <c>not ready</c>, and why not.</summary>
public sealed record HealthView(string Status, string? Reason);
