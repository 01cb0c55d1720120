using Akka.Actor;
using Akka.DistributedData;
using Fabric.Actors.Cluster;
using Fabric.Actors.Services;
using Fabric.Conductor.Configuration;
using Fabric.Model;
using Fabric.Tests.Dataplane.Routing;
using Fabric.Tests.Dataplane.Svr.Routers;
using Fabric.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Fabric.Tests.Actors;

/// <summary>
/// Load-balancer actors share per-instance session counts through the cluster and hand them to the dataplane:
/// the in-memory SVR fabric of <see cref="LoadFeedbackTests"/> (service "spread" on web1 behind dc1 and app2 behind
/// br2; br1's client eng1 reaches it through either), each engine run by a router node on loopback, over cluster TLS
/// (every published load sealed by its node and checked by every reader).
/// </summary>
public sealed class ClusterLoadBalancingTests : IDisposable
{
    /// <summary>
    /// How long a node's leave may take to reach another node's cluster view when it ends by downing: ~5 s of failure
    /// detection, the split-brain resolver's 7 s stable-after (restarted by any reachability change), the leader's tick and
    /// the gossip (~15 s idle), with room for a loaded two-core machine.
    /// </summary>
    private static readonly TimeSpan MembershipDeadline = TimeSpan.FromSeconds(45);

    private readonly string _dir = Directory.CreateTempSubdirectory("fabric-cluster-load-").FullName;

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task CountsPublishedByDc1_ReachBr1sDataplane_ItsProportionalBurstGoesToBr2_UntilDc1Leaves()
    {
        using var fabric = LoadFeedbackTests.SpreadFabric("proportional", webCapacity: 0, appCapacity: 0);
        await using var nodes = new ControlPlaneNodes(tls: true);
        var (dc1a, br1a) = await Start(nodes, fabric);

        // 20 sessions of ops1, a client on dc1's own LAN: br1 never sees them, and no reverse metadata tells it.
        Spread(fabric, fabric.Ops1, firstPort: 42000);
        Assert.Equal(20, LoadFeedbackTests.Active(fabric.Dc1));

        // dc1's load-balancer actor publishes web1's 20; br1's hands them to its dataplane for the slot of dc1.
        var spread = LoadFeedbackTests.Snapshot(fabric.Br1);
        var dc1Slot = Array.IndexOf(spread.PeerRouters, "dc1");
        var br2Slot = Array.IndexOf(spread.PeerRouters, "br2");
        await ControlPlaneNodes.Until(() => Task.FromResult(spread.Runtime.Load.RemoteSessions(dc1Slot)), n => n == 20, "br1's dataplane learning dc1's 20 sessions");
        // The registry (another key, gossiped on its own) shows the same.
        await ControlPlaneNodes.Until(
            () => ControlPlaneNodes.Registry(br1a, "br1a"),
            v => v.Instances.Any(i => (i.Service, i.Instance, i.Router, i.Sessions) == ("spread", "web1", "dc1", 20))
                && v.Instances.Any(i => (i.Service, i.Instance, i.Router) == ("spread", "app2", "br2")),
            "br1's registry showing web1 at dc1 with 20 sessions and app2 at br2");

        // A burst from eng1 at br1, picked before any reply can bring feedback: proportional (least connections here)
        // sends every one to br2, evening the totals. Without the shared counts it would split the burst evenly.
        Spread(fabric, fabric.Eng1, firstPort: 41000);
        Assert.Equal(20, LoadFeedbackTests.Active(fabric.Br2));
        Assert.Equal(20, LoadFeedbackTests.Active(fabric.Dc1));
        Assert.Equal(20, fabric.Eng1.Received.Count);

        // br2's counts travel the same way: br1 holds all 20 of them itself, so others hold none there.
        await ControlPlaneNodes.Until(() => ControlPlaneNodes.Registry(br1a, "br1a"), v => v.Instances.Any(i => i.Instance == "app2" && i.Sessions == 20), "br2 publishing app2's 20");
        Assert.Equal(0, spread.Runtime.Load.RemoteSessions(br2Slot));

        // dc1's entry as br1's replica holds it, to play back below.
        var system = br1a.System;
        var replicator = DistributedData.Get(system).Replicator;
        var dc1Load = (await LoadEntries(replicator)).Single(entry => (entry.Value.Load.Node, entry.Value.Load.Service) == ("dc1a", "spread"));

        var dc1Address = Akka.Cluster.Cluster.Get(dc1a.System).SelfAddress;

        // dc1's node leaves the cluster: what it published goes, and br1 counts nobody else's sessions there any more.
        // First br1's cluster view loses dc1. That is Akka's membership, not Fabric's: a leave whose last gossip was lost
        // ends by downing (failure detection, then the split-brain resolver's stable-after of 7 s, then the leader's
        // removal and its gossip), ~15 s on an idle machine, so it gets its own, longer limit. From there Fabric's chain
        // (br1's watcher forgets dc1's entries, br1's load balancer hands the dataplane 0) has the usual deadline.
        await nodes.Stop(dc1a);
        var cluster = Akka.Cluster.Cluster.Get(system);
        await ControlPlaneNodes.Until(
            () =>
            {
                var view = cluster.State;
                return Task.FromResult(string.Join(", ", view.Members.Where(m => m.Address.Equals(dc1Address))
                    .Select(m => $"{m.Status}{(view.Unreachable.Contains(m) ? " unreachable" : "")}")));
            },
            view => view.Length == 0, "br1's cluster view without dc1", MembershipDeadline);
        // On failure the last answer says where the chain stopped: dc1's entry still in br1's replica (the watcher, or a
        // write of dc1's that came back), or gone but still counted (the load balancer).
        await ControlPlaneNodes.Until(
            async () => new Dc1Slot(spread.Runtime.Load.RemoteSessions(dc1Slot), await EntriesOrWhyNot(replicator, system)),
            slot => slot.Counted == 0,
            "br1 forgetting dc1's published sessions");
        await ControlPlaneNodes.Until(
            async () => string.Join(", ", (await ControlPlaneNodes.Registry(br1a, "br1a")).Instances.Select(i => $"{i.Service}/{i.Instance}@{i.Node} {i.State}")),
            names => !names.Contains("@dc1a", StringComparison.Ordinal),
            "br1 forgetting dc1's instances");

        // A write dc1 made while it left (its load balancer writes its entry again when it sees it gone) can reach br1's
        // replica after br1 forgot dc1, from a replica that had not yet seen dc1 go: br1 removes it again rather than
        // counting dc1's 20 sessions at its slot for good.
        // br1's watcher has seen dc1 removed: br1's cluster view no longer holds it (above), and the watcher answered after.
        await ControlPlaneNodes.Registry(br1a, "br1a");
        var self = cluster.SelfUniqueAddress;
        replicator.Tell(Dsl.Update(
            ServiceDistribution.Loads, LWWDictionary<EntryName, SealedLoad>.Empty, WriteLocal.Instance, loads => loads.SetItem(self, dc1Load.Key, dc1Load.Value)));
        await ControlPlaneNodes.Until(
            async () => (await LoadEntries(replicator)).Count(entry => entry.Value.Load.Node == "dc1a"), n => n == 0, "br1 removing dc1's entry written again");
        await ControlPlaneNodes.Until(() => Task.FromResult(spread.Runtime.Load.RemoteSessions(dc1Slot)), n => n == 0, "br1 still counting none of dc1's sessions");
    }

