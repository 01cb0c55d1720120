using Fabric.Dataplane.Pipeline;
using Fabric.Tests.Dataplane.Routing;

namespace Fabric.Tests.Dataplane.Forwarding;

/// <summary>
/// Service runtimes across configuration changes on one in-memory router: a runtime a change replaced goes once no
/// session holds it, so a router that takes a thousand changes keeps the runtimes of its services, not a thousand sets.
/// </summary>
public sealed class ServiceRuntimesTests : IDisposable
{
    private readonly RouterFixture _lab = new();

    public void Dispose() => _lab.Dispose();

    /// <summary>The fixture's document with one more tenant, <paramref name="tenant"/>: every service's runtime changes shape.</summary>
    private static Fabric.Model.FabricConfig WithTenant(string tenant) => RouterFixture.Load(RouterFixture.Config.Replace(
        "tenants { engineering {}, guest {}, finance {} }", $"tenants {{ engineering {{}}, guest {{}}, finance {{}}, {tenant} {{}} }}", StringComparison.Ordinal));

    /// <summary>A second of the router's clock passes and it runs: retired runtimes no session holds are removed.</summary>
    private void Second()
    {
        _lab.Time.Advance(TimeSpan.FromSeconds(1));
        _lab.Pump();
    }

    [Fact]
    public void PolicesNothing_TrueOnlyWhenEveryLimitIsUnlimited()
    {
        var limit = new Fabric.Model.RateLimit(1_000_000, 10_000);
        var unlimited = Fabric.Model.ServicePolicy.Default;
        Assert.True(Runtime(unlimited, "open").PolicesNothing);
        Assert.False(Runtime(unlimited with { SessionRateLimit = limit }, "session").PolicesNothing);
        Assert.False(Runtime(unlimited with { ServiceRateLimit = limit }, "service").PolicesNothing);
        Assert.False(Runtime(unlimited with { TenantRateLimit = limit }, "tenant").PolicesNothing);

        static Fabric.Dataplane.Forwarding.ServiceRuntime Runtime(Fabric.Model.ServicePolicy policy, string service) =>
            new Fabric.Dataplane.Forwarding.ServiceRuntimes().For(service, policy, ["i1"], ["engineering", "guest"], ticksPerSecond: 1_000_000, now: 0);
    }

    [Fact]
    public void Apply_AThousandChangesWithoutSessions_KeepsOneRuntimePerService()
    {
        var services = _lab.Router.Snapshot.Services.Length;
        for (var version = 2; version <= 1001; version++)
        {
            _lab.Router.Apply(WithTenant($"t{version}"), version);
            Second();
        }

        var runtimes = _lab.Router.Snapshot.Runtimes;
        Assert.Equal(services, runtimes.Count);
        Assert.Equal(0, runtimes.Retired);
        Assert.All(_lab.Router.Snapshot.Services, s => Assert.InRange(s.Runtime.Id, 0, (2 * services) - 1));
    }

    [Fact]
    public void AChangeThatKeepsTheSlots_KeepsTheirSessionCounts_TheSessionsOfBeforeGiveThemBack()
    {
        _lab.Eng1.SendUdp("10.200.0.80", 30000, 53, new byte[10]);
        _lab.Pump();
        var web = _lab.Router.Snapshot.Services[_lab.Service("web")].Runtime;
        Assert.Equal(1, SessionsOn(web));
        web.Load.ReportRemoteLoad(0, 7);

        // A new tenant gives web a new runtime (its admission and buckets stand for the policy) over the same instances:
        // the balancer's counts go on, the session placed before included, and so do the sessions others hold.
        _lab.Router.Apply(WithTenant("hr"), version: 2);
        var newWeb = _lab.Router.Snapshot.Services[_lab.Service("web")].Runtime;
        Assert.NotSame(web, newWeb);
        Assert.Equal((0, 1, 7L), (newWeb.Admission.Holding, SessionsOn(newWeb), newWeb.Load.RemoteSessions(0)));

        // The session ends by idle expiry and gives its instance back to the counts the new runtime balances on.
        _lab.Time.Advance(TimeSpan.FromSeconds(181));
        _lab.Pump();
        Assert.Equal(1, _lab.Router.Worker.Counters.SessionsExpired);
        Assert.Equal(0, SessionsOn(newWeb));

        static long SessionsOn(Fabric.Dataplane.Forwarding.ServiceRuntime runtime) =>
            Enumerable.Range(0, runtime.Load.Count).Sum(runtime.Load.LocalSessions);
    }

