using System.Buffers.Binary;
using Fabric.Dataplane.Pipeline;
using Fabric.Dataplane.Wire;

namespace Fabric.Tests.Dataplane.Routing;

/// <summary>Real frames through one router over in-memory links, as containers would send them.</summary>
public sealed class RouterTests : IDisposable
{
    private readonly RouterFixture _lab = new();

    public void Dispose() => _lab.Dispose();

    private static ushort SourcePort(byte[] ip) => BinaryPrimitives.ReadUInt16BigEndian(ip.AsSpan(20));

    private static ushort DestinationPort(byte[] ip) => BinaryPrimitives.ReadUInt16BigEndian(ip.AsSpan(22));

    private static byte[] Transport(byte[] ip) => ip[20..];

    /// <summary>An Ethernet frame from <paramref name="host"/> to the router's svc port.</summary>
    private byte[] Frame(TestHost host, byte[] ip)
    {
        var frame = new byte[14 + ip.Length];
        new EthernetHeader(_lab.Router.Ports[0].Mac, host.Mac, EtherType.Ipv4).Emit(frame);
        ip.CopyTo(frame, 14);
        return frame;
    }

    [Fact]
    public void Ping_HostBasedClientToServiceAddress_ReplyComesFromServiceAddress()
    {
        _lab.Eng1.Ping("10.200.0.80", id: 7, sequence: 1);
        _lab.Pump();

        var reply = Assert.Single(_lab.Eng1.Received);
        Assert.True(Packets.ChecksumsValid(reply));
        Assert.Equal("10.200.0.80", Packets.Source(reply).ToString());
        Assert.Equal(Icmpv4Type.EchoReply, reply[20]);
        Assert.Equal(1, _lab.Web1.Received.Count + _lab.Web2.Received.Count);
    }

    [Fact]
    public void Ping_RouterGateway_Answered()
    {
        _lab.Fin1.Ping("10.30.1.1", id: 1, sequence: 1);
        _lab.Pump();

        var reply = Assert.Single(_lab.Fin1.Received);
        Assert.Equal("10.30.1.1", Packets.Source(reply).ToString());
        Assert.True(Packets.ChecksumsValid(reply));
    }

    [Fact]
    public void Tcp_BridgedClient_HandshakeAndDataReachInstanceAndBack()
    {
        _lab.Fin1.SendTcp("10.200.0.80", 40000, 80, TcpFlags.Syn, 100, 0, []);
        _lab.Pump();
        var synAck = Assert.Single(_lab.Fin1.Received);
        Assert.True(Packets.ChecksumsValid(synAck));
        Assert.Equal("10.200.0.80", Packets.Source(synAck).ToString());
        Assert.Equal((80, 40000), (SourcePort(synAck), DestinationPort(synAck)));
        Assert.Equal((byte)(TcpFlags.Syn | TcpFlags.Ack), Transport(synAck)[13]);

        _lab.Fin1.SendTcp("10.200.0.80", 40000, 80, TcpFlags.Ack, 101, 5001, []);
        _lab.Fin1.SendTcp("10.200.0.80", 40000, 80, TcpFlags.Ack | TcpFlags.Psh, 101, 5001, "hello fabric"u8.ToArray());
        _lab.Pump();

        var echoed = _lab.Fin1.Received[^1];
        Assert.True(Packets.ChecksumsValid(echoed));
        Assert.Equal("hello fabric"u8.ToArray(), Transport(echoed)[20..]);
        var server = _lab.Web1.Received.Count > 0 ? _lab.Web1 : _lab.Web2;
        Assert.All(server.Received, p => Assert.True(Packets.ChecksumsValid(p)));
        Assert.All(server.Received, p => Assert.Equal("10.30.1.20", Packets.Source(p).ToString()));
    }

