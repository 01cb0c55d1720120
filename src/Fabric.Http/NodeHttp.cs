using System.Buffers;
using System.Text.Encodings.Web;
using System.Text.Json;
using Fabric.Http.Metrics;

namespace Fabric.Http;

/// <summary>Whether a node serves: null when ready, else why not, in one sentence.</summary>
public delegate Task<string?> Readiness(CancellationToken cancel);

/// <summary>
/// What every node's HTTP listener serves, the conductor's and each router's alike, and the one place its answers are
/// made (the router's <see cref="OperationsListener"/> and the conductor's ASP.NET Core endpoints both write them):
/// <list type="bullet">
/// <item><c>GET /metrics</c>: <see cref="FabricMetrics"/> in the Prometheus text format (<see cref="PrometheusExposition"/>).</item>
/// <item><c>GET /healthz</c>: 200 while the process serves HTTP (liveness).</item>
/// <item><c>GET /readyz</c>: 200 when the node does its job, 503 with the reason otherwise (readiness).</item>
/// </list>
/// A path matches in any case, with or without one trailing slash (what endpoint routing matches); HEAD is answered as GET
/// (the listener sends the head without the body, RFC 9110 section 9.3.2); another method on one of them is 405 with
/// <c>Allow: GET, HEAD</c>; any other path is 404. Thread-safe: stateless.
/// </summary>
public static class NodeHttp
{
    public const string MetricsPath = "/metrics";
    public const string HealthPath = "/healthz";
    public const string ReadyPath = "/readyz";

    /// <summary>The health answers' content type (JSON with the web defaults, as ASP.NET Core writes a typed result).</summary>
    public const string HealthContentType = "application/json; charset=utf-8";

    /// <summary>What ASP.NET Core writes for a typed result: compact, relaxed escaping (the web defaults' camelCase names are written as such below).</summary>
    private static readonly JsonWriterOptions HealthJson = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>The answer to <paramref name="method"/> on <paramref name="path"/> (the request target without its query).</summary>
    public static async Task<OperationsAnswer> Answer(string method, string path, FabricMetrics metrics, Readiness readiness, CancellationToken cancel)
    {
        ArgumentNullException.ThrowIfNull(method);
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(metrics);
        ArgumentNullException.ThrowIfNull(readiness);
        var metricsPath = IsPath(path, MetricsPath);
        var health = IsPath(path, HealthPath);
        if (!metricsPath && !health && !IsPath(path, ReadyPath))
        {
            return OperationsAnswer.NotFound;
        }

        if (method is not ("GET" or "HEAD"))
        {
            return OperationsAnswer.MethodNotAllowed;
        }

        return metricsPath ? Metrics(metrics) : health ? Alive() : await Ready(readiness, cancel).ConfigureAwait(false);
    }

    /// <summary><c>/metrics</c>: one scrape.</summary>
    public static OperationsAnswer Metrics(FabricMetrics metrics)
    {
        ArgumentNullException.ThrowIfNull(metrics);
        return new(200, PrometheusExposition.ContentType, metrics.Scrape());
    }

    /// <summary><c>/healthz</c>: <c>{"status":"alive","reason":null}</c>.</summary>
    public static OperationsAnswer Alive() => Health(200, new HealthView("alive", null));

    /// <summary><c>/readyz</c>: 200 <c>{"status":"ready","reason":null}</c>, or 503 <c>{"status":"not ready","reason":"..."}</c>.</summary>
    public static async Task<OperationsAnswer> Ready(Readiness readiness, CancellationToken cancel)
    {
        ArgumentNullException.ThrowIfNull(readiness);
        return await readiness(cancel).ConfigureAwait(false) is { } reason
            ? Health(503, new HealthView("not ready", reason))
            : Health(200, new HealthView("ready", null));
    }

    /// <summary>A health answer as the web defaults serialize <see cref="HealthView"/>: <c>{"status":"...","reason":...}</c>, a null reason written as <c>null</c>.</summary>
    private static OperationsAnswer Health(int status, HealthView view)
    {
        var buffer = new ArrayBufferWriter<byte>(64);
        using (var json = new Utf8JsonWriter(buffer, HealthJson))
        {
            json.WriteStartObject();
            json.WriteString("status", view.Status);
            json.WriteString("reason", view.Reason);
            json.WriteEndObject();
        }

        return new(status, HealthContentType, buffer.WrittenSpan.ToArray());
    }

    /// <summary>Whether <paramref name="path"/> is <paramref name="target"/>, with or without one trailing slash, in any case.</summary>
    private static bool IsPath(string path, string target) =>
        path.StartsWith(target, StringComparison.OrdinalIgnoreCase) && (path.Length == target.Length || (path.Length == target.Length + 1 && path[^1] == '/'));
}

/// <summary>An operations answer: status, content type and body (none for 404 and 405); 405 carries <c>Allow: GET, HEAD</c>.</summary>
public sealed record OperationsAnswer(int Status, string? ContentType, byte[] Body)
{
    public static OperationsAnswer NotFound { get; } = new(404, null, []);

    public static OperationsAnswer MethodNotAllowed { get; } = new(405, null, []);

    /// <summary>The methods a 405 names.</summary>
    public const string Allow = "GET, HEAD";
}

/// <summary>A health answer: <c>alive</c>, <c>ready</c> or <c>not ready</c>, and why not.</summary>
public sealed record HealthView(string Status, string? Reason);
