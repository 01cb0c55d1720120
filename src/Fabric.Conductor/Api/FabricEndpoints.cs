using System.Globalization;
using Fabric.Actors.Services;
using Fabric.Conductor.Configuration;
using Fabric.Conductor.Telemetry;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;

namespace Fabric.Conductor.Api;

/// <summary>
/// What the conductor knows of the fabric as it runs: <c>/v1/routers</c> and <c>/v1/routers/{router}</c> (the version
/// each node runs, drift, a failed version and why, its role in an HA pair), <c>/v1/services</c> and
/// <c>/v1/services/{service}</c> (each instance: where it lives, up or down, its sessions), and <c>/v1/telemetry</c>
/// (the counters each router node ships, <c>?node=</c>, <c>?since=</c>, <c>?latest</c>).
/// </summary>
internal static class FabricEndpoints
{
    public const string Alone = "alone";
    public const string Active = "active";
    public const string Standby = "standby";
    public const string Unknown = "unknown";

    public static void Map(IEndpointRouteBuilder api)
    {
        var routers = api.MapGroup("/v1/routers").WithTags("routers").RequireAuthorization(ConductorApi.ReadPolicy);
        routers.MapGet("", ListRouters).WithSummary("Every router node: the version it runs, drift, a version it could not apply and why, its HA role.");
        routers.MapGet("/{router}", OneRouter).WithSummary("One router's nodes.");
        var services = api.MapGroup("/v1/services").WithTags("services").RequireAuthorization(ConductorApi.ReadPolicy);
        services.MapGet("", ListServices).WithSummary("Every service with its registered instances: where each lives, up or down, its sessions.");
        services.MapGet("/{service}", OneService).WithSummary("One service with its registered instances.");
        api.MapGet("/v1/telemetry", Telemetry).WithTags("telemetry").RequireAuthorization(ConductorApi.ReadPolicy)
            .WithSummary("The counters router nodes ship every 5 s: samples for an hour, 5-minute rollups for a day. ?node=N, ?since=TIME (Unix ms or ISO 8601), ?latest (each node's last sample only).");
    }

    private static async Task<Ok<RouterListView>> ListRouters(ConductorApi.Context api, CancellationToken cancel) =>
        TypedResults.Ok(await Routers(api, cancel).ConfigureAwait(false));

    private static async Task<Results<Ok<RouterView>, ProblemHttpResult>> OneRouter(string router, ConductorApi.Context api, CancellationToken cancel)
    {
        var all = await Routers(api, cancel).ConfigureAwait(false);
        return Problems.Named(all.Routers, r => r.Name, router, "router", () => $"no router \"{router}\" is in the running configuration or reported (routers: {string.Join(", ", all.Routers.Select(r => r.Name))})");
    }

    private static async Task<RouterListView> Routers(ConductorApi.Context api, CancellationToken cancel)
    {
        var rollout = await api.Ask<ConfigRolloutView>(new GetConfigRollout(), cancel).ConfigureAwait(false);
        var telemetry = await api.Ask<TelemetryView>(new GetTelemetry(null, Latest: true), cancel).ConfigureAwait(false);
        var latest = telemetry.Nodes.Where(n => n.Samples.Count > 0).ToDictionary(n => n.Node, n => n.Samples[^1], StringComparer.Ordinal);
        var routers = rollout.Nodes.GroupBy(n => n.Router, StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal).Select(router => new RouterView(
            router.Key,
            [.. router.Select(n =>
            {
                var sample = latest.GetValueOrDefault(n.Node);
                var role = sample?.Counters.TryGetValue("ha.active", out var active) != true ? Unknown
                    : router.Count() < 2 ? Alone
                    : active == 1 ? Active : Standby;
                return new RouterNodeView(
                    n.Node, n.Router, n.Reported, n.Applied, rollout.Running, n.Drift, n.FailedVersion, n.Failure, role,
                    sample is null ? null : DateTimeOffset.FromUnixTimeMilliseconds(sample.UnixMilliseconds));
            })]));
        return new RouterListView(rollout.Running, rollout.Converged, [.. routers]);
    }

    private static async Task<Ok<ServiceListView>> ListServices(ConductorApi.Context api, CancellationToken cancel) =>
        TypedResults.Ok(await Services(api, cancel).ConfigureAwait(false));

    private static async Task<Results<Ok<ServiceView>, ProblemHttpResult>> OneService(string service, ConductorApi.Context api, CancellationToken cancel)
    {
        var all = await Services(api, cancel).ConfigureAwait(false);
        return Problems.Named(all.Services, s => s.Name, service, "service", () => $"no service \"{service}\" is in the running configuration or registered");
    }

    private static async Task<ServiceListView> Services(ConductorApi.Context api, CancellationToken cancel)
    {
        var registry = await api.Ask<ServiceRegistryView>(new GetServiceRegistry(), cancel).ConfigureAwait(false);
        var running = await api.RunningModel(cancel).ConfigureAwait(false);
        var names = (running?.Services.Select(s => s.Name) ?? []).Union(registry.Instances.Select(i => i.Service), StringComparer.Ordinal).Order(StringComparer.Ordinal);
        return new ServiceListView([.. names.Select(name => new ServiceView(name, [.. registry.Instances.Where(i => i.Service == name)]))]);
    }

    private static async Task<Results<Ok<TelemetryView>, ProblemHttpResult>> Telemetry(string? node, string? since, string? latest, ConductorApi.Context api, CancellationToken cancel)
    {
        long? from = null;
        if (since is not null)
        {
            if (long.TryParse(since, NumberStyles.None, CultureInfo.InvariantCulture, out var unix))
            {
                from = unix;
            }
            else if (DateTimeOffset.TryParse(since, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var time))
            {
                from = time.ToUnixTimeMilliseconds();
            }
            else
            {
                return Problems.Of(StatusCodes.Status400BadRequest, "malformed request", $"?since={since} is neither Unix milliseconds nor an ISO 8601 time");
            }
        }

        // ?latest alone means yes, as ?latest=true does.
        var onlyLatest = latest is not null && !latest.Equals("false", StringComparison.OrdinalIgnoreCase) && latest != "0";
        return TypedResults.Ok(await api.Ask<TelemetryView>(new GetTelemetry(node, from, onlyLatest), cancel).ConfigureAwait(false));
    }
}
