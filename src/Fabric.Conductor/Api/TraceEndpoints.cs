using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using Fabric.Actors.Tracing;
using Fabric.Conductor.Telemetry;
using Fabric.Model;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;

namespace Fabric.Conductor.Api;

/// <summary>
/// <c>GET /v1/trace?from=CONTAINER|ADDRESS&amp;to=ADDRESS[:PORT]&amp;protocol=tcp|udp|icmp</c>: what would happen to such a
/// packet, asked of each router on the way (its <see cref="TraceActor"/> answers from the snapshot it runs; nothing is
/// sent): the router the source sits behind (from the running document: the container's router and device, or the
/// network or interface whose prefix holds the address) decides first, then each peer router the answer names, until one
/// forwards to an instance or drops.
/// </summary>
internal static class TraceEndpoints
{
    /// <summary>Routers one trace visits at most (an ingress, a transit, an egress; more means a loop).</summary>
    public const int MaxHops = 4;

    /// <summary>The source port a trace's packet carries (decisions never depend on it).</summary>
    public const int SourcePort = 49152;

    public static void Map(IEndpointRouteBuilder api) =>
        api.MapGet("/v1/trace", Trace).WithTags("trace").RequireAuthorization(ConductorApi.ReadPolicy).WithSummary(
            "What would happen to a packet from ?from= (a container or an address) to ?to= (ADDRESS:PORT, or ADDRESS for icmp) over ?protocol= (tcp, udp, icmp; default tcp), " +
            "computed by each router on the way from the snapshot it runs, without sending anything: tenant, service, access rule, instance or peer path, verdict.");

    private static async Task<Results<Ok<TraceView>, ProblemHttpResult>> Trace(string? from, string? to, string? protocol, ConductorApi.Context api, CancellationToken cancel)
    {
        protocol = (protocol ?? "tcp").ToLowerInvariant();
        if (protocol is not ("tcp" or "udp" or "icmp"))
        {
            return Bad($"?protocol={protocol} is not tcp, udp or icmp");
        }

        if (from is null || to is null)
        {
            return Bad("a trace needs ?from= (a container or an address) and ?to= (ADDRESS:PORT)");
        }

        if (!TryEndpoint(to, protocol, out var destination, out var port))
        {
            return Bad($"?to={to} is not ADDRESS:PORT{(protocol == "icmp" ? " or ADDRESS" : "")}");
        }

        if (await api.RunningModel(cancel).ConfigureAwait(false) is not { } model)
        {
            return Problems.Of(StatusCodes.Status404NotFound, "no running configuration", "nothing is committed yet, so no router forwards anything");
        }

        if (Ingress(model, from, destination.AddressFamily) is not { } ingress)
        {
            return Bad($"?from={from} is neither a container of the running document nor an address inside one of its routers' networks or interfaces (of {destination.AddressFamily switch { AddressFamily.InterNetworkV6 => "IPv6", _ => "IPv4" }})");
        }

        var telemetry = await api.Ask<TelemetryView>(new GetTelemetry(null, Latest: true), cancel).ConfigureAwait(false);
        var hops = new List<TraceHop>();
        var question = new TraceQuestion(ingress.Device, ingress.Source.ToString(), SourcePort, destination.ToString(), port, protocol);
        var router = ingress.Router;
        while (hops.Count < MaxHops)
        {
            var node = NodeOf(model, router, telemetry);
            TraceHop hop;
            try
            {
                hop = await api.AskRouterNode<TraceHop>(TraceActor.PathOf(node), question, cancel).ConfigureAwait(false);
            }
            catch (AskTimeoutException)
            {
                hop = new TraceHop(node, router, 0, [], "unknown", null, null, null, null, null, null, $"router node {node} did not answer within {ConductorApi.Context.RouterNodeTimeout.TotalSeconds:0} s");
            }

            hops.Add(hop);
            if (hop.Verdict is not null || hop.NextRouter is null)
            {
                break;
            }

            question = new TraceQuestion(null, question.Source, SourcePort, question.Destination, port, protocol, router, hop.Tenant, hop.Service, hop.DestinationRouter);
            router = hop.NextRouter;
        }

        var last = hops[^1];
        var path = string.Join(" > ", hops.Select(h => h.Router));
        var verdict = last.Verdict switch
        {
            "forwarded" => $"verdict: forwarded {last.Summary} via {path}",
            "dropped" => $"verdict: dropped {last.Reason} {last.Summary}{(last.Rule is null || last.Summary.Contains(last.Rule, StringComparison.Ordinal) ? "" : $" ({last.Rule})")}",
            "unknown" => $"verdict: unknown: {last.Summary}",
            _ => $"verdict: unknown: more than {MaxHops} routers on the way ({path})",
        };
        return TypedResults.Ok(new TraceView(
            from, ingress.Describe, $"{protocol} {ingress.Source}:{SourcePort} > {Endpoint(destination, port)}", hops,
            last.Verdict is "forwarded" or "dropped" ? last.Verdict : "unknown", last.Reason, last.Rule, verdict));
    }

