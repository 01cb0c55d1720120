using Fabric.Dataplane.Pipeline;
using Fabric.Dataplane.Routing;
using Fabric.Dataplane.Sessions;
using Fabric.Dataplane.Wire;
using Fabric.Tests.Dataplane.Routing;

namespace Fabric.Tests.Dataplane.Pipeline;

/// <summary>
/// Session admission under a SYN flood, through one router with real frames: half-open sessions expire after the
/// half-open timeout, one tenant holds at most its share of the table, and the oldest half-open sessions make room for
/// new ones. eng2 (engineering) floods; fin1 (finance) is the other tenant on the same router; web answers every SYN.
/// </summary>
public sealed class SessionOpeningTests
{
    private const string Web = "10.200.0.80";

    [Fact]
    public void HalfOpenSession_HandshakeNeverCompletes_ExpiresAfterHalfOpenTimeout()
    {
        using var lab = new RouterFixture();
        lab.Eng2.SendTcp(Web, 20000, 80, TcpFlags.Syn, 1, 0, []);
        lab.Pump();
        Assert.Equal(1, lab.Router.Worker.Sessions.Count);

        lab.Time.Advance(TimeSpan.FromSeconds(25));
        lab.Router.RunOnce();

        Assert.Equal(0, lab.Router.Worker.Sessions.Count);
        Assert.Equal(1, lab.Router.Worker.Counters.SessionsExpired);
    }

    [Fact]
    public void CompletedHandshake_IdleLongerThanHalfOpenTimeout_KeptWithTcpTimeout()
    {
        using var lab = new RouterFixture();
        lab.Eng2.SendTcp(Web, 20000, 80, TcpFlags.Syn, 1, 0, []);
        lab.Pump();
        lab.Eng2.SendTcp(Web, 20000, 80, TcpFlags.Ack, 2, 1, []);
        lab.Pump();

        lab.Time.Advance(TimeSpan.FromSeconds(600));
        lab.Router.RunOnce();

        Assert.Equal(1, lab.Router.Worker.Sessions.Count);
    }

    [Fact]
    public void HalfOpenTimeout_FromServicePolicy_Applies()
    {
        var config = RouterFixture.Config.Replace("web { load-balancing = proportional }", "web { load-balancing = proportional, idle-timeout { half-open = 5s } }");
        using var lab = new RouterFixture(config);
        lab.Eng2.SendTcp(Web, 20000, 80, TcpFlags.Syn, 1, 0, []);
        lab.Pump();

        lab.Time.Advance(TimeSpan.FromSeconds(4));
        lab.Router.RunOnce();
        Assert.Equal(1, lab.Router.Worker.Sessions.Count);
        lab.Time.Advance(TimeSpan.FromSeconds(2));
        lab.Router.RunOnce();
        Assert.Equal(0, lab.Router.Worker.Sessions.Count);
    }

    [Fact]
    public void SynFlood_OneTenant_OtherTenantStillOpensSessions()
    {
        using var lab = new RouterFixture(options: new RouterOptions(SessionCapacity: 64, Seed: 0x5eed));
        for (ushort port = 20000; port < 20200; port++)
        {
            lab.Eng2.SendTcp(Web, port, 80, TcpFlags.Syn, 1, 0, []);
        }

        lab.Pump();
        lab.Fin1.SendTcp(Web, 30000, 80, TcpFlags.Syn, 1, 0, []);
        lab.Pump();

        Assert.Single(lab.Fin1.Received, ip => (ip[33] & (byte)(TcpFlags.Syn | TcpFlags.Ack)) == (byte)(TcpFlags.Syn | TcpFlags.Ack));
        Assert.Equal(32, lab.Router.Worker.Resources.TenantSessions(lab.Tenant("engineering")));
        Assert.Equal(0, lab.Router.Worker.Drops.Total(DropReason.SessionTableFull));
    }

    [Fact]
    public void TableFull_NewSession_EvictsOldestHalfOpenNeverAnAnsweredOne()
    {
        using var lab = new RouterFixture(options: new RouterOptions(SessionCapacity: 16, Seed: 0x5eed, MaxSessionsPerTenant: 16));
        lab.Eng2.SendTcp(Web, 20000, 80, TcpFlags.Syn, 1, 0, []);
        lab.Pump();
        lab.Eng2.SendTcp(Web, 20000, 80, TcpFlags.Ack, 2, 1, []);
        lab.Pump();
        for (ushort port = 20001; port < 20016; port++)
        {
            lab.Eng2.SendTcp(Web, port, 80, TcpFlags.Syn, 1, 0, []);
        }

        lab.Pump();
        Assert.Equal(16, lab.Router.Worker.Sessions.Count);

        lab.Fin1.SendTcp(Web, 30000, 80, TcpFlags.Syn, 1, 0, []);
        lab.Pump();

        var sessions = lab.Router.Worker.Sessions;
        Assert.Single(lab.Fin1.Received);
        Assert.Equal(1, lab.Router.Worker.Counters.SessionsEvicted);
        Assert.True(sessions.TryFind(Key(lab.Eng2, 20000), out _, out _), "the answered session was evicted");
        Assert.False(sessions.TryFind(Key(lab.Eng2, 20001), out _, out _), "the oldest half-open session was kept");
        Assert.True(sessions.TryFind(Key(lab.Eng2, 20002), out _, out _));
    }

    [Fact]
    public void DefaultOptions_TwoRouters_DrawDifferentSeeds_ExplicitSeedKept()
    {
        using var first = new ForwardingEngine("a", []);
        using var second = new ForwardingEngine("b", []);
        using var seeded = new ForwardingEngine("c", [], new RouterOptions(Seed: 42));

        Assert.NotEqual(first.Seed, second.Seed);
        Assert.Equal(42UL, seeded.Seed);
    }

    private static SessionKey Key(TestHost client, ushort port) =>
        SessionKey.V4(client.Address, IpAddressConversions.ParseIpv4(Web), port, 80, IpProtocol.Tcp);
}