    [Fact]
    public async Task ACommitThatChangesTheSpreadPolicy_Br1StillCountsDc1sSessions_AndItsBurstStillGoesToBr2()
    {
        using var fabric = LoadFeedbackTests.SpreadFabric("proportional", webCapacity: 0, appCapacity: 0);
        await using var nodes = new ControlPlaneNodes(tls: true);
        await Start(nodes, fabric);
        Spread(fabric, fabric.Ops1, firstPort: 42000);
        await ControlPlaneNodes.Until(() => Task.FromResult(CountedAtBr1("dc1")), n => n == 20, "br1's dataplane learning dc1's 20 sessions");

        // A commit that changes the spread policy (its idle timeout), applied by every router as the conductor's push would:
        // each router's spread service gets a new runtime (new admission and buckets) over the same slots.
        var replaced = LoadFeedbackTests.Snapshot(fabric.Br1).Runtime;
        var changed = fabric.Document(LoadFeedbackTests.SpreadDocument("proportional", 0, 0, policy: ", idle-timeout { udp = 120s }"));
        foreach (var router in new[] { fabric.Dc1, fabric.Br1, fabric.Br2 })
        {
            router.Apply(changed, version: 2);
        }

        Assert.NotSame(replaced, LoadFeedbackTests.Snapshot(fabric.Br1).Runtime);

        // dc1's dataplane still counts its 20 sessions on web1 (they began before the commit), which is what its load
        // balancer publishes, and br1 still counts them at dc1's slot.
        Assert.Equal(new long[] { 20 }, new EngineServiceDataplane(fabric.Dc1).Service("spread")!.LocalSessions);
        Assert.Equal(20, CountedAtBr1("dc1"));

        // What a user sees: proportional balancing still evens the totals, sending eng1's burst to br2.
        Spread(fabric, fabric.Eng1, firstPort: 41000);
        Assert.Equal(20, LoadFeedbackTests.Active(fabric.Br2));
        Assert.Equal(20, fabric.Eng1.Received.Count);

        long CountedAtBr1(string router)
        {
            var spread = LoadFeedbackTests.Snapshot(fabric.Br1);
            return spread.Runtime.Load.RemoteSessions(Array.IndexOf(spread.PeerRouters, router));
        }
    }

