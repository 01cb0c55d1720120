using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using Akka.Hosting;
using Fabric.Actors.Cluster;
using Fabric.Actors.Configuration;
using Fabric.Actors.Hosting;
using Fabric.Actors.Security;
using Fabric.Router;
using Fabric.Conductor.Configuration;
using Fabric.Conductor.Hosting;
using Fabric.Config;
using Fabric.Dataplane.Io;
using Fabric.Dataplane.Io.InMemory;
using Fabric.Dataplane.Routing;
using Fabric.Dataplane.Wire;
using Fabric.Model;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Fabric.Tests.Support;

/// <summary>
/// Conductor and router nodes as separate actor systems in this process, joined over loopback with
/// real Akka remoting on free ports, in plain TCP (<see cref="ClusterNodeSettings.Insecure"/>) or, when asked, over
/// mutual TLS with a CA of their own. Router nodes run real forwarding engines (the real snapshot
/// compiler) on discard ports named as their router's devices. Disposing stops every node still running.
/// </summary>
public sealed class ControlPlaneNodes : IAsyncDisposable
{
    public static readonly TimeSpan Deadline = TimeSpan.FromSeconds(15);
    private readonly List<IHost> _conductors = [];
    private readonly List<FabricNode> _routers = [];

    // With cluster TLS: a CA of these nodes' own, and each node's certificate issued to its name, in this directory.
    private readonly string? _certificates;

    /// <param name="tls">Run the cluster over mutual TLS, with a CA of its own and one certificate per node name; else plain TCP.</param>
    public ControlPlaneNodes(string seedHost = "127.0.0.1", bool tls = false)
    {
        ConductorAddress = ClusterNodeSettings.AddressOf(seedHost, FreePort());
        if (tls)
        {
            _certificates = Directory.CreateTempSubdirectory("fabric-control-plane-certs-").FullName;
            ClusterCertificates.CreateAuthority(Path.Combine(_certificates, "ca"), "test CA", TimeSpan.FromDays(1));
        }
    }

    /// <summary>
    /// Where a node named <paramref name="node"/> listens and whom it joins: with TLS, it presents a certificate of
    /// these nodes' CA issued to <paramref name="node"/>; else plain TCP.
    /// </summary>
    public ClusterNodeSettings Settings(string node, int port = 0)
    {
        if (_certificates is null)
        {
            return new ClusterNodeSettings("127.0.0.1", port, [ConductorAddress], Insecure: true);
        }

        var authority = Path.Combine(_certificates, "ca");
        var pfx = Path.Combine(_certificates, node + ".pfx");
        if (!File.Exists(pfx))
        {
            ClusterCertificates.IssueNode(authority, node, _certificates, TimeSpan.FromDays(1));
        }

        return new ClusterNodeSettings("127.0.0.1", port, [ConductorAddress], ClusterTls.Load(pfx, null, Path.Combine(authority, ClusterCertificates.AuthorityCertificateFile)));
    }

    /// <summary>The conductor's signing key; every router node started here pins its public key.</summary>
    public ConductorSigningKey ConductorKey { get; } = ConductorSigningKey.Generate();

    /// <summary>The cluster pub-sub mediator of the conductor node last started: what its API asks the routers' session actors through.</summary>
    public IActorRef? ConductorMediator { get; private set; }

    /// <summary>The conductor's cluster address, the seed of every node.</summary>
    public string ConductorAddress { get; private set; }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <param name="feed">A live feed for an API to serve, fed by the node.</param>
    public async Task<IActorRef> StartConductor(StorageSettings storage, bool newPort = false, Fabric.Conductor.Api.Live.LiveFeed? feed = null)
    {
        if (newPort)
        {
            ConductorAddress = ClusterNodeSettings.AddressOf("127.0.0.1", FreePort());
        }

        var port = int.Parse(ConductorAddress[(ConductorAddress.LastIndexOf(':') + 1)..], System.Globalization.CultureInfo.InvariantCulture);
        var host = ConductorHost.Build(Settings("conductor", port), storage, ConductorKey, feed: feed);
        _conductors.Add(host);
        await host.StartAsync(TestContext.Current.CancellationToken);
        ConductorMediator = Akka.Cluster.Tools.PublishSubscribe.DistributedPubSub.Get(host.Services.GetRequiredService<ActorSystem>()).Mediator;
        return host.Services.GetRequiredService<ActorRegistry>().Get<ConductorActor>();
    }

