using Akka.Actor;
using Fabric.Actors.HighAvailability;
using Fabric.Actors.Serialization;
using Fabric.Dataplane.Pipeline;
using Fabric.Dataplane.Sessions;

namespace Fabric.Tests.Actors.HighAvailability;

/// <summary>The active/standby decision of an HA pair node, without an actor system.</summary>
public sealed class PairStateTests
{
    private static readonly TimeSpan T0 = TimeSpan.FromSeconds(1000);
    private static readonly PairTiming Timing = PairTiming.Default;

    private static TimeSpan At(double milliseconds) => T0 + TimeSpan.FromMilliseconds(milliseconds);

    [Fact]
    public void BothStart_PreferredTakesTheRouter_OtherStandsBy()
    {
        var (first, firstStep) = PairState.Start(preferred: true, T0).Heard(PairRole.Starting, At(100));
        var (second, secondStep) = PairState.Start(preferred: false, T0).Heard(PairRole.Starting, At(100));

        Assert.Equal((PairRole.Active, PairTransition.PreferredAtStart), (first.Role, firstStep));
        Assert.Equal((PairRole.Standby, PairTransition.NotPreferred), (second.Role, secondStep));
        Assert.Equal(PairRole.Standby, second.Heard(PairRole.Active, At(200)).State.Role);
    }

    [Fact]
    public void Starting_PartnerAlreadyActive_StandsByEvenWhenPreferred()
    {
        var (state, step) = PairState.Start(preferred: true, T0).Heard(PairRole.Active, At(50));

        Assert.Equal((PairRole.Standby, PairTransition.PartnerActive), (state.Role, step));
        Assert.Equal((PairRole.Standby, PairTransition.None), (state.Tick(At(300)).State.Role, state.Tick(At(300)).Transition));
    }

    [Fact]
    public void Starting_NothingHeardForTheStartupHold_RunsAlone()
    {
        var start = PairState.Start(preferred: false, T0);

        Assert.Equal(PairTransition.None, start.Tick(T0 + Timing.StartupHold - TimeSpan.FromMilliseconds(1)).Transition);
        var (state, step) = start.Tick(T0 + Timing.StartupHold);
        Assert.Equal((PairRole.Active, PairTransition.PartnerAbsentAtStart), (state.Role, step));
    }

    [Fact]
    public void Standby_PartnerMissesHeartbeatsForTheDeadInterval_TakesOver()
    {
        var (standby, _) = PairState.Start(preferred: false, T0).Heard(PairRole.Active, At(100));
        standby = standby.Heard(PairRole.Active, At(200)).State;

        Assert.Equal(PairTransition.None, standby.Tick(At(200) + Timing.DeadAfter - TimeSpan.FromMilliseconds(1)).Transition);
        var (state, step) = standby.Tick(At(200) + Timing.DeadAfter);
        Assert.Equal((PairRole.Active, PairTransition.PartnerDead), (state.Role, step));
    }

    [Fact]
    public void ActiveAfterFailover_PreferredReturns_NoPreemption()
    {
        // dc1b took over from dc1a; dc1a comes back and hears dc1b active.
        var (taken, _) = PairState.Start(preferred: false, T0, active: true).Heard(PairRole.Starting, At(100));
        var (returning, step) = PairState.Start(preferred: true, At(90)).Heard(PairRole.Active, At(100));

        Assert.Equal(PairRole.Active, taken.Role);
        Assert.Equal((PairRole.Standby, PairTransition.PartnerActive), (returning.Role, step));
    }

    [Fact]
    public void BothActive_NotPreferredYields_PreferredKeeps()
    {
        var preferred = PairState.Start(preferred: true, T0, active: true);
        var other = PairState.Start(preferred: false, T0, active: true);

        Assert.Equal((PairRole.Active, PairTransition.None), Pick(preferred.Heard(PairRole.Active, At(10))));
        Assert.Equal((PairRole.Standby, PairTransition.BothActive), Pick(other.Heard(PairRole.Active, At(10))));
    }

    [Fact]
    public void BothStandingBy_PreferredTakesTheRouter()
    {
        var (standby, _) = PairState.Start(preferred: true, T0).Heard(PairRole.Active, At(10));

        Assert.Equal((PairRole.Active, PairTransition.NeitherActive), Pick(standby.Heard(PairRole.Standby, At(20))));
    }

    [Fact]
    public void BothStart_PreferredHearsTheOtherStandingByFirst_StillEndsActive()
    {
        // The node that is not preferred decided first: the preferred one hears "standby", not "starting".
        var (preferred, step) = PairState.Start(preferred: true, T0).Heard(PairRole.Standby, At(100));
        Assert.Equal((PairRole.Standby, PairTransition.PartnerStandsBy), (preferred.Role, step));

        Assert.Equal((PairRole.Active, PairTransition.NeitherActive), Pick(preferred.Heard(PairRole.Standby, At(200))));
    }