    /// <summary>20 sessions from <paramref name="client"/> to the spread service (source ports from <paramref name="firstPort"/>), pumped through the fabric.</summary>
    private static void Spread(SvrFabric fabric, TestHost client, ushort firstPort)
    {
        for (var i = 0; i < 20; i++)
        {
            client.SendUdp("10.200.0.90", (ushort)(firstPort + i), 9000, [(byte)i]);
        }

        fabric.Pump();
    }

    /// <summary>The conductor, then a router node for each of the fabric's routers (dc1's first), over cluster TLS.</summary>
    private async Task<(FabricNode Dc1a, FabricNode Br1a)> Start(ControlPlaneNodes nodes, SvrFabric fabric)
    {
        await nodes.StartConductor(new StorageSettings(StorageProvider.Sqlite, Path.Combine(_dir, "conductor.db"), null));
        var dc1a = await nodes.StartRouter(fabric.Dc1, "dc1a");
        var br1a = await nodes.StartRouter(fabric.Br1, "br1a");
        await nodes.StartRouter(fabric.Br2, "br2a");
        return (dc1a, br1a);
    }

    /// <summary>What br1 counts at dc1's slot, and what its replica holds, as a failed wait reports it.</summary>
    private sealed record Dc1Slot(long Counted, string[] Entries)
    {
        public override string ToString() => $"{Counted} counted; br1's replica holds [{string.Join(", ", Entries)}]";
    }

    /// <summary>
    /// The published loads br1's replica holds, each as "key by member #sequence"; or, when its replicator does not answer
    /// within 2 s, one line saying so with br1's view of the cluster (a diagnosis for a failed wait: this test once timed
    /// out on the replicator's answer in CI).
    /// </summary>
    private static async Task<string[]> EntriesOrWhyNot(IActorRef replicator, ActorSystem system)
    {
        try
        {
            var response = await replicator.Ask<IGetResponse>(Dsl.Get(ServiceDistribution.Loads, ReadLocal.Instance), TimeSpan.FromSeconds(2), TestContext.Current.CancellationToken);
            return response.IsSuccessful
                ? [.. response.Get(ServiceDistribution.Loads).ByName().Select(e => $"{e.Key} by {e.Value.Load.Member} #{e.Value.Sequence}")]
                : [$"br1's replica answered {response.GetType().Name}"];
        }
        catch (AskTimeoutException)
        {
            var cluster = Akka.Cluster.Cluster.Get(system);
            var view = cluster.State;
            return [$"br1's replicator did not answer within 2 s: br1's system terminated {system.WhenTerminated.IsCompleted} (coordinated shutdown: {Akka.Actor.CoordinatedShutdown.Get(system).ShutdownReason?.GetType().Name ?? "not run"}), br1 {cluster.SelfMember.Address.Port}:{cluster.SelfMember.Status}, members [{string.Join(", ", view.Members.Select(m => $"{m.Address.Port}:{m.Status}"))}], unreachable [{string.Join(", ", view.Unreachable.Select(m => m.Address.Port))}], leader {view.Leader?.Port}"];
        }
    }

    /// <summary>The published loads as the node of <paramref name="replicator"/> holds them.</summary>
    private static async Task<Dictionary<string, SealedLoad>> LoadEntries(IActorRef replicator)
    {
        var response = await replicator.Ask<IGetResponse>(Dsl.Get(ServiceDistribution.Loads, ReadLocal.Instance), ControlPlaneNodes.Deadline, TestContext.Current.CancellationToken);
        return response.IsSuccessful ? response.Get(ServiceDistribution.Loads).ByName() : [];
    }

    [Fact]
    public async Task EveryInstanceOfDc1Down_Br1SendsNothingThere_UntilOneIsUpAgain()
    {
        using var fabric = LoadFeedbackTests.SpreadFabric("proportional", webCapacity: 0, appCapacity: 0);
        await using var nodes = new ControlPlaneNodes(tls: true);
        await Start(nodes, fabric);
        var spread = LoadFeedbackTests.Snapshot(fabric.Br1);
        var dc1Slot = Array.IndexOf(spread.PeerRouters, "dc1");

        // dc1's dataplane finds web1, its only instance of spread, down (as its health check does).
        LoadFeedbackTests.Snapshot(fabric.Dc1).Runtime.Load.SetUp(0, false);
        await ControlPlaneNodes.Until(() => Task.FromResult(spread.Runtime.Load.Health(dc1Slot).IsUp), up => !up, "br1's dataplane learning that dc1 has no instance of spread up");

        // A burst from eng1 at br1: every session goes to br2, none to the router whose instances are all down.
        Spread(fabric, fabric.Eng1, firstPort: 41000);
        Assert.Equal(20, LoadFeedbackTests.Active(fabric.Br2));
        Assert.Equal(0, LoadFeedbackTests.Active(fabric.Dc1));

        LoadFeedbackTests.Snapshot(fabric.Dc1).Runtime.Load.SetUp(0, true);
        await ControlPlaneNodes.Until(() => Task.FromResult(spread.Runtime.Load.Health(dc1Slot).IsUp), up => up, "br1's dataplane learning that web1 at dc1 is up again");
    }
}
