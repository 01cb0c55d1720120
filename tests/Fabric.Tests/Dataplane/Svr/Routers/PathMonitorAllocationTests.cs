using Fabric.Bench;
using Fabric.Dataplane.Io;
using Fabric.Dataplane.Io.InMemory;
using Fabric.Dataplane.Routing;
using Fabric.Dataplane.Wire;
using Fabric.Tests.Dataplane.Routing;
using Fabric.Tests.Support;

namespace Fabric.Tests.Dataplane.Svr.Routers;

/// <summary>The path monitoring timers run from the worker's round and allocate nothing.</summary>
[Collection(AllocationMeasurement.Name)]
public sealed class PathMonitorAllocationTests
{
    [Fact]
    public void WorkerRound_SendingProbesAndEchoBursts_AllocatesNothing()
    {
        var time = new ManualTime();
        var wan = new DiscardPort("wan0", new MacAddress(0x02_00_00_00_0A_01));
        IPacketPort[] ports = [wan, new DiscardPort("eng1", new MacAddress(0x02_00_00_00_0A_02)), new DiscardPort("guest1", new MacAddress(0x02_00_00_00_0A_03))];
        using var router = new ForwardingEngine("br1", ports, new RouterOptions(SessionCapacity: 64, Seed: 0x5eed), time);
        router.Apply(RouterFixture.Load(Repository.Read("hocon/lab.conf")), version: 1);
        router.Worker.Neighbors.AddPermanent(0, IpAddressConversions.ParseIpv4("172.16.0.1"), isIpv6: false, new MacAddress(0x02_00_00_00_0A_11));
        router.Worker.Neighbors.AddPermanent(0, IpAddressConversions.ParseIpv4("172.16.0.3"), isIpv6: false, new MacAddress(0x02_00_00_00_0A_12));
        for (var i = 0; i < 30; i++)
        {
            time.Advance(TimeSpan.FromSeconds(1));
            router.RunOnce();
        }

        var generated = router.Worker.Counters.Generated;
        var allocated = ThreadAllocations.During(() =>
        {
            for (var i = 0; i < 100; i++)
            {
                time.Advance(TimeSpan.FromSeconds(1));
                router.RunOnce();
            }
        });

        Assert.Equal(0, allocated);
        // Two paths: a probe each per second, and a burst of 10 echoes each per 10 s.
        Assert.Equal(2 * (100 + 100), router.Worker.Counters.Generated - generated);
    }
}
