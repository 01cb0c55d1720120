using System.Buffers.Binary;
using Fabric.Dataplane.Pipeline;
using Fabric.Dataplane.Wire;
using Fabric.Tests.Dataplane.Routing;

namespace Fabric.Tests.Dataplane.Pipeline;

/// <summary>
/// Instance health checks on the wire, at dc1 of the in-memory fixture: web balanced over web1 (a server) and sink1 (a host
/// whose answers each test writes by hand), probes from the service LAN's gateway address, health published to the
/// load balancer, sessions on a failed instance ended when the policy fails over.
/// </summary>
public sealed class InstanceProbeStageTests
{
    private const uint Gateway = 0x0A0A_0101; // 10.10.1.1

    internal static readonly string Config = RouterFixture.Config
        .Replace("instances = [{ container = web1 }, { container = web2 }]", "instances = [{ container = web1 }, { container = sink1 }]", StringComparison.Ordinal)
        .Replace(
            "web { load-balancing = proportional }",
            "web { load-balancing = proportional, session-resiliency = failover, health-check { interval = 1s, timeout = 500ms, healthy-threshold = 2, unhealthy-threshold = 3 } }",
            StringComparison.Ordinal);

    [Fact]
    public void HealthyServer_AnswersEachSyn_StaysUp_AndEachHalfOpenConnectionIsReset()
    {
        using var lab = new RouterFixture(Config);

        for (var second = 0; second < 5; second++)
        {
            Tick(lab);
        }

        var probes = ProbesTo(lab.Web1);
        Assert.True(probes.Count >= 4, $"{probes.Count} probes reached web1");
        Assert.All(probes, p => Assert.Equal(80, p.DestinationPort));
        Assert.All(probes, p => Assert.True(p.SourcePort >= InstanceProbeStage.ProbePortFirst));
        var resets = Segments(lab.Web1).Where(s => s.Source == Gateway && (s.Flags & TcpFlags.Rst) != 0).ToList();
        Assert.Equal(probes.Count, resets.Count);
        Assert.All(resets, r => Assert.Contains(probes, p => p.SourcePort == r.SourcePort && p.Sequence + 1 == r.Sequence));
        Assert.True(Load(lab).Health(0).IsUp);
        Assert.True(Check(lab, 0).Successes >= 4);
    }

    [Fact]
    public void RefusedThreeTimes_Down_NewSessionsGoToTheOther_SessionsOnItEnd_TwoAnswersBringItBack()
    {
        using var lab = new RouterFixture(Config);
        var answered = 0;
        for (var second = 0; second < 3; second++)
        {
            Tick(lab);
            answered = Answer(lab, lab.Sink1, alive: true, answered);
        }

        Assert.True(Load(lab).Health(1).IsUp);

        // Sessions from eng2 until one lands on sink1: it is there when sink1 fails.
        var port = (ushort)40000;
        while (!Segments(lab.Sink1).Any(s => s.Source == lab.Eng2.Address))
        {
            lab.Eng2.SendTcp("10.200.0.80", port++, 80, TcpFlags.Syn, 1, 0, []);
            lab.Pump();
        }

        var endedBefore = lab.Router.DropTotal(DropReason.InstanceDown);
        for (var second = 0; second < 3; second++)
        {
            Tick(lab);
            answered = Answer(lab, lab.Sink1, alive: false, answered);
        }

        Assert.False(Load(lab).Health(1).IsUp);
        Assert.Equal(Fabric.Dataplane.LoadBalancing.ProbeFailure.Refused, Check(lab, 1).LastFailure);
        lab.Pump();
        Assert.Equal(1, lab.Router.DropTotal(DropReason.InstanceDown) - endedBefore);

        var onSink1 = Segments(lab.Sink1).Count(s => s.Source == lab.Eng2.Address);
        var onWeb1 = Segments(lab.Web1).Count(s => s.Source == lab.Eng2.Address);
        for (var i = 0; i < 20; i++)
        {
            lab.Eng2.SendTcp("10.200.0.80", port++, 80, TcpFlags.Syn, 1, 0, []);
            lab.Pump();
        }

        Assert.Equal(onSink1, Segments(lab.Sink1).Count(s => s.Source == lab.Eng2.Address));
        Assert.Equal(onWeb1 + 20, Segments(lab.Web1).Count(s => s.Source == lab.Eng2.Address));

        Tick(lab);
        answered = Answer(lab, lab.Sink1, alive: true, answered);
        Assert.False(Load(lab).Health(1).IsUp);
        Tick(lab);
        Answer(lab, lab.Sink1, alive: true, answered);
        Assert.True(Load(lab).Health(1).IsUp);
    }

