using Fabric.Http;
using Fabric.Http.Metrics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Fabric.Conductor.Api;

/// <summary>
/// The conductor's <c>/metrics</c>, <c>/healthz</c> and <c>/readyz</c> as ASP.NET Core endpoints, answered by
/// <see cref="NodeHttp"/> (the same answers a router's listener gives).
/// Thread-safe: stateless.
/// </summary>
public static class OperationsEndpoints
{
    /// <summary>The methods answered, as a router's listener answers them; HEAD gets GET's head without the body.</summary>
    private static readonly string[] GetOrHead = [HttpMethods.Get, HttpMethods.Head];

    /// <summary>Maps <c>/metrics</c>, <c>/healthz</c> and <c>/readyz</c>; returns the metrics endpoint (to require authorization on it).</summary>
    public static IEndpointConventionBuilder MapOperations(this IEndpointRouteBuilder endpoints, FabricMetrics metrics, Readiness readiness)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentNullException.ThrowIfNull(metrics);
        ArgumentNullException.ThrowIfNull(readiness);
        endpoints.MapMethods(NodeHttp.HealthPath, GetOrHead, (HttpContext http) => Write(http, NodeHttp.Alive())).ExcludeFromDescription();
        endpoints.MapMethods(NodeHttp.ReadyPath, GetOrHead, async (HttpContext http) => await Write(http, await NodeHttp.Ready(readiness, http.RequestAborted).ConfigureAwait(false)).ConfigureAwait(false))
            .ExcludeFromDescription();
        return endpoints.MapMethods(NodeHttp.MetricsPath, GetOrHead, (HttpContext http) => Write(http, NodeHttp.Metrics(metrics))).ExcludeFromDescription();
    }

    private static Task Write(HttpContext http, OperationsAnswer answer)
    {
        http.Response.StatusCode = answer.Status;
        if (answer.ContentType is { } type)
        {
            http.Response.ContentType = type;
        }

        http.Response.ContentLength = answer.Body.Length;
        return HttpMethods.IsHead(http.Request.Method) ? Task.CompletedTask : http.Response.Body.WriteAsync(answer.Body, http.RequestAborted).AsTask();
    }
}
