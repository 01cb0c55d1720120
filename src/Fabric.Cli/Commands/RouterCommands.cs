using System.CommandLine;
using System.Runtime.InteropServices;
using Akka.Actor;
using Fabric.Actors.Cluster;
using Fabric.Actors.Configuration;
using Fabric.Actors.HighAvailability;
using Fabric.Actors.Hosting;
using Fabric.Actors.Security;
using Fabric.Router;
using Fabric.Http;
using Fabric.Http.Metrics;
using Fabric.Model;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

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
            Description = $"Serve /metrics (Prometheus), /healthz and /readyz over HTTP on this port of the management address (default {RouterAdminPort} with --seed, none without; 0: none).",
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

            ClusterTls? tls = null;
            ConductorKeyPin? pin = null;
            if (parse.GetValue(seeds) is { Length: > 0 })
            {
                try
                {
                    tls = new ClusterNodeSettings("", 0, [], Insecure: parse.GetValue(insecure))
                        .Resolve(new ConfigurationBuilder().AddEnvironmentVariables().Build()).Tls;
                    if (tls is not null && NodeSigner.NameOf(tls.NodeCertificate) is var certified && certified != name)
                    {
                        throw new ClusterTlsException($"the cluster certificate was issued to node {certified}, not to {name}: the conductor would refuse this node's acks and telemetry; issue one with fabric certs node {name}");
                    }

                    pin = ConductorKeyPinFile.Resolve(parse.GetValue(conductorKey), options.StateDirectory)
                        ?? throw new FormatException(
                            $"--seed needs the conductor's public key, to apply only what the conductor signed: give --conductor-key KEY (fabric conductor prints it on its started line as conductor-key=...); it is kept in {Path.Combine(options.StateDirectory, ConductorKeyPinFile.FileName)}");
                }
                catch (Exception e) when (e is ClusterTlsException or FormatException or PrivateFileException)
                {
                    error.WriteLine($"fabric router: {e.Message}");
                    return FabricCommandLine.UsageOrInvalid;
                }
            }

            // A node of an HA pair stands by until its pair actor decides (docs/high-availability.md); that needs the
            // cluster, so without seeds the node runs its router alone.
            var pair = model.Routers.FirstOrDefault(r => r.Nodes.Any(n => n.Name == name)) is { Nodes.Count: 2 } && parse.GetValue(seeds) is { Length: > 0 };
            RouterProcess process;
            try
            {
                process = RouterProcess.Start(model, name, options, standby: pair);
            }
            catch (RouterStartException e)
            {
                foreach (var line in e.Message.Split('\n'))
                {
                    error.WriteLine($"fabric router: {line}");
                }

                return 1;
            }

            if (process.WorkersWanted > process.Workers)
            {
                error.WriteLine($"fabric router: dataplane.workers gives {process.WorkersWanted} workers; a node of an HA pair runs {process.Workers} (docs/dataplane.md \"Workers\")");
            }

            using (process)
            {
                PairLink? link;
                try
                {
                    link = pair ? StartPairLink(model, name, parse.GetValue(clusterAddress), process) : null;
                }
                catch (PairLinkException e)
                {
                    error.WriteLine($"fabric router: {e.Message}");
                    return 1;
                }

                using var heartbeats = link;
                IHost? member = null;
                NodeHttpEndpoint? http = null;
                try
                {
                    member = Join(parse.GetValue(seeds), parse.GetValue(clusterAddress), parse.GetValue(clusterPort), tls, pin, model, name, process, link);
                    var clusterTls = member is null ? "none" : tls is null ? "off(--insecure)" : "mutual";
                    var port = parse.GetValue(adminPort) ?? (member is null ? 0 : RouterAdminPort);
                    http = port == 0 ? null : ServeHttp(output, parse.GetValue(clusterAddress) ?? ManagementAddress(model, name), port, process, () => member);
                    Log(output, "started", $"node={name} router={process.RouterName} version={process.Engine.AppliedVersion} sessions-restored={process.Restored.Added} devices={string.Join(',', process.Devices())} admin={options.AdminSocket} admin-http={http?.Address.ToString() ?? "off"} identity={process.Identity ?? "none"} cluster-tls={clusterTls} conductor-key={pin?.PublicKeyBase64 ?? "none"}");
                    // Removed from the cluster (downed by the split-brain resolver on a side without the conductor,
                    // or by an operator), or not let in within the join timeout, the node keeps forwarding with what it
                    // applied and joins again as a new incarnation: a router's packets never stop for the control plane.
                    while (member is not null
                        && WaitHandle.WaitAny([stop.WaitHandle, ((IAsyncResult)member.Services.GetRequiredService<ActorSystem>().WhenTerminated).AsyncWaitHandle]) == 1
                        && FabricNodeHost.RejoinReason(member.Services.GetRequiredService<ActorSystem>()) is { } reason)
                    {
                        Log(output, "rejoining", $"node={name} reason={reason} version={process.Engine.AppliedVersion}");
                        member.StopAsync().GetAwaiter().GetResult();
                        member.Dispose();
                        member = null;
                        member = Join(parse.GetValue(seeds), parse.GetValue(clusterAddress), parse.GetValue(clusterPort), tls, pin, model, name, process, link);
                    }

                    stop.Wait();
                    Log(output, "stopping", $"node={name}");
                    member?.StopAsync().GetAwaiter().GetResult();
                    HandOver(process, output, error);
                }
                finally
                {
                    http?.DisposeAsync().AsTask().GetAwaiter().GetResult();
                    member?.Dispose();
                }
            }

            Log(output, "stopped", $"node={name}");
            return 0;
        });
        return command;
    }

    /// <summary>
    /// The node's last act as it stops: it stops forwarding and leaves its sessions for the process that starts after it
    /// (docs/sessions.md "Restarts"). A file that cannot be written costs the sessions, not the stop.
    /// </summary>
    private static void HandOver(RouterProcess process, TextWriter output, TextWriter error)
    {
        try
        {
            if (process.HandOverSessions() is { } sessions)
            {
                Log(output, "sessions-handed-over", $"node={process.Node} sessions={sessions} file={SessionStateFile.PathIn(process.StateDirectory)}");
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or PrivateFileException)
        {
            error.WriteLine($"fabric router: the sessions could not be left for the next start ({e.Message}); it will start with none");
        }
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

    /// <summary>
    /// With seeds, the node's cluster member: a <see cref="ConfigApplier"/> that applies what the conductor pushes
    /// to <paramref name="process"/>, its telemetry, and the tenant budget exchange that makes tenant rate limits
    /// hold for the whole fabric.
    /// </summary>
    private static IHost? Join(string[]? seeds, string? address, int port, ClusterTls? tls, ConductorKeyPin? conductorKey, FabricConfig model, string node, RouterProcess process, PairLink? link)
    {
        if (seeds is not { Length: > 0 } || conductorKey is null)
        {
            return null;
        }

        var host = address ?? model.Routers.SelectMany(r => r.Nodes).First(n => n.Name == node).ManagementAddress.ToString();
        var router = model.Routers.First(r => r.Nodes.Any(n => n.Name == node));
        var pair = process.Partner is { } partner && link is not null
            ? ((IPairNode)new EnginePairNode(process.Engine, process.RenewPeerKeys),
                new PairSettings(partner.Name, partner.ManagementAddress.ToString(), Preferred: router.Nodes[0].Name == node, PairTiming.From(router.HighAvailability)),
                link)
            : ((IPairNode, PairSettings, PairLink)?)null;
        var member = RouterHost.Build(
            new ClusterNodeSettings(host, port, seeds, tls, Insecure: tls is null),
            conductorKey,
            [new RouterNodeTarget(
                node,
                new RouterProcessTarget(process),
                new Fabric.Actors.Telemetry.EngineTelemetrySource(process.Engine),
                new Fabric.Actors.Tenants.EngineTenantBudgets(process.Engine),
                new Fabric.Actors.Services.EngineServiceDataplane(process.Engine),
                pair,
                new Fabric.Actors.Sessions.EngineFlowSource(process.Engine),
                process.Refusals)],
            new ConfigurationBuilder().AddEnvironmentVariables().Build(),
            l => l.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning));
        member.StartAsync().GetAwaiter().GetResult();
        return member;
    }

    /// <summary>
    /// The heartbeat link of a node of an HA pair (docs/high-availability.md): bound to the node's management address
    /// (or <paramref name="address"/>) on the router's heartbeat port, keyed from the router's private key. Throws
    /// <see cref="PairLinkException"/> when the node has no private key or the socket cannot be bound.
    /// </summary>
    private static PairLink StartPairLink(FabricConfig model, string node, string? address, RouterProcess process)
    {
        var router = model.Routers.First(r => r.Nodes.Any(n => n.Name == node));
        var partner = process.Partner!;
        if (process.RouterIdentity is not { } identity)
        {
            throw new PairLinkException(
                $"node {node} is one of HA pair {router.Name}, whose heartbeats are authenticated with the router's private key: pin the router's identity on both nodes and give --identity-key");
        }

        var liveness = router.HighAvailability;
        var self = router.Nodes.First(n => n.Name == node);
        var local = new System.Net.IPEndPoint(System.Net.IPAddress.TryParse(address, out var given) ? given : self.ManagementAddress, liveness.Port);
        var settings = new PairLinkSettings(
            local,
            new System.Net.IPEndPoint(partner.ManagementAddress, liveness.Port),
            PairHeartbeat.DeriveKey(identity.DeriveSecret, router.Name, node, partner.Name),
            PairHeartbeat.DeriveKey(identity.DeriveSecret, router.Name, partner.Name, node),
            liveness.HeartbeatInterval,
            liveness.DeadInterval);
        var link = PairLink.Start(node, settings, new EnginePairNode(process.Engine, renewKeys: null));
        process.PairLink = link;
        return link;
    }

    /// <summary>The port a router node serves <c>/metrics</c>, <c>/healthz</c> and <c>/readyz</c> on when it joins a cluster.</summary>
    public const int RouterAdminPort = 9480;

    private static string ManagementAddress(FabricConfig model, string node) =>
        model.Routers.SelectMany(r => r.Nodes).First(n => n.Name == node).ManagementAddress.ToString();

    /// <summary>
    /// The node's HTTP listener: its own counters as Prometheus metrics (the same sample the telemetry ships), ready once
    /// a configuration forwards and, in a cluster, the node is a member. A listener that cannot bind is reported and the
    /// router runs on without it: packets never stop for the management plane.
    /// </summary>
    private static NodeHttpEndpoint? ServeHttp(TextWriter output, string address, int port, RouterProcess process, Func<IHost?> member)
    {
        var source = new Fabric.Actors.Telemetry.EngineTelemetrySource(process.Engine);
        var metrics = new FabricMetrics(() => [new Fabric.Actors.Telemetry.CounterSample(process.Node, process.RouterName, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), source.Sample())]);
        try
        {
            return NodeHttpEndpoint.Start(System.Net.IPAddress.Parse(address), port, metrics, _ => Task.FromResult(Unready(process, member()))).GetAwaiter().GetResult();
        }
        catch (Exception e) when (e is IOException or FormatException or InvalidOperationException)
        {
            metrics.Dispose();
            Log(output, "admin-http-failed", $"node={process.Node} address={address}:{port} reason=\"{e.Message}\"");
            return null;
        }
    }

    /// <summary>Null when the node forwards with a configuration and (in a cluster) is a member that is up, else why not.</summary>
    private static string? Unready(RouterProcess process, IHost? member)
    {
        if (process.Engine.AppliedVersion == 0)
        {
            return "no configuration applied yet";
        }

        if (member?.Services.GetService<ActorSystem>() is { } system && Akka.Cluster.Cluster.Get(system).SelfMember.Status != Akka.Cluster.MemberStatus.Up)
        {
            return $"the node is not an Up member of the cluster yet ({Akka.Cluster.Cluster.Get(system).SelfMember.Status})";
        }

        return null;
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
            Log(output, "fallback", $"document refused; running from the last applied configuration in {options.StateDirectory}");
            return running;
        }

        return null;
    }

    /// <summary>One structured log line: time, event, then key=value fields.</summary>
    private static void Log(TextWriter output, string @event, string fields) =>
        output.WriteLine($"time={DateTimeOffset.UtcNow:O} event={@event} {fields}");
}
