using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Fabric.Actors.Sessions;
using Fabric.Conductor.Api;

namespace Fabric.Cli.Commands;

/// <summary>
/// The operator's view of what flows through the fabric, over the conductor's API: <c>fabric sessions</c>, <c>fabric top</c>,
/// <c>fabric drops</c>, <c>fabric paths</c>, <c>fabric events</c> and <c>fabric trace</c>. Each takes <c>--json</c> (the API's
/// JSON, snake_case) and the conductor options of <c>fabric config</c>; exit codes as theirs (0 done; 1 the answer says the
/// fabric is not as asked: nothing found, a router node did not answer, a trace's packet is dropped; 2 usage; 3 no conductor
/// answers; 4 the token is refused).
/// </summary>
public static class FlowCommands
{
    private static readonly Option<bool> Json = new("--json") { Description = "Print the conductor's answer as JSON (snake_case, as the API)." };

    public static IEnumerable<Command> Create() => [Sessions(), Top(), Drops(), Paths(), Events(), Trace()];

    private static Command Sessions()
    {
        var conductor = ConductorConfigCommands.Conductor();
        var (router, node, tenant, service, address) = Filters();
        var limit = new Option<int?>("--limit") { Description = "Sessions per page (at most 256; default 100)." };
        var all = new Option<bool>("--all") { Description = "Every page, not only the first." };
        var command = new Command(
            "sessions",
            "List live sessions, asked of the routers' dataplanes: both 5-tuples, tenant, service, instance, this router's role, peer path and waypoints, age, packets and bytes each way.")
        {
            router, node, tenant, service, address, limit, all, Json, conductor, ConductorConfigCommands.LabName, ConductorConfigCommands.LabState, ConductorConfigCommands.TokenFile, ConductorConfigCommands.ConductorCa,
        };
        command.SetAction((parse, cancel) => ConductorConfigCommands.Call(parse, conductor, async (client, _) =>
        {
            var output = parse.InvocationConfiguration.Output;
            var filter = new SessionFilter(parse.GetValue(router), parse.GetValue(node), parse.GetValue(tenant), parse.GetValue(service), parse.GetValue(address), parse.GetValue(limit));
            var pages = new List<SessionListView>();
            do
            {
                pages.Add(await client.Sessions(filter with { Cursor = pages.Count == 0 ? null : pages[^1].Next }, cancel: cancel));
            }
            while (parse.GetValue(all) && pages[^1].Next is not null);

            var sessions = pages.SelectMany(p => p.Sessions).ToList();
            var nodes = pages[0].Nodes;
            if (parse.GetValue(Json))
            {
                output.WriteLine(JsonSerializer.Serialize(new SessionListView(sessions, pages[^1].Next, nodes), ApiJson.Options));
            }
            else
            {
                var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
                foreach (var s in sessions)
                {
                    PrintSession(output, s, now);
                }

                output.WriteLine($"{sessions.Count} session{(sessions.Count == 1 ? "" : "s")}{(pages[^1].Next is { } next ? $"; more with --all (or the API's cursor {next})" : "")}");
                PrintNodes(parse, nodes);
            }

            return sessions.Count == 0 || nodes.Any(n => n.Error is not null) ? 1 : 0;
        }, "sessions"));
        return command;
    }

    private static Command Top()
    {
        var conductor = ConductorConfigCommands.Conductor();
        var (router, node, tenant, service, address) = Filters();
        var limit = new Option<int?>("--limit") { Description = "How many (default 10, at most 256)." };
        var command = new Command("top", "The sessions that carried the most bytes (both directions), most first, asked of every router node.")
        {
            router, node, tenant, service, address, limit, Json, conductor, ConductorConfigCommands.LabName, ConductorConfigCommands.LabState, ConductorConfigCommands.TokenFile, ConductorConfigCommands.ConductorCa,
        };
        command.SetAction((parse, cancel) => ConductorConfigCommands.Call(parse, conductor, async (client, _) =>
        {
            var output = parse.InvocationConfiguration.Output;
            var top = await client.Sessions(new SessionFilter(parse.GetValue(router), parse.GetValue(node), parse.GetValue(tenant), parse.GetValue(service), parse.GetValue(address), parse.GetValue(limit)), top: true, cancel);
            if (parse.GetValue(Json))
            {
                output.WriteLine(JsonSerializer.Serialize(top, ApiJson.Options));
            }
            else
            {
                output.WriteLine($"{"#",3} {"BYTES",12} {"PACKETS",9}  {"NODE",-10} {"TENANT",-12} {"SERVICE",-10} {"ROLE",-8} FORWARD");
                var rank = 0;
                foreach (var s in top.Sessions)
                {
                    output.WriteLine($"{++rank,3} {s.ForwardBytes + s.ReverseBytes,12} {s.ForwardPackets + s.ReversePackets,9}  {s.Node,-10} {s.Tenant ?? "-",-12} {s.Service ?? "-",-10} {s.Role,-8} {s.Forward}");
                }

                PrintNodes(parse, top.Nodes);
            }

            return top.Sessions.Count == 0 || top.Nodes.Any(n => n.Error is not null) ? 1 : 0;
        }, "top"));
        return command;
    }

    /// <summary>
    /// Writes <paramref name="drops"/> as <c>fabric drops</c> prints them: totals by reason; counts by node, reason, tenant
    /// and service with the rule behind them ("-" where none), or what they are where no rule is involved but the drop
    /// says what it is (a late packet after a reset); the latest drops, each with its rule and why (or its why alone).
    /// </summary>
    public static void WriteDrops(TextWriter output, DropListView drops)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(drops);
        output.WriteLine($"{"REASON",-24} {"COUNT",10}");
        foreach (var r in drops.Reasons)
        {
            output.WriteLine($"{r.Reason,-24} {r.Count,10}");
        }

        output.WriteLine();
        output.WriteLine($"{"NODE",-10} {"REASON",-22} {"TENANT",-12} {"SERVICE",-10} {"COUNT",8}  RULE");
        foreach (var c in drops.Counts)
        {
            output.WriteLine($"{c.Node,-10} {c.Reason,-22} {c.Tenant ?? "-",-12} {c.Service ?? "-",-10} {c.Count,8}  {c.Rule ?? (c.Why is null ? "-" : $"- ({c.Why})")}");
        }

        output.WriteLine();
        output.WriteLine("latest drops, newest first:");
        foreach (var d in drops.Recent)
        {
            output.WriteLine($"  {Time(d.UnixMilliseconds)} {d.Node} {d.Reason} tenant {d.Tenant ?? "-"} service {d.Service ?? "-"} {d.Packet} on {d.Interface ?? "?"}");
            if (d.Rule is not null)
            {
                output.WriteLine($"      rule {d.Rule}: {d.Why}");
            }
            else if (d.Why is not null)
            {
                output.WriteLine($"      {d.Why}");
            }
        }
    }

    private static Command Drops()
    {
        var conductor = ConductorConfigCommands.Conductor();
        var router = new Option<string?>("--router") { Description = "Only this router's nodes." };
        var node = new Option<string?>("--node") { Description = "Only this router node (a standby is asked only when named)." };
        var reason = new Option<string?>("--reason") { Description = "Only this reason (snake_case, such as access_denied)." };
        var limit = new Option<int?>("--limit") { Description = "The latest drops to show (default 50, at most 256)." };
        var command = new Command(
            "drops",
            "Drops by reason, tenant and service since each router node started, with the rule of the configuration behind them, and the latest drops with their 5-tuple.")
        {
            router, node, reason, limit, Json, conductor, ConductorConfigCommands.LabName, ConductorConfigCommands.LabState, ConductorConfigCommands.TokenFile, ConductorConfigCommands.ConductorCa,
        };
        command.SetAction((parse, cancel) => ConductorConfigCommands.Call(parse, conductor, async (client, _) =>
        {
            var output = parse.InvocationConfiguration.Output;
            var drops = await client.Drops(parse.GetValue(router), parse.GetValue(node), parse.GetValue(reason), parse.GetValue(limit), cancel);
            if (parse.GetValue(Json))
            {
                output.WriteLine(JsonSerializer.Serialize(drops, ApiJson.Options));
                return drops.Nodes.Any(n => n.Error is not null) ? 1 : 0;
            }

            WriteDrops(output, drops);
            PrintNodes(parse, drops.Nodes);
            return drops.Nodes.Any(n => n.Error is not null) ? 1 : 0;
        }, "drops"));
        return command;
    }

    private static Command Paths()
    {
        var conductor = ConductorConfigCommands.Conductor();
        var router = new Option<string?>("--router") { Description = "Only this router's paths." };
        var command = new Command("paths", "Every peer path of every router node from its latest telemetry: up or down, round-trip latency, jitter, loss, sessions on it.")
        {
            router, Json, conductor, ConductorConfigCommands.LabName, ConductorConfigCommands.LabState, ConductorConfigCommands.TokenFile, ConductorConfigCommands.ConductorCa,
        };
        command.SetAction((parse, cancel) => ConductorConfigCommands.Call(parse, conductor, async (client, _) =>
        {
            var output = parse.InvocationConfiguration.Output;
            var paths = await client.Paths(parse.GetValue(router), cancel);
            if (parse.GetValue(Json))
            {
                output.WriteLine(JsonSerializer.Serialize(paths, ApiJson.Options));
                return paths.Paths.Count == 0 ? 1 : 0;
            }

            output.WriteLine($"{"ROUTER",-10} {"NODE",-10} {"PEER",-10} {"NEIGHBORHOOD",-14} {"FAMILY",-6} {"STATE",-6} {"RTT MS",8} {"JITTER MS",10} {"LOSS %",7} {"SESSIONS",9}");
            foreach (var p in paths.Paths)
            {
                output.WriteLine(string.Create(
                    CultureInfo.InvariantCulture,
                    $"{p.Router,-10} {p.Node,-10} {p.Peer,-10} {p.Neighborhood,-14} {p.Family,-6} {(p.Up ? "up" : "down"),-6} {Figure(p.RttMilliseconds),8} {Figure(p.JitterMilliseconds),10} {Figure(p.LossPercent),7} {p.Sessions,9}"));
            }

            if (paths.Paths.Count == 0)
            {
                output.WriteLine("no peer path in the routers' telemetry (routers report every 5 s)");
            }

            return paths.Paths.Count == 0 ? 1 : 0;
        }, "paths"));
        return command;
    }

    private static Command Events()
    {
        var conductor = ConductorConfigCommands.Conductor();
        var follow = new Option<bool>("--follow", "-f") { Description = "Keep printing events as they come until Ctrl-C (without it: what the stream opens with, then stop)." };
        var kinds = new Option<string?>("--kinds") { Description = "Only these kinds, comma-separated: telemetry, rollout, session, drop (default: all)." };
        var command = new Command(
            "events",
            "The conductor's live stream: telemetry samples, rollout progress, sessions opening and closing, drops with their rule. With --json, one JSON object per line: {\"kind\", \"id\", \"data\"}.")
        {
            follow, kinds, Json, conductor, ConductorConfigCommands.LabName, ConductorConfigCommands.LabState, ConductorConfigCommands.TokenFile, ConductorConfigCommands.ConductorCa,
        };
        command.SetAction((parse, cancel) => ConductorConfigCommands.Call(parse, conductor, async (client, _) =>
        {
            var output = parse.InvocationConfiguration.Output;
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancel);
            if (!parse.GetValue(follow))
            {
                // The stream opens with what is known now (id 0); the first live event ends the listing.
                stop.CancelAfter(TimeSpan.FromSeconds(2));
            }

            try
            {
                await foreach (var (kind, id, data) in client.Events(parse.GetValue(kinds), stop.Token))
                {
                    if (!parse.GetValue(follow) && id != "0")
                    {
                        break;
                    }

                    output.WriteLine(parse.GetValue(Json)
                        ? JsonSerializer.Serialize(new { kind, id, data }, ApiJson.Options)
                        : $"{DateTimeOffset.UtcNow.UtcDateTime.ToString("HH:mm:ss", CultureInfo.InvariantCulture)} {kind,-9} {Describe(kind, data)}");
                    output.Flush();
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
            }

            return 0;
        }, "events"));
        return command;
    }

    private static Command Trace()
    {
        var conductor = ConductorConfigCommands.Conductor();
        var from = new Option<string>("--from") { Description = "Where the packet comes from: a container, or an address in a router's network or interface.", Required = true };
        var to = new Option<string>("--to") { Description = "Where it goes: ADDRESS:PORT (ADDRESS alone for icmp).", Required = true };
        var protocol = new Option<string>("--protocol") { Description = "tcp (a connection's first packet), udp or icmp.", DefaultValueFactory = _ => "tcp" };
        protocol.AcceptOnlyFromAmong("tcp", "udp", "icmp");
        var command = new Command(
            "trace",
            "Explain what would happen to a packet, computed by each router on the way from the configuration it runs, without sending anything: the tenant and why, the service and why, " +
            "the access rule, the instance the load balancer would pick or the peer path and waypoints, each router on the way, and a verdict. Exit 0 forwarded, 1 dropped.")
        {
            from, to, protocol, Json, conductor, ConductorConfigCommands.LabName, ConductorConfigCommands.LabState, ConductorConfigCommands.TokenFile, ConductorConfigCommands.ConductorCa,
        };
        command.SetAction((parse, cancel) => ConductorConfigCommands.Call(parse, conductor, async (client, _) =>
        {
            var output = parse.InvocationConfiguration.Output;
            var trace = await client.Trace(parse.GetValue(from)!, parse.GetValue(to)!, parse.GetValue(protocol)!, cancel);
            if (parse.GetValue(Json))
            {
                output.WriteLine(JsonSerializer.Serialize(trace, ApiJson.Options));
            }
            else
            {
                output.WriteLine($"trace {trace.Packet}");
                output.WriteLine($"  from {trace.Ingress}");
                foreach (var hop in trace.Hops)
                {
                    output.WriteLine($"router {hop.Router} (node {hop.Node}, version {hop.Version})");
                    foreach (var step in hop.Steps)
                    {
                        output.WriteLine($"  {step.Step.Replace('_', ' '),-10} {step.Result}{(step.Why is null ? "" : $": {step.Why}")}");
                    }

                    if (hop.NextRouter is { } next)
                    {
                        output.WriteLine($"  {"next",-10} router {next}{(hop.DestinationRouter is { } d ? $" (carries it on to {d})" : "")}, metadata: tenant {hop.Tenant}, service {hop.Service}");
                    }
                }

                output.WriteLine(trace.VerdictLine);
            }

            return trace.Verdict == "forwarded" ? 0 : 1;
        }, "trace"));
        return command;
    }

    private static (Option<string?> Router, Option<string?> Node, Option<string?> Tenant, Option<string?> Service, Option<string?> Address) Filters() => (
        new("--router") { Description = "Only this router's nodes." },
        new("--node") { Description = "Only this router node (a standby node of an HA pair is asked only when named)." },
        new("--tenant") { Description = "Only sessions of this tenant." },
        new("--service") { Description = "Only sessions of this service." },
        new("--address") { Description = "Only sessions with this address on either side of either direction." });

    private static void PrintSession(TextWriter output, SessionView s, long now)
    {
        output.WriteLine($"{s.Id}  {s.Protocol} {s.Tenant ?? "(no tenant)"} > {s.Service ?? "(no service)"}  {s.Role}{(s.Encrypted ? ", encrypted" : "")}{(s.TcpState is { } tcp ? $", tcp {tcp}" : "")}  age {Duration(now - s.OpenedUnixMilliseconds)}, idle {Duration(s.IdleMilliseconds)}");
        output.WriteLine($"    forward {s.Forward,-52} {s.ForwardPackets,8} pkts {s.ForwardBytes,12} bytes");
        output.WriteLine($"    reverse {s.Reverse,-52} {s.ReversePackets,8} pkts {s.ReverseBytes,12} bytes");
        if (s.PeerRouter is not null || s.Instance is not null)
        {
            var path = s.PeerRouter is null ? "" : $"peer path {s.PeerRouter} over {s.Neighborhood}, waypoints {s.LocalWaypoint ?? "?"} <> {s.PeerWaypoint ?? "?"}";
            output.WriteLine($"    {(s.Instance is null ? "" : $"instance {s.Instance}{(path.Length > 0 ? "; " : "")}")}{path}");
        }
    }

    private static void PrintNodes(ParseResult parse, IReadOnlyList<NodeAnswerView> nodes)
    {
        foreach (var n in nodes.Where(n => n.Error is not null))
        {
            parse.InvocationConfiguration.Error.WriteLine($"fabric: router node {n.Node}: {n.Error}");
        }
    }

    /// <summary>One line for an event of the live stream.</summary>
    private static string Describe(string kind, JsonElement data)
    {
        string Text(JsonElement e, string name) => e.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null ? v.ToString() : "-";
        string Pair(JsonElement e) => $"{Text(e, "protocol")} {Text(e, "source")}:{Text(e, "source_port")} > {Text(e, "destination")}:{Text(e, "destination_port")}";
        switch (kind)
        {
            case "session" when data.TryGetProperty("session", out var s):
                var bytes = s.GetProperty("forward_bytes").GetInt64() + s.GetProperty("reverse_bytes").GetInt64();
                return $"{Text(data, "kind")} {Text(s, "id")} {Text(s, "tenant")} > {Text(s, "service")} {Text(s, "role")} {Pair(s.GetProperty("forward"))}{(Text(data, "kind") == "closed" ? $" ({bytes} bytes)" : "")}";
            case "drop" when data.TryGetProperty("packet", out var packet):
                return $"{Text(data, "node")} {Text(data, "reason")} tenant {Text(data, "tenant")} service {Text(data, "service")} {Pair(packet)}{(Text(data, "rule") is var rule and not "-" ? $" rule {rule}" : "")}";
            case "telemetry":
                var counters = data.GetProperty("counters");
                return $"{Text(data, "node")} forwarded {Text(counters, "forwarded")} dropped {Text(counters, "dropped")} sessions {Text(counters, "sessions")}";
            case "rollout":
                return $"running {Text(data, "running")} converged {Text(data, "converged")}: {string.Join(", ", data.GetProperty("nodes").EnumerateArray().Select(n => $"{Text(n, "node")} {Text(n, "applied")}"))}";
            default:
                return data.ToString();
        }
    }

    private static string Time(long unixMilliseconds) =>
        DateTimeOffset.FromUnixTimeMilliseconds(unixMilliseconds).UtcDateTime.ToString("HH:mm:ss.fff", CultureInfo.InvariantCulture);

    private static string Duration(long milliseconds) => milliseconds switch
    {
        < 1000 => $"{Math.Max(0, milliseconds)}ms",
        < 120_000 => $"{milliseconds / 1000}s",
        < 7_200_000 => $"{milliseconds / 60_000}m",
        _ => $"{milliseconds / 3_600_000}h",
    };

    private static string Figure(double? value) => value is { } v ? v.ToString("0.###", CultureInfo.InvariantCulture) : "-";
}
