using Fabric.Config;
using Fabric.Dataplane.Io;
using Fabric.Dataplane.Io.InMemory;
using Fabric.Dataplane.Routing;
using Fabric.Dataplane.Svr.Security;
using Fabric.Dataplane.Wire;
using Org.BouncyCastle.Crypto.Digests;
using Org.BouncyCastle.Crypto.Prng;
using Org.BouncyCastle.Security;

namespace Fabric.Benchmarks.Pipeline;

/// <summary>
/// Two routers on capture ports, frames handed from one to the next in memory: br (clients on its LAN) and dc (the
/// services' instances, and a local client network). A local session is c2 → dc → sink1; an SVR session is
/// c1 → br → WAN → dc → sink1 (plain) or db1 (encrypted), with peer keys installed, so metadata is authenticated as in
/// a lab. The services, sink1, db1 and c1 are dual-stack: an IPv6 session crosses the IPv4 WAN as IPv4 between the
/// waypoints (over an IPv6 WAN, with <c>ipv6Wan</c>, sessions of both families cross as IPv6). The benchmarks and the
/// pipeline's allocation tests share it. Not thread-safe.
/// </summary>
internal sealed class PipelineRouters : IDisposable
{
    public const ushort ServicePort = 5201;

    public const ushort SealedServicePort = 5432;

    private const string Config = """
        fabric {
          tenants { clients {} }
          services {
            plain { addresses = ["10.10.1.30/32", "fd00:10:1::30/128"], transports = [{ protocol = tcp, ports = ["5201"] }, { protocol = udp, ports = ["5201"] }], access = [clients], instances = [{ container = sink1 }] }
            sealed { addresses = ["10.10.1.20/32", "fd00:10:1::20/128"], transports = [{ protocol = tcp, ports = ["5432"] }], access = [clients], policy = secure, instances = [{ container = db1 }] }
          }
          service-policies { secure { encryption = required } }
          neighborhoods { wan {} }
          routers {
            dc {
              nodes { dca { management-address = "10.99.0.11" } }
              interfaces { wan0 { addresses = ["172.16.0.1/24"], neighborhoods = [wan] } }
              networks {
                svc {
                  gateways = ["10.10.1.1/24", "fd00:10:1::1/64"]
                  containers { sink1 { addresses = ["10.10.1.30", "fd00:10:1::30"] }, db1 { addresses = ["10.10.1.20", "fd00:10:1::20"] } }
                }
                local { gateways = ["10.40.1.1/24"], tenant = clients, containers { c2 { addresses = ["10.40.1.10"] } } }
              }
            }
            br {
              nodes { bra { management-address = "10.99.0.12" } }
              interfaces { wan0 { addresses = ["172.16.0.2/24"], neighborhoods = [wan] } }
              networks { lan { gateways = ["10.30.1.1/24", "fd00:30:1::1/64"], tenant = clients, containers { c1 { addresses = ["10.30.1.10", "fd00:30:1::10"] } } } }
            }
          }
        }
        """;

    public static readonly uint BranchClient = IpAddressConversions.ParseIpv4("10.30.1.10");
    public static readonly uint LocalClient = IpAddressConversions.ParseIpv4("10.40.1.10");
    public static readonly uint Service = IpAddressConversions.ParseIpv4("10.10.1.30");

    /// <summary>The service whose sessions are encrypted between the routers.</summary>
    public static readonly uint SealedService = IpAddressConversions.ParseIpv4("10.10.1.20");

    /// <summary>The branch client's IPv6 address.</summary>
    public static readonly UInt128 BranchClient6 = IpAddressConversions.ParseIpv6("fd00:30:1::10");

    /// <summary>The plain service's (and sink1's) IPv6 address.</summary>
    public static readonly UInt128 Service6 = IpAddressConversions.ParseIpv6("fd00:10:1::30");

    /// <summary>The encrypted service's (and db1's) IPv6 address.</summary>
    public static readonly UInt128 SealedService6 = IpAddressConversions.ParseIpv6("fd00:10:1::20");