    [Fact]
    public void Udp_ToInstanceWithPortTranslation_ReachesNewPortAndReturnsFromServicePort()
    {
        _lab.Eng1.SendUdp("10.10.1.30", 33000, 5201, [9, 8, 7]);
        _lab.Pump();

        var atServer = Assert.Single(_lab.Sink1.Received);
        Assert.Equal(9000, DestinationPort(atServer));
        Assert.True(Packets.ChecksumsValid(atServer));
        _lab.Sink1.Port.Send(Frame(_lab.Sink1, Packets.Udp(_lab.Sink1.Address, _lab.Eng1.Address, 9000, 33000, [9, 8, 7])));
        _lab.Pump();
        var back = Assert.Single(_lab.Eng1.Received);
        Assert.Equal("10.10.1.30", Packets.Source(back).ToString());
        Assert.Equal((5201, 33000), (SourcePort(back), DestinationPort(back)));
        Assert.Equal(new byte[] { 9, 8, 7 }, Transport(back)[8..]);
        Assert.True(Packets.ChecksumsValid(back));
    }

    [Fact]
    public void AccessDenied_GuestToDb_DroppedSilentlyAndCountedWithService()
    {
        _lab.Guest1.SendTcp("10.10.1.20", 41000, 5432, TcpFlags.Syn, 1, 0, []);
        _lab.Pump();

        Assert.Empty(_lab.Db1.Received);
        Assert.Empty(_lab.Guest1.Received);
        var drops = _lab.Router.Worker.Drops;
        Assert.Equal(1, drops.Get(DropReason.AccessDenied, _lab.Tenant("guest"), _lab.Service("db")));
        var record = Assert.Single(drops.Recent.Snapshot());
        Assert.Equal(DropReason.AccessDenied, record.Reason);
        Assert.Equal("db", _lab.Router.Snapshot.Services[record.Service].Name);
    }

    [Fact]
    public void AccessAllowed_FinanceToDb_Reaches()
    {
        _lab.Fin1.SendTcp("10.10.1.20", 41000, 5432, TcpFlags.Syn, 1, 0, []);
        _lab.Pump();

        Assert.Single(_lab.Db1.Received);
        Assert.Single(_lab.Fin1.Received);
    }

    [Fact]
    public void MidFlowTcp_WithoutHandshake_ResetPerPolicyAndCounted()
    {
        _lab.Fin1.SendTcp("10.10.1.20", 41001, 5432, TcpFlags.Ack | TcpFlags.Psh, 500, 900, "data"u8.ToArray());
        _lab.Pump();

        Assert.Empty(_lab.Db1.Received);
        var reset = Assert.Single(_lab.Fin1.Received);
        Assert.True(Packets.ChecksumsValid(reset));
        Assert.Equal((byte)TcpFlags.Rst, Transport(reset)[13]);
        Assert.Equal(900u, BinaryPrimitives.ReadUInt32BigEndian(Transport(reset).AsSpan(4)));
        Assert.Equal(1, _lab.Router.Worker.Drops.Get(DropReason.NoHandshake, _lab.Tenant("finance"), _lab.Service("db")));
    }

    [Fact]
    public void NoService_DroppedWithReason()
    {
        _lab.Eng1.SendUdp("10.200.0.99", 1234, 4321, [1]);
        _lab.Pump();

        Assert.Equal(1, _lab.Router.Worker.Drops.Get(DropReason.NoService, _lab.Tenant("engineering"), -1));
    }

    [Fact]
    public void TtlOne_DroppedAndTimeExceededSentBack()
    {
        _lab.Eng1.SendTcp("10.200.0.80", 42000, 80, TcpFlags.Syn, 1, 0, [], ttl: 1);
        _lab.Pump();

        Assert.Empty(_lab.Web1.Received);
        Assert.Empty(_lab.Web2.Received);
        var error = Assert.Single(_lab.Eng1.Received);
        Assert.Equal((Icmpv4Type.TimeExceeded, "10.20.1.1"), (error[20], Packets.Source(error).ToString()));
        Assert.True(Packets.ChecksumsValid(error));
        Assert.Equal(1, _lab.Router.Worker.Drops.Total(DropReason.TtlExpired));
    }

    [Fact]
    public void ManySessions_ProportionalSpreadsOverBothInstances()
    {
        for (ushort port = 20000; port < 20040; port++)
        {
            _lab.Eng2.SendTcp("10.200.0.80", port, 80, TcpFlags.Syn, 1, 0, []);
        }

        _lab.Pump();

        Assert.Equal(40, _lab.Eng2.Received.Count);
        Assert.InRange(_lab.Web1.Received.Count, 10, 30);
        Assert.Equal(40, _lab.Web1.Received.Count + _lab.Web2.Received.Count);
    }

