using System.Globalization;
using Akka.Actor;
using Fabric.Actors.Sessions;
using Fabric.Conductor.Configuration;
using Fabric.Conductor.Telemetry;
using Fabric.Http.Metrics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;

namespace Fabric.Conductor.Api;

/// <summary>
/// What flows through the fabric, asked of the routers themselves: <c>/v1/sessions</c> (a page of live sessions by router,
/// node, tenant, service, address; a cursor for the next), <c>/v1/sessions/top</c> (the sessions that carried the most
/// bytes), <c>/v1/drops</c> (drop counts by reason, tenant and service, and the latest drops, each with the rule behind
/// it). Each router node's <see cref="SessionActor"/> answers from its dataplane, reached by node name through the
/// cluster's pub-sub mediator; a node that does not answer within <see cref="ConductorApi.Context.RouterNodeTimeout"/> is listed with why, and the
/// others' answers still come. Standby nodes of HA pairs (their sessions are replicas) are asked only when named with
/// <c>?node=</c>. From the routers' telemetry: <c>/v1/paths</c> (each peer path's state, latency, jitter, loss) and
/// <c>/v1/tenants</c> (each tenant's traffic, sessions and drops).
/// </summary>
internal static class FlowEndpoints
{
    public static void Map(IEndpointRouteBuilder api)
    {
        var sessions = api.MapGroup("/v1/sessions").WithTags("sessions").RequireAuthorization(ConductorApi.ReadPolicy);
        sessions.MapGet("", Sessions).WithSummary(
            "Live sessions asked of the routers: ?router=, ?node=, ?tenant=, ?service=, ?address= (either side of either direction), ?limit= (at most 256), ?cursor= (from the last page's next).");
        sessions.MapGet("/top", Top).WithSummary("The sessions that carried the most bytes (both directions), most first: the same filters, ?limit= (default 10, at most 256).");
        api.MapGet("/v1/drops", Drops).WithTags("drops").RequireAuthorization(ConductorApi.ReadPolicy).WithSummary(
            "Drops by reason, tenant and service since each router node started, and the latest drops (?limit=, default 50), each with the rule of the configuration behind it: ?router=, ?node=, ?reason=.");
        api.MapGet("/v1/paths", Paths).WithTags("paths").RequireAuthorization(ConductorApi.ReadPolicy).WithSummary(
            "Every peer path of every router node, from its latest telemetry: up or down, round-trip latency, jitter, loss, sessions on it. ?router=.");
        var tenants = api.MapGroup("/v1/tenants").WithTags("tenants").RequireAuthorization(ConductorApi.ReadPolicy);
        tenants.MapGet("", Tenants).WithSummary("Every tenant of the running document with its traffic, sessions and drops (summed over the router nodes' latest telemetry, and per node).");
        tenants.MapGet("/{tenant}", OneTenant).WithSummary("One tenant's traffic, sessions and drops.");
    }

