using System.CommandLine;
using System.Runtime.InteropServices;
using Fabric.Actors.Cluster;
using Fabric.Actors.Security;
using Fabric.Router;
using Fabric.Model;

namespace Fabric.Cli.Commands;

/// <summary><c>fabric router</c>: run one router node on this machine's interfaces, and read its counters.</summary>
public static class RouterCommands
{
    public static Command Create()
    {
        var config = new Option<FileInfo>("--config") { Description = "The fabric document to apply.", Required = true };
        var node = new Option<string>("--node") { Description = "Which router node this process is (a node name from the document).", Required = true };
        var stateDir = new Option<DirectoryInfo?>("--state-dir") { Description = "Where the last applied configuration is kept (default /var/lib/fabric/NODE)." };
        var adminSocket = new Option<FileInfo?>("--admin-socket") { Description = "The node's admin socket (default /run/fabric/NODE.sock)." };
        var identityKey = new Option<FileInfo?>("--identity-key")
        {
            Description = "The router's private key file, mode 0600 (fabric keys generate writes one); default STATE-DIR/identity.key if it exists. Its public key must be the node's identity in the document.",
        };
        var workerPriority = new Option<int?>("--worker-priority")
        {
            Description = "Run the packet worker under SCHED_FIFO at this priority (1-99; needs CAP_SYS_NICE): the lowest latency on a busy host, at the cost of throughput where the worker shares its cores with the endpoints (docs/benchmarks.md). Default: normal scheduling.",
        };
        var seeds = new Option<string[]>("--seed")
        {
            Description = "Join the fabric's cluster through these nodes (akka.tcp://fabric@CONDUCTOR:4053) and apply every version the conductor pushes. Without it the node runs its document alone.",
            AllowMultipleArgumentsPerToken = true,
        };
        var clusterAddress = new Option<string?>("--cluster-address") { Description = "The management address the node's cluster endpoint binds (default: the node's management-address)." };
        var clusterPort = new Option<int>("--cluster-port") { Description = "The node's cluster port.", DefaultValueFactory = _ => ClusterNodeSettings.DefaultPort };
        var conductorKey = new Option<string?>("--conductor-key")
        {
            Description = "The conductor's public key (fabric conductor prints it as conductor-key=...): only configurations it signed are applied. Kept in STATE-DIR/conductor.pub for the next start; --seed needs one.",
        };
        var insecure = new Option<bool>("--insecure")
        {
            Description = "Join the cluster over plain TCP when no certificate is given (FABRIC_CLUSTER_CERTIFICATE, FABRIC_CLUSTER_CA): anyone who reaches the cluster port may then join. Without it, --seed needs cluster TLS.",
        };
        var adminPort = new Option<int?>("--admin-port")
        {
            Description = $"Serve /metrics (Prometheus), /healthz and /readyz over HTTP on this port of the management address (default {RouterNodeRunner.RouterAdminPort} with --seed, none without; 0: none).",
        };
        var command = new Command(
            "router",
            "Run one router node on real interfaces (AF_PACKET; needs root or CAP_NET_RAW) until SIGTERM or Ctrl-C. " +
            "If the document is invalid, the node runs from the last configuration it applied, if it kept one.")
        {
            config,
            node,
            stateDir,
            adminSocket,
            identityKey,
            workerPriority,
            seeds,
            clusterAddress,
            clusterPort,
            conductorKey,
            insecure,
            adminPort,
        };
        command.Subcommands.Add(Counters());
        command.SetAction(parse =>
        {
            var output = parse.InvocationConfiguration.Output;
            var error = parse.InvocationConfiguration.Error;
            // SIGTERM and SIGINT are taken before the node opens anything: one that arrives while it
            // starts (the admin socket already exists) stops it cleanly right after, instead of killing
            // the process with the socket left behind. The action is synchronous, so System.CommandLine
            // installs no handlers of its own.
            using var stop = new ManualResetEventSlim();
            using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.Set(); });
            using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stop.Set(); });
            var name = parse.GetValue(node)!;
            var options = Options(name, parse.GetValue(stateDir), parse.GetValue(adminSocket)) with
            {
                IdentityKeyFile = parse.GetValue(identityKey)?.FullName,
                WorkerPriority = parse.GetValue(workerPriority),
                Warn = message => error.WriteLine($"fabric router: {message}"),
            };
            if (options.WorkerPriority is < 1 or > 99)
            {
                error.WriteLine($"fabric router: --worker-priority {options.WorkerPriority}: a SCHED_FIFO priority is 1 to 99");
                return FabricCommandLine.UsageOrInvalid;
            }

            var model = Load(parse.GetValue(config)!.FullName, options, error, output);
            if (model is null)
            {
                return FabricCommandLine.UsageOrInvalid;
            }

            RouterNodeMembership membership;
            try
            {
                membership = RouterNodeMembership.Resolve(
                    name, options.StateDirectory, parse.GetValue(seeds) ?? [], parse.GetValue(clusterAddress), parse.GetValue(clusterPort),
                    parse.GetValue(insecure), parse.GetValue(conductorKey), parse.GetValue(adminPort));
            }
            catch (Exception e) when (e is ClusterTlsException or FormatException or PrivateFileException)
            {
                error.WriteLine($"fabric router: {e.Message}");
                return FabricCommandLine.UsageOrInvalid;
            }

            return RouterNodeRunner.Run(model, name, options, membership, stop.WaitHandle, output, error);
        });
        return command;
    }

    private static Command Counters()
    {
        var node = new Option<string>("--node") { Description = "The router node to ask.", Required = true };
        var adminSocket = new Option<FileInfo?>("--admin-socket") { Description = "The node's admin socket (default /run/fabric/NODE.sock)." };
        var command = new Command("counters", "Print a running router node's counters (packets, sessions, drops by reason) as JSON.") { node, adminSocket };
        command.SetAction(parse =>
        {
            var options = Options(parse.GetValue(node)!, null, parse.GetValue(adminSocket));
            try
            {
                parse.InvocationConfiguration.Output.WriteLine(RouterProcess.ReadCounters(options.AdminSocket));
                return 0;
            }
            catch (System.Net.Sockets.SocketException e)
            {
                parse.InvocationConfiguration.Error.WriteLine($"fabric router counters: no router node answers at {options.AdminSocket} ({e.Message})");
                return 1;
            }
        });
        return command;
    }

    private static RouterProcessOptions Options(string node, DirectoryInfo? stateDir, FileInfo? adminSocket)
    {
        var defaults = RouterProcessOptions.For(node);
        return new RouterProcessOptions(stateDir?.FullName ?? defaults.StateDirectory, adminSocket?.FullName ?? defaults.AdminSocket);
    }

    /// <summary>The document, or the last applied configuration when the document is refused (each error reported), or null.</summary>
    private static FabricConfig? Load(string path, RouterProcessOptions options, TextWriter error, TextWriter output)
    {
        if (ConfigCommands.Load(path, error) is { } document)
        {
            return document;
        }

        if (RouterProcess.LoadRunning(options) is { } running)
        {
            RouterNodeRunner.Log(output, "fallback", $"document refused; running from the last applied configuration in {options.StateDirectory}");
            return running;
        }

        return null;
    }
}
