using System.Net;
using Fabric.Config;
using Fabric.Dataplane.Forwarding;
using Fabric.Model;
using Fabric.Tests.Support;

namespace Fabric.Tests.Cni;

/// <summary>Attached workloads join the committed document as if it listed them; the dataplane sees no difference.</summary>
public sealed class AttachedWorkloadsTests
{
    private static readonly FabricConfig Lab = FabricConfigLoader.Load(Repository.Read("hocon/lab.conf")).Config!;

    [Fact]
    public void Merge_AClientAndAnInstance_CompileAsTheDocumentsHostBasedContainers()
    {
        var merged = AttachedWorkloads.Merge(Lab, [
            new AttachedWorkload("eng3", "br1", "hosts", IPAddress.Parse("10.20.1.2"), "engineering", null),
            new AttachedWorkload("web3", "br1", "hosts", IPAddress.Parse("10.20.1.3"), null, "web"),
        ]);

        Assert.Empty(Fabric.Model.Validation.FabricValidator.Validate(merged));
        var snapshot = SnapshotCompiler.Compile(merged, "br1", ["wan0", "eng1", "guest1", "eng3", "web3"], 1, 1_000_000, new ServiceRuntimes(), 0);
        Assert.Equal(PortRole.HostBasedContainer, snapshot.Ports[3].Role);
        Assert.Equal(["web3"], snapshot.Services[snapshot.ServiceIndex("web")].Instances.Select(i => i.Name));
        var dc1 = SnapshotCompiler.Compile(merged, "dc1", ["wan0", "svc"], 1, 1_000_000, new ServiceRuntimes(), 0);
        Assert.Equal(["web1", "web2"], dc1.Services[dc1.ServiceIndex("web")].Instances.Select(i => i.Name));
    }

    [Fact]
    public void Merge_AWorkloadTheDocumentCannotHold_IsLeftOut()
    {
        var merged = AttachedWorkloads.Merge(Lab, [
            new AttachedWorkload("eng1", "br1", "hosts", IPAddress.Parse("10.20.1.2"), "engineering", null),
            new AttachedWorkload("x", "dc1", "svc", IPAddress.Parse("10.10.1.50"), "engineering", null),
            new AttachedWorkload("y", "br1", "hosts", IPAddress.Parse("10.20.1.4"), "nobody", null),
        ]);

        Assert.Same(Lab, merged);
    }

    [Fact]
    public void FreeAddress_SkipsTheGatewayAndTheDocumentsContainers()
    {
        var hosts = Lab.FindRouter("br1")!.Networks.Single(n => n.Name == "hosts");

        Assert.Equal(IPAddress.Parse("10.20.1.2"), AttachedWorkloads.FreeAddress(Lab, hosts, []));
        Assert.Equal(IPAddress.Parse("10.20.1.3"), AttachedWorkloads.FreeAddress(Lab, hosts, [new AttachedWorkload("a", "br1", "hosts", IPAddress.Parse("10.20.1.2"), null, null)]));
    }
}
