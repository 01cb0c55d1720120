using Fabric.Router;
using Fabric.Model;

namespace Fabric.Lab;

/// <summary>
/// One (client container × service × port × family) probe: what the policy says and what a real connection did. An IPv6
/// target is written <c>[address]:port</c>.
/// </summary>
public sealed record LabProbe(string Client, string Tenant, string Service, string Target, bool Expected)
{
    public bool? Reached { get; init; }

    /// <summary>Why a probe that was not reached failed, as its program said it (a timeout, a reset), else null.</summary>
    public string? Failure { get; init; }

    public bool Correct => Reached == Expected;

    public bool IsIpv6 => Target.StartsWith('[');

    /// <summary>The address probed, without brackets.</summary>
    public string Address => Target[..Target.LastIndexOf(':')].Trim('[', ']');

    /// <summary>The port probed, or <c>icmp</c>.</summary>
    public string Port => Target[(Target.LastIndexOf(':') + 1)..];

    /// <summary>The grid column: service and port, <c>/6</c> for IPv6.</summary>
    public string Column => $"{Service}:{Port}{(IsIpv6 ? "/6" : "")}";
}

/// <summary>
/// <c>fabric lab verify</c>: probes every client container (a container with a tenant) against every
/// service port with a real connection from inside the container (TCP connect with python3, ping for
/// ICMP; UDP has no connection to prove and is not probed), and compares with the access policy. A client and a service
/// that both have an IPv6 address are probed over IPv6 as well (TCP connect and <c>ping -6</c>; grid columns <c>/6</c>).
/// Thread-safe: probes run in parallel, each in its own process.
/// </summary>
public static class LabVerifier
{
    /// <summary>
    /// The TCP probe (python3; arguments address, port, timeout in seconds): exits 0 when the service's host answered the
    /// SYN, with a SYN-ACK or with a RST (refused). A refusal counts as reached: the fabric never answers a SYN with a RST
    /// or a TCP port unreachable (denied sessions are silent, docs/dataplane.md), so the answer came from the host, carried
    /// both ways. A host refuses while its listener is closed: iperf3 closes and reopens its listening socket after every
    /// control connection that ends without a test, as each probe's does, so a probe arriving in that gap from another
    /// client (the grid probes in parallel) is refused. A connection reset before the probe saw it open counts as reached
    /// too: iperf3 closing its listener resets the connections waiting in its accept queue, and a probe that had the
    /// SYN-ACK but was not yet scheduled to read the connect's result reads ECONNRESET instead (seen against iperf3 alone,
    /// without the fabric: 2 of 800 parallel probes). A timeout or any other error exits non-zero.
    /// </summary>
    public const string ConnectProbe = "import socket, sys\ntry:\n    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3])).close()\nexcept (ConnectionRefusedError, ConnectionResetError):\n    pass\n";
    private const string TimeoutSeconds = "3";

    /// <summary>Every probe the topology calls for, in grid order, not yet run.</summary>
    public static IReadOnlyList<LabProbe> Plan(FabricConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var probes = new List<LabProbe>();
        foreach (var (_, network, container) in config.Containers())
        {
            if ((container.Tenant ?? network.Tenant) is not { } tenant)
            {
                continue;
            }

            foreach (var service in config.Services)
            {
                if (Address(config, service, ipv6: false) is not { } address)
                {
                    continue;
                }

                var address6 = container.Addresses.Any(a => a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6)
                    ? Address(config, service, ipv6: true)
                    : null;

                foreach (var transport in service.Transports)
                {
                    var expected = LabGuide.Allowed(service, tenant);
                    switch (transport.Protocol)
                    {
                        case TransportProtocol.Tcp:
                            probes.AddRange(transport.Ports.Select(p => new LabProbe(container.Name, tenant, service.Name, $"{address}:{p.Low}", expected)));
                            if (address6 is not null)
                            {
                                probes.AddRange(transport.Ports.Select(p => new LabProbe(container.Name, tenant, service.Name, $"[{address6}]:{p.Low}", expected)));
                            }

                            break;
                        case TransportProtocol.Icmp:
                            probes.Add(new LabProbe(container.Name, tenant, service.Name, $"{address}:icmp", expected));
                            if (address6 is not null)
                            {
                                probes.Add(new LabProbe(container.Name, tenant, service.Name, $"[{address6}]:icmp", expected));
                            }

                            break;
                    }
                }
            }
        }

        return probes;
    }

