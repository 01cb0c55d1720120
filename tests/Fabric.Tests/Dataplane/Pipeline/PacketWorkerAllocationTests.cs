using Fabric.Dataplane.Io;
using Fabric.Dataplane.Io.InMemory;
using Fabric.Dataplane.Pipeline;
using Fabric.Dataplane.Routing;
using Fabric.Dataplane.Wire;
using Fabric.Tests.Dataplane.Routing;
using Fabric.Tests.Dataplane.Svr.Security;
using Fabric.Tests.Support;

namespace Fabric.Tests.Dataplane.Pipeline;

/// <summary>
/// The pipeline allocates nothing per packet: not for the first packet of a session (classification, admission,
/// load balancing, waypoints, metadata, sealing, insert) and not for the packets after it, on a local session
/// and on SVR sessions plain and encrypted, in both directions. Frames are handed from one router to the next
/// in memory (capture ports), so nothing but the routers runs while bytes are counted.
/// </summary>
[Collection(AllocationMeasurement.Name)]
public sealed class PacketWorkerAllocationTests : IDisposable
{
    private const string Config = """
        fabric {
          tenants { clients {} }
          services {
            plain { addresses = ["10.10.1.30/32"], transports = [{ protocol = tcp, ports = ["5201"] }, { protocol = udp, ports = ["5201"] }], access = [clients], instances = [{ container = sink1 }] }
            sealed { addresses = ["10.10.1.20/32"], transports = [{ protocol = tcp, ports = ["5432"] }], access = [clients], policy = secure, instances = [{ container = db1 }] }
          }
          service-policies { secure { encryption = required } }
          neighborhoods { wan {} }
          routers {
            dc {
              nodes { dca { management-address = "10.99.0.11" } }
              interfaces { wan0 { addresses = ["172.16.0.1/24"], neighborhoods = [wan] } }
              networks {
                svc { gateways = ["10.10.1.1/24"], containers { sink1 { addresses = ["10.10.1.30"] }, db1 { addresses = ["10.10.1.20"] } } }
                local { gateways = ["10.40.1.1/24"], tenant = clients, containers { c2 { addresses = ["10.40.1.10"] } } }
              }
            }
            br {
              nodes { bra { management-address = "10.99.0.12" } }
              interfaces { wan0 { addresses = ["172.16.0.2/24"], neighborhoods = [wan] } }
              networks { lan { gateways = ["10.30.1.1/24"], tenant = clients, containers { c1 { addresses = ["10.30.1.10"] } } } }
            }
          }
        }
        """;

    private static readonly uint BranchClient = IpAddressConversions.ParseIpv4("10.30.1.10");
    private static readonly uint LocalClient = IpAddressConversions.ParseIpv4("10.40.1.10");
    private static readonly uint Plain = IpAddressConversions.ParseIpv4("10.10.1.30");
    private static readonly uint Sealed = IpAddressConversions.ParseIpv4("10.10.1.20");

    private readonly CapturePort _brWan = new("wan0", new MacAddress(0x02_00_00_00_0E_01));
    private readonly CapturePort _brLan = new("lan", new MacAddress(0x02_00_00_00_0E_02));
    private readonly CapturePort _dcWan = new("wan0", new MacAddress(0x02_00_00_00_0E_03));
    private readonly CapturePort _dcSvc = new("svc", new MacAddress(0x02_00_00_00_0E_04));
    private readonly CapturePort _dcLocal = new("local", new MacAddress(0x02_00_00_00_0E_05));
    private readonly ForwardingEngine _br;
    private readonly ForwardingEngine _dc;
    private readonly byte[] _buffer = new byte[PacketBuffer.DefaultCapacity];
    private readonly ManualTime _time = new();

    public PacketWorkerAllocationTests()
    {
        var model = RouterFixture.Load(Config);
        _br = new ForwardingEngine("br", [_brWan, _brLan], new RouterOptions(SessionCapacity: 4096), _time);
        _dc = new ForwardingEngine("dc", [_dcWan, _dcSvc, _dcLocal], new RouterOptions(SessionCapacity: 4096), _time);
        _br.Apply(model, 1);
        _dc.Apply(model, 1);
        var host = new MacAddress(0x02_00_00_00_0E_99);
        _br.Worker.Neighbors.Learn(0, IpAddressConversions.ParseIpv4("172.16.0.1"), _dcWan.Mac);
        _br.Worker.Neighbors.Learn(1, BranchClient, host);
        _dc.Worker.Neighbors.Learn(0, IpAddressConversions.ParseIpv4("172.16.0.2"), _brWan.Mac);
        _dc.Worker.Neighbors.Learn(1, Plain, host);
        _dc.Worker.Neighbors.Learn(1, Sealed, host);
        _dc.Worker.Neighbors.Learn(2, LocalClient, host);
        var (brKeys, dcKeys) = SecurityFixtures.DerivePair(SecurityFixtures.Identity("br", 1), SecurityFixtures.Identity("dc", 2), 1);
        _br.InstallPeerKeys("dc", brKeys);
        _dc.InstallPeerKeys("br", dcKeys);
        _br.RunOnce();
        _dc.RunOnce();
    }

