using Akka.Actor;
using Fabric.Actors.Cluster;
using Fabric.Actors.Configuration;
using Fabric.Actors.HighAvailability;
using Fabric.Actors.Hosting;
using Fabric.Actors.Security;
using Fabric.Http;
using Fabric.Http.Metrics;
using Fabric.Model;
using Microsoft.Extensions.Configuration;

namespace Fabric.Router;

/// <summary>
/// How a router node joins its fabric's cluster (docs/high-availability.md, docs/conductor.md): through
/// <see cref="Seeds"/> (none: the node runs its document alone), bound to <see cref="Address"/> (default: the node's
/// management address) and <see cref="Port"/>, over <see cref="Tls"/> (null: plain TCP), applying only what the conductor
/// whose key is <see cref="ConductorKey"/> signed. <see cref="AdminPort"/> serves <c>/metrics</c>, <c>/healthz</c> and
/// <c>/readyz</c> (null: <see cref="RouterNodeRunner.RouterAdminPort"/> with seeds, none without; 0: none).
/// </summary>
public sealed record RouterNodeMembership(
    IReadOnlyList<string> Seeds, string? Address, int Port, ClusterTls? Tls, ConductorKeyPin? ConductorKey, int? AdminPort)
{
    /// <summary>Whether the node joins a cluster: it has seeds.</summary>
    public bool Clustered => Seeds.Count > 0;

    /// <summary>
    /// The membership of node <paramref name="node"/> with <paramref name="seeds"/>: cluster TLS from the environment
    /// (<c>FABRIC_CLUSTER_CERTIFICATE</c>, <c>FABRIC_CLUSTER_CA</c>; plain TCP only when <paramref name="insecure"/>), its
    /// certificate issued to the node, and the conductor's key as given or as kept in <paramref name="stateDirectory"/>
    /// (<see cref="ConductorKeyPinFile"/>). Without seeds none of them is needed. Throws <see cref="ClusterTlsException"/>,
    /// <see cref="FormatException"/> or <see cref="PrivateFileException"/>, each with one sentence for the operator.
    /// </summary>
    public static RouterNodeMembership Resolve(
        string node, string stateDirectory, IReadOnlyList<string> seeds, string? address, int port, bool insecure, string? conductorKey, int? adminPort)
    {
        ArgumentNullException.ThrowIfNull(seeds);
        ClusterTls? tls = null;
        ConductorKeyPin? pin = null;
        if (seeds.Count > 0)
        {
            tls = new ClusterNodeSettings("", 0, [], Insecure: insecure)
                .Resolve(new ConfigurationBuilder().AddEnvironmentVariables().Build()).Tls;
            if (tls is not null && NodeSigner.NameOf(tls.NodeCertificate) is var certified && certified != node)
            {
                throw new ClusterTlsException($"the cluster certificate was issued to node {certified}, not to {node}: the conductor would refuse this node's acks and telemetry; issue one with fabric certs node {node}");
            }

            pin = ConductorKeyPinFile.Resolve(conductorKey, stateDirectory)
                ?? throw new FormatException(
                    $"--seed needs the conductor's public key, to apply only what the conductor signed: give --conductor-key KEY (fabric conductor prints it on its started line as conductor-key=...); it is kept in {Path.Combine(stateDirectory, ConductorKeyPinFile.FileName)}");
        }

        return new RouterNodeMembership(seeds, address, port, tls, pin, adminPort);
    }
}

/// <summary>
/// A router node's life, as <c>fabric router</c> runs it: its <see cref="RouterProcess"/> on real interfaces, the HA pair
/// link of a node of a pair, its cluster membership (joined again whenever it is removed), its admin HTTP listener, and
/// on stop the sessions handed over to the next start. Its events are structured log lines on the output
/// (<c>time=... event=... key=value</c>); what stops it is reported on the error writer.
/// </summary>
public static class RouterNodeRunner
{
    /// <summary>
    /// Runs node <paramref name="name"/> of <paramref name="model"/> until <paramref name="stop"/> is set; returns the
    /// process's exit code: 0 after a stop, 1 when the node could not start (each reason on <paramref name="error"/>).
    /// </summary>
    public static int Run(
        FabricConfig model, string name, RouterProcessOptions options, RouterNodeMembership membership, WaitHandle stop, TextWriter output, TextWriter error)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(membership);
        ArgumentNullException.ThrowIfNull(stop);
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(error);
        // A node of an HA pair stands by until its pair actor decides (docs/high-availability.md); that needs the
        // cluster, so without seeds the node runs its router alone.
        var pair = model.Routers.FirstOrDefault(r => r.Nodes.Any(n => n.Name == name)) is { Nodes.Count: 2 } && membership.Clustered;
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
            // What starting freed in the malloc heap goes back to the kernel, and so does what the control plane frees
            // later (a router at rest: ~8 MB less resident; docs/benchmarks.md, "Memory").
            using var heapTrim = NativeHeap.TrimEvery(HeapTrimPeriod);
            PairLink? link;
            try
            {
                link = pair ? StartPairLink(model, name, membership.Address, process) : null;
            }
            catch (PairLinkException e)
            {
                error.WriteLine($"fabric router: {e.Message}");
                return 1;
            }

