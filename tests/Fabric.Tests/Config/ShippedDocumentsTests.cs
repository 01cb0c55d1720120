using Fabric.Model;
using Fabric.Tests.Support;

namespace Fabric.Tests.Config;

/// <summary>The documents the repository ships are valid, and the reference states the defaults the code applies.</summary>
public class ShippedDocumentsTests
{
    [Fact]
    public void LabConf_IsValid_WithTheDefaultTopology()
    {
        var lab = Documents.LoadValid(Repository.Read("hocon/lab.conf"));
        Assert.Equal(["br1", "br2", "dc1"], lab.Routers.Select(r => r.Name));
        Assert.Equal(["bulk", "db", "web"], lab.Services.Select(s => s.Name));
        Assert.Equal(["finance"], lab.FindService("db")!.Access);
        Assert.Equal(["web"], lab.Services.Where(s => s.Access.Contains("guest")).Select(s => s.Name));
        Assert.Equal(NetworkModel.HostBased, lab.FindRouter("br1")!.Networks.Single().Model);
        Assert.Equal(NetworkModel.Bridged, lab.FindRouter("br2")!.Networks.Single().Model);
        Assert.Equal(2, lab.FindService("web")!.Instances.Count);
        Assert.Equal(HealthCheck.Default, lab.FindServicePolicy("web")!.HealthCheck);
    }

    [Fact]
    public void ReferenceConf_IsValid()
    {
        var reference = Documents.LoadValid(Repository.Read("hocon/fabric.reference.conf"));
        Assert.Equal("example", reference.Name);
        Assert.Equal("engineering", reference.FindTenant("dev.engineering")!.Parent);
    }

    [Fact]
    public void ReferenceConf_ServicePolicyExample_StatesTheCodeDefaults()
    {
        var reference = Documents.LoadValid(Repository.Read("hocon/fabric.reference.conf"));
        var documented = reference.FindServicePolicy("standard")!;
        // The example spells out its health-check block, which turns the check on with every default.
        Assert.Equal(ServicePolicy.Default with { Name = "standard", HealthCheck = HealthCheck.Default }, documented);
    }

    [Fact]
    public void ReferenceConf_OtherExamples_StateTheCodeDefaults()
    {
        var reference = Documents.LoadValid(Repository.Read("hocon/fabric.reference.conf"));
        Assert.Equal(SecurityPolicy.Default with { Name = "strong" }, reference.FindSecurityPolicy("strong"));
        var wan = reference.FindNeighborhood("wan")!;
        Assert.Equal((Neighborhood.DefaultWaypointPorts, Neighborhood.DefaultMaxWaypoints), (wan.WaypointPorts, wan.MaxWaypoints));
        Assert.Equal(ConductorSettings.Default with { Addresses = reference.Conductor.Addresses }, reference.Conductor);
        var wan0 = reference.FindRouter("dc1")!.Interfaces.Single();
        Assert.Equal(ForwardingInterface.DefaultMtu, wan0.Mtu);
        Assert.Equal(wan0.Name, wan0.Device);
    }

    [Fact]
    public void EmptyPolicy_TakesEveryDefault()
    {
        var config = Documents.LoadValid(Documents.With("standard { load-balancing = hunt }", "standard {}"));
        Assert.Equal(ServicePolicy.Default with { Name = "standard" }, config.FindServicePolicy("standard"));
    }
}
