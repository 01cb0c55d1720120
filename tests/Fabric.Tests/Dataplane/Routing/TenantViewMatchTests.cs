using Fabric.Dataplane.Pipeline;
using Fabric.Dataplane.Wire;

namespace Fabric.Tests.Dataplane.Routing;

/// <summary>
/// The matching rule, exact: a packet matches the most specific service among those its tenant may reach (the
/// tenant's view of the services, as a per-tenant FIB), not the most specific service at the address. Here db
/// (10.10.1.20/32, finance) sits inside records (10.10.1.0/24 on the same port, guest): finance gets db, guest gets
/// records, and engineering, which may reach neither, is denied by the most specific one, db.
/// </summary>
public sealed class TenantViewMatchTests : IDisposable
{
    private static readonly string Config = RouterFixture.Config.Replace(
        "services {",
        """
        services {
          records {
            addresses = ["10.10.1.0/24"]
            transports = [{ protocol = tcp, ports = ["5432"] }]
            access = [guest]
            instances = [{ container = web2 }]
          }
        """,
        StringComparison.Ordinal);

    private readonly RouterFixture _lab = new(Config);

    public void Dispose() => _lab.Dispose();

    [Fact]
    public void TheTenantAllowedTheMoreSpecificService_GetsIt()
    {
        Assert.Equal("records", _lab.Router.Snapshot.Services[_lab.Service("records")].Name);
        _lab.Fin1.SendTcp("10.10.1.20", 41000, 5432, TcpFlags.Syn, 1, 0, []);
        _lab.Pump();

        Assert.Single(_lab.Db1.Received);
        Assert.Empty(_lab.Web2.Received);
        Assert.Single(_lab.Fin1.Received);
    }

    [Fact]
    public void ATenantDeniedTheMoreSpecificService_GetsTheWiderOneItMayReach()
    {
        _lab.Guest1.SendTcp("10.10.1.20", 41000, 5432, TcpFlags.Syn, 1, 0, []);
        _lab.Pump();

        Assert.Empty(_lab.Db1.Received);
        Assert.Single(_lab.Web2.Received);
        Assert.Single(_lab.Guest1.Received);
        Assert.Equal(0, _lab.Router.Worker.Drops.Get(DropReason.AccessDenied, _lab.Tenant("guest"), _lab.Service("db")));
    }

    [Fact]
    public void ATenantThatMayReachNeither_IsDeniedByTheMostSpecificService()
    {
        _lab.Eng2.SendTcp("10.10.1.20", 41000, 5432, TcpFlags.Syn, 1, 0, []);
        _lab.Pump();

        Assert.Empty(_lab.Db1.Received);
        Assert.Empty(_lab.Web2.Received);
        Assert.Empty(_lab.Eng2.Received);
        Assert.Equal(1, _lab.Router.Worker.Drops.Get(DropReason.AccessDenied, _lab.Tenant("engineering"), _lab.Service("db")));
    }
}