    private readonly CapturePort _brWan = new("wan0", new MacAddress(0x02_00_00_00_0F_01));
    private readonly CapturePort _brLan = new("lan", new MacAddress(0x02_00_00_00_0F_02));
    private readonly CapturePort _dcWan = new("wan0", new MacAddress(0x02_00_00_00_0F_03));
    private readonly CapturePort _dcSvc = new("svc", new MacAddress(0x02_00_00_00_0F_04));
    private readonly CapturePort _dcLocal = new("local", new MacAddress(0x02_00_00_00_0F_05));
    private readonly byte[] _buffer = new byte[PacketBuffer.DefaultCapacity];
    private readonly byte[] _superPacket = new byte[PacketBuffer.SuperPacketCapacity];
    private readonly string _config;
    private readonly ForwardingEngine _br;
    private readonly ForwardingEngine _dc;

    /// <param name="sessions">Sessions each router holds at least.</param>
    /// <param name="time">The routers' clock (a test's manual one); null: the system's.</param>
    /// <param name="ipv6Wan">Whether the WAN is IPv6 (waypoints fd00:16::1 on dc, ::2 on br) rather than IPv4.</param>
    public PipelineRouters(int sessions, TimeProvider? time = null, bool ipv6Wan = false)
    {
        var config = ipv6Wan ? Config.Replace("\"172.16.0.1/24\"", "\"fd00:16::1/64\"", StringComparison.Ordinal).Replace("\"172.16.0.2/24\"", "\"fd00:16::2/64\"", StringComparison.Ordinal) : Config;
        var model = FabricConfigLoader.Load(config).Config ?? throw new InvalidOperationException("the benchmark configuration does not load");
        _br = new ForwardingEngine("br", [_brWan, _brLan], new RouterOptions(SessionCapacity: sessions * 2, Seed: 0x5eed), time);
        _dc = new ForwardingEngine("dc", [_dcWan, _dcSvc, _dcLocal], new RouterOptions(SessionCapacity: sessions * 2, Seed: 0x5eed), time);
        _config = config;
        _br.Apply(model, 1);
        _dc.Apply(model, 1);
        var host = new MacAddress(0x02_00_00_00_0F_99);
        _br.Worker.Neighbors.AddPermanent(0, ipv6Wan ? IpAddressConversions.ParseIpv6("fd00:16::1") : IpAddressConversions.ParseIpv4("172.16.0.1"), ipv6Wan, _dcWan.Mac);
        _br.Worker.Neighbors.AddPermanent(1, BranchClient, isIpv6: false, host);
        _dc.Worker.Neighbors.AddPermanent(0, ipv6Wan ? IpAddressConversions.ParseIpv6("fd00:16::2") : IpAddressConversions.ParseIpv4("172.16.0.2"), ipv6Wan, _brWan.Mac);
        _dc.Worker.Neighbors.AddPermanent(1, Service, isIpv6: false, host);
        _dc.Worker.Neighbors.AddPermanent(1, SealedService, isIpv6: false, host);
        _dc.Worker.Neighbors.AddPermanent(2, LocalClient, isIpv6: false, host);
        _br.Worker.Neighbors.AddPermanent(1, BranchClient6, isIpv6: true, host);
        _dc.Worker.Neighbors.AddPermanent(1, Service6, isIpv6: true, host);
        _dc.Worker.Neighbors.AddPermanent(1, SealedService6, isIpv6: true, host);
        var br = RouterIdentity.Generate("br", Seeded(1));
        var dc = RouterIdentity.Generate("dc", Seeded(2));
        var nonceBr = new byte[PeerKeyAgreement.EpochNonceLength];
        var nonceDc = Enumerable.Repeat((byte)1, PeerKeyAgreement.EpochNonceLength).ToArray();
        PeerKeyAgreement.TryDerive(br, new PinnedPeer("dc", dc.PublicKey), dc.PublicKey, 1, nonceBr, nonceDc, out var brKeys);
        PeerKeyAgreement.TryDerive(dc, new PinnedPeer("br", br.PublicKey), br.PublicKey, 1, nonceDc, nonceBr, out var dcKeys);
        _br.InstallPeerKeys("dc", brKeys!);
        _dc.InstallPeerKeys("br", dcKeys!);
        _br.RunOnce();
        _dc.RunOnce();
    }