    /// <summary>Starts a router node for <paramref name="node"/> of <paramref name="config"/>; returns its engine.</summary>
    /// <param name="fromDisk">A configuration the engine runs before it hears from the conductor, as <c>fabric router</c> does with its last one on disk (as version 1).</param>
    /// <param name="telemetryInterval">With a value, the node samples its engine's counters this often and ships them to the conductor.</param>
    public async Task<(FabricNode Host, ForwardingEngine Engine)> StartRouter(FabricConfig config, string node, FabricConfig? fromDisk = null, TimeSpan? telemetryInterval = null)
    {
        var engine = Engine(config, node);
        if (fromDisk is not null)
        {
            engine.Apply(fromDisk, version: 1);
        }

        return (await StartRouter(engine, node, telemetryInterval), engine);
    }

    /// <summary>The engine of the router <paramref name="node"/> is part of in <paramref name="config"/>, on discard ports, with no configuration applied.</summary>
    public static ForwardingEngine Engine(FabricConfig config, string node)
    {
        ArgumentNullException.ThrowIfNull(config);
        var router = config.Routers.Single(r => r.Nodes.Any(n => n.Name == node));
        var ports = RouterProcess.Devices(router).Select((d, i) => (IPacketPort)new DiscardPort(d, new MacAddress(0x02_00_00_00_00_00UL + (ulong)i + 1))).ToList();
        return new ForwardingEngine(router.Name, ports);
    }

    /// <summary>Starts a router node around an engine the caller drives (for example one of an in-memory fabric, pumped by the test).</summary>
    public async Task<FabricNode> StartRouter(ForwardingEngine engine, string node, TimeSpan? telemetryInterval = null)
    {
        var telemetry = telemetryInterval is null ? null : new Fabric.Actors.Telemetry.EngineTelemetrySource(engine);
        return await StartRouter(new RouterNodeTarget(node, new EngineForwardingTarget(engine), telemetry, Services: new Fabric.Actors.Services.EngineServiceDataplane(engine), Flows: new Fabric.Actors.Sessions.EngineFlowSource(engine), Refusals: new ControlPlaneRefusals()), telemetryInterval);
    }

    /// <summary>Starts a router node with the control plane's view of one node as given (its own forwarding target).</summary>
    public async Task<FabricNode> StartRouter(RouterNodeTarget target, TimeSpan? telemetryInterval = null)
    {
        var host = RouterHost.Build(Settings(target.Node), ConductorKey.Pin, [target], telemetryInterval: telemetryInterval);
        await Start(host);
        return host;
    }

    /// <summary>
    /// A member of the cluster with role router that runs nothing of a router: what a compromised or foreign member
    /// does is up to the test. <paramref name="asSeed"/>: it listens at the conductor's address, forming the cluster
    /// the other nodes join (for tests without a conductor).
    /// </summary>
    public async Task<ActorSystem> StartMember(string node, bool asSeed = false)
    {
        var port = asSeed ? int.Parse(ConductorAddress[(ConductorAddress.LastIndexOf(':') + 1)..], System.Globalization.CultureInfo.InvariantCulture) : 0;
        var host = RouterHost.Build(Settings(node, port), ConductorKey.Pin, []);
        await Start(host);
        return host.System;
    }

    /// <summary>
    /// Starts a router node for <paramref name="engine"/>, an engine the test drives itself (in-memory ports, its
    /// own clock), with the tenant budget exchange governing its tenant buckets.
    /// </summary>
    public async Task<FabricNode> StartRouterNode(string node, ForwardingEngine engine, Fabric.Actors.Tenants.TenantBudgetSettings budgets, ControlPlaneRefusals? refusals = null)
    {
        var host = RouterHost.Build(
            Settings(node),
            ConductorKey.Pin,
            [new RouterNodeTarget(node, new EngineForwardingTarget(engine), TenantBudgets: new Fabric.Actors.Tenants.EngineTenantBudgets(engine), Refusals: refusals)],
            tenantBudgets: budgets);
        await Start(host);
        return host;
    }

    /// <summary>
    /// Writes <paramref name="key"/> as <paramref name="member"/> (a forger) would: to its own replica, or with
    /// <paramref name="everywhere"/> to every node's before it returns. Fails when the write does. A write everywhere
    /// first waits until the member is up and its replicator knows every member it sees, all up and reachable: a
    /// node started moments ago may not have joined yet, and its replicator then writes "everywhere" to itself alone,
    /// leaving the rest to gossip.
    /// </summary>
    public static async Task Write<T>(ActorSystem member, Akka.DistributedData.IKey<T> key, T initial, Func<T, T> modify, bool everywhere = false)
        where T : Akka.DistributedData.IReplicatedData
    {
        var replicator = Akka.DistributedData.DistributedData.Get(member).Replicator;
        if (everywhere)
        {
            await KnowsEveryMember(member);
        }

        Akka.DistributedData.IWriteConsistency consistency = everywhere ? new Akka.DistributedData.WriteAll(Deadline) : Akka.DistributedData.WriteLocal.Instance;
        var response = await replicator.Ask<Akka.DistributedData.IUpdateResponse>(
            Akka.DistributedData.Dsl.Update(key, initial, consistency, modify), Deadline, TestContext.Current.CancellationToken);
        Assert.True(response.IsSuccessful, $"the forger's write failed: {response}");
    }

