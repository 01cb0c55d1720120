using System.Net;
using Fabric.Actors.Services;
using Fabric.Config;
using Fabric.Dataplane.Forwarding;
using Fabric.Model;
using Fabric.Tests.Support;

namespace Fabric.Tests.Cni;

/// <summary>
/// The clients other routers attached, read from the attached-client registry, join a router's document as attached
/// workloads of their routers: compiled, the router's placement lists each where it is (docs/mobility.md "A client moves
/// by the CNI plugin").
/// </summary>
public sealed class AttachedClientsTests
{
    private static readonly FabricConfig Lab = FabricConfigLoader.Load(Repository.Read("hocon/lab.conf")).Config!;

    private static RegisteredClient Registered(string name, string router, string node, string network, string address, string tenant = "engineering") =>
        new(name, router, node, $"akka.tcp://fabric@{node}:4053#1", network, address, tenant);

    [Fact]
    public void Of_AClientBr1Attached_IsBr1sWorkload_AndCompiledBr2PlacesItAtBr1()
    {
        // Both nodes of an HA pair register their router's clients: one workload.
        var registry = new[] { Registered("pod7", "br1", "br1a", "hosts", "10.20.1.7"), Registered("pod7", "br1", "br1b", "hosts", "10.20.1.7") };

        var workloads = AttachedClients.Of(Lab, "br2", registry, attachedHere: []);

        Assert.Equal([new AttachedWorkload("pod7", "br1", "hosts", IPAddress.Parse("10.20.1.7"), "engineering", null)], workloads);
        var br2 = SnapshotCompiler.Compile(
            RemoteAttachments.Effective(Lab, "br2", [], [], registry), "br2", ["wan0", "lan"], 1, 1_000_000, new ServiceRuntimes(), 0);
        Assert.Equal("br1", br2.RouterOfContainer[ClientAddress.Of(IPAddress.Parse("10.20.1.7"))]);
    }

    [Fact]
    public void Of_TheRoutersOwn_TheDocumentsOrAttachedHereNamesAndAddresses_UnknownTenant_BridgedOrUnknownNetwork_GiveNothing()
    {
        // br2 reads; br1's network hosts is host-based, dc1's svc bridged.
        var attachedHere = new[] { new AttachedWorkload("pod9", "br2", "pods", IPAddress.Parse("10.20.1.9"), "engineering", null) };
        var registry = new[]
        {
            Registered("pod1", "br2", "br2a", "pods", "10.20.1.5"),
            Registered("eng1", "br1", "br1a", "hosts", "10.20.1.99"),
            Registered("pod2", "br1", "br1a", "hosts", "10.20.1.10"),
            Registered("pod9", "br1", "br1a", "hosts", "10.20.1.98"),
            Registered("pod8", "br1", "br1a", "hosts", "10.20.1.9"),
            Registered("pod4", "br1", "br1a", "hosts", "10.20.1.44", tenant: "nosuch"),
            Registered("pod3", "br1", "br1a", "hosts", "not an address"),
            Registered("pod6", "dc1", "dc1a", "svc", "10.10.1.66"),
            Registered("pod5", "br1", "br1a", "nosuch", "10.20.1.65"),
        };

        Assert.Empty(AttachedClients.Of(Lab, "br2", registry, attachedHere));
        Assert.Single(AttachedClients.Of(Lab, "br2", [.. registry, Registered("pod7", "br1", "br1a", "hosts", "10.20.1.7")], attachedHere));
    }

    [Fact]
    public void Desired_TheNodesClientsOnly_ReconcileSetsNewAndRemovesDetached()
    {
        AttachedWorkload[] here =
        [
            new("pod1", "br1", "hosts", IPAddress.Parse("10.20.1.5"), "engineering", null),
            new("web3", "br1", "hosts", IPAddress.Parse("10.20.1.3"), null, "web"),
        ];

        var desired = AttachedClients.Desired(here, "br1", "br1a", "m#1");

        var client = Assert.Single(desired);
        Assert.Equal("client/pod1@br1a", client.Key);
        Assert.Equal(new RegisteredClient("pod1", "br1", "br1a", "m#1", "hosts", "10.20.1.5", "engineering"), client.Value);
        var sealedDesired = desired.ToDictionary(d => d.Key, d => new SealedClient(d.Value, null), StringComparer.Ordinal);
        var gone = new SealedClient(new RegisteredClient("pod2", "br1", "br1a", "m#1", "hosts", "10.20.1.6", "engineering"), null);
        var others = new SealedClient(new RegisteredClient("pod3", "br2", "br2a", "m#2", "pods", "10.20.1.7", "engineering"), null);
        var registry = new Dictionary<string, SealedClient>(StringComparer.Ordinal) { [gone.OwnKey] = gone, [others.OwnKey] = others };

        var (set, remove) = AttachedClients.Reconcile(registry, "br1a", sealedDesired);

        Assert.Equal(["client/pod1@br1a"], set.Select(s => s.Key));
        Assert.Equal(["client/pod2@br1a"], remove);
        var (none, nothing) = AttachedClients.Reconcile(sealedDesired, "br1a", sealedDesired);
        Assert.Empty(none);
        Assert.Empty(nothing);
    }
}