    [Fact]
    public void MaxSessions_AfterACommitThatRemadeTheService_CountsTheSessionsOpenedBefore()
    {
        var capped = RouterFixture.Config.Replace(
            "web { load-balancing = proportional }", "web { load-balancing = proportional, max-sessions = 2 }", StringComparison.Ordinal);
        using var lab = new RouterFixture(capped);
        var web = lab.Service("web");
        lab.Eng1.SendUdp("10.200.0.80", 30001, 53, new byte[10]);
        lab.Eng1.SendUdp("10.200.0.80", 30002, 53, new byte[10]);
        lab.Pump();
        Assert.Equal(2, lab.Web1.Received.Count + lab.Web2.Received.Count);

        // A commit that adds a tenant makes web a new runtime; the two sessions live on, held by the old one.
        lab.Router.Apply(RouterFixture.Load(capped.Replace("guest {}", "guest {}, hr {}", StringComparison.Ordinal)), version: 2);
        lab.Eng1.SendUdp("10.200.0.80", 30003, 53, new byte[10]);
        lab.Pump();

        // The cap still holds: the third session is refused, counted under max-sessions.
        Assert.Equal(2, lab.Web1.Received.Count + lab.Web2.Received.Count);
        Assert.Equal(1, lab.Router.Worker.Drops.Get(DropReason.SessionLimit, lab.Tenant("engineering"), web));
        Assert.Equal(2, lab.Router.Snapshot.Services[web].Runtime.Admission.Active);

        // Once the sessions of before idle out, their places are the new policy's again.
        lab.Time.Advance(TimeSpan.FromSeconds(181));
        lab.Pump();
        lab.Eng1.SendUdp("10.200.0.80", 30004, 53, new byte[10]);
        lab.Pump();
        Assert.Equal(3, lab.Web1.Received.Count + lab.Web2.Received.Count);
        Assert.Equal(1, lab.Router.Snapshot.Services[web].Runtime.Admission.Active);
    }

    [Fact]
    public void AChangeThatKeepsTheSlotsAndTheCheck_KeepsInstanceHealthAndItsChecks_AChangedCheckStartsAfresh()
    {
        var runtimes = new Fabric.Dataplane.Forwarding.ServiceRuntimes();
        var checkedPolicy = Fabric.Model.ServicePolicy.Default with { HealthCheck = Fabric.Model.HealthCheck.Default };
        var web = runtimes.For("web", checkedPolicy, ["web1", "web2"], ["engineering"], ticksPerSecond: 1_000_000, now: 0, checkInstances: true);
        var spread = runtimes.For("spread", Fabric.Model.ServicePolicy.Default, ["router:dc1", "router:br2"], ["engineering"], ticksPerSecond: 1_000_000, now: 0);
        web.Load.SetUp(0, false);
        spread.Load.SetUp(0, false);

        // One more tenant: new runtimes over the same slots. web's check goes on, so web1 stays down until it answers
        // again; dc1's slot was handed down by the control plane (which hands it every poll) and stays as handed.
        var web2 = runtimes.For("web", checkedPolicy, ["web1", "web2"], ["engineering", "hr"], ticksPerSecond: 1_000_000, now: 1, checkInstances: true);
        var spread2 = runtimes.For("spread", Fabric.Model.ServicePolicy.Default, ["router:dc1", "router:br2"], ["engineering", "hr"], ticksPerSecond: 1_000_000, now: 1);
        Assert.NotSame(web, web2);
        Assert.Same(web.Load, web2.Load);
        Assert.Same(web.HealthChecks, web2.HealthChecks);
        Assert.False(web2.Load.Health(0).IsUp);
        Assert.Same(spread.Load, spread2.Load);
        Assert.False(spread2.Load.Health(0).IsUp);

        // A check of another interval: a new load and new checks, every slot up and counted from 0, as before. Workers
        // reading the old snapshot run the old checks for a moment; their verdicts go to the old load, not to one the new
        // checks would never hear of.
        var slower = checkedPolicy with { HealthCheck = Fabric.Model.HealthCheck.Default with { Interval = TimeSpan.FromSeconds(5) } };
        var web3 = runtimes.For("web", slower, ["web1", "web2"], ["engineering", "hr"], ticksPerSecond: 1_000_000, now: 2, checkInstances: true);
        Assert.NotSame(web.Load, web3.Load);
        Assert.NotSame(web.HealthChecks, web3.HealthChecks);
        Assert.True(web3.Load.Health(0).IsUp);

        // Other slots: the counts start afresh.
        var moved = runtimes.For("web", slower, ["web2", "web3"], ["engineering", "hr"], ticksPerSecond: 1_000_000, now: 3, checkInstances: true);
        Assert.NotSame(web3.Load, moved.Load);
    }