    /// <summary>Waits until <paramref name="member"/> is up and its replicator counts every member of its view, each up and reachable.</summary>
    private static async Task KnowsEveryMember(ActorSystem member)
    {
        var cluster = Akka.Cluster.Cluster.Get(member);
        var replicator = Akka.DistributedData.DistributedData.Get(member).Replicator;
        await Until(
            async () =>
            {
                var state = cluster.State;
                var replicas = await replicator.Ask<Akka.DistributedData.ReplicaCount>(
                    Akka.DistributedData.Dsl.GetReplicaCount, Deadline, TestContext.Current.CancellationToken);
                return (Self: cluster.SelfMember.Status, Members: state.Members.Count, Up: state.Members.Count(m => m.Status == Akka.Cluster.MemberStatus.Up),
                    Unreachable: state.Unreachable.Count, Replicas: replicas.N);
            },
            v => v.Self == Akka.Cluster.MemberStatus.Up && v.Up == v.Members && v.Unreachable == 0 && v.Replicas == v.Members,
            "the writer up, and its replicator knowing every member (last seen: its status, members, up, unreachable, replicas)");
    }

    /// <summary>The live instance registry as router node <paramref name="node"/> (hosted by <paramref name="host"/>) sees it.</summary>
    public static Task<Fabric.Actors.Services.ServiceRegistryView> Registry(FabricNode host, string node) =>
        host.System
            .ActorSelection($"/user/{Fabric.Actors.Services.ServiceDirectory.NameFor(node)}")
            .Ask<Fabric.Actors.Services.ServiceRegistryView>(new Fabric.Actors.Services.GetServiceRegistry(), Deadline, TestContext.Current.CancellationToken);

    public async Task Stop(FabricNode host)
    {
        _routers.Remove(host);
        await host.StopAsync(TestContext.Current.CancellationToken);
        host.Dispose();
    }

    public static FabricConfig Load(string text) =>
        FabricConfigLoader.Load(text).Config ?? throw new InvalidOperationException(string.Join("\n", FabricConfigLoader.Load(text).Errors));

    /// <summary>
    /// Asks <paramref name="probe"/> until its answer satisfies <paramref name="done"/>; fails with the last answer at the
    /// deadline (<see cref="Deadline"/>, or <paramref name="within"/>).
    /// </summary>
    public static async Task<T> Until<T>(Func<Task<T>> probe, Func<T, bool> done, string what, TimeSpan? within = null)
    {
        var limit = within ?? Deadline;
        var deadline = DateTime.UtcNow + limit;
        T last;
        do
        {
            last = await probe();
            if (done(last))
            {
                return last;
            }

            await Task.Delay(50, TestContext.Current.CancellationToken);
        }
        while (DateTime.UtcNow < deadline);

        Assert.Fail($"{what} did not happen within {limit.TotalSeconds} s; last seen: {(last is ConfigRolloutView r ? $"running {r.Running}: " + string.Join(", ", r.Nodes) : last)}");
        return last;
    }

    public static Task<ConfigRolloutView> Rollout(IActorRef conductor) =>
        conductor.Ask<ConfigRolloutView>(new GetConfigRollout(), Deadline, TestContext.Current.CancellationToken);

    /// <summary>Waits until the conductor sees every node (or every one of <paramref name="nodes"/>) on <paramref name="version"/>.</summary>
    public static Task<ConfigRolloutView> Converged(IActorRef conductor, long version, params string[] nodes) =>
        Until(
            () => Rollout(conductor),
            r => r.Running == version && (nodes.Length == 0 ? r.Converged : nodes.All(n => r.Nodes.Any(s => s.Node == n && s.Applied == version))),
            $"{(nodes.Length == 0 ? "every router" : string.Join(", ", nodes))} acking version {version}");

    private async Task Start(FabricNode host)
    {
        _routers.Add(host);
        await host.StartAsync(TestContext.Current.CancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var host in Enumerable.Reverse(_routers))
        {
            await host.StopAsync(CancellationToken.None);
            host.Dispose();
        }

        foreach (var host in Enumerable.Reverse(_conductors))
        {
            await host.StopAsync(CancellationToken.None);
            host.Dispose();
        }

        _routers.Clear();
        _conductors.Clear();
        if (_certificates is not null)
        {
            Directory.Delete(_certificates, recursive: true);
        }
    }
}
