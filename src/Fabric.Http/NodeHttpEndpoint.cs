using System.Net;
using Fabric.Http.Metrics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Fabric.Http;

/// <summary>
/// A router node's HTTP listener (Kestrel on its management address): <c>/metrics</c>, <c>/healthz</c> and
/// <c>/readyz</c> as <see cref="NodeHttp.UseOperations"/> serves them (no endpoint routing), and nothing else. It reads counters the dataplane already keeps
/// (<see cref="FabricMetrics"/>) on the scraper's request; the packet path does not know it exists. No token: it serves
/// only on the management network, and only what a monitoring system scrapes. Dispose to stop.
/// </summary>
public sealed class NodeHttpEndpoint : IAsyncDisposable
{
    private readonly WebApplication _app;

    private NodeHttpEndpoint(WebApplication app, Uri address)
    {
        _app = app;
        Address = address;
    }

    /// <summary>Where it listens (with the port the system chose, when asked for port 0).</summary>
    public Uri Address { get; }

    /// <summary>Starts listening on <paramref name="address"/>:<paramref name="port"/>; throws <see cref="IOException"/> when the address cannot be bound.</summary>
    /// <param name="configure">Changes to the host before it is built (tests put ASP.NET Core's test server in).</param>
    public static async Task<NodeHttpEndpoint> Start(IPAddress address, int port, FabricMetrics metrics, Readiness readiness, Action<WebApplicationBuilder>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(address);
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ApplicationName = typeof(NodeHttpEndpoint).Assembly.GetName().Name });
        builder.WebHost.UseKestrelCore();
        builder.WebHost.Listen(address, port, certificate: null, maxRequestBodyBytes: 64 * 1024);
        builder.Logging.ClearProviders();
        configure?.Invoke(builder);
        var meters = NodeHttp.MeterProvider(metrics);
        var app = builder.Build();
        app.Lifetime.ApplicationStopped.Register(meters.Dispose);
        app.UseOperations(meters, readiness);
        try
        {
            await app.StartAsync().ConfigureAwait(false);
        }
        catch
        {
            await app.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        var bound = app.Urls.Count > 0 ? new Uri(app.Urls.First()) : new Uri($"http://{address}:{port}/");
        return new NodeHttpEndpoint(app, bound);
    }

    /// <summary>The running host (for the test server's client).</summary>
    public WebApplication App => _app;

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
    }
}
