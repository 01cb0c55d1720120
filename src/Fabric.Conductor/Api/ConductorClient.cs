using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Security;
using System.Net.ServerSentEvents;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using Fabric.Conductor.Configuration;
using Fabric.Conductor.Telemetry;
using Fabric.Model.Validation;

namespace Fabric.Conductor.Api;

/// <summary>The conductor answered with an error that is not a refusal of what was sent: no token, a token it does not know, a server failure.</summary>
/// <param name="Status">The HTTP status.</param>
public sealed class ConductorApiException(HttpStatusCode status, string message) : Exception(message)
{
    public HttpStatusCode Status { get; } = status;
}

/// <summary>
/// The operator's side of <see cref="ConductorApi"/>: each call is one request with the bearer token, if given. A
/// refused commit or rollback comes back as a <see cref="ConfigCommandResult"/> with every error; any other error
/// answer throws <see cref="ConductorApiException"/>, and no answer <see cref="HttpRequestException"/>.
/// Thread-safe as <see cref="HttpClient"/> is.
/// </summary>
public sealed class ConductorClient : IDisposable
{
    private readonly HttpClient _http;

    /// <param name="token">The API token (<c>fabric_...</c>); null sends none (reads of a conductor with open reads).</param>
    /// <param name="handler">How connections are made (inside another network namespace, trusting a CA); owned by the client. Default: plain sockets.</param>
    public ConductorClient(Uri conductor, string? token = null, HttpMessageHandler? handler = null)
    {
        // Each call has 30 s; a live stream only until its headers come (HttpCompletionOption.ResponseHeadersRead).
        _http = new HttpClient(handler ?? new SocketsHttpHandler(), disposeHandler: true) { BaseAddress = conductor, Timeout = TimeSpan.FromSeconds(30) };
        if (token is not null)
        {
            _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }
    }

    /// <summary>Where the CLI finds the conductor unless told: <c>FABRIC_CONDUCTOR</c>, else this machine's default API port.</summary>
    public static Uri DefaultAddress =>
        new(Environment.GetEnvironmentVariable("FABRIC_CONDUCTOR") is { Length: > 0 } url ? url : $"http://127.0.0.1:{Model.ConductorSettings.DefaultApiPort}");

    /// <summary>
    /// Makes <paramref name="handler"/> accept the conductor's HTTPS certificate only when it chains to
    /// <paramref name="authority"/> (the only trust anchor; the system's store plays no part) and names the host asked for.
    /// </summary>
    public static SocketsHttpHandler Trusting(SocketsHttpHandler handler, X509Certificate2 authority)
    {
        ArgumentNullException.ThrowIfNull(handler);
        ArgumentNullException.ThrowIfNull(authority);
        handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
        {
            if (certificate is null || (errors & (SslPolicyErrors.RemoteCertificateNameMismatch | SslPolicyErrors.RemoteCertificateNotAvailable)) != 0)
            {
                return false;
            }

            using var chain = new X509Chain();
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.Add(authority);
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            using var presented = new X509Certificate2(certificate);
            return chain.Build(presented);
        };
        return handler;
    }

    /// <summary>Commits <paramref name="document"/> (HOCON) as the next version; its author is the token's owner.</summary>
    public async Task<ConfigCommandResult> Commit(string document, string message, CancellationToken cancel = default)
    {
        using var body = new StringContent(document, Encoding.UTF8, RequestBodies.HoconMediaType);
        using var response = await _http.PostAsync($"v1/config/versions?message={Uri.EscapeDataString(message)}", body, cancel).ConfigureAwait(false);
        return await Result(response, cancel).ConfigureAwait(false);
    }

    public async Task<ConfigCommandResult> Rollback(long version, string message, CancellationToken cancel = default)
    {
        using var response = await _http.PostAsJsonAsync("v1/config/rollback", new RollbackRequest(version, message), ApiJson.Options, cancel).ConfigureAwait(false);
        return await Result(response, cancel).ConfigureAwait(false);
    }

    public Task<VersionListView> History(CancellationToken cancel = default) => Get<VersionListView>("v1/config/versions", cancel);

    /// <summary>The running version and its document, or null before the first commit.</summary>
    public async Task<VersionDocumentView?> Running(CancellationToken cancel = default)
    {
        using var response = await _http.GetAsync("v1/config/running", cancel).ConfigureAwait(false);
        return response.StatusCode == HttpStatusCode.NotFound ? null : await Read<VersionDocumentView>(response, cancel).ConfigureAwait(false);
    }

    public Task<RouterListView> Routers(CancellationToken cancel = default) => Get<RouterListView>("v1/routers", cancel);

    public Task<TelemetryView> Telemetry(string? node = null, CancellationToken cancel = default) =>
        Get<TelemetryView>(node is null ? "v1/telemetry" : $"v1/telemetry?node={Uri.EscapeDataString(node)}", cancel);

    public Task<ServiceListView> Services(CancellationToken cancel = default) => Get<ServiceListView>("v1/services", cancel);

    /// <summary>A page of live sessions (<c>/v1/sessions</c>), or with <paramref name="top"/> the top by bytes (<c>/v1/sessions/top</c>).</summary>
    public Task<SessionListView> Sessions(SessionFilter filter, bool top = false, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(filter);
        return Get<SessionListView>(Query(top ? "v1/sessions/top" : "v1/sessions", ("router", filter.Router), ("node", filter.Node), ("tenant", filter.Tenant),
            ("service", filter.Service), ("address", filter.Address), ("limit", filter.Limit?.ToString(System.Globalization.CultureInfo.InvariantCulture)), ("cursor", filter.Cursor)), cancel);
    }

