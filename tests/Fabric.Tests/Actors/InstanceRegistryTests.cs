using Fabric.Actors.LoadBalancing;
using Fabric.Actors.Security;
using Fabric.Actors.Services;

namespace Fabric.Tests.Actors;

/// <summary>The registry's and the cluster load's pure functions, without an actor system.</summary>
public sealed class InstanceRegistryTests
{
    private static LocalService Local(string[] instances, string[] peers, long[] sessions) =>
        new("web", [.. instances.Select(i => new LocalServiceInstance(i, i, "10.0.0.1", IsUp: true))], peers, sessions);

    private static RegisteredInstance Entry(string instance, string node, bool up = true, string member = "m1") =>
        new("web", instance, "dc1", node, member, instance, "10.0.0.1", up);

    private static SealedInstance Sealed(RegisteredInstance instance, byte signature = 1) => new(instance, new NodeSeal([], [signature]));

    [Fact]
    public void PeerRoutersUp_DownOnlyWhenEveryRegisteredInstanceOfTheRouterIsDown()
    {
        var branch = Local([], ["dc1", "dc2", "dc3"], [0, 0, 0]);
        RegisteredInstance[] registered =
        [
            Entry("web1", "dc1a", up: false), Entry("web2", "dc1a", up: false), // dc1: every instance down
            Entry("web3", "dc2a", up: false) with { Router = "dc2" }, Entry("web4", "dc2a") with { Router = "dc2" }, // dc2: one up
            Entry("web5", "dc3a") with { Router = "dc3", Service = "db", IsUp = false }, // dc3: nothing of web registered
        ];

        Assert.Equal([false, true, true], InstanceRegistry.PeerRoutersUp(branch, registered));
        Assert.Equal([true, true, true], InstanceRegistry.PeerRoutersUp(branch, []));
    }

    [Fact]
    public void Reconcile_SetsNewChangedAndResealed_RemovesDetachedOldIncarnationsAndSquatters_NothingWhenEqual()
    {
        var desired = InstanceRegistry.Desired(Local(["web1", "web2", "web3"], [], [0, 0, 0]), "dc1", "dc1a", "m1").ToDictionary(d => d.Key, d => Sealed(d.Value));
        var registry = new Dictionary<string, SealedInstance>
        {
            [ServiceDistribution.InstanceKey("web", "web1", "dc1a")] = Sealed(Entry("web1", "dc1a")),
            [ServiceDistribution.InstanceKey("web", "web2", "dc1a")] = Sealed(Entry("web2", "dc1a", up: false)),
            [ServiceDistribution.InstanceKey("web", "web3", "dc1a")] = Sealed(Entry("web3", "dc1a"), signature: 2), // same content, another's seal
            [ServiceDistribution.InstanceKey("web", "web9", "dc1a")] = Sealed(Entry("web9", "dc1a", member: "m0")),
            [ServiceDistribution.InstanceKey("web", "web8", "dc1a")] = Sealed(Entry("web8", "br2a")), // filed under dc1a's key by another
            [ServiceDistribution.InstanceKey("web", "web5", "dc2a")] = Sealed(Entry("web5", "dc2a")),
            ["db/db1@dc1a"] = Sealed(Entry("db1", "dc1a") with { Service = "db" }),
        };

        var (set, remove) = InstanceRegistry.Reconcile(registry, "web", "dc1a", desired);
        Assert.Equal(["web/web2@dc1a", "web/web3@dc1a"], set.Select(s => s.Key)); // health changed, resealed; web1 as it was
        Assert.True(set[0].Value.Instance.IsUp);
        Assert.Equal(["web/web9@dc1a", "web/web8@dc1a"], remove); // not another node's, not another service's

        foreach (var (key, value) in set)
        {
            registry[key] = value;
        }

        registry.Remove("web/web9@dc1a");
        registry.Remove("web/web8@dc1a");
        Assert.Equal((0, 0), (InstanceRegistry.Reconcile(registry, "web", "dc1a", desired).Set.Count, InstanceRegistry.Reconcile(registry, "web", "dc1a", desired).Remove.Count));
    }

    [Fact]
    public void View_MarksUnreachableNodes_AndJoinsTheirPublishedSessions()
    {
        var instances = new Dictionary<string, RegisteredInstance>
        {
            ["web/web1@dc1a"] = Entry("web1", "dc1a"),
            ["web/web2@dc1a"] = Entry("web2", "dc1a", up: false),
            ["web/app2@br2a"] = Entry("app2", "br2a", member: "m2") with { Router = "br2" },
        };
        var loads = new Dictionary<string, ServiceLoad> { ["web@dc1a"] = new("web", "dc1", "dc1a", "m1", new Dictionary<string, long> { ["web1"] = 7 }) };

        var view = InstanceRegistry.View(instances, loads, new HashSet<string> { "m2" });
        Assert.Equal(
            [("app2", InstanceView.Unreachable, 0L), ("web1", InstanceView.Up, 7L), ("web2", InstanceView.Down, 0L)],
            view.Select(v => (v.Instance, v.State, v.Sessions)));
    }

    [Fact]
    public void SessionsOfOthers_PeerRouters_TheirTotalLessMine_NeverBelowZero_UnknownRouterZero()
    {
        var ingress = Local([], ["dc1", "br2", "br3"], [5, 30, 2]);
        ServiceLoad[] loads =
        [
            new("web", "dc1", "dc1a", "m1", new Dictionary<string, long> { ["web1"] = 12, ["web2"] = 8 }),
            new("web", "br2", "br2a", "m2", new Dictionary<string, long> { ["app2"] = 10 }), // older than my 30: stale
            new("db", "dc1", "dc1a", "m1", new Dictionary<string, long> { ["db1"] = 100 }), // another service
        ];

        Assert.Equal([15L, 0L, 0L], ClusterLoad.SessionsOfOthers(ingress, loads, "br1", "br1a"));
    }

    [Fact]
    public void SessionsOfOthers_LocalInstances_OnlyTheHaPartnersSessionsOnThem()
    {
        var local = Local(["web1", "web2"], [], [4, 4]);
        ServiceLoad[] loads =
        [
            new("web", "dc1", "dc1a", "m1", new Dictionary<string, long> { ["web1"] = 4, ["web2"] = 4 }), // my own
            new("web", "dc1", "dc1b", "m3", new Dictionary<string, long> { ["web1"] = 9 }), // my HA partner
            new("web", "br2", "br2a", "m2", new Dictionary<string, long> { ["web1"] = 50 }), // another router's own instance of the name
        ];

        Assert.Equal([9L, 0L], ClusterLoad.SessionsOfOthers(local, loads, "dc1", "dc1a"));
    }
}
