using Fabric.Lab;
using Fabric.Model;
using Fabric.Tests.Dataplane.Routing;
using Fabric.Tests.Support;

namespace Fabric.Tests.Lab;

/// <summary>How <c>lab up --ha ROUTER</c> makes a router an HA pair, and how a commit to such a lab keeps it (no namespaces).</summary>
public sealed class LabPairTopologyTests
{
    private static FabricConfig LabConf() => RouterFixture.Load(Repository.Read("hocon/lab.conf"));

    [Fact]
    public void WithPartnerNode_Dc1_SecondNodeNamedAfterFirst_OnNextFreeManagementAddress()
    {
        var config = LabBuilder.WithPartnerNode(LabConf(), "dc1");

        var dc1 = config.Routers.Single(r => r.Name == "dc1");
        Assert.Equal(["dc1a", "dc1b"], dc1.Nodes.Select(n => n.Name));
        Assert.Equal("10.99.0.14", dc1.Nodes[1].ManagementAddress.ToString()); // .11-.13 are the routers' first nodes
        Assert.Equal(["br1a", "br2a", "dc1a", "dc1b"], LabBuilder.Nodes(config).Select(n => n.Node.Name));
        Assert.Empty(LabBuilder.Collisions(config));
        Assert.Empty(Fabric.Model.Validation.FabricValidator.Validate(config));
    }

    [Fact]
    public void WithPartnerNode_UnknownRouter_RefusedWithTheNames()
    {
        var error = Assert.Throws<LabException>(() => LabBuilder.WithPartnerNode(LabConf(), "dc9"));
        Assert.Equal("--ha dc9: no such router (routers: br1, br2, dc1)", error.Message);
    }

    [Fact]
    public void WithPartnerNode_AlreadyAPair_Refused()
    {
        var pair = LabBuilder.WithPartnerNode(LabConf(), "dc1");
        var error = Assert.Throws<LabException>(() => LabBuilder.WithPartnerNode(pair, "dc1"));
        Assert.Equal("--ha dc1: the router has 2 nodes already; an HA pair has two", error.Message);
    }

    [Fact]
    public void KeepPairs_DocumentWithOneNode_GetsTheLabsSecondNode()
    {
        var running = LabBuilder.WithPartnerNode(LabConf(), "dc1");

        var kept = LabBuilder.KeepPairs(LabConf(), running);

        Assert.Equal(running.Routers.Single(r => r.Name == "dc1").Nodes, kept.Routers.Single(r => r.Name == "dc1").Nodes);
        Assert.Single(kept.Routers.Single(r => r.Name == "br1").Nodes);
    }
}