    public Task<DropListView> Drops(string? router, string? node, string? reason, int? limit, CancellationToken cancel = default) =>
        Get<DropListView>(Query("v1/drops", ("router", router), ("node", node), ("reason", reason), ("limit", limit?.ToString(System.Globalization.CultureInfo.InvariantCulture))), cancel);

    public Task<PeerPathListView> Paths(string? router, CancellationToken cancel = default) => Get<PeerPathListView>(Query("v1/paths", ("router", router)), cancel);

    public Task<TenantListView> Tenants(CancellationToken cancel = default) => Get<TenantListView>("v1/tenants", cancel);

    public Task<TraceView> Trace(string from, string to, string protocol, CancellationToken cancel = default) =>
        Get<TraceView>(Query("v1/trace", ("from", from), ("to", to), ("protocol", protocol)), cancel);

    /// <summary>
    /// The live stream (<c>/v1/events</c>) as it comes: each event's kind, id and JSON data, until <paramref name="cancel"/>
    /// fires or the conductor closes it. No timeout applies to the stream once it is open.
    /// </summary>
    public async IAsyncEnumerable<(string Kind, string Id, JsonElement Data)> Events(string? kinds, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancel = default)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, Query("v1/events", ("kinds", kinds)));
        using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancel).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            throw Failure(response.StatusCode, await response.Content.ReadAsStringAsync(cancel).ConfigureAwait(false));
        }

        var stream = await response.Content.ReadAsStreamAsync(cancel).ConfigureAwait(false);
        await using (stream.ConfigureAwait(false))
        {
            await foreach (var item in SseParser.Create(stream).EnumerateAsync(cancel).ConfigureAwait(false))
            {
                yield return (item.EventType, item.EventId ?? "", JsonSerializer.Deserialize<JsonElement>(item.Data));
            }
        }
    }

    private static string Query(string path, params (string Name, string? Value)[] parameters)
    {
        var given = parameters.Where(p => p.Value is not null).Select(p => $"{p.Name}={Uri.EscapeDataString(p.Value!)}").ToList();
        return given.Count == 0 ? path : $"{path}?{string.Join('&', given)}";
    }

    private async Task<T> Get<T>(string path, CancellationToken cancel)
    {
        using var response = await _http.GetAsync(path, cancel).ConfigureAwait(false);
        return await Read<T>(response, cancel).ConfigureAwait(false);
    }

    private static async Task<T> Read<T>(HttpResponseMessage response, CancellationToken cancel)
    {
        var text = await response.Content.ReadAsStringAsync(cancel).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            throw Failure(response.StatusCode, text);
        }

        try
        {
            return JsonSerializer.Deserialize<T>(text, ApiJson.Options)
                ?? throw new ConductorApiException(response.StatusCode, $"the conductor answered {(int)response.StatusCode} with no {typeof(T).Name}");
        }
        catch (JsonException)
        {
            throw new ConductorApiException(response.StatusCode, $"the conductor answered {(int)response.StatusCode} with something that is not a {typeof(T).Name}: {Clip(text)}");
        }
    }

    /// <summary>A created version, or a refusal (400, 413, 415, 422) with every error the problem lists.</summary>
    private static async Task<ConfigCommandResult> Result(HttpResponseMessage response, CancellationToken cancel)
    {
        if (response.IsSuccessStatusCode)
        {
            var created = await Read<CommitView>(response, cancel).ConfigureAwait(false);
            return new ConfigCommandResult(true, created.Version, []);
        }

        var text = await response.Content.ReadAsStringAsync(cancel).ConfigureAwait(false);
        if (response.StatusCode is not (HttpStatusCode.BadRequest or HttpStatusCode.RequestEntityTooLarge or HttpStatusCode.UnsupportedMediaType or HttpStatusCode.UnprocessableEntity))
        {
            throw Failure(response.StatusCode, text);
        }

        var problem = Problem(text);
        var errors = problem is { } p ? Problems.ErrorsOf(p) : [];
        return new ConfigCommandResult(false, null, errors.Count > 0 ? errors : [new ConfigError("", Describe(response.StatusCode, problem, text))]);
    }

    private static ConductorApiException Failure(HttpStatusCode status, string text) => new(status, Describe(status, Problem(text), text));

    /// <summary>A problem's detail (or title), else the start of whatever the body was.</summary>
    private static string Describe(HttpStatusCode status, JsonElement? problem, string text)
    {
        string? Field(string name) => problem is { ValueKind: JsonValueKind.Object } p && p.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
        return Field("detail") ?? Field("title") ?? (text.Length == 0 ? $"the conductor answered {(int)status} with no body" : $"the conductor answered {(int)status}: {Clip(text)}");
    }

    private static JsonElement? Problem(string text)
    {
        try
        {
            return text.Length == 0 ? null : JsonSerializer.Deserialize<JsonElement>(text);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static string Clip(string text) => text[..Math.Min(text.Length, 200)];

    public void Dispose() => _http.Dispose();
}

/// <summary>Which sessions <see cref="ConductorClient.Sessions"/> asks for (null: any).</summary>
public sealed record SessionFilter(string? Router = null, string? Node = null, string? Tenant = null, string? Service = null, string? Address = null, int? Limit = null, string? Cursor = null);
