using Akka.Actor;
using Akka.DistributedData;
using Fabric.Actors.Cluster;
using Fabric.Actors.Configuration;
using Fabric.Actors.Hosting;
using Fabric.Actors.Security;
using Fabric.Actors.Services;
using Fabric.Conductor.Configuration;
using Fabric.Dataplane.Routing;
using Fabric.Model;
using Fabric.Tests.Support;
using Microsoft.Extensions.DependencyInjection;

namespace Fabric.Tests.Actors;

/// <summary>
/// A member of the cluster (br2a, with a certificate of the fabric's CA issued to it: a compromised router) writes
/// entries of the live instance registry and of the published load that only another router's node may write: an
/// instance or a load of router dc1 sealed with its own certificate, entries in a node's name it did not seal. br1a
/// and the conductor believe none of it; dc1a's own entries still count.
/// </summary>
public sealed class RegistryForgeryTests : IDisposable
{
    /// <summary>A clock far above anything a node's own writes use: the forged value wins every merge it can.</summary>
    private const long ForgedClock = long.MaxValue / 4;

    private readonly string _dir = Directory.CreateTempSubdirectory("fabric-registry-forgery-").FullName;

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task Instances_ForARouterTheWriterIsNotPartOf_OrNotSealedByTheNodeTheyName_NotShown_TheRoutersOwnStillAre()
    {
        await using var nodes = new ControlPlaneNodes(tls: true);
        var (conductor, br1a, _, refusals) = await StartFabric(nodes);
        var forger = await nodes.StartMember("br2a");
        var self = Akka.Cluster.Cluster.Get(forger).SelfUniqueAddress;
        var member = ServiceDistribution.MemberId(self);
        var signer = new NodeSigner(nodes.Settings("br2a").Tls!);

        // An instance of web at router dc1, registered by br2a under its own seal (br2a is part of br2, not dc1); one
        // in dc1a's name, unsealed; one in dc1a's name, sealed by br2a.
        var evil = new RegisteredInstance("web", "evil", "dc1", "br2a", member, "evil", "10.66.0.1", IsUp: true);
        var ghost = new RegisteredInstance("web", "ghost", "dc1", "dc1a", member, "ghost", "10.66.0.2", IsUp: true);
        var forged = new Dictionary<string, SealedInstance>
        {
            [ServiceDistribution.InstanceKey("web", "evil", "br2a")] = new(evil, signer.Seal(SealedInstance.Statement(evil))),
            [ServiceDistribution.InstanceKey("web", "ghost", "dc1a")] = new(ghost, null),
            [ServiceDistribution.InstanceKey("web", "spectre", "dc1a")] = new(ghost with { Instance = "spectre" }, signer.Seal(SealedInstance.Statement(ghost with { Instance = "spectre" }))),
        };
        await ControlPlaneNodes.Write(
            forger, ServiceDistribution.Instances, LWWDictionary<EntryName, SealedInstance>.Empty,
            registry => forged.Aggregate(registry, (r, f) => r.SetItem(self, new EntryName(f.Key), f.Value, (_, _) => ForgedClock)),
            everywhere: true);

        // dc1a attaches web3 after the forgery reached every replica: once a reader shows web3, it has read the forgery.
        await Commit(conductor, LabDocuments.WithWeb3, 2);
        const string Genuine = "bulk/bulk1 db/db1 web/web1 web/web2 web/web3";
        var seen = await ControlPlaneNodes.Until(() => ControlPlaneNodes.Registry(br1a, "br1a"), v => v.Instances.Any(i => i.Instance == "web3"), "br1a seeing dc1a's web3");
        Assert.Equal(Genuine, Names(seen));
        Assert.All(seen.Instances, i => Assert.Equal(("dc1", "dc1a", InstanceView.Up), (i.Router, i.Node, i.State)));
        // br1a's watcher refuses br2a's own-sealed entry once the forgery reaches it (web3 may come first by gossip from dc1a);
        // dc1a removes those under its keys, so at most the three were refused.
        var br1aSystem = br1a.System;
        await ControlPlaneNodes.Until(
            async () => (refusals.ForeignEntries, Held: await Keys(br1aSystem), ForgerHeld: await Keys(forger)),
            r => r.ForeignEntries >= 1,
            "br1a refusing the forged instance (last seen: refusals, the instance keys br1a's replica holds and those the forger's does)");
        Assert.InRange(refusals.ForeignEntries, 1, 3);
        var conductorView = await ControlPlaneNodes.Until(
            () => conductor.Ask<ServiceRegistryView>(new GetServiceRegistry(), ControlPlaneNodes.Deadline, TestContext.Current.CancellationToken),
            v => v.Instances.Any(i => i.Instance == "web3"),
            "the conductor seeing dc1a's web3");
        Assert.Equal(Genuine, Names(conductorView));
    }