    [Fact]
    public void ASessionOpenedBeforeACommitThatKeptTheInstances_EndsWhenItsInstanceFails()
    {
        using var lab = new RouterFixture(Config);
        var answered = 0;
        for (var second = 0; second < 3; second++)
        {
            Tick(lab);
            answered = Answer(lab, lab.Sink1, alive: true, answered);
        }

        var port = (ushort)40000;
        while (!Segments(lab.Sink1).Any(s => s.Source == lab.Eng2.Address))
        {
            lab.Eng2.SendTcp("10.200.0.80", port++, 80, TcpFlags.Syn, 1, 0, []);
            lab.Pump();
        }

        // A commit that adds a tenant: web gets a new runtime over the same instances, the session stays with the old one.
        var admittedBy = lab.Router.Snapshot.Services[lab.Service("web")].Runtime;
        lab.Router.Apply(RouterFixture.Load(Config.Replace("guest {}", "guest {}, hr {}", StringComparison.Ordinal)), version: 2);
        Assert.NotSame(admittedBy, lab.Router.Snapshot.Services[lab.Service("web")].Runtime);

        var endedBefore = lab.Router.DropTotal(DropReason.InstanceDown);
        for (var second = 0; second < 3; second++)
        {
            Tick(lab);
            answered = Answer(lab, lab.Sink1, alive: false, answered);
        }

        lab.Pump();
        Assert.False(Load(lab).Health(1).IsUp);
        Assert.Equal(1, lab.Router.DropTotal(DropReason.InstanceDown) - endedBefore);
        Assert.Equal(0, Load(lab).LocalSessions(1));
    }

    [Fact]
    public void SilentInstance_ProbesTimeOut_DownAfterThreeIntervals()
    {
        using var lab = new RouterFixture(Config);

        for (var second = 0; second < 3; second++)
        {
            Tick(lab);
            Assert.True(Load(lab).Health(1).IsUp, $"down after {second} s");
        }

        lab.Time.Advance(TimeSpan.FromMilliseconds(600));
        lab.Pump();

        Assert.False(Load(lab).Health(1).IsUp);
        Assert.Equal(Fabric.Dataplane.LoadBalancing.ProbeFailure.Timeout, Check(lab, 1).LastFailure);
        Assert.True(Load(lab).Health(0).IsUp);
    }

    [Fact]
    public void AnswerFromAnotherAddress_OrWithAnotherCookie_ChangesNothing_DroppedAsToRouter()
    {
        using var lab = new RouterFixture(Config);
        Tick(lab);
        Tick(lab);
        var probe = ProbesTo(lab.Sink1).Last();
        var toRouterBefore = lab.Router.DropTotal(DropReason.ToRouter);
        var droppedBefore = lab.Router.Counters().Dropped;
        var failuresBefore = Check(lab, 1).Failures;

        lab.Eng2.SendTcp("10.10.1.1", 80, probe.SourcePort, TcpFlags.Rst | TcpFlags.Ack, 0, probe.Sequence + 1, []);
        lab.Sink1.SendTcp("10.10.1.1", 80, (ushort)(probe.SourcePort ^ 1), TcpFlags.Rst | TcpFlags.Ack, 0, probe.Sequence + 1, []);
        lab.Pump();

        Assert.Equal(failuresBefore, Check(lab, 1).Failures);
        Assert.True(Check(lab, 1).Outstanding);
        // sink1's is to the router's own address and answers nothing; eng2's is not even to an address of its link.
        Assert.Equal(1, lab.Router.DropTotal(DropReason.ToRouter) - toRouterBefore);
        Assert.Equal(2, lab.Router.Counters().Dropped - droppedBefore);
    }

    [Fact]
    public void PolicyWithoutHealthCheck_SendsNoProbe()
    {
        using var lab = new RouterFixture();

        for (var second = 0; second < 3; second++)
        {
            Tick(lab);
        }

        Assert.Empty(ProbesTo(lab.Web1));
        Assert.Null(lab.Router.Snapshot.Services[lab.Service("web")].Runtime.HealthChecks);
    }

    internal static void Tick(RouterFixture lab)
    {
        lab.Time.Advance(TimeSpan.FromSeconds(1));
        lab.Pump();
    }

    private static Fabric.Dataplane.LoadBalancing.InstanceLoad Load(RouterFixture lab) => lab.Router.Snapshot.Services[lab.Service("web")].Runtime.Load;

    internal static Fabric.Dataplane.LoadBalancing.InstanceHealthCheck Check(RouterFixture lab, int slot) =>
        lab.Router.Snapshot.Services[lab.Service("web")].Runtime.HealthChecks![slot];

    /// <summary>Answers the probes <paramref name="host"/> received after the first <paramref name="answered"/>: a SYN-ACK, or a reset; returns how many it has answered.</summary>
    private static int Answer(RouterFixture lab, TestHost host, bool alive, int answered)
    {
        var probes = ProbesTo(host);
        foreach (var probe in probes.Skip(answered))
        {
            host.SendTcp("10.10.1.1", probe.DestinationPort, probe.SourcePort, alive ? TcpFlags.Syn | TcpFlags.Ack : TcpFlags.Rst | TcpFlags.Ack, 9000, probe.Sequence + 1, []);
        }

        lab.Pump();
        return probes.Count;
    }

    internal static List<Segment> ProbesTo(TestHost host) =>
        [.. Segments(host).Where(s => s.Source == Gateway && s.Flags == TcpFlags.Syn)];

    internal static List<Segment> Segments(TestHost host) =>
        [.. host.Received.Where(ip => ip[9] == IpProtocol.Tcp).Select(ip =>
        {
            var tcp = ip.AsSpan((ip[0] & 0xF) * 4);
            return new Segment(
                BinaryPrimitives.ReadUInt32BigEndian(ip.AsSpan(12)), BinaryPrimitives.ReadUInt16BigEndian(tcp), BinaryPrimitives.ReadUInt16BigEndian(tcp[2..]),
                BinaryPrimitives.ReadUInt32BigEndian(tcp[4..]), (TcpFlags)tcp[13]);
        })];

    internal sealed record Segment(uint Source, ushort SourcePort, ushort DestinationPort, uint Sequence, TcpFlags Flags);
}