    /// <summary>Where a packet from <paramref name="from"/> enters the fabric: router, device, source address, and how that was found.</summary>
    private static (string Router, string Device, IPAddress Source, string Describe)? Ingress(FabricConfig model, string from, AddressFamily family)
    {
        foreach (var (router, network, container) in model.Containers())
        {
            var address = container.Addresses.FirstOrDefault(a => a.AddressFamily == family);
            if (address is not null && (container.Name == from || address.ToString() == from))
            {
                var device = network.Model == NetworkModel.HostBased ? container.Name : network.Device;
                return (router.Name, device, address, $"container {container.Name} ({address}) on router {router.Name}, {device}");
            }
        }

        if (!IPAddress.TryParse(from, out var source) || source.AddressFamily != family)
        {
            return null;
        }

        foreach (var router in model.Routers)
        {
            if (router.Networks.FirstOrDefault(n => n.Model == NetworkModel.Bridged && n.Gateways.Any(g => g.Contains(source))) is { } network)
            {
                return (router.Name, network.Device, source, $"{source} in network {network.Name} of router {router.Name}, {network.Device}");
            }

            if (router.Interfaces.FirstOrDefault(i => i.Addresses.Any(a => a.Contains(source))) is { } iface)
            {
                return (router.Name, iface.Device, source, $"{source} on interface {iface.Name} of router {router.Name}, {iface.Device}");
            }
        }

        return null;
    }

    /// <summary>The node that forwards for a router: the active one of a pair by its latest telemetry, else its first.</summary>
    private static string NodeOf(FabricConfig model, string router, TelemetryView telemetry)
    {
        var nodes = model.FindRouter(router)?.Nodes.Select(n => n.Name).ToList() ?? [];
        var active = telemetry.Nodes.FirstOrDefault(n => n.Router == router && n.Samples.Count > 0 && n.Samples[^1].Counters.GetValueOrDefault("ha.active") == 1);
        return active?.Node ?? nodes.FirstOrDefault() ?? router;
    }

    private static bool TryEndpoint(string text, string protocol, out IPAddress address, out int port)
    {
        port = 0;
        if (protocol == "icmp" && IPAddress.TryParse(text.Trim('[', ']'), out address!))
        {
            return true;
        }

        var colon = text.LastIndexOf(':');
        address = IPAddress.None;
        if (colon <= 0 || !int.TryParse(text[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out port) || port is < 1 or > 65535
            || !IPAddress.TryParse(text[..colon].Trim('[', ']'), out address!))
        {
            return false;
        }

        port = protocol == "icmp" ? 0 : port;
        return true;
    }

    private static string Endpoint(IPAddress address, int port) =>
        port == 0 ? address.ToString() : address.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{address}]:{port}" : $"{address}:{port}";

    private static ProblemHttpResult Bad(string detail) => Problems.Of(StatusCodes.Status400BadRequest, "malformed request", detail);
}

/// <summary>
/// A trace: what was asked, where the packet enters, the packet, each router's answer in order, and the outcome
/// (<c>forwarded</c>, <c>dropped</c> with its reason and rule, or <c>unknown</c> when a router did not answer), ending in
/// the line <c>verdict: ...</c>.
/// </summary>
public sealed record TraceView(string From, string Ingress, string Packet, IReadOnlyList<TraceHop> Hops, string Verdict, string? Reason, string? Rule, string VerdictLine);