    /// <summary>Runs every probe from inside its client's namespace.</summary>
    public static IReadOnlyList<LabProbe> Run(IReadOnlyList<LabProbe> plan, LabLayout layout)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(layout);
        var results = new LabProbe[plan.Count];
        Parallel.For(0, plan.Count, new ParallelOptions { MaxDegreeOfParallelism = 8 }, i =>
        {
            var probe = plan[i];
            var ns = layout.NamespaceOf(probe.Client);
            var result = probe.Port == "icmp"
                ? ExternalCommand.InNamespace(ns, "ping", probe.IsIpv6 ? "-6" : "-4", "-n", "-c", "1", "-W", TimeoutSeconds, probe.Address)
                : ExternalCommand.InNamespace(ns, "python3", "-c", ConnectProbe, probe.Address, probe.Port, TimeoutSeconds);
            results[i] = probe with { Reached = result.Succeeded, Failure = result.Succeeded ? null : LastLine(result) };
        });
        return results;
    }

    /// <summary>The last line a failed probe printed (python's exception, ping's summary), or its exit code.</summary>
    private static string LastLine(CommandResult result) =>
        (result.Error.Trim().Length > 0 ? result.Error : result.Output).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) is { Length: > 0 } lines
            ? lines[^1]
            : $"exit code {result.ExitCode}";

    /// <summary>
    /// The grid: one row per client, one column per service port; <c>.</c> reached, <c>X</c> blocked, for
    /// what the policy expects and what was observed, then the cells that differ and the count.
    /// </summary>
    public static void Print(IReadOnlyList<LabProbe> probes, TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(probes);
        ArgumentNullException.ThrowIfNull(output);
        var columns = probes.Select(p => p.Column).Distinct().ToList();
        var rows = probes.Select(p => (p.Client, p.Tenant)).Distinct().ToList();
        var width = rows.Max(r => $"{r.Client} ({r.Tenant})".Length);
        LabProbe? Cell(string client, string column) => probes.FirstOrDefault(p => p.Client == client && p.Column == column);

        void Grid(string title, Func<LabProbe, char> mark)
        {
            output.WriteLine(title);
            output.WriteLine($"  {"".PadRight(width)}  {string.Join("  ", columns)}");
            foreach (var (client, tenant) in rows)
            {
                // A client without an IPv6 address has no IPv6 cells: '-'.
                var cells = columns.Select(c => (Cell(client, c) is { } cell ? mark(cell) : '-').ToString().PadRight(c.Length));
                output.WriteLine($"  {$"{client} ({tenant})".PadRight(width)}  {string.Join("  ", cells)}".TrimEnd());
            }
        }

        Grid("expected (access policy):", p => p.Expected ? '.' : 'X');
        Grid("observed (real connections):", p => p.Reached == true ? '.' : 'X');
        foreach (var wrong in probes.Where(p => !p.Correct))
        {
            output.WriteLine($"  wrong: {wrong.Client} ({wrong.Tenant}) -> {wrong.Service} {wrong.Target}: expected {(wrong.Expected ? "reached" : "blocked")}, {(wrong.Reached == true ? "reached" : $"blocked ({wrong.Failure})")}");
        }

        output.WriteLine($"{probes.Count(p => p.Correct)} correct, {probes.Count(p => !p.Correct)} wrong");
    }

    /// <summary>The drop reasons a router's counters have seen, as <c>REASON=N</c> (those above 0).</summary>
    public static IEnumerable<string> DropCounts(System.Text.Json.JsonElement counters) =>
        counters.GetProperty("drops").EnumerateObject().Where(d => d.Value.GetInt64() > 0).Select(d => $"{d.Name}={d.Value.GetInt64()}");

    /// <summary>
    /// After a wrong verdict: every router node's drop counts, its last drops (reason, tenant, service, tuple) and
    /// its peer paths, so the reason a probe failed is on screen with the verdict.
    /// </summary>
    public static void PrintRouterDrops(LabLayout layout, TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(layout);
        ArgumentNullException.ThrowIfNull(output);
        foreach (var socket in Directory.GetFiles(layout.StateDirectory, "*.sock").Order(StringComparer.Ordinal))
        {
            var node = Path.GetFileNameWithoutExtension(socket);
            try
            {
                using var counters = System.Text.Json.JsonDocument.Parse(RouterProcess.ReadCounters(socket));
                var c = counters.RootElement;
                output.WriteLine($"  router {node}: drops {string.Join(", ", DropCounts(c)).PadRight(1, '-')}; peer paths {c.GetProperty("peer_paths")}");
                foreach (var recent in c.GetProperty("recent_drops").EnumerateArray())
                {
                    output.WriteLine($"    recent drop: {recent}");
                }
            }
            catch (Exception e) when (e is System.Net.Sockets.SocketException or IOException or System.Text.Json.JsonException or KeyNotFoundException)
            {
                output.WriteLine($"  router {node}: no counters on {socket} ({e.Message})");
            }
        }
    }

    /// <summary>Where clients reach a service over the family: its single address, else its first container instance's address (or null).</summary>
    private static string? Address(FabricConfig config, Service service, bool ipv6)
    {
        var family = ipv6 ? System.Net.Sockets.AddressFamily.InterNetworkV6 : System.Net.Sockets.AddressFamily.InterNetwork;
        var single = service.Addresses.FirstOrDefault(p => p.Address.AddressFamily == family && p.Length == (ipv6 ? 128 : 32));
        if (single.Address is not null)
        {
            return single.Address.ToString();
        }

        var instance = service.Instances.Select(i => config.Containers().FirstOrDefault(c => c.Container.Name == i.Container).Container).FirstOrDefault(c => c is not null);
        return instance?.Addresses.FirstOrDefault(a => a.AddressFamily == family)?.ToString() ?? (ipv6 ? null : instance?.Addresses[0].ToString());
    }
}