            using var heartbeats = link;
            FabricNode? member = null;
            NodeHttpEndpoint? http = null;
            try
            {
                var joins = membership.Clustered && membership.ConductorKey is not null;
                var port = membership.AdminPort ?? (joins ? RouterAdminPort : 0);
                http = port == 0 ? null : ServeHttp(output, membership.Address ?? ManagementAddress(model, name), port, process, () => member, joins);
                FabricNode? JoinCluster() => Join(membership, model, name, process, link, output);
                Action<string> Failed(string @event) =>
                    failure => Log(output, @event, $"node={name} reason={NodeLogger.Quoted(failure)} retry-in={RejoinRetry.TotalSeconds:0}s");

                // A first join that fails (the cluster port held, say) does not stop the router: it forwards with what it
                // applied, as after a rejoin that fails, and tries again every RejoinRetry until it joins or stops.
                member = TryJoin(JoinCluster, out var joinFailure);

                var clusterTls = !joins ? "none" : membership.Tls is null ? "off(--insecure)" : "mutual";
                Log(output, "started", $"node={name} router={process.RouterName} version={process.Engine.AppliedVersion} sessions-restored={process.Restored.Added} devices={string.Join(',', process.Devices())} admin={options.AdminSocket} admin-http={http?.Address.ToString() ?? "off"} identity={process.Identity ?? "none"} cluster-tls={clusterTls} conductor-key={membership.ConductorKey?.PublicKeyBase64 ?? "none"}");
                if (joinFailure is not null)
                {
                    var joinFailed = Failed("join-failed");
                    joinFailed(joinFailure);
                    member = stop.WaitOne(RejoinRetry) ? null : JoinAgain(JoinCluster, stop, joinFailed, RejoinRetry);
                }

                // Removed from the cluster (downed by the split-brain resolver on a side without the conductor,
                // or by an operator), or not let in within the join timeout, the node keeps forwarding with what it
                // applied and joins again as a new incarnation: a router's packets never stop for the control plane.
                while (member is not null
                    && WaitHandle.WaitAny([stop, ((IAsyncResult)member.System.WhenTerminated).AsyncWaitHandle]) == 1
                    && FabricNode.RejoinReason(member.System) is { } reason)
                {
                    Log(output, "rejoining", $"node={name} reason={reason} version={process.Engine.AppliedVersion}");
                    member.StopAsync().GetAwaiter().GetResult();
                    member.Dispose();
                    member = null;
                    member = JoinAgain(JoinCluster, stop, Failed("rejoin-failed"), RejoinRetry);
                }

                stop.WaitOne();
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
    }

    /// <summary>
    /// Why <paramref name="failure"/> happened, for a log line: its message and its inner exceptions' (from the outermost),
    /// without the wrappers that say nothing (an <see cref="AggregateException"/> around one exception, as a task's
    /// failure comes): "Failed to bind to [127.0.0.2:25520]. See InnerException for details. / Address already in use".
    /// </summary>
    public static string Reason(Exception failure)
    {
        ArgumentNullException.ThrowIfNull(failure);
        var messages = new List<string>();
        for (var e = failure; e is not null; e = e.InnerException)
        {
            if (e is not AggregateException { InnerExceptions.Count: 1 })
            {
                messages.Add(e.Message);
            }
        }

        return string.Join(" / ", messages);
    }

    /// <summary>One try of <paramref name="join"/>: what it returned, or null and, in <paramref name="failure"/>, why it threw (<see cref="Reason"/>).</summary>
    private static FabricNode? TryJoin(Func<FabricNode?> join, out string? failure)
    {
        try
        {
            failure = null;
            return join();
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            failure = Reason(e);
            return null;
        }
    }

