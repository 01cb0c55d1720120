using Fabric.Dataplane.Forwarding;
using Fabric.Dataplane.Pipeline;
using Fabric.Dataplane.Routing;

namespace Fabric.Tests.Dataplane.Svr.Routers;

/// <summary>
/// Load feedback between routers: a service ("spread", UDP 9000 on 10.200.0.90, for engineering) lives at two
/// routers, on web1 behind dc1 and on app2 behind br2; br1 (client eng1) reaches it at either. The egress names the
/// service's active sessions in reverse metadata; br1 spreads new sessions by it under <c>proportional</c> and fills
/// the cheaper router under <c>hunt</c>. ops1 is a client on dc1's own LAN that loads dc1 without br1 knowing.
/// </summary>
public sealed class LoadFeedbackTests
{
    private const string Spread = "10.200.0.90";
    private const ushort Port = 9000;

    [Fact]
    public void Proportional_BurstOfSessions_SpreadsWithinTenPercentOfEvenAcrossTheTwoRouters()
    {
        using var fabric = SpreadFabric("proportional", webCapacity: 0, appCapacity: 0);
        const int burst = 100;
        for (var i = 0; i < burst; i++)
        {
            fabric.Eng1.SendUdp(Spread, (ushort)(41000 + i), Port, [(byte)i]);
        }

        fabric.Pump();

        var atDc1 = Active(fabric.Dc1);
        var atBr2 = Active(fabric.Br2);
        Assert.Equal(burst, atDc1 + atBr2);
        Assert.InRange(atDc1, burst / 2 * 0.9, burst / 2 * 1.1);
        Assert.InRange(atBr2, burst / 2 * 0.9, burst / 2 * 1.1);
        Assert.Equal(burst, fabric.Eng1.Received.Count);
        AssertNothingDropped(fabric);
    }

    [Fact]
    public void Proportional_OneEgressAlreadyLoaded_NewSessionsEvenTheTotalsByFeedback()
    {
        using var fabric = SpreadFabric("proportional", webCapacity: 0, appCapacity: 0);
        for (var i = 0; i < 20; i++)
        {
            fabric.Ops1.SendUdp(Spread, (ushort)(42000 + i), Port, [(byte)i]);
        }

        fabric.Pump();
        Assert.Equal(20, Active(fabric.Dc1));

        for (var i = 0; i < 40; i++)
        {
            fabric.Eng1.SendUdp(Spread, (ushort)(41000 + i), Port, [(byte)i]);
            fabric.Pump();
        }

        // 60 sessions in all: br1 sent most of its 40 to br2, because dc1 reported its 20. Without feedback it
        // would have split its own evenly, leaving dc1 with 40 and br2 with 20.
        Assert.InRange(Active(fabric.Dc1), 27, 33);
        Assert.InRange(Active(fabric.Br2), 27, 33);
        Assert.Equal(40, fabric.Eng1.Received.Count);
        AssertNothingDropped(fabric);
    }

    [Fact]
    public void Hunt_FillsTheCheaperRouterToItsCapacity_CountingOtherClientsThere_ThenTheNext()
    {
        // web1 (dc1) costs 1 and takes 10 sessions; app2 (br2) costs 2.
        using var fabric = SpreadFabric("hunt", webCapacity: 10, appCapacity: 100);
        for (var i = 0; i < 4; i++)
        {
            fabric.Ops1.SendUdp(Spread, (ushort)(42000 + i), Port, [(byte)i]);
        }

        fabric.Pump();

        for (var i = 0; i < 12; i++)
        {
            fabric.Eng1.SendUdp(Spread, (ushort)(41000 + i), Port, [(byte)i]);
            fabric.Pump();
        }

        // dc1 is filled to 10 (4 of ops1, 6 of br1); the other 6 go to br2. Without feedback br1 would have sent
        // 10 to dc1, which would have refused 4 of them (web1 full).
        Assert.Equal(10, Active(fabric.Dc1));
        Assert.Equal(6, Active(fabric.Br2));
        Assert.Equal(12, fabric.Eng1.Received.Count);
        AssertNothingDropped(fabric);
    }

    [Fact]
    public void Hunt_BurstWithoutFeedbackYet_StillFillsTheCheaperFirst()
    {
        using var fabric = SpreadFabric("hunt", webCapacity: 10, appCapacity: 100);
        for (var i = 0; i < 25; i++)
        {
            fabric.Eng1.SendUdp(Spread, (ushort)(41000 + i), Port, [(byte)i]);
        }

        fabric.Pump();

        Assert.Equal(10, Active(fabric.Dc1));
        Assert.Equal(15, Active(fabric.Br2));
        Assert.Equal(25, fabric.Eng1.Received.Count);
        AssertNothingDropped(fabric);
    }

