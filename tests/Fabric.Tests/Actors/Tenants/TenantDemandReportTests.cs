using Akka.Actor;
using Fabric.Actors.Serialization;
using Fabric.Actors.Tenants;

namespace Fabric.Tests.Actors.Tenants;

public sealed class TenantDemandReportTests : IDisposable
{
    private readonly ActorSystem _system = ActorSystem.Create("tenant-demand-report-test");

    public void Dispose() => _system.Dispose();

    [Fact]
    public void TenantDemandReport_RoundTripsThroughTheAllowListSerializer()
    {
        var serializer = new FabricSerializer((ExtendedActorSystem)_system);
        var report = new TenantDemandReport("br1a", "br1", 42, new Dictionary<string, long> { ["sink/engineering"] = 2_000_000, ["web/guest"] = 0 });

        var manifest = serializer.Manifest(report);
        var back = Assert.IsType<TenantDemandReport>(serializer.FromBinary(serializer.ToBinary(report), manifest));

        Assert.Equal("fabric.tenants.demand-report.v1", manifest);
        Assert.Equal((report.Node, report.Router, report.Sequence), (back.Node, back.Router, back.Sequence));
        Assert.Equal(report.Demands.OrderBy(d => d.Key), back.Demands.OrderBy(d => d.Key));
    }
}