    /// <summary>Applies the configuration, its text changed by <paramref name="edit"/>, to both routers as <paramref name="version"/>.</summary>
    public void Apply(Func<string, string> edit, long version)
    {
        ArgumentNullException.ThrowIfNull(edit);
        var model = FabricConfigLoader.Load(edit(_config)).Config ?? throw new InvalidOperationException("the edited configuration does not load");
        _br.Apply(model, version);
        _dc.Apply(model, version);
    }

    public ForwardingEngine Branch => _br;

    public ForwardingEngine Datacenter => _dc;

    /// <summary>Packets both routers dropped (a benchmark that drops measures the wrong path).</summary>
    public long Dropped => _br.Worker.Counters.Dropped + _dc.Worker.Counters.Dropped;

    /// <summary>Frames delivered to the services' instances, to the local client and to the branch client.</summary>
    public (long Instances, long LocalClient, long BranchClient) Delivered => (_dcSvc.Sent, _dcLocal.Sent, _brLan.Sent);

    /// <summary>Client → dc → instance: one router pass.</summary>
    public void LocalForward(byte[] frame) => Pass(_dc, frame, port: 2);

    /// <summary>Instance → dc → client: one router pass.</summary>
    public void LocalReverse(byte[] frame) => Pass(_dc, frame, port: 1);

    /// <summary>Client → br → WAN → dc → instance: two router passes.</summary>
    public void SvrForward(byte[] frame)
    {
        Pass(_br, frame, port: 1);
        Pass(_dc, _brWan.Last, port: 0);
    }

    /// <summary>Instance → dc → WAN → br → client: two router passes.</summary>
    public void SvrReverse(byte[] frame)
    {
        Pass(_dc, frame, port: 1);
        Pass(_br, _dcWan.Last, port: 0);
    }

    /// <summary>
    /// A super-packet from the client → br (whole or cut there) → WAN: its last packet → dc → instance. Returns the packets
    /// the super-packet stood for.
    /// </summary>
    public int SvrForwardSuperPacket(ReadOnlySpan<byte> frame, in SegmentationOffload offload)
    {
        frame.CopyTo(_superPacket);
        var packets = _br.Worker.ProcessSuperPacket(_superPacket, frame.Length, offload, 1, _br.Now, _br.Snapshot);
        Pass(_dc, _brWan.Last, port: 0);
        return packets;
    }

    /// <summary>A super-packet from the instance → dc (whole or cut there) → WAN: its last packet → br → client. Returns the packets it stood for.</summary>
    public int SvrReverseSuperPacket(ReadOnlySpan<byte> frame, in SegmentationOffload offload)
    {
        frame.CopyTo(_superPacket);
        var packets = _dc.Worker.ProcessSuperPacket(_superPacket, frame.Length, offload, 1, _dc.Now, _dc.Snapshot);
        Pass(_br, _dcWan.Last, port: 0);
        return packets;
    }

    /// <summary>dc's last frame on the WAN → br: one router pass (after <see cref="SvrForward"/>, a frame of dc's own).</summary>
    public void WanToBranch() => Pass(_br, _dcWan.Last, port: 0);

    /// <summary>An Ethernet frame of <paramref name="size"/> octets holding an IPv4 UDP datagram with correct checksums.</summary>
    public static byte[] UdpFrame(uint source, uint destination, ushort sourcePort, ushort destinationPort, int size)
    {
        var frame = new byte[size];
        new EthernetHeader(new MacAddress(0x02_00_00_00_0F_01), new MacAddress(0x02_00_00_00_0F_99), EtherType.Ipv4).Emit(frame);
        var ip = frame.AsSpan(EthernetFrame.UntaggedHeaderLength);
        new Ipv4Header(0, 0, (ushort)ip.Length, 1, true, false, 0, 64, IpProtocol.Udp, 0,
            IpAddressConversions.ToIPAddress(source), IpAddressConversions.ToIPAddress(destination)).Emit(ip);
        if (!Ipv4Packet.TryCreate(ip, out var packet))
        {
            throw new InvalidOperationException("the benchmark frame is not an IPv4 packet");
        }

        packet.UpdateHeaderChecksum();
        var udp = packet.Payload;
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(udp, sourcePort);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(udp[2..], destinationPort);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(udp[4..], (ushort)udp.Length);
        if (!UdpDatagram.TryCreate(udp, out var datagram))
        {
            throw new InvalidOperationException("the benchmark frame holds no UDP datagram");
        }

        datagram.UpdateChecksum(packet.PseudoHeaderSum());
        return frame;
    }