    [Fact]
    public void NoPathToThePickedRouterUp_TheOtherRouterHasNoInstanceUp_TheSessionIsNotSentThere()
    {
        using var fabric = SpreadFabric("proportional", webCapacity: 0, appCapacity: 0);
        var spread = Snapshot(fabric.Br1);
        var toBr2 = spread.PeerPaths.Single(p => p.PeerRouter == "br2");
        var toDc1 = spread.PeerPaths.Single(p => p.PeerRouter == "dc1");

        // br1 and br2 stop hearing each other on the WAN: br1's only path to br2 goes down.
        var br2Mac = new byte[6];
        fabric.Br2Wan.Mac.Write(br2Mac);
        fabric.Br2Wan.Tamper = _ => false;
        fabric.BrWan.Tamper = frame => !frame.AsSpan(6, 6).SequenceEqual(br2Mac);
        for (var second = 0; second < 10; second++)
        {
            fabric.Time.Advance(TimeSpan.FromSeconds(1));
            fabric.Pump();
        }

        Assert.Equal((false, true), (toBr2.Health.IsUsable, toDc1.Health.IsUsable));

        // Load feedback tells br1 that dc1 has no instance of spread up: load balancing picks br2, whose path is down, and
        // the fallback to another hosting router does not take dc1 either.
        spread.Runtime.Load.SetUp(Array.IndexOf(spread.PeerRouters, "dc1"), false);
        fabric.Eng1.SendUdp(Spread, 41000, Port, [1]);
        fabric.Pump();

        Assert.Equal(0, Active(fabric.Dc1));
        Assert.Equal(1, SvrFabric.Drops(fabric.Br1, DropReason.PeerPathDown));
    }

    /// <summary>
    /// The edit of lab.conf behind <see cref="SpreadFabric"/>: service "spread" on web1 (dc1) and app2 (br2), client ops1 on
    /// dc1's LAN; <paramref name="policy"/> adds to the spread policy's settings (for example <c>, idle-timeout { udp = 2m }</c>).
    /// </summary>
    internal static Func<string, string> SpreadDocument(string strategy, int webCapacity, int appCapacity, string policy = "") => text => text
        .Replace(
            "  }\n\n  service-policies {\n",
            $$"""
                spread {
                  addresses = ["10.200.0.90/32"]
                  transports = [{ protocol = udp, ports = ["9000"] }]
                  access = [engineering]
                  policy = spread
                  instances = [{ container = web1, cost = 1, capacity = {{webCapacity}} }, { container = app2, cost = 2, capacity = {{appCapacity}} }]
                }
              }

              service-policies {
                spread { load-balancing = {{strategy}}{{policy}} }

            """)
        .Replace(
            "            bulk1 { addresses = [\"10.10.1.30\"] }\n",
            "            bulk1 { addresses = [\"10.10.1.30\"] }\n            ops1 { addresses = [\"10.10.1.40\"], tenant = engineering }\n")
        .Replace(
            "            fin1 { addresses = [\"10.30.1.20\"], tenant = finance }\n",
            "            fin1 { addresses = [\"10.30.1.20\"], tenant = finance }\n            app2 { addresses = [\"10.30.1.30\"] }\n");

    /// <summary>The lab fabric with the spread service added, and its routers' neighbours resolved (by path probes).</summary>
    internal static SvrFabric SpreadFabric(string strategy, int webCapacity, int appCapacity)
    {
        var fabric = new SvrFabric(SpreadDocument(strategy, webCapacity, appCapacity));
        Assert.Equal(2, Snapshot(fabric.Br1).PeerRouters.Length);
        for (var second = 0; second < 3; second++)
        {
            fabric.Time.Advance(TimeSpan.FromSeconds(1));
            fabric.Pump();
        }

        return fabric;
    }

    internal static ServiceEntry Snapshot(ForwardingEngine router) =>
        Array.Find(router.Snapshot.Services, s => s.Name == "spread") ?? throw new InvalidOperationException("no spread service");

    /// <summary>The spread service's active sessions at the router (what it reports as sessions in service).</summary>
    internal static int Active(ForwardingEngine router) => Snapshot(router).Runtime.Admission.Active;

    private static void AssertNothingDropped(SvrFabric fabric)
    {
        Assert.Equal(0, fabric.Br1.Worker.Counters.Dropped);
        Assert.Equal(0, fabric.Dc1.Worker.Counters.Dropped);
        Assert.Equal(0, fabric.Br2.Worker.Counters.Dropped);
        Assert.Equal(0, SvrFabric.Drops(fabric.Dc1, DropReason.NoRoute));
    }
}