    [Fact]
    public void Process_LocalSessionFirstAndLaterPackets_AllocatesNothing()
    {
        Sessions(svr: false, Plain, 5201, firstPort: 1000, count: 50);
        var (first, later) = Sessions(svr: false, Plain, 5201, firstPort: 2000, count: 200);

        Assert.Equal(0, first);
        Assert.Equal(0, later);
        Assert.Equal(250, _dc.Worker.Counters.SessionsCreated);
        Assert.Equal(0, _dc.Worker.Counters.Dropped);
        Assert.Equal(250 * 6, _dcSvc.Sent + _dcLocal.Sent);
    }

    [Theory]
    [InlineData(5201)]
    [InlineData(5432)]
    public void Process_SvrSessionFirstAndLaterPackets_AllocatesNothing(ushort port)
    {
        var service = port == 5201 ? Plain : Sealed;
        Sessions(svr: true, service, port, firstPort: 1000, count: 50);
        var (first, later) = Sessions(svr: true, service, port, firstPort: 2000, count: 200);

        Assert.Equal(0, first);
        Assert.Equal(0, later);
        Assert.Equal(250, _br.Worker.Counters.SessionsCreated);
        Assert.Equal(250, _dc.Worker.Counters.SessionsCreated);
        Assert.Equal(0, _br.Worker.Counters.Dropped + _dc.Worker.Counters.Dropped);
        Assert.Equal(250 * 3, _dcSvc.Sent);
        Assert.Equal(250 * 3, _brLan.Sent);
    }

    public void Dispose()
    {
        _br.Dispose();
        _dc.Dispose();
    }

    /// <summary>
    /// Opens <paramref name="count"/> TCP sessions (SYN, SYN-ACK: the first packet each way), then sends two data
    /// segments each way on each. Returns the bytes this thread allocated for the first packets and for the later ones.
    /// </summary>
    private (long First, long Later) Sessions(bool svr, uint service, ushort port, int firstPort, int count)
    {
        var client = svr ? BranchClient : LocalClient;
        var opening = new (byte[] Forward, byte[] Reverse)[count];
        var data = new (byte[] Forward, byte[] Reverse)[count];
        for (var i = 0; i < count; i++)
        {
            var clientPort = (ushort)(firstPort + i);
            opening[i] = (
                Frame(Packets.Tcp(client, service, clientPort, port, TcpFlags.Syn, 100, 0, [])),
                Frame(Packets.Tcp(service, client, port, clientPort, TcpFlags.Syn | TcpFlags.Ack, 500, 101, [])));
            data[i] = (
                Frame(Packets.Tcp(client, service, clientPort, port, TcpFlags.Ack | TcpFlags.Psh, 101, 501, new byte[1200])),
                Frame(Packets.Tcp(service, client, port, clientPort, TcpFlags.Ack | TcpFlags.Psh, 501, 1301, new byte[1200])));
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        foreach (var (forward, reverse) in opening)
        {
            RoundTrip(svr, forward, reverse);
        }

        var first = GC.GetAllocatedBytesForCurrentThread() - before;
        before = GC.GetAllocatedBytesForCurrentThread();
        for (var round = 0; round < 2; round++)
        {
            foreach (var (forward, reverse) in data)
            {
                RoundTrip(svr, forward, reverse);
            }
        }

        return (first, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    /// <summary>Local: client → dc → instance; instance → dc → client. SVR: client → br → WAN → dc → instance; instance → dc → WAN → br → client.</summary>
    private void RoundTrip(bool svr, byte[] fromClient, byte[] fromInstance)
    {
        if (!svr)
        {
            Pass(_dc, fromClient, port: 2);
            Pass(_dc, fromInstance, port: 1);
            return;
        }

        Pass(_br, fromClient, port: 1);
        Pass(_dc, _brWan.Last, port: 0);
        Pass(_dc, fromInstance, port: 1);
        Pass(_br, _dcWan.Last, port: 0);
    }

    private void Pass(ForwardingEngine router, ReadOnlySpan<byte> frame, int port)
    {
        frame.CopyTo(_buffer);
        router.Worker.Process(_buffer, frame.Length, port, router.Now, router.Snapshot);
    }

    private static byte[] Frame(byte[] ip)
    {
        var frame = new byte[EthernetFrame.UntaggedHeaderLength + ip.Length];
        new EthernetHeader(new MacAddress(0x02_00_00_00_0E_01), new MacAddress(0x02_00_00_00_0E_99), EtherType.Ipv4).Emit(frame);
        ip.CopyTo(frame, EthernetFrame.UntaggedHeaderLength);
        return frame;
    }
}