    [Fact]
    public async Task Load_ForARouterTheWriterIsNotPartOf_OrOfNoRouterNode_NotHandedToTheDataplane_ANodesOwnEntryWrittenAgain()
    {
        await using var nodes = new ControlPlaneNodes(tls: true);
        var (_, br1a, br1, refusals) = await StartFabric(nodes);
        var forger = await nodes.StartMember("br2a");
        var self = Akka.Cluster.Cluster.Get(forger).SelfUniqueAddress;
        var member = ServiceDistribution.MemberId(self);
        var signer = new NodeSigner(nodes.Settings("br2a").Tls!);
        var web = br1.Snapshot.Services[br1.Snapshot.ServiceIndex("web")];
        var dc1Slot = Array.IndexOf(web.PeerRouters, "dc1");
        await ControlPlaneNodes.Until(() => ControlPlaneNodes.Registry(br1a, "br1a"), v => v.Instances.Any(i => i.Instance == "web1"), "br1a seeing dc1a's web1");

        // 1000 sessions on dc1's web1: published by br2a under its own seal for router dc1, and by "ghost", no router's node.
        var claim = new Dictionary<string, long> { ["web1"] = 1000 };
        var mine = new ServiceLoad("web", "dc1", "br2a", member, claim);
        var ghost = new ServiceLoad("web", "dc1", "ghost", member, claim);
        await ControlPlaneNodes.Write(
            forger, ServiceDistribution.Loads, LWWDictionary<EntryName, SealedLoad>.Empty,
            loads => loads
                .SetItem(self, new EntryName(ServiceDistribution.LoadKey("web", "br2a")), new SealedLoad(mine, 1, signer.Seal(SealedLoad.Statement(mine, 1))), (_, _) => ForgedClock)
                .SetItem(self, new EntryName(ServiceDistribution.LoadKey("web", "ghost")), new SealedLoad(ghost, 1, null), (_, _) => ForgedClock),
            everywhere: true);

        // br1a's registry watcher and its load balancer for web each refuse both: 4. Believed, br1's dataplane would count them.
        await ControlPlaneNodes.Until(
            () => Task.FromResult((refusals.ForeignEntries, web.Runtime.Load.RemoteSessions(dc1Slot))),
            r => r.ForeignEntries == 4 || r.Item2 != 0,
            "br1a refusing both forged loads in its registry and its load balancer");
        Assert.Equal(0, web.Runtime.Load.RemoteSessions(dc1Slot));
        Assert.Equal(4, refusals.ForeignEntries);

        // dc1a's own entry, replaced unsealed by the forger with a winning clock: dc1a writes it again, and it wins.
        var dc1aKey = ServiceDistribution.LoadKey("web", "dc1a");
        // dc1a's entry reaches the forger's replica by gossip: wait for it rather than assume it came with the rest.
        var held = (await ControlPlaneNodes.Until(async () => (await Loads(forger)).GetValueOrDefault(dc1aKey), l => l is not null, "dc1a's own load in the forger's replica"))!;
        Assert.NotNull(held.Seal);
        var replaced = new SealedLoad(held.Load with { Sessions = claim }, held.Sequence + 1, null);
        await ControlPlaneNodes.Write(forger, ServiceDistribution.Loads, LWWDictionary<EntryName, SealedLoad>.Empty, loads => loads.SetItem(self, new EntryName(dc1aKey), replaced, (_, _) => ForgedClock), everywhere: true);
        var back = await ControlPlaneNodes.Until(
            async () => (await Loads(forger))[dc1aKey],
            l => l.Seal is not null && l.Load.Sessions.GetValueOrDefault("web1") == 0,
            "dc1a's own sealed load back in the forger's replica");
        Assert.Equal(held.Sequence, back.Sequence);
        Assert.True(NodeSeal.Same(held.Seal, back.Seal));
        Assert.Equal(0, web.Runtime.Load.RemoteSessions(dc1Slot));
    }

    /// <summary>A conductor, dc1a (an engine on discard ports, the node's own view) and br1a (whose refusals the test reads), running the lab's version 1.</summary>
    private async Task<(IActorRef Conductor, FabricNode Br1a, ForwardingEngine Br1, ControlPlaneRefusals Refusals)> StartFabric(ControlPlaneNodes nodes)
    {
        var conductor = await nodes.StartConductor(new StorageSettings(StorageProvider.Sqlite, Path.Combine(_dir, "conductor.db"), null));
        var model = ControlPlaneNodes.Load(LabDocuments.Lab);
        await nodes.StartRouter(model, "dc1a");
        var br1 = ControlPlaneNodes.Engine(model, "br1a");
        var refusals = new ControlPlaneRefusals();
        var br1a = await nodes.StartRouter(new RouterNodeTarget("br1a", new EngineForwardingTarget(br1), Services: new EngineServiceDataplane(br1), Refusals: refusals));
        await Commit(conductor, LabDocuments.Lab, 1);
        return (conductor, br1a, br1, refusals);
    }

    private static async Task<IReadOnlyDictionary<string, SealedInstance>> Instances(ActorSystem node)
    {
        var response = await DistributedData.Get(node).Replicator.Ask<IGetResponse>(Dsl.Get(ServiceDistribution.Instances, ReadLocal.Instance), ControlPlaneNodes.Deadline, TestContext.Current.CancellationToken);
        return response is GetSuccess found ? found.Get(ServiceDistribution.Instances).ByName() : new Dictionary<string, SealedInstance>();
    }

    private static async Task<string> Keys(ActorSystem node) => string.Join(" ", (await Instances(node)).Keys.Order(StringComparer.Ordinal));

    private static async Task<IReadOnlyDictionary<string, SealedLoad>> Loads(ActorSystem node)
    {
        var response = await DistributedData.Get(node).Replicator.Ask<IGetResponse>(Dsl.Get(ServiceDistribution.Loads, ReadLocal.Instance), ControlPlaneNodes.Deadline, TestContext.Current.CancellationToken);
        return ((GetSuccess)response).Get(ServiceDistribution.Loads).ByName();
    }

    private static string Names(ServiceRegistryView view) => string.Join(" ", view.Instances.Select(i => $"{i.Service}/{i.Instance}"));

    private static async Task Commit(IActorRef conductor, string text, long version)
    {
        var result = await conductor.Ask<ConfigCommandResult>(new CommitConfig(text, "alice", $"version {version}"), ControlPlaneNodes.Deadline, TestContext.Current.CancellationToken);
        Assert.True(result.Accepted, string.Join("; ", result.Errors));
        await ControlPlaneNodes.Converged(conductor, version, "dc1a", "br1a");
    }
}
