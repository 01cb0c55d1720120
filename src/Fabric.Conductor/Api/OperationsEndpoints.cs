using System.Net;
using System.Security.Cryptography.X509Certificates;
using Fabric.Http;
using Fabric.Http.Metrics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Fabric.Conductor.Api;

/// <summary>
/// The conductor's <c>/metrics</c>, <c>/healthz</c> and <c>/readyz</c> as ASP.NET Core endpoints, answered by
/// <see cref="NodeHttp"/> (the same answers a router's listener gives), and Kestrel's listener for the API.
/// Thread-safe: stateless.
/// </summary>
public static class OperationsEndpoints
{
    /// <summary>Maps <c>/metrics</c>, <c>/healthz</c> and <c>/readyz</c>; returns the metrics endpoint (to require authorization on it).</summary>
    public static IEndpointConventionBuilder MapOperations(this IEndpointRouteBuilder endpoints, FabricMetrics metrics, Readiness readiness)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentNullException.ThrowIfNull(metrics);
        ArgumentNullException.ThrowIfNull(readiness);
        endpoints.MapGet(NodeHttp.HealthPath, (HttpContext http) => Write(http, NodeHttp.Alive())).ExcludeFromDescription();
        endpoints.MapGet(NodeHttp.ReadyPath, async (HttpContext http) => await Write(http, await NodeHttp.Ready(readiness, http.RequestAborted).ConfigureAwait(false)).ConfigureAwait(false))
            .ExcludeFromDescription();
        return endpoints.MapGet(NodeHttp.MetricsPath, (HttpContext http) => Write(http, NodeHttp.Metrics(metrics))).ExcludeFromDescription();
    }

    private static Task Write(HttpContext http, OperationsAnswer answer)
    {
        http.Response.StatusCode = answer.Status;
        if (answer.ContentType is { } type)
        {
            http.Response.ContentType = type;
        }

        http.Response.ContentLength = answer.Body.Length;
        return http.Response.Body.WriteAsync(answer.Body, http.RequestAborted).AsTask();
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
