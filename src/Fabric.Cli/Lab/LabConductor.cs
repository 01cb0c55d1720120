using System.Diagnostics;
using Fabric.Actors.Cluster;
using Fabric.Cli.Hosting;
using Fabric.Conductor.Api;
using Fabric.Conductor.Configuration;
using Fabric.Model;

namespace Fabric.Cli.Lab;

/// <summary>
/// The lab's conductor: one <c>fabric conductor</c> process in the lab's conductor namespace on its
/// first management address, its SQLite history in the lab's state directory (relative storage paths
/// are relative to it), and the routers joined to it with <c>--seed</c>. The CLI reaches its admin
/// endpoint from inside that namespace (<see cref="NamespaceConnections"/>): nothing of the lab is in
/// the caller's namespace. Thread-safe: stateless.
/// </summary>
public static class LabConductor
{
    /// <summary>The conductor's process name (pid file and log in the state directory).</summary>
    public const string ProcessName = "conductor";

    /// <summary>Whether the lab runs a conductor: the topology gives it an address.</summary>
    public static bool Configured(FabricConfig config) => config.Conductor.Addresses.Count > 0;

    /// <summary>The seed the lab's routers join: the conductor's first address, the default cluster port.</summary>
    public static string Seed(FabricConfig config) => ClusterNodeSettings.AddressOf(config.Conductor.Addresses[0].ToString(), ClusterNodeSettings.DefaultPort);

    /// <summary>The admin endpoint as seen inside the lab's management network.</summary>
    public static Uri Endpoint(FabricConfig config) => new($"http://{config.Conductor.Addresses[0]}:{config.Conductor.ApiPort}/");

    /// <summary>A client for the lab's conductor, connecting from inside its namespace (needs root).</summary>
    public static ConductorClient Client(LabLayout layout, FabricConfig config) =>
        new(Endpoint(config), NamespaceConnections.HttpHandler(layout.NamespaceOf(LabBuilder.Conductor)));

    /// <summary>The document the lab runs now: the conductor's running version when it answers, else the topology it was built from.</summary>
    public static FabricConfig Running(LabLayout layout, FabricConfig built)
    {
        if (!Configured(built))
        {
            return built;
        }

        try
        {
            using var client = Client(layout, built);
            var history = client.History().GetAwaiter().GetResult();
            return history.RunningText is { } text && Config.FabricConfigLoader.Load(text).Config is { } running ? running : built;
        }
        catch (HttpRequestException)
        {
            return built;
        }
    }

    /// <summary>Starts the conductor process and waits until its admin endpoint answers; returns its pid.</summary>
    public static int Start(LabLayout layout, FabricConfig config, TimeSpan deadline)
    {
        var log = layout.LogOf(ProcessName);
        // sh changes to the state directory first, so the document's relative SQLite path lands there.
        var pid = LabProcesses.StartDetached(
            layout.NamespaceOf(LabBuilder.Conductor),
            layout.PidFileOf(ProcessName),
            log,
            ["sh", "-c", "cd \"$0\" && exec \"$@\"", layout.StateDirectory, .. LabCertificates.Environment(layout, ProcessName), .. FabricExecutable.CommandLine(), "conductor", "--config", layout.Topology]);
        using var client = Client(layout, config);
        // Ask only once the conductor says it started: a connection while its HTTP listener starts can crash
        // that start (ConductorAdminEndpoint.Listen), so the lab never knocks early.
        if (!LabProcesses.WaitFor(() => Started(log) && Answers(client), pid, deadline))
        {
            throw new LabException($"the conductor did not answer at {Endpoint(config)} (log {log}):\n{LabProcesses.Tail(log)}");
        }

        return pid;
    }

    /// <summary>Commits the lab's topology and waits until every router node runs it; returns the version and how long it took.</summary>
    public static (long Version, TimeSpan Elapsed) CommitTopology(LabLayout layout, FabricConfig config, string source, TimeSpan deadline)
    {
        var clock = Stopwatch.StartNew();
        using var client = Client(layout, config);
        var result = client.Commit(new CommitConfig(File.ReadAllText(layout.Topology), "fabric lab", $"lab up from {source}")).GetAwaiter().GetResult();
        if (!result.Accepted)
        {
            throw new LabException($"the conductor refused the topology: {string.Join("; ", result.Errors)}");
        }

        ConfigRolloutView? rollout = null;
        while (clock.Elapsed < deadline)
        {
            rollout = client.Rollout().GetAwaiter().GetResult();
            if (rollout.Running == result.Version && rollout.Converged)
            {
                return (result.Version!.Value, clock.Elapsed);
            }

            Thread.Sleep(100);
        }

        var behind = rollout?.Nodes.Where(n => n.Drift || !n.Reported).Select(n => n.Failure is { } why ? $"{n.Node} ({why})" : n.Node) ?? [];
        throw new LabException($"version {result.Version} not applied by every router within {deadline.TotalSeconds:0} s: {string.Join(", ", behind)}");
    }

    private static bool Started(string log) => File.Exists(log) && File.ReadAllText(log).Contains("event=started", StringComparison.Ordinal);

    private static bool Answers(ConductorClient client)
    {
        try
        {
            client.Rollout().GetAwaiter().GetResult();
            return true;
        }
        catch (HttpRequestException)
        {
            return false;
        }
        catch (TaskCanceledException)
        {
            return false;
        }
    }
}