    [Fact]
    public void Malformed_TruncatedFrame_CountedNotForwarded()
    {
        _lab.Eng1.Port.Send(new byte[] { 1, 2, 3 });
        _lab.Pump();

        Assert.Equal(1, _lab.Router.Worker.Drops.Total(DropReason.Malformed));
        Assert.Equal(0, _lab.Router.Worker.Counters.Forwarded);
    }

    [Fact]
    public void UnsupportedProtocol_WellFormedLldpAndIgmp_CountedApartFromMalformed()
    {
        var lldp = new byte[60];
        lldp[12] = 0x88;
        lldp[13] = 0xCC;
        var igmp = Packets.Ip(0x0A14010A, 0xE0000016, 2, new byte[8]);
        var frame = new byte[14 + igmp.Length];
        frame[12] = 0x08;
        igmp.CopyTo(frame, 14);

        _lab.Eng1.Port.Send(lldp);
        _lab.Eng1.Port.Send(frame);
        _lab.Pump();

        Assert.Equal(2, _lab.Router.Worker.Drops.Total(DropReason.UnsupportedProtocol));
        Assert.Equal(0, _lab.Router.Worker.Drops.Total(DropReason.Malformed));
    }

    [Fact]
    public void RateLimit_PolicyRaisedUnderALiveSession_SessionKeepsItsRateAndANewSessionTakesTheNewOne()
    {
        // The session is admitted at 100 kB/s (10 kB burst); the policy then rises to 1 MB/s. Each flow offers 1000-byte
        // packets at 400 kB/s for 1 s, after its burst is spent.
        var payload = new byte[1000 - 28];
        int Delivered(ushort sourcePort)
        {
            for (var burst = 0; burst < 20; burst++)
            {
                _lab.Eng1.SendUdp("10.10.1.30", sourcePort, 5201, payload);
                _lab.Pump();
            }

            var before = _lab.Sink1.Received.Count;
            for (var step = 0; step < 400; step++)
            {
                _lab.Eng1.SendUdp("10.10.1.30", sourcePort, 5201, payload);
                _lab.Pump();
                _lab.Time.Advance(TimeSpan.FromMilliseconds(2.5));
            }

            return _lab.Sink1.Received.Count - before;
        }

        _lab.Eng1.SendUdp("10.10.1.30", 34001, 5201, payload);
        _lab.Pump();
        _lab.Router.Apply(RouterFixture.Load(RouterFixture.Config.Replace("bytes-per-second = 100000", "bytes-per-second = 1000000", StringComparison.Ordinal)), 2);

        var admittedBefore = Delivered(34001);
        var admittedAfter = Delivered(34002);

        Assert.InRange(admittedBefore, 90, 110);
        Assert.InRange(admittedAfter, 390, 400);
    }

    [Fact]
    public void RateLimit_HoldsFlowNearConfiguredRate()
    {
        // 100 kB/s with a 10 kB burst: offer 1000-byte packets at 400 kB/s for 2 s.
        var payload = new byte[1000 - 28];
        var sent = 0;
        for (var step = 0; step < 800; step++)
        {
            _lab.Eng1.SendUdp("10.10.1.30", 34000, 5201, payload);
            sent++;
            _lab.Pump();
            _lab.Time.Advance(TimeSpan.FromMilliseconds(2.5));
        }

        var delivered = _lab.Sink1.Received.Count;
        var expected = (100_000 * 2 + 10_000) / 1000;
        Assert.InRange(delivered, expected * 0.9, expected * 1.1);
        Assert.Equal(sent - delivered, _lab.Router.Worker.Drops.Get(DropReason.RateLimited, _lab.Tenant("engineering"), _lab.Service("bulk")));
    }