    /// <summary>An Ethernet frame of <paramref name="size"/> octets holding an IPv4 TCP segment with correct checksums.</summary>
    public static byte[] Frame(uint source, uint destination, ushort sourcePort, ushort destinationPort, TcpFlags flags, int size)
    {
        var frame = new byte[size];
        new EthernetHeader(new MacAddress(0x02_00_00_00_0F_01), new MacAddress(0x02_00_00_00_0F_99), EtherType.Ipv4).Emit(frame);
        var ip = frame.AsSpan(EthernetFrame.UntaggedHeaderLength);
        new Ipv4Header(0, 0, (ushort)ip.Length, 1, true, false, 0, 64, IpProtocol.Tcp, 0,
            IpAddressConversions.ToIPAddress(source), IpAddressConversions.ToIPAddress(destination)).Emit(ip);
        if (!Ipv4Packet.TryCreate(ip, out var packet))
        {
            throw new InvalidOperationException("the benchmark frame is not an IPv4 packet");
        }

        packet.UpdateHeaderChecksum();
        new TcpHeader(sourcePort, destinationPort, 1, 1, flags, 65535, 0, 0).Emit(packet.Payload);
        if (!TcpSegment.TryCreate(packet.Payload, out var tcp))
        {
            throw new InvalidOperationException("the benchmark frame holds no TCP segment");
        }

        tcp.UpdateChecksum(packet.PseudoHeaderSum());
        return frame;
    }

    /// <summary>An Ethernet frame of <paramref name="size"/> octets holding an IPv6 TCP segment with a correct checksum.</summary>
    public static byte[] Frame6(UInt128 source, UInt128 destination, ushort sourcePort, ushort destinationPort, TcpFlags flags, int size)
    {
        var frame = new byte[size];
        new EthernetHeader(new MacAddress(0x02_00_00_00_0F_01), new MacAddress(0x02_00_00_00_0F_99), EtherType.Ipv6).Emit(frame);
        var ip = frame.AsSpan(EthernetFrame.UntaggedHeaderLength);
        new Ipv6Header(0, 0, (ushort)(ip.Length - Ipv6Packet.HeaderLength), IpProtocol.Tcp, 64,
            IpAddressConversions.ToIPAddress(source), IpAddressConversions.ToIPAddress(destination)).Emit(ip);
        if (!Ipv6Packet.TryCreate(ip, out var packet))
        {
            throw new InvalidOperationException("the benchmark frame is not an IPv6 packet");
        }

        new TcpHeader(sourcePort, destinationPort, 1, 1, flags, 65535, 0, 0).Emit(packet.UpperLayer);
        if (!TcpSegment.TryCreate(packet.UpperLayer, out var tcp))
        {
            throw new InvalidOperationException("the benchmark frame holds no TCP segment");
        }

        tcp.UpdateChecksum(packet.PseudoHeaderSum());
        return frame;
    }

    public void Dispose()
    {
        _br.Dispose();
        _dc.Dispose();
    }

    private static SecureRandom Seeded(int seed)
    {
        var random = new SecureRandom(new DigestRandomGenerator(new Sha256Digest()));
        random.SetSeed(BitConverter.GetBytes(seed));
        return random;
    }

    private void Pass(ForwardingEngine router, ReadOnlySpan<byte> frame, int port)
    {
        frame.CopyTo(_buffer);
        router.Worker.Process(_buffer, frame.Length, port, router.Now, router.Snapshot);
    }
}
