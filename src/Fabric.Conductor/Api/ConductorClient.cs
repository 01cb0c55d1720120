using System.Net.Http.Json;
using System.Text.Json;
using Fabric.Conductor.Configuration;
using Fabric.Conductor.Telemetry;

namespace Fabric.Conductor.Api;

/// <summary>The operator's side of <see cref="ConductorAdminEndpoint"/>. Thread-safe as <see cref="HttpClient"/> is.</summary>
/// <param name="handler">How connections are made (for example inside another network namespace); owned by the client. Default: plain sockets.</param>
public sealed class ConductorClient(Uri conductor, HttpMessageHandler? handler = null) : IDisposable
{
    /// <summary>Where the CLI finds the conductor unless told: <c>FABRIC_CONDUCTOR</c>, else this machine's default API port.</summary>
    public static Uri DefaultAddress =>
        new(Environment.GetEnvironmentVariable("FABRIC_CONDUCTOR") is { Length: > 0 } url ? url : $"http://127.0.0.1:{Model.ConductorSettings.DefaultApiPort}");

    private readonly HttpClient _http = new(handler ?? new SocketsHttpHandler(), disposeHandler: true) { BaseAddress = conductor, Timeout = TimeSpan.FromSeconds(30) };

    public Task<ConfigCommandResult> Commit(CommitConfig command, CancellationToken cancel = default) => Post("v1/config/commit", command, cancel);

    public Task<ConfigCommandResult> Rollback(RollbackConfig command, CancellationToken cancel = default) => Post("v1/config/rollback", command, cancel);

    public async Task<ConfigHistoryView> History(CancellationToken cancel = default) =>
        (await _http.GetFromJsonAsync<ConfigHistoryView>("v1/config/history", ConductorAdminEndpoint.Json, cancel).ConfigureAwait(false))!;

    public async Task<ConfigRolloutView> Rollout(CancellationToken cancel = default) =>
        (await _http.GetFromJsonAsync<ConfigRolloutView>("v1/config/rollout", ConductorAdminEndpoint.Json, cancel).ConfigureAwait(false))!;

    public async Task<TelemetryView> Telemetry(string? node = null, CancellationToken cancel = default) =>
        (await _http.GetFromJsonAsync<TelemetryView>(
            node is null ? "v1/telemetry" : $"v1/telemetry?node={Uri.EscapeDataString(node)}", ConductorAdminEndpoint.Json, cancel).ConfigureAwait(false))!;

    public async Task<Fabric.Actors.Services.ServiceRegistryView> Services(CancellationToken cancel = default) =>
        (await _http.GetFromJsonAsync<Fabric.Actors.Services.ServiceRegistryView>("v1/services", ConductorAdminEndpoint.Json, cancel).ConfigureAwait(false))!;

    private async Task<ConfigCommandResult> Post<T>(string path, T body, CancellationToken cancel)
    {
        using var response = await _http.PostAsJsonAsync(path, body, ConductorAdminEndpoint.Json, cancel).ConfigureAwait(false);
        var text = await response.Content.ReadAsStringAsync(cancel).ConfigureAwait(false);
        try
        {
            return (text.Length == 0 ? null : JsonSerializer.Deserialize<ConfigCommandResult>(text, ConductorAdminEndpoint.Json))
                ?? new ConfigCommandResult(false, null, [$"the conductor answered {(int)response.StatusCode} with no result"]);
        }
        catch (JsonException)
        {
            return new ConfigCommandResult(false, null, [$"the conductor answered {(int)response.StatusCode} with something that is not a result: {text[..Math.Min(text.Length, 200)]}"]);
        }
    }

    public void Dispose() => _http.Dispose();
}