    [Fact]
    public void SnapshotSwap_UnderTraffic_LosesNoEstablishedSession()
    {
        _lab.Fin1.SendTcp("10.200.0.80", 45000, 80, TcpFlags.Syn, 100, 0, []);
        _lab.Pump();
        _lab.Fin1.SendTcp("10.200.0.80", 45000, 80, TcpFlags.Ack, 101, 5001, []);
        _lab.Pump();

        for (var version = 2; version < 12; version++)
        {
            _lab.Router.Apply(RouterFixture.Load(RouterFixture.Config.Replace("guest {}", $"guest {{}}, t{version} {{}}", StringComparison.Ordinal)), version);
            _lab.Fin1.SendTcp("10.200.0.80", 45000, 80, TcpFlags.Ack | TcpFlags.Psh, 101, 5001, [(byte)version]);
            _lab.Pump();
        }

        Assert.Equal(11, _lab.Router.AppliedVersion);
        Assert.Equal(1 + 10, _lab.Fin1.Received.Count);
        Assert.Equal(0, _lab.Router.Worker.Counters.Dropped);
    }

    [Fact]
    public void SessionExpiry_AfterSwapThatRemadeTheService_ReleasesToTheRuntimeThatAdmitted()
    {
        _lab.Fin1.SendUdp("10.200.0.80", 35000, 53, [1]);
        _lab.Pump();
        var admitted = _lab.Router.Snapshot.Services[_lab.Service("web")].Runtime;
        Assert.Equal(1, admitted.Admission.Active);

        // A new tenant list makes new runtimes for every service.
        _lab.Router.Apply(RouterFixture.Load(RouterFixture.Config.Replace("guest {}", "guest {}, extra {}", StringComparison.Ordinal)), 2);
        var current = _lab.Router.Snapshot.Services[_lab.Service("web")].Runtime;
        Assert.NotSame(admitted, current);
        // The session is held by the runtime that admitted it, and counted among the service's sessions under either.
        Assert.Equal((1, 0), (admitted.Admission.Holding, current.Admission.Holding));
        Assert.Equal((1, 1), (admitted.Admission.Active, current.Admission.Active));

        _lab.Time.Advance(TimeSpan.FromSeconds(181));
        _lab.Pump();

        Assert.Equal(1, _lab.Router.Worker.Counters.SessionsExpired);
        Assert.Equal((0, 0), (admitted.Admission.Holding, admitted.Admission.Active));
        Assert.Equal(0, admitted.Load.LocalSessions(0) + admitted.Load.LocalSessions(1));
        Assert.Equal(0, current.Admission.Active);
    }

    [Fact]
    public void UdpSession_IdleLongerThanTimeout_Expires_NewPacketMakesNewSession()
    {
        _lab.Fin1.SendUdp("10.200.0.80", 35001, 53, [1]);
        _lab.Pump();
        Assert.Equal(1, _lab.Router.Worker.Sessions.Count);

        _lab.Time.Advance(TimeSpan.FromSeconds(179));
        _lab.Pump();
        Assert.Equal(1, _lab.Router.Worker.Sessions.Count);

        _lab.Time.Advance(TimeSpan.FromSeconds(2));
        _lab.Pump();
        Assert.Equal(0, _lab.Router.Worker.Sessions.Count);

        _lab.Fin1.SendUdp("10.200.0.80", 35001, 53, [2]);
        _lab.Pump();
        Assert.Equal(2, _lab.Router.Worker.Counters.SessionsCreated);
        Assert.Equal(2, _lab.Fin1.Received.Count);
    }

    [Fact]
    public void VlanTaggedFrame_DroppedWithReason_NotForwarded()
    {
        var ip = Packets.Udp(_lab.Eng1.Address, IpAddressConversions.ParseIpv4("10.200.0.80"), 1000, 53, [1]);
        var frame = new byte[18 + ip.Length];
        new EthernetHeader(_lab.Router.Ports[1].Mac, _lab.Eng1.Mac, EtherType.Ipv4, HasVlanTag: true, VlanId: 7).Emit(frame);
        ip.CopyTo(frame, 18);
        _lab.Eng1.Port.Send(frame);
        _lab.Pump();

        Assert.Equal(1, _lab.Router.Worker.Drops.Total(DropReason.VlanTagged));
        Assert.Equal(0, _lab.Router.Worker.Counters.Forwarded);
    }
}