    /// <summary>How long a node whose join again failed waits before it tries once more.</summary>
    public static readonly TimeSpan RejoinRetry = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Joins the cluster again after the node left it: tries <paramref name="join"/> until it returns, and while it
    /// throws (its cluster port still held, say) reports each failure and waits <paramref name="retry"/> before the next
    /// try: the router forwards with what it applied all the while, as packets never stop for the control plane. Returns
    /// what <paramref name="join"/> returned, or null when <paramref name="stop"/> was set before a join succeeded.
    /// </summary>
    public static FabricNode? JoinAgain(Func<FabricNode?> join, WaitHandle stop, Action<string> failed, TimeSpan retry)
    {
        ArgumentNullException.ThrowIfNull(join);
        ArgumentNullException.ThrowIfNull(stop);
        ArgumentNullException.ThrowIfNull(failed);
        while (!stop.WaitOne(0))
        {
            var node = TryJoin(join, out var failure);
            if (failure is null)
            {
                return node;
            }

            failed(failure);
            if (stop.WaitOne(retry))
            {
                break;
            }
        }

        return null;
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

    /// <summary>
    /// With seeds, the node's cluster member: a <see cref="ConfigApplier"/> that applies what the conductor pushes
    /// to <paramref name="process"/>, its telemetry, and the tenant budget exchange that makes tenant rate limits
    /// hold for the whole fabric. Akka's log goes to <paramref name="output"/> as the node's own lines do.
    /// </summary>
    private static FabricNode? Join(RouterNodeMembership membership, FabricConfig model, string node, RouterProcess process, PairLink? link, TextWriter output)
    {
        if (!membership.Clustered || membership.ConductorKey is not { } conductorKey)
        {
            return null;
        }

        var host = membership.Address ?? model.Routers.SelectMany(r => r.Nodes).First(n => n.Name == node).ManagementAddress.ToString();
        var router = model.Routers.First(r => r.Nodes.Any(n => n.Name == node));
        var pair = process.Partner is { } partner && link is not null
            ? ((IPairNode)new EnginePairNode(process.Engine, process.RenewPeerKeys),
                new PairSettings(partner.Name, partner.ManagementAddress.ToString(), Preferred: router.Nodes[0].Name == node, PairTiming.From(router.HighAvailability)),
                link)
            : ((IPairNode, PairSettings, PairLink)?)null;
        var member = RouterHost.Build(
            new ClusterNodeSettings(host, membership.Port, membership.Seeds, membership.Tls, Insecure: membership.Tls is null),
            conductorKey,
            [new RouterNodeTarget(
                node,
                new RouterProcessTarget(process),
                new Fabric.Actors.Telemetry.EngineTelemetrySource(process.Engine),
                new Fabric.Actors.Tenants.EngineTenantBudgets(process.Engine),
                new Fabric.Actors.Services.EngineServiceDataplane(process.Engine),
                pair,
                new Fabric.Actors.Sessions.EngineFlowSource(process.Engine),
                process.Refusals,
                process)],
            new ConfigurationBuilder().AddEnvironmentVariables().Build(),
            (@event, fields) => Log(output, @event, fields));
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

    /// <summary>How often a running node gives its malloc heap's free pages back to the kernel (<see cref="NativeHeap"/>).</summary>
    public static readonly TimeSpan HeapTrimPeriod = TimeSpan.FromSeconds(30);

    private static string ManagementAddress(FabricConfig model, string node) =>
        model.Routers.SelectMany(r => r.Nodes).First(n => n.Name == node).ManagementAddress.ToString();

    /// <summary>
    /// The node's HTTP listener: its own counters as Prometheus metrics (the same sample the telemetry ships), ready once
    /// a configuration forwards and, in a cluster, the node is a member. A listener that cannot bind is reported and the
    /// router runs on without it: packets never stop for the management plane.
    /// </summary>
    private static NodeHttpEndpoint? ServeHttp(TextWriter output, string address, int port, RouterProcess process, Func<FabricNode?> member, bool joins)
    {
        var source = new Fabric.Actors.Telemetry.EngineTelemetrySource(process.Engine);
        var metrics = new FabricMetrics(() => [new Fabric.Actors.Telemetry.CounterSample(process.Node, process.RouterName, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), source.Sample())]);
        try
        {
            return NodeHttpEndpoint.Start(System.Net.IPAddress.Parse(address), port, metrics, _ => Task.FromResult(Unready(process, member(), joins))).GetAwaiter().GetResult();
        }
        catch (Exception e) when (e is IOException or FormatException or InvalidOperationException)
        {
            metrics.Dispose();
            Log(output, "admin-http-failed", $"node={process.Node} address={address}:{port} reason={NodeLogger.Quoted(e.Message)}");
            return null;
        }
    }

    /// <summary>Null when the node forwards with a configuration and (in a cluster) is a member that is up, else why not.</summary>
    private static string? Unready(RouterProcess process, FabricNode? member, bool joins)
    {
        if (process.Engine.AppliedVersion == 0)
        {
            return "no configuration applied yet";
        }

        if (joins && member is null)
        {
            return "the node is not in the cluster: its join failed or it is joining again (event=join-failed or rejoin-failed in its log)";
        }

        if (member?.System is { } system && Akka.Cluster.Cluster.Get(system).SelfMember.Status != Akka.Cluster.MemberStatus.Up)
        {
            return $"the node is not an Up member of the cluster yet ({Akka.Cluster.Cluster.Get(system).SelfMember.Status})";
        }

        return null;
    }

    /// <summary>One structured log line: time, event, then key=value fields.</summary>
    public static void Log(TextWriter output, string @event, string fields) =>
        output.WriteLine($"time={DateTimeOffset.UtcNow:O} event={@event} {fields}");
}