    [Fact]
    public void RetiredRuntime_NamedByTheSnapshotAWorkerRuns_KeptUntilNoWorkerRunsIt()
    {
        var before = _lab.Router.Snapshot;
        var web = before.Services[_lab.Service("web")].Runtime;
        _lab.Router.Apply(WithTenant("hr"), version: 2);
        var inForce = _lab.Router.Snapshot;
        var runtimes = inForce.Runtimes;
        Assert.NotSame(web, inForce.Services[_lab.Service("web")].Runtime);

        // A second worker is still in a batch of the snapshot before the swap: it may admit a session on web's old
        // runtime, so the runtime stays although no session holds it and the snapshot in force does not name it.
        Assert.Equal(0, runtimes.Prune(() => inForce, [inForce, before]));
        Assert.Same(web, runtimes[web.Id]);

        // Both workers run the new snapshot: the old runtimes go.
        Assert.Equal(inForce.Services.Length, runtimes.Prune(() => inForce, [inForce, inForce]));
        Assert.Equal(0, runtimes.Retired);

        // A compile in progress retires web's runtime in force before its snapshot is swapped in: the snapshot in force,
        // read under the lock that retiring takes, still names it, so it stays whatever the workers ran before.
        var current = inForce.Services[_lab.Service("web")].Runtime;
        runtimes.For("web", Fabric.Model.ServicePolicy.Default with { MaxSessions = 7 }, ["web1", "web2"], ["engineering"], ticksPerSecond: 1_000_000, now: 0);
        Assert.Equal(0, runtimes.Prune(() => _lab.Router.Snapshot, [before, before]));
        Assert.Same(current, runtimes[current.Id]);
    }

    [Fact]
    public void RetiredRuntime_HeldByALiveSession_KeptAndReleasedByIt_RemovedOnceTheSessionEnds()
    {
        _lab.Eng1.SendUdp("10.200.0.80", 30000, 53, new byte[10]);
        _lab.Pump();
        var web = _lab.Router.Snapshot.Services[_lab.Service("web")].Runtime;
        Assert.Equal(1, web.Admission.Active);

        // web changes shape: its runtime is retired, but the session still holds it.
        _lab.Router.Apply(WithTenant("hr"), version: 2);
        Second();
        var newWeb = _lab.Router.Snapshot.Services[_lab.Service("web")].Runtime;
        Assert.NotSame(web, newWeb);
        Assert.Equal(1, _lab.Router.Snapshot.Runtimes.Retired);
        Assert.Same(web, _lab.Router.Snapshot.Runtimes[web.Id]);

        // The session goes on forwarding on its runtime.
        _lab.Eng1.SendUdp("10.200.0.80", 30000, 53, new byte[10]);
        _lab.Pump();
        Assert.Equal(2, _lab.Eng1.Received.Count);

        // It ends by idle expiry: it gives back to the runtime that admitted it, which then goes.
        _lab.Time.Advance(TimeSpan.FromSeconds(181));
        _lab.Pump();
        Second();
        Assert.Equal(1, _lab.Router.Worker.Counters.SessionsExpired);
        Assert.Equal((0, 0), (web.Admission.Active, newWeb.Admission.Active));
        Assert.Equal(0, _lab.Router.Snapshot.Runtimes.Retired);
        Assert.Equal(_lab.Router.Snapshot.Services.Length, _lab.Router.Snapshot.Runtimes.Count);

        // A service gone from the configuration: its runtime goes too.
        _lab.Router.Apply(RouterFixture.Load(RouterFixture.Config.Replace("    bulk {", "    bulkgone {", StringComparison.Ordinal)), version: 3);
        Second();
        Assert.Equal(_lab.Router.Snapshot.Services.Length, _lab.Router.Snapshot.Runtimes.Count);
    }
}
