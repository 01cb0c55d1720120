using System.Globalization;
using System.Text.Json;
using Fabric.Cli.Hosting;
using Fabric.Cli.Lab;
using Fabric.Model;

namespace Fabric.Cli.Bench;

/// <summary>One path's figures; null where the measurement failed (<see cref="Problem"/> says why).</summary>
public sealed record LabPathResult(double? TcpBitsPerSecond, double? SmallPacketsPerSecond, string? Problem);

/// <summary>
/// <c>fabric bench lab</c>: single-stream iperf3 TCP and 64-byte UDP from a client container to the
/// topology's iperf3 server, (a) through Fabric router processes and (b) through the same namespaces
/// wired for kernel IP forwarding, one lab after the other. Not thread-safe: one run at a time.
/// </summary>
public static class LabBench
{
    /// <summary>The UDP payload size of the small-packet measurement.</summary>
    public const int SmallPacketBytes = 64;

    /// <summary>The client and server for the topology: the first iperf3 server and an allowed client container on another router (else any allowed one).</summary>
    public static (string Client, LabServer Server)? Pick(FabricConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        foreach (var server in LabServer.For(config).Where(s => s.Kind == ServerKind.Iperf3))
        {
            var service = config.FindService(server.Service)!;
            var serverRouter = config.Containers().First(c => c.Container.Name == server.Container).Router.Name;
            var clients = config.Containers()
                .Where(c => (c.Container.Tenant ?? c.Network.Tenant) is { } tenant && LabGuide.Allowed(service, tenant))
                .OrderBy(c => c.Router.Name == serverRouter ? 1 : 0)
                .ToList();
            if (clients.Count > 0)
            {
                return (clients[0].Container.Name, server);
            }
        }

        return null;
    }

    /// <summary>Builds the lab in one mode, measures, and takes it down again.</summary>
    public static LabPathResult Measure(FabricConfig config, LabLayout layout, string client, LabServer server, bool kernelForwarding, int seconds, TextWriter progress)
    {
        ArgumentNullException.ThrowIfNull(server);
        ArgumentNullException.ThrowIfNull(progress);
        try
        {
            new LabBuilder(config, layout, TextWriter.Null, kernelForwarding).Build();
            // The kernel baseline reaches the container itself (no NAT to a virtual address there).
            var target = kernelForwarding ? config.Containers().First(c => c.Container.Name == server.Container).Container.Addresses[0].ToString() : server.Address;
            var ns = layout.NamespaceOf(client);
            var port = server.ServicePort.ToString(CultureInfo.InvariantCulture);
            var time = seconds.ToString(CultureInfo.InvariantCulture);
            progress.WriteLine($"bench: {(kernelForwarding ? "kernel forwarding" : "fabric")}: {client} -> {server.Container} ({target}:{port}), TCP then {SmallPacketBytes}-byte UDP, {seconds} s each");
            var tcp = Iperf(ns, ["-c", target, "-p", port, "-t", time, "--connect-timeout", "3000", "-J"]);
            var udp = Iperf(ns, ["-c", target, "-p", port, "-t", time, "--connect-timeout", "3000", "-u", "-b", "0", "-l", SmallPacketBytes.ToString(CultureInfo.InvariantCulture), "-J"]);
            double? tcpRate = tcp.Root is { } t ? t.GetProperty("end").GetProperty("sum_received").GetProperty("bits_per_second").GetDouble() : null;
            double? udpRate = null;
            if (udp.Root is { } u)
            {
                var sum = u.GetProperty("end").GetProperty("sum");
                udpRate = (sum.GetProperty("packets").GetDouble() - sum.GetProperty("lost_packets").GetDouble()) / sum.GetProperty("seconds").GetDouble();
            }

            return new LabPathResult(tcpRate, udpRate, tcp.Problem ?? udp.Problem);
        }
        catch (LabException e)
        {
            return new LabPathResult(null, null, e.Message);
        }
        finally
        {
            LabTeardown.Run(layout, TextWriter.Null);
        }
    }

    private static (JsonElement? Root, string? Problem) Iperf(string ns, string[] arguments)
    {
        var result = ExternalCommand.Run(TimeSpan.FromMinutes(2), "ip", ["netns", "exec", ns, "iperf3", .. arguments]);
        try
        {
            using var json = JsonDocument.Parse(result.Output);
            if (json.RootElement.TryGetProperty("error", out var error))
            {
                return (null, $"iperf3: {error.GetString()}");
            }

            return (json.RootElement.Clone(), null);
        }
        catch (JsonException)
        {
            return (null, $"iperf3 printed no result (exit {result.ExitCode}): {result.Error.Trim()}");
        }
    }
}
