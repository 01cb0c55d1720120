using Fabric.Actors.Telemetry;
using Fabric.Dataplane.Telemetry;
using Fabric.Tests.Dataplane.Routing;

namespace Fabric.Tests.Dataplane.Telemetry;

/// <summary>Forwarded traffic per tenant and service, counted by the worker as real frames go through one in-memory router.</summary>
public sealed class TrafficCountersTests : IDisposable
{
    private readonly RouterFixture _lab = new();

    public void Dispose() => _lab.Dispose();

    [Fact]
    public void UdpExchanges_CountedExactlyPerTenantAndService_BothDirections()
    {
        // engineering: 5 sessions to web, 2 datagrams each of 100 bytes payload, each answered by the instance.
        for (ushort port = 30000; port < 30005; port++)
        {
            _lab.Eng1.SendUdp("10.200.0.80", port, 53, new byte[100]);
            _lab.Eng1.SendUdp("10.200.0.80", port, 53, new byte[100]);
        }

        // guest: 1 session to web, 3 datagrams of 10 bytes; and one to db, which guest may not reach.
        for (var i = 0; i < 3; i++)
        {
            _lab.Guest1.SendUdp("10.200.0.80", 31000, 53, new byte[10]);
        }

        _lab.Guest1.SendTcp("10.10.1.20", 31001, 5432, Fabric.Dataplane.Wire.TcpFlags.Syn, 1, 0, []);
        _lab.Pump();
        Assert.Equal(10, _lab.Eng1.Received.Count);
        Assert.Equal(3, _lab.Guest1.Received.Count);

        var traffic = _lab.Router.Worker.Traffic;
        int engineering = _lab.Tenant("engineering"), guest = _lab.Tenant("guest"), web = _lab.Service("web"), db = _lab.Service("db");
        var engWeb = traffic.Get(engineering, web);
        Assert.Equal(20, engWeb.Packets); // 10 there, 10 back
        Assert.Equal(20 * (20 + 8 + 100), engWeb.Bytes);
        Assert.Equal(5, engWeb.SessionsOpened);
        Assert.Equal(5, engWeb.ActiveSessions);
        var guestWeb = traffic.Get(guest, web);
        Assert.Equal((6, 6L * (20 + 8 + 10), 1, 1), (guestWeb.Packets, guestWeb.Bytes, guestWeb.SessionsOpened, guestWeb.ActiveSessions));
        Assert.Equal(0, traffic.Get(guest, db).Packets); // denied: a drop, not traffic
        Assert.Equal(1, _lab.Router.Worker.Drops.Get(Fabric.Dataplane.Pipeline.DropReason.AccessDenied, guest, db));

        // Named as the control plane ships them (per tenant and per service, summed over the other).
        var named = EngineTelemetrySource.Traffic(_lab.Router);
        Assert.Equal(new TrafficTotals(26, engWeb.Bytes + guestWeb.Bytes, 6, 6), named.Services["web"]);
        Assert.Equal(new TrafficTotals(20, engWeb.Bytes, 5, 5), named.Tenants["engineering"]);
        Assert.Equal(new TrafficTotals(0, 0, 0, 0), named.Services["db"]);
        var sample = new EngineTelemetrySource(_lab.Router).Sample();
        Assert.Equal(26, sample["service.web.packets"]);
        Assert.Equal(6, sample["tenant.guest.packets"]);
        Assert.Equal(5, sample["tenant.engineering.sessions.opened"]);

        // Sessions end by idle expiry: active drops to 0 under the tenant and service they opened with; totals stay.
        _lab.Time.Advance(TimeSpan.FromSeconds(181));
        _lab.Pump();
        Assert.Equal(6, _lab.Router.Worker.Counters.SessionsExpired);
        Assert.Equal((0L, 5L, 20L), (traffic.Get(engineering, web).ActiveSessions, traffic.Get(engineering, web).SessionsOpened, traffic.Get(engineering, web).Packets));
        Assert.Equal(0, traffic.Get(guest, web).ActiveSessions);
    }

    [Fact]
    public void PairsBeyondCapacityOrBounds_ShareTheOverflowCell_NeverThrowNorLoseCounts()
    {
        var counters = new TrafficCounters(pairs: 2);
        counters.Forwarded(-1, -1, 1, 10);
        counters.Forwarded(1, 1, 2, 20);
        counters.Forwarded(7, 9, 4, 40);
        counters.Forwarded(-5, 70_000, 8, 80);
        counters.Opened(1, 1);
        counters.Ended(1, 1);
        Assert.Equal((1L, 10L), (counters.Get(-1, -1).Packets, counters.Get(-1, -1).Bytes));
        Assert.Equal(2, counters.Get(1, 1).Packets);
        Assert.Equal((1L, 0L), (counters.Get(1, 1).SessionsOpened, counters.Get(1, 1).ActiveSessions));
        Assert.Equal(0, counters.Get(7, 9).Packets);
        Assert.Equal((12L, 120L), (counters.Overflowed.Packets, counters.Overflowed.Bytes));
        var (byTenant, byService) = counters.Totals(tenants: 2, services: 2);
        Assert.Equal(3, byTenant.Sum(t => t.Packets));
        Assert.Equal(2, byService[2].Packets);
    }

    [Fact]
    public void DropCounters_ManyPairs_CountedApartUpToCapacityAndInTotalsAlways()
    {
        var drops = new Fabric.Dataplane.Telemetry.DropCounters(pairs: 3);
        for (var tenant = 0; tenant < 5; tenant++)
        {
            drops.Count(new Fabric.Dataplane.Telemetry.DropRecord(Fabric.Dataplane.Pipeline.DropReason.AccessDenied, tenant, 1, 0, 0, 0, 0, 6, 0, 0));
        }

        Assert.Equal(5, drops.Total(Fabric.Dataplane.Pipeline.DropReason.AccessDenied));
        Assert.Equal(1, drops.Get(Fabric.Dataplane.Pipeline.DropReason.AccessDenied, 2, 1));
        Assert.Equal(0, drops.Get(Fabric.Dataplane.Pipeline.DropReason.AccessDenied, 4, 1));
        Assert.Equal(0, drops.Total(Fabric.Dataplane.Pipeline.DropReason.NoRoute));
    }
}
