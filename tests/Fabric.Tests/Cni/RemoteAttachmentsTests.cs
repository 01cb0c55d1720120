using System.Net;
using Fabric.Actors.Services;
using Fabric.Config;
using Fabric.Dataplane.Forwarding;
using Fabric.Model;
using Fabric.Tests.Support;

namespace Fabric.Tests.Cni;

/// <summary>
/// The instances other routers attached, read from the live registry, join a router's document as attached workloads
/// of their routers: merged, they make those routers hosts of the service.
/// </summary>
public sealed class RemoteAttachmentsTests
{
    private static readonly FabricConfig Lab = FabricConfigLoader.Load(Repository.Read("hocon/lab.conf")).Config!;

    private static RegisteredInstance Registered(string service, string instance, string router, string node, string address, string? container = "") =>
        new(service, instance, router, node, $"akka.tcp://fabric@{node}:4053#1", container == "" ? instance : container, address, IsUp: true);

    [Fact]
    public void Of_AnInstanceBr1Attached_IsBr1sWorkload_AndMergedMakesBr1AHostOfWebAtBr2()
    {
        var registry = new[]
        {
            Registered("web", "web3", "br1", "br1a", "10.20.1.3"),
            Registered("web", "web3", "br1", "br1b", "10.20.1.3"),
            Registered("web", "web1", "dc1", "dc1a", "10.10.1.11"),
        };

        var workloads = RemoteAttachments.Of(Lab, "br2", registry);

        Assert.Equal([new AttachedWorkload("web3", "br1", "hosts", IPAddress.Parse("10.20.1.3"), null, "web")], workloads);
        var merged = AttachedWorkloads.Merge(Lab, workloads);
        var br2 = SnapshotCompiler.Compile(merged, "br2", ["wan0", "lan"], 1, 1_000_000, new ServiceRuntimes(), 0);
        Assert.Equal(["br1", "dc1"], br2.Services[br2.ServiceIndex("web")].PeerRouters.Order(StringComparer.Ordinal));
        var unmerged = SnapshotCompiler.Compile(Lab, "br2", ["wan0", "lan"], 1, 1_000_000, new ServiceRuntimes(), 0);
        Assert.Equal(["dc1"], unmerged.Services[unmerged.ServiceIndex("web")].PeerRouters);
    }

    [Fact]
    public void Of_TheRoutersOwnOrTheDocumentsOrUnplaceableInstances_GivesNothing()
    {
        var registry = new[]
        {
            Registered("web", "web1", "dc1", "dc1a", "10.10.1.11"),
            Registered("web", "dc1/10.10.1.99", "dc1", "dc1a", "10.10.1.99", container: null),
            Registered("nosuch", "x1", "br1", "br1a", "10.20.1.5"),
            Registered("web", "x2", "br1", "br1a", "10.99.9.9"),
            Registered("web", "eng1", "br1", "br1a", "10.20.1.10"),
        };

        Assert.Empty(RemoteAttachments.Of(Lab, "br2", registry));
        Assert.Empty(RemoteAttachments.Of(Lab, "br1", [Registered("web", "web3", "br1", "br1a", "10.20.1.3")]));
    }

    [Fact]
    public void Of_TheSameRegistryInAnotherOrder_GivesTheSameWorkloads()
    {
        var a = Registered("web", "web3", "br1", "br1a", "10.20.1.3");
        var b = Registered("web", "web4", "br1", "br1a", "10.20.1.4, fd00::4 port 8080");

        Assert.Equal(RemoteAttachments.Of(Lab, "dc1", [a, b]), RemoteAttachments.Of(Lab, "dc1", [b, a]));
        Assert.Equal(["web3", "web4"], RemoteAttachments.Of(Lab, "dc1", [b, a]).Select(w => w.Name));
    }
}