    private static async Task<Results<Ok<SessionListView>, ProblemHttpResult>> Sessions(
        string? router, string? node, string? tenant, string? service, string? address, string? limit, string? cursor, ConductorApi.Context api, CancellationToken cancel)
    {
        if (Limit(limit, Dataplane.Sessions.SessionQuery.DefaultLimit) is not { } count)
        {
            return BadLimit(limit);
        }

        if (BadAddress(address) is { } bad)
        {
            return bad;
        }

        var nodes = await Nodes(api, router, node, cancel).ConfigureAwait(false);
        var (start, slot) = (0, 0L);
        if (cursor is not null)
        {
            var at = cursor.LastIndexOf('@');
            start = at < 0 ? -1 : nodes.FindIndex(n => n.Node == cursor[..at]);
            if (start < 0 || !long.TryParse(cursor[(at + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out slot))
            {
                return Problems.Of(StatusCodes.Status400BadRequest, "malformed request", $"?cursor={cursor} is not a cursor of these nodes (give the 'next' of the last page, with the same filters)");
            }
        }

        var found = new List<SessionView>();
        var answers = new List<NodeAnswerView>();
        string? next = null;
        for (var i = Math.Max(0, start); i < nodes.Count && next is null; i++)
        {
            var query = new QuerySessions(tenant, service, address, count - found.Count, i == start ? slot : 0, TopByBytes: false);
            var page = await AskNode(api, nodes[i], query, cancel).ConfigureAwait(false);
            answers.Add(new NodeAnswerView(page.Node, page.Router, page.Version, page.Live, page.Error));
            found.AddRange(page.Sessions);
            if (page.Next >= 0)
            {
                next = $"{nodes[i].Node}@{page.Next}";
            }
            else if (found.Count >= count && i + 1 < nodes.Count)
            {
                next = $"{nodes[i + 1].Node}@0";
            }
        }

        return TypedResults.Ok(new SessionListView(found, next, answers));
    }

    private static async Task<Results<Ok<SessionListView>, ProblemHttpResult>> Top(
        string? router, string? node, string? tenant, string? service, string? address, string? limit, ConductorApi.Context api, CancellationToken cancel)
    {
        if (Limit(limit, 10) is not { } count)
        {
            return BadLimit(limit);
        }

        if (BadAddress(address) is { } bad)
        {
            return bad;
        }

        var nodes = await Nodes(api, router, node, cancel).ConfigureAwait(false);
        var pages = await Task.WhenAll(nodes.Select(n => AskNode(api, n, new QuerySessions(tenant, service, address, count, 0, TopByBytes: true), cancel))).ConfigureAwait(false);
        var top = pages.SelectMany(p => p.Sessions).OrderByDescending(s => s.ForwardBytes + s.ReverseBytes).ThenBy(s => s.Id, StringComparer.Ordinal).Take(count).ToList();
        return TypedResults.Ok(new SessionListView(top, null, [.. pages.Select(p => new NodeAnswerView(p.Node, p.Router, p.Version, p.Live, p.Error))]));
    }

    private static async Task<Results<Ok<DropListView>, ProblemHttpResult>> Drops(
        string? router, string? node, string? reason, string? limit, ConductorApi.Context api, CancellationToken cancel)
    {
        if (Limit(limit, 50) is not { } count)
        {
            return BadLimit(limit);
        }

        var nodes = await Nodes(api, router, node, cancel).ConfigureAwait(false);
        var answers = await Task.WhenAll(nodes.Select(async n =>
        {
            try
            {
                return (Node: n, View: await AskVia<DropsView>(api, n, new QueryDrops(Dataplane.Telemetry.DropCounters.RecentCapacity), cancel).ConfigureAwait(false), Error: (string?)null);
            }
            catch (AskTimeoutException)
            {
                return (Node: n, View: (DropsView?)null, Error: (string?)Unanswered(n));
            }
        })).ConfigureAwait(false);
        bool Wanted(string r) => reason is null || string.Equals(r, reason, StringComparison.OrdinalIgnoreCase);
        var counts = answers.SelectMany(a => a.View?.Counts ?? []).Where(c => Wanted(c.Reason)).OrderByDescending(c => c.Count).ToList();
        var reasons = counts.GroupBy(c => c.Reason, StringComparer.Ordinal)
            .Select(g => new DropReasonView(g.Key, g.Sum(c => c.Count))).OrderByDescending(r => r.Count).ThenBy(r => r.Reason, StringComparer.Ordinal).ToList();
        var recent = answers.SelectMany(a => a.View?.Recent ?? []).Where(d => Wanted(d.Reason))
            .OrderByDescending(d => d.UnixMilliseconds).Take(count).ToList();
        return TypedResults.Ok(new DropListView(
            reasons, counts, recent,
            [.. answers.Select(a => new NodeAnswerView(a.Node.Node, a.View?.Router ?? a.Node.Router, a.View?.Version ?? 0, 0, a.Error))]));
    }

    private static async Task<Ok<PeerPathListView>> Paths(string? router, ConductorApi.Context api, CancellationToken cancel)
    {
        var telemetry = await api.Ask<TelemetryView>(new GetTelemetry(null, Latest: true), cancel).ConfigureAwait(false);
        var paths = new List<PeerPathView>();
        foreach (var n in telemetry.Nodes.Where(n => n.Samples.Count > 0 && (router is null || n.Router == router)))
        {
            paths.AddRange(PeerPathViews.Of(n.Router, n.Node, n.Samples[^1]));
        }

        return TypedResults.Ok(new PeerPathListView(paths));
    }

    private static async Task<Ok<TenantListView>> Tenants(ConductorApi.Context api, CancellationToken cancel) =>
        TypedResults.Ok(await TenantList(api, cancel).ConfigureAwait(false));

    private static async Task<Results<Ok<TenantView>, ProblemHttpResult>> OneTenant(string tenant, ConductorApi.Context api, CancellationToken cancel)
    {
        var all = await TenantList(api, cancel).ConfigureAwait(false);
        return Problems.Named(all.Tenants, t => t.Name, tenant, "tenant", () => $"no tenant \"{tenant}\" is in the running configuration or in the routers' telemetry (tenants: {string.Join(", ", all.Tenants.Select(t => t.Name))})");
    }

    private static async Task<TenantListView> TenantList(ConductorApi.Context api, CancellationToken cancel)
    {
        var telemetry = await api.Ask<TelemetryView>(new GetTelemetry(null, Latest: true), cancel).ConfigureAwait(false);
        var running = await api.RunningModel(cancel).ConfigureAwait(false);
        var latest = telemetry.Nodes.Where(n => n.Samples.Count > 0).Select(n => (n.Node, n.Router, n.Samples[^1].Counters)).ToList();
        var seen = latest.SelectMany(n => n.Counters.Keys)
            .Where(k => k.StartsWith("tenant.", StringComparison.Ordinal) && k.EndsWith(".drops", StringComparison.Ordinal))
            .Select(k => k["tenant.".Length..^".drops".Length]).Where(t => t != "(none)");
        var names = (running?.Tenants.Select(t => t.Name) ?? []).Union(seen, StringComparer.Ordinal).Order(StringComparer.Ordinal);
        return new TenantListView([.. names.Select(name =>
        {
            var nodes = latest.Select(n =>
            {
                long Counter(string metric) => n.Counters.GetValueOrDefault($"tenant.{name}.{metric}");
                return new TenantNodeView(n.Node, n.Router, Counter("packets"), Counter("bytes"), Counter("sessions.opened"), Counter("sessions.active"), Counter("drops"));
            }).ToList();
            return new TenantView(
                name, nodes.Sum(n => n.Packets), nodes.Sum(n => n.Bytes), nodes.Sum(n => n.SessionsOpened), nodes.Sum(n => n.SessionsActive), nodes.Sum(n => n.Drops), nodes);
        })]);
    }

    /// <summary>
    /// The router nodes to ask, by node name: those the rollout knows (named by the running document or reported), of
    /// <paramref name="router"/> or exactly <paramref name="node"/> when given; without <paramref name="node"/>, a node whose
    /// latest telemetry says it stands by is left out.
    /// </summary>
    private static async Task<List<(string Node, string Router)>> Nodes(ConductorApi.Context api, string? router, string? node, CancellationToken cancel)
    {
        var rollout = await api.Ask<ConfigRolloutView>(new GetConfigRollout(), cancel).ConfigureAwait(false);
        var telemetry = await api.Ask<TelemetryView>(new GetTelemetry(null, Latest: true), cancel).ConfigureAwait(false);
        var standby = telemetry.Nodes.Where(n => n.Samples.Count > 0 && n.Samples[^1].Counters.TryGetValue("ha.active", out var active) && active == 0)
            .Select(n => n.Node).ToHashSet(StringComparer.Ordinal);
        return [.. rollout.Nodes
            .Where(n => (router is null || n.Router == router) && (node is null ? !standby.Contains(n.Node) : n.Node == node))
            .OrderBy(n => n.Node, StringComparer.Ordinal)
            .Select(n => (n.Node, n.Router))];
    }

    private static async Task<SessionPageView> AskNode(ConductorApi.Context api, (string Node, string Router) node, QuerySessions query, CancellationToken cancel)
    {
        try
        {
            return await AskVia<SessionPageView>(api, node, query, cancel).ConfigureAwait(false);
        }
        catch (AskTimeoutException)
        {
            return new SessionPageView(node.Node, node.Router, 0, [], -1, 0, Unanswered(node));
        }
    }

    private static Task<T> AskVia<T>(ConductorApi.Context api, (string Node, string Router) node, object message, CancellationToken cancel) =>
        api.AskRouterNode<T>(FlowDistribution.PathOf(node.Node), message, cancel);

    private static string Unanswered((string Node, string Router) node) =>
        $"router node {node.Node} did not answer within {ConductorApi.Context.RouterNodeTimeout.TotalSeconds:0} s (down, unreachable, or not yet registered with the cluster)";

    private static int? Limit(string? text, int otherwise) =>
        text is null ? otherwise
        : int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var limit) && limit is >= 1 and <= Dataplane.Sessions.SessionQuery.MaxLimit ? limit
        : null;

    private static ProblemHttpResult? BadAddress(string? address) => address is null || System.Net.IPAddress.TryParse(address, out _)
        ? null
        : Problems.Of(StatusCodes.Status400BadRequest, "malformed request", $"?address={address} is not an IP address");

    private static ProblemHttpResult BadLimit(string? limit) =>
        Problems.Of(StatusCodes.Status400BadRequest, "malformed request", $"?limit={limit} is not a number from 1 to {Dataplane.Sessions.SessionQuery.MaxLimit}");
}

/// <summary>A page of sessions from one or more router nodes, the cursor of the next page (null: none), and each node asked with its answer.</summary>
public sealed record SessionListView(IReadOnlyList<SessionView> Sessions, string? Next, IReadOnlyList<NodeAnswerView> Nodes);

/// <summary>A router node asked: the version it runs, the live sessions in its table, or why it did not answer.</summary>
public sealed record NodeAnswerView(string Node, string Router, long Version, int Live, string? Error);

/// <summary>Drops: totals by reason, counts by reason, tenant and service per node (with the rule), the latest drops (newest first), and each node asked.</summary>
public sealed record DropListView(IReadOnlyList<DropReasonView> Reasons, IReadOnlyList<DropCountView> Counts, IReadOnlyList<DropView> Recent, IReadOnlyList<NodeAnswerView> Nodes);

/// <summary>Drops of one reason over every node, tenant and service.</summary>
public sealed record DropReasonView(string Reason, long Count);

/// <summary>
/// One peer path of a router node as its latest telemetry shows it: the peer router, the neighborhood they share and
/// the waypoints' family ("ipv4" or "ipv6": a dual-stack neighborhood makes a path of each), up
/// or down, the round trip and jitter in milliseconds and the loss in percent once measured (null before), and the
/// sessions on it.
/// </summary>
public sealed record PeerPathView(
    string Router, string Node, string Peer, string Neighborhood, string Family, bool Up, double? RttMilliseconds, double? JitterMilliseconds, double? LossPercent, long Sessions, long UnixMilliseconds);

public sealed record PeerPathListView(IReadOnlyList<PeerPathView> Paths);

/// <summary>A router node's peer paths as a telemetry sample shows them. Stateless; thread-safe.</summary>
public static class PeerPathViews
{
    /// <summary>
    /// Each peer path of router node <paramref name="node"/> of <paramref name="router"/> in its telemetry <paramref name="sample"/>, in the order of its name: one for each <c>path.{peer}/{neighborhood}/{family}.up</c>
    /// counter, its peer, neighborhood and family read as the metrics read them (<see cref="CounterFamilies.PeerPathUp"/>: a
    /// router of the previous release names a path without its family, which is IPv4), the path's other counters beside it.
    /// </summary>
    public static IEnumerable<PeerPathView> Of(string router, string node, TelemetryPoint sample)
    {
        ArgumentNullException.ThrowIfNull(sample);
        foreach (var counter in sample.Counters.Keys.Order(StringComparer.Ordinal))
        {
            if (CounterFamilies.PeerPathUp.Match(counter) is not [var peer, var neighborhood, var family])
            {
                continue;
            }

            var name = counter[..^".up".Length];
            long? Counter(string metric) => sample.Counters.TryGetValue($"{name}.{metric}", out var v) ? v : null;
            yield return new PeerPathView(
                router, node, peer, neighborhood, family, Counter("up") == 1,
                Counter("rtt-us") / 1000.0, Counter("jitter-us") / 1000.0, Counter("loss-bp") / 100.0, Counter("sessions") ?? 0, sample.UnixMilliseconds);
        }
    }
}

/// <summary>A tenant's forwarded packets and bytes, sessions opened and active now, and drops, over every router node (cumulative since each started), and per node.</summary>
public sealed record TenantView(string Name, long Packets, long Bytes, long SessionsOpened, long SessionsActive, long Drops, IReadOnlyList<TenantNodeView> Nodes);

public sealed record TenantNodeView(string Node, string Router, long Packets, long Bytes, long SessionsOpened, long SessionsActive, long Drops);

public sealed record TenantListView(IReadOnlyList<TenantView> Tenants);
