using Fabric.Bench;
using Fabric.Dataplane.Io;
using Fabric.Dataplane.Io.InMemory;
using Fabric.Dataplane.Pipeline;
using Fabric.Dataplane.Routing;
using Fabric.Dataplane.Telemetry;
using Fabric.Dataplane.Wire;
using Fabric.Tests.Dataplane.Routing;
using Fabric.Tests.Support;

namespace Fabric.Tests.Dataplane.Telemetry;

/// <summary>Sessions opening and closing, and drops with their rule, as the worker publishes them for the control plane.</summary>
[Collection(AllocationMeasurement.Name)]
public sealed class SessionEventsTests : IDisposable
{
    private readonly RouterFixture _lab = new();

    public void Dispose() => _lab.Dispose();

    private List<SessionEvent> Events()
    {
        var events = new List<SessionEvent>();
        _lab.Router.Worker.SessionEvents.ReadFrom(0, events, int.MaxValue, out var lost);
        Assert.Equal(0, lost);
        return events;
    }

    [Fact]
    public void Session_OpensThenExpires_PublishesOpenedThenClosedOfTheSameSessionWithItsCounters()
    {
        _lab.Fin1.SendTcp("10.200.0.80", 40000, 80, TcpFlags.Syn, 100, 0, []);
        _lab.Pump();
        _lab.Fin1.SendTcp("10.200.0.80", 40000, 80, TcpFlags.Ack | TcpFlags.Psh, 101, 5001, "hello"u8.ToArray());
        _lab.Pump();

        var opened = Assert.Single(Events());
        Assert.Equal(SessionEventKind.Opened, opened.Kind);
        Assert.Equal(_lab.Tenant("finance"), opened.State.Tenant);
        Assert.Equal(_lab.Service("web"), opened.State.Service);
        Assert.Equal(IpAddressConversions.ParseIpv4("10.30.1.20"), (uint)opened.Forward.Source);
        Assert.Equal(IpAddressConversions.ParseIpv4("10.200.0.80"), (uint)opened.Forward.Destination);
        Assert.Equal((ushort)40000, opened.Forward.SourcePort);
        Assert.Equal(opened.Opened, opened.Time);

        // Idle past web's TCP timeout (1900 s): the worker expires it on its next round.
        _lab.Time.Advance(TimeSpan.FromSeconds(2000));
        _lab.Pump();

        var events = Events();
        Assert.Equal(2, events.Count);
        var closed = events[1];
        Assert.Equal(SessionEventKind.Closed, closed.Kind);
        Assert.Equal((opened.Handle, opened.Generation, opened.Forward, opened.Reverse), (closed.Handle, closed.Generation, closed.Forward, closed.Reverse));
        Assert.Equal(opened.Opened, closed.Opened);
        Assert.True(closed.Time > opened.Time);
        Assert.Equal(2, closed.State.ForwardPackets);
        Assert.Equal(2, closed.State.ReversePackets);
    }

    [Fact]
    public void RateLimitedDrop_RecordsTheSessionRateLimitAsItsRule()
    {
        var payload = new byte[1000 - 28];
        for (var i = 0; i < 40; i++)
        {
            _lab.Eng1.SendUdp("10.10.1.30", 34000, 5201, payload);
        }

        _lab.Pump();

        var drop = _lab.Router.Worker.Drops.Recent.Snapshot()[^1];
        Assert.Equal((DropReason.RateLimited, DropRule.SessionRateLimit), (drop.Reason, drop.Rule));
        Assert.Equal(_lab.Service("bulk"), drop.Service);
    }

    [Fact]
    public void AccessDenied_RecordsNoRuleOfItsOwn_TheReasonNamesTheAccessList()
    {
        _lab.Guest1.SendTcp("10.10.1.20", 41000, 5432, TcpFlags.Syn, 1, 0, []);
        _lab.Pump();

        var drop = Assert.Single(_lab.Router.Worker.Drops.Recent.Snapshot());
        Assert.Equal((DropReason.AccessDenied, DropRule.None), (drop.Reason, drop.Rule));
    }

    /// <summary>Publishing an opening and a closing copies a struct into the ring: the packet path still allocates nothing.</summary>
    [Fact]
    public void OpeningAndExpiringSessions_AllocatesNothing()
    {
        var time = new ManualTime();
        using var engine = new ForwardingEngine(
            "dc1", [.. new[] { "svc", "eng1", "guest1", "lan" }.Select((d, i) => (IPacketPort)new DiscardPort(d, new MacAddress(0x02_00_00_00_0F_00UL + (ulong)i)))],
            new RouterOptions(SessionCapacity: 1024), time);
        engine.Apply(_lab.Model, 1);
        var worker = engine.Worker;
        worker.Neighbors.AddPermanent(0, IpAddressConversions.ParseIpv4("10.10.1.40"), isIpv6: false, new MacAddress(0x02_00_00_00_0F_99));
        var templates = new byte[80][];
        for (var i = 0; i < templates.Length; i++)
        {
            var ip = Packets.Udp(_lab.Eng1.Address, IpAddressConversions.ParseIpv4("10.10.1.30"), (ushort)(20000 + i), 5201, [1]);
            templates[i] = new byte[14 + ip.Length];
            new EthernetHeader(engine.Ports[1].Mac, _lab.Eng1.Mac, EtherType.Ipv4).Emit(templates[i]);
            ip.CopyTo(templates[i], 14);
        }

        var frame = new byte[PacketBuffer.DefaultCapacity];
        void Open(int from, int count)
        {
            for (var i = from; i < from + count; i++)
            {
                templates[i].CopyTo(frame, 0);
                worker.Process(frame, templates[i].Length, 1, time.GetTimestamp(), engine.Snapshot);
            }

            time.Advance(TimeSpan.FromSeconds(400));
            worker.RunOnce(time.GetTimestamp());
        }

        Open(0, 16);
        var allocated = ThreadAllocations.During(() => Open(16, 64));

        Assert.Equal(0, allocated);
        var events = new List<SessionEvent>();
        worker.SessionEvents.ReadFrom(0, events, int.MaxValue, out _);
        Assert.Equal(80, events.Count(e => e.Kind == SessionEventKind.Opened));
        Assert.Equal(80, events.Count(e => e.Kind == SessionEventKind.Closed));
    }
}
