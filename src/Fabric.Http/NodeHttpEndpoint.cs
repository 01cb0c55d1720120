using System.Net;
using Fabric.Http.Metrics;

namespace Fabric.Http;

/// <summary>
/// A router node's HTTP listener on its management address: <c>/metrics</c>, <c>/healthz</c> and <c>/readyz</c> as
/// <see cref="NodeHttp"/> answers them, and nothing else, from an <see cref="OperationsListener"/> (no web host: a router
/// loads neither Kestrel nor ASP.NET Core; docs/benchmarks.md "Memory, 2026-12-06"). It reads counters the dataplane
/// already keeps (<see cref="FabricMetrics"/>) on the scraper's request; the packet path does not know it exists. No
/// token and no TLS: it serves only on the management network, and only what a monitoring system scrapes. Dispose to stop.
/// </summary>
public sealed class NodeHttpEndpoint : IAsyncDisposable
{
    private readonly OperationsListener _listener;
    private readonly FabricMetrics _metrics;

    private NodeHttpEndpoint(OperationsListener listener, FabricMetrics metrics)
    {
        _listener = listener;
        _metrics = metrics;
        Address = new Uri($"http://{(listener.Endpoint.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{listener.Endpoint.Address}]" : listener.Endpoint.Address)}:{listener.Endpoint.Port}/");
    }

    /// <summary>Where it listens (with the port the system chose, when asked for port 0).</summary>
    public Uri Address { get; }

    /// <summary>
    /// Starts listening on <paramref name="address"/>:<paramref name="port"/>; throws <see cref="IOException"/> when the
    /// address cannot be bound. Once started, the endpoint owns <paramref name="metrics"/> and disposes them when it stops.
    /// </summary>
    /// <param name="limits">The bounds every client is held to (default: <see cref="OperationsListenerLimits.Default"/>).</param>
    public static Task<NodeHttpEndpoint> Start(IPAddress address, int port, FabricMetrics metrics, Readiness readiness, OperationsListenerLimits? limits = null)
    {
        ArgumentNullException.ThrowIfNull(address);
        ArgumentNullException.ThrowIfNull(metrics);
        ArgumentNullException.ThrowIfNull(readiness);
        var listener = OperationsListener.Start(address, port, (method, path, cancel) => NodeHttp.Answer(method, path, metrics, readiness, cancel), limits);
        return Task.FromResult(new NodeHttpEndpoint(listener, metrics));
    }

    /// <summary>Stops listening (connections in progress end first), then disposes the metrics.</summary>
    public async ValueTask DisposeAsync()
    {
        await _listener.DisposeAsync().ConfigureAwait(false);
        _metrics.Dispose();
    }
}