    [Fact]
    public void Starting_PartnerStandsBy_StandsByForIt_TheStandbyTakesOverAsTheRestarted()
    {
        // dc1a was active and restarted within the dead interval: its new run starts while dc1b, holding the
        // replicated sessions, stands by. dc1a must not take the router back empty-handed.
        var (returning, step) = PairState.Start(preferred: true, T0).Heard(PairRole.Standby, At(100));
        Assert.Equal((PairRole.Standby, PairTransition.PartnerStandsBy), (returning.Role, step));

        var (standby, _) = PairState.Start(preferred: false, T0).Heard(PairRole.Active, At(10));
        Assert.Equal((PairRole.Active, PairTransition.PartnerRestarted), Pick(standby.Heard(PairRole.Starting, At(110), restarted: true)));
        Assert.Equal((PairRole.Standby, PairTransition.None), Pick(returning.Heard(PairRole.Active, At(200))));
    }

    [Fact]
    public void Standby_LivingPartnerNotActiveForTheStartupHold_TakesTheRouter()
    {
        // The preferred partner lives (its heartbeats come) but does not take the router (its control plane is away).
        var (standby, _) = PairState.Start(preferred: false, T0).Heard(PairRole.Starting, At(0));
        for (var ms = 100; ms < Timing.StartupHold.TotalMilliseconds; ms += 100)
        {
            standby = standby.Heard(PairRole.Standby, At(ms)).State;
            Assert.Equal(PairTransition.None, standby.Tick(At(ms)).Transition);
        }

        standby = standby.Heard(PairRole.Standby, At(Timing.StartupHold.TotalMilliseconds)).State;
        Assert.Equal((PairRole.Active, PairTransition.NeitherActive), Pick(standby.Tick(At(Timing.StartupHold.TotalMilliseconds))));
    }

    [Fact]
    public void ActorRestartedUnderAStandingByNode_StartsStandingBy()
    {
        var state = PairState.Start(preferred: false, T0, standingBy: true);

        Assert.Equal(PairRole.Standby, state.Role);
        Assert.Equal(PairTransition.None, state.Heard(PairRole.Active, At(10)).Transition);
    }

    private static (PairRole, PairTransition) Pick((PairState State, PairTransition Transition) step) => (step.State.Role, step.Transition);
}

/// <summary>The pair's messages cross the cluster through the Fabric serializer's allow-list.</summary>
public sealed class PairMessagesTests : IDisposable
{
    private readonly ActorSystem _system = ActorSystem.Create("pair-messages-test");

    public void Dispose() => _system.Dispose();

    [Fact]
    public void SessionBatch_RoundTrips_EveryFieldOfTheRecord()
    {
        var serializer = new FabricSerializer((ExtendedActorSystem)_system);
        var record = new SessionRecord
        {
            Forward = new SessionKey(UInt128.MaxValue - 5, 0x0a0a011e, 40000, 5201, 6, IsIpv6: true),
            Reverse = SessionKey.V4(0x0a0a011e, 0xac100002, 5201, 16385, 6),
            State = new SessionState
            {
                Tenant = 1, Service = 2, Instance = 0, ForwardPort = 1, ReversePort = 0, IsIpv6 = false, Svr = SvrRole.Egress,
                SendMetadata = true, OriginalProtocol = 6, Unanswered = 2, Sealed = true, LocalWaypointPort = 16385,
                PeerWaypointPort = 16384, SessionId = 0xdeadbeef, ForwardPackets = 10, ForwardBytes = 10_000, ReversePackets = 9, ReverseBytes = 900,
            },
            WaypointPath = -1, KeysPath = 0, Tcp = 0x0301, IdleNanoseconds = 123_456_789, ReverseQuietNanoseconds = 42,
        };
        var batch = new PairSessionBatch("dc1a", 7, 0xfeedUL, 3, SessionRecords.Serialize([record]), null);

        var manifest = serializer.Manifest(batch);
        var back = Assert.IsType<PairSessionBatch>(serializer.FromBinary(serializer.ToBinary(batch), manifest));

        Assert.Equal("fabric.ha.sessions.v3", manifest);
        Assert.Equal((batch.Node, batch.Version, batch.Incarnation, batch.Sequence), (back.Node, back.Version, back.Incarnation, back.Sequence));
        Assert.Equal(record, Assert.Single(SessionRecords.Deserialize(back.Sessions)));
        Assert.Equal(batch.Statement().Bytes.ToArray(), back.Statement().Bytes.ToArray());
    }
}
