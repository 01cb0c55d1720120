using Fabric.Dataplane.Sessions;
using Fabric.Dataplane.Pipeline;
using Fabric.Dataplane.Routing;
using Fabric.Dataplane.Wire;
using Fabric.Tests.Dataplane.Routing;
using Fabric.Tests.Dataplane.Svr.Routers;

namespace Fabric.Tests.Dataplane.Pipeline;

/// <summary>Live sessions when a new configuration is swapped in: rebound to its indexes, ended when it no longer allows them.</summary>
public sealed class SessionRebindingTests : IDisposable
{
    private readonly RouterFixture _lab = new();

    public void Dispose() => _lab.Dispose();

    private static string Without(string service)
    {
        var config = RouterFixture.Config;
        var start = config.IndexOf(service + " {", StringComparison.Ordinal);
        var end = config.IndexOf("}\n", config.IndexOf("instances = [", start, StringComparison.Ordinal), StringComparison.Ordinal) + 2;
        return config[..start] + config[end..];
    }

    private void Open(TestHost client, string address, ushort port, ushort servicePort)
    {
        client.SendTcp(address, port, servicePort, TcpFlags.Syn, 1, 0, []);
        _lab.Pump();
        client.SendTcp(address, port, servicePort, TcpFlags.Ack, 2, 2, []);
        _lab.Pump();
    }

    [Fact]
    public void ASwapThatRenumbersServices_LeavesEachSessionWithItsOwnService()
    {
        Open(_lab.Fin1, "10.10.1.20", 41000, 5432);
        var dbBefore = _lab.Service("db");

        // Services are indexed by name: without bulk, db takes bulk's index and web takes db's.
        _lab.Router.Apply(RouterFixture.Load(Without("bulk")), 2);
        Assert.NotEqual(dbBefore, _lab.Service("db"));
        var finance = _lab.Tenant("finance");
        var traffic = _lab.Router.Worker.Traffic;
        var webBefore = traffic.Get(finance, _lab.Service("web")).Packets;
        var dbPackets = traffic.Get(finance, _lab.Service("db")).Packets;
        _lab.Fin1.SendTcp("10.10.1.20", 41000, 5432, TcpFlags.Ack | TcpFlags.Psh, 2, 2, new byte[100]);
        _lab.Pump();

        // The segment and db1's answer are db's, not web's (which took db's old index).
        Assert.Equal(webBefore, traffic.Get(finance, _lab.Service("web")).Packets);
        Assert.Equal(dbPackets + 2, traffic.Get(finance, _lab.Service("db")).Packets);
        Assert.Equal(1, traffic.Get(finance, _lab.Service("db")).ActiveSessions);
        Assert.Equal(0, _lab.Router.Worker.Counters.SessionsRevoked);
    }

    /// <summary>fin1's db session through the handshake and two exchanges (7 packets): established enough to replicate.</summary>
    private static void OpenDb(RouterFixture lab)
    {
        lab.Fin1.SendTcp("10.10.1.20", 41000, 5432, TcpFlags.Syn, 1, 0, []);
        lab.Pump();
        lab.Fin1.SendTcp("10.10.1.20", 41000, 5432, TcpFlags.Ack, 2, 2, []);
        lab.Fin1.SendTcp("10.10.1.20", 41000, 5432, TcpFlags.Ack | TcpFlags.Psh, 2, 2, "one"u8.ToArray());
        lab.Pump();
        lab.Fin1.SendTcp("10.10.1.20", 41000, 5432, TcpFlags.Ack | TcpFlags.Psh, 5, 5, "two"u8.ToArray());
        lab.Pump();
    }

    /// <summary>Runs <paramref name="request"/>'s round (the router's next one) and returns what it answered.</summary>
    private static async Task<T> InNextRound<T>(ForwardingEngine router, Task<T> request)
    {
        router.RunOnce();
        return await request;
    }

    [Fact]
    public async Task AnHaExportAskedBeforeTheRoundThatBindsARenumberingSwap_NamesTheSessionsServiceAsTheSwapNumbersIt()
    {
        OpenDb(_lab);
        var dbBefore = _lab.Service("db");

        // The swap renumbers db (above); the export runs in the first round under it, before any packet.
        _lab.Router.Apply(RouterFixture.Load(Without("bulk")), 2);
        var export = await InNextRound(_lab.Router, _lab.Router.ExportSessionsAsync(everything: true));

        Assert.Equal(2, export.Version);
        var record = Assert.Single(export.Sessions);
        Assert.NotEqual(dbBefore, _lab.Service("db"));
        Assert.Equal((_lab.Tenant("finance"), _lab.Service("db")), ((int)record.State.Tenant, (int)record.State.Service));
    }

