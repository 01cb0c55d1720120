using System.Net;
using System.Security.Cryptography.X509Certificates;
using System.Text.Encodings.Web;
using System.Text.Json;
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

    /// <summary>
    /// Serves <c>/metrics</c>, <c>/healthz</c> and <c>/readyz</c> as <see cref="MapOperations"/> does (the same answers,
    /// 405 to another method than GET on the health paths, 404 elsewhere) from the pipeline alone, without endpoint routing:
    /// for a listener that serves nothing else, so a router does not load routing, authorization and typed results
    /// (docs/benchmarks.md "Memory, 2026-12-06").
    /// </summary>
    public static IApplicationBuilder UseOperations(this IApplicationBuilder app, MeterProvider meters, Readiness readiness)
    {
        ArgumentNullException.ThrowIfNull(app);
        ArgumentNullException.ThrowIfNull(readiness);
        app.UseOpenTelemetryPrometheusScrapingEndpoint(meters, predicate: context => IsPath(context.Request.Path, MetricsPath), path: null, configureBranchedPipeline: null, optionsName: null);
        app.Run(context =>
        {
            var path = context.Request.Path;
            var health = IsPath(path, HealthPath);
            if (!health && !IsPath(path, ReadyPath))
            {
                context.Response.StatusCode = StatusCodes.Status404NotFound;
                return Task.CompletedTask;
            }

            if (!HttpMethods.IsGet(context.Request.Method))
            {
                context.Response.StatusCode = StatusCodes.Status405MethodNotAllowed;
                context.Response.Headers.Allow = HttpMethods.Get;
                return Task.CompletedTask;
            }

            return health ? Alive(context) : Ready(context, readiness);
        });
        return app;
    }

    /// <summary>Whether <paramref name="path"/> is <paramref name="target"/>, with or without a trailing slash, in any case: what endpoint routing matches.</summary>
    private static bool IsPath(PathString path, string target) =>
        path.StartsWithSegments(target, StringComparison.OrdinalIgnoreCase, out var rest) && (!rest.HasValue || rest.Value == "/");

    /// <summary>ASP.NET Core's default JSON options for what it writes to a response: the web defaults with relaxed escaping.</summary>
    private static readonly JsonSerializerOptions HealthJson = new(JsonSerializerDefaults.Web) { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private static Task Alive(HttpContext context) => Answer(context, StatusCodes.Status200OK, new HealthView("alive", null));

    private static async Task Ready(HttpContext context, Readiness readiness)
    {
        var reason = await readiness(context.RequestAborted).ConfigureAwait(false);
        await (reason is null
            ? Answer(context, StatusCodes.Status200OK, new HealthView("ready", null))
            : Answer(context, StatusCodes.Status503ServiceUnavailable, new HealthView("not ready", reason))).ConfigureAwait(false);
    }

    /// <summary>The health answer as JSON with the web defaults, as <see cref="TypedResults"/> writes it on a host with ASP.NET Core's default JSON options: <c>{"status":"ready","reason":null}</c>.</summary>
    private static Task Answer(HttpContext context, int status, HealthView view)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json; charset=utf-8";
        return JsonSerializer.SerializeAsync(context.Response.Body, view, HealthJson, context.RequestAborted);
    }

    /// <summary>
    /// Kestrel's listener on <paramref name="address"/>:<paramref name="port"/>, over HTTPS when <paramref name="certificate"/> is
    /// given. The caller puts Kestrel in (<c>UseKestrelCore</c>, and <c>UseKestrelHttpsConfiguration</c> to serve HTTPS): this
    /// only configures it, so no QUIC transport is loaded for a listener that serves HTTP/1.1 and HTTP/2 over TCP.
    /// </summary>
    public static void Listen(this IWebHostBuilder web, IPAddress address, int port, X509Certificate2? certificate, long maxRequestBodyBytes)
    {
        ArgumentNullException.ThrowIfNull(web);
        web.ConfigureKestrel(kestrel =>
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