    [Fact]
    public void ARestartRightAfterARenumberingSwap_HandsTheSessionsOverUnderTheSwapsIndexes()
    {
        OpenDb(_lab);
        var dbBefore = _lab.Service("db");
        _lab.Router.Apply(RouterFixture.Load(Without("bulk")), 2);

        // The process stops before its worker ran a round under the swap: the next process reads the records by its indexes.
        var handOver = _lab.Router.StopForHandOver();

        Assert.Equal(2, handOver.Version);
        var record = Assert.Single(Assert.Single(handOver.Shards));
        Assert.NotEqual(dbBefore, _lab.Service("db"));
        Assert.Equal((_lab.Tenant("finance"), _lab.Service("db")), ((int)record.State.Tenant, (int)record.State.Service));
    }

    [Fact]
    public async Task SessionsAnHaPartnerImportsInTheRoundThatBindsARenumberingSwap_KeepTheirService()
    {
        var renumbered = RouterFixture.Load(Without("bulk"));
        OpenDb(_lab);
        _lab.Router.Apply(renumbered, 2);
        var export = await InNextRound(_lab.Router, _lab.Router.ExportSessionsAsync(everything: true));

        // The partner ran the first version, then gets the swap and the records of the same version in one round.
        using var partner = new RouterFixture();
        partner.Router.RunOnce();
        partner.Router.Apply(renumbered, 2);
        var imported = await InNextRound(partner.Router, partner.Router.ImportSessionsAsync(export.Version, export.Sessions));

        Assert.Equal(new SessionImportResult(1, 0, 0), imported);
        partner.Router.RunOnce();
        var session = SvrFabric.OnlySession(partner.Router);
        Assert.Equal((partner.Tenant("finance"), partner.Service("db")), ((int)session.Tenant, (int)session.Service));
        Assert.Equal(1, partner.Router.Snapshot.Services[partner.Service("db")].Runtime.Admission.Active);
        Assert.Equal(0, partner.Router.Worker.Counters.SessionsRevoked);
    }

    [Fact]
    public void AccessRemoved_ItsLiveSessionsEnd_CountedRevoked_OtherTenantsSessionsGoOn()
    {
        Open(_lab.Fin1, "10.200.0.80", 42000, 80);
        Open(_lab.Eng2, "10.200.0.80", 42001, 80);
        var atInstances = _lab.Web1.Received.Count + _lab.Web2.Received.Count;

        _lab.Router.Apply(RouterFixture.Load(RouterFixture.Config.Replace("access = [engineering, guest, finance]", "access = [engineering, guest]", StringComparison.Ordinal)), 2);
        _lab.Fin1.SendTcp("10.200.0.80", 42000, 80, TcpFlags.Ack | TcpFlags.Psh, 2, 2, "after"u8.ToArray());
        _lab.Eng2.SendTcp("10.200.0.80", 42001, 80, TcpFlags.Ack | TcpFlags.Psh, 2, 2, "after"u8.ToArray());
        _lab.Pump();

        Assert.Equal(1, _lab.Router.Worker.Counters.SessionsRevoked);
        Assert.Equal(1, _lab.Router.Worker.Drops.Get(DropReason.Revoked, _lab.Tenant("finance"), _lab.Service("web")));
        // finance's instance got the revocation's reset, finance's next segment found no session and was refused as a
        // new flow; engineering's went through.
        Assert.Equal(atInstances + 2, _lab.Web1.Received.Count + _lab.Web2.Received.Count);
        Assert.Equal(1, _lab.Router.Worker.Drops.Get(DropReason.AccessDenied, _lab.Tenant("finance"), _lab.Service("web")));
    }

    [Fact]
    public void ServiceRemoved_ItsSessionsEnd_AndReleaseTheirInstance()
    {
        Open(_lab.Fin1, "10.10.1.20", 43000, 5432);
        var runtime = _lab.Router.Snapshot.Services[_lab.Service("db")].Runtime;
        Assert.Equal(1, runtime.Admission.Active);

        _lab.Router.Apply(RouterFixture.Load(Without("db")), 2);
        _lab.Pump();

        Assert.Equal(1, _lab.Router.Worker.Counters.SessionsRevoked);
        Assert.Equal(0, runtime.Admission.Active);
        Assert.Equal(1, _lab.Router.Worker.Drops.Total(DropReason.Revoked));
    }
}
