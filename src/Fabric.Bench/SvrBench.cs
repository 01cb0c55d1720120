using System.Diagnostics;
using Fabric.Config;
using Fabric.Dataplane.Io;
using Fabric.Dataplane.Io.InMemory;
using Fabric.Dataplane.Routing;
using Fabric.Dataplane.Svr.Security;
using Fabric.Dataplane.Wire;
using Fabric.Model;
using Org.BouncyCastle.Security;

namespace Fabric.Bench;

/// <summary>
/// <c>fabric bench svr</c>: two routers (branch br, datacenter dc) joined by a WAN, packets handed from one to
/// the other in memory: the cost of SVR on an established session, plain and encrypted, the cost of setting
/// a session up with metadata both ways, and the bytes SVR adds on the wire. Nothing here is asserted.
/// </summary>
public static class SvrBench
{
    /// <summary>The payload-carrying frames (Ethernet included) of the established-session figures.</summary>
    public const int FrameSize = 1400;

    private const string Config = """
        fabric {
          tenants { clients {} }
          services {
            plain { addresses = ["10.10.1.30/32"], transports = [{ protocol = tcp, ports = ["5201"] }], access = [clients], instances = [{ container = sink1 }] }
            sealed { addresses = ["10.10.1.20/32"], transports = [{ protocol = tcp, ports = ["5432"] }], access = [clients], policy = secure, instances = [{ container = db1 }] }
          }
          service-policies { secure { encryption = required } }
          neighborhoods { wan {} }
          routers {
            dc {
              nodes { dca { management-address = "10.99.0.11" } }
              interfaces { wan0 { addresses = ["172.16.0.1/24"], neighborhoods = [wan] } }
              networks { svc { gateways = ["10.10.1.1/24"], containers { sink1 { addresses = ["10.10.1.30"] }, db1 { addresses = ["10.10.1.20"] } } } }
            }
            br {
              nodes { bra { management-address = "10.99.0.12" } }
              interfaces { wan0 { addresses = ["172.16.0.2/24"], neighborhoods = [wan] } }
              networks { lan { gateways = ["10.30.1.1/24"], tenant = clients, containers { c1 { addresses = ["10.30.1.10"] } } } }
            }
          }
        }
        """;

    public sealed record Result(
        double NsPerPacketPlain, double NsPerPacketEncrypted, double SessionSetupNs,
        int OverheadBytesPerPacketPlain, int OverheadBytesPerPacketEncrypted, double AllocBytesPerPacket, double AesGcmBaselineNs,
        int Sessions, long Packets, bool Quick);

    public static Result Run(bool quick, Action<string> progress)
    {
        var model = FabricConfigLoader.Load(Config).Config ?? throw new InvalidOperationException("the bench configuration does not load");
        var client = IpAddressConversions.ParseIpv4("10.30.1.10");
        var plainAddress = IpAddressConversions.ParseIpv4("10.10.1.30");
        var sealedAddress = IpAddressConversions.ParseIpv4("10.10.1.20");
        var pair = new RouterPair(model, 45_000);

        progress("deriving peer keys (X25519 + HKDF) for br and dc");
        var random = new SecureRandom();
        var br = RouterIdentity.Generate("br", random);
        var dc = RouterIdentity.Generate("dc", random);
        var nonceBr = new byte[PeerKeyAgreement.EpochNonceLength];
        var nonceDc = new byte[PeerKeyAgreement.EpochNonceLength];
        random.NextBytes(nonceBr);
        random.NextBytes(nonceDc);
        PeerKeyAgreement.TryDerive(br, new PinnedPeer("dc", dc.PublicKey), dc.PublicKey, 1, nonceBr, nonceDc, out var brKeys);
        PeerKeyAgreement.TryDerive(dc, new PinnedPeer("br", br.PublicKey), br.PublicKey, 1, nonceDc, nonceBr, out var dcKeys);
        pair.Branch.InstallPeerKeys("dc", brKeys!);
        pair.Datacenter.InstallPeerKeys("br", dcKeys!);
        pair.InstallKeys();

        var sessions = quick ? 5_000 : 40_000;
        progress($"setting up {sessions:N0} sessions: SYN with forward metadata, SYN-ACK with reverse metadata");
        var syns = new byte[sessions][];
        var synAcks = new byte[sessions][];
        for (var i = 0; i < sessions; i++)
        {
            var port = (ushort)(1024 + i);
            syns[i] = DataplaneBench.Frame(client, plainAddress, port, 5201, TcpFlags.Syn, 64);
            synAcks[i] = DataplaneBench.Frame(plainAddress, client, 5201, port, TcpFlags.Syn | TcpFlags.Ack, 64);
        }

        var watch = Stopwatch.StartNew();
        for (var i = 0; i < sessions; i++)
        {
            pair.RoundTrip(syns[i], synAcks[i]);
        }

        watch.Stop();
        var setupNs = watch.Elapsed.TotalNanoseconds / sessions;

        var packets = quick ? 100_000 : 1_000_000;
        progress($"timing {packets:N0} round trips of {FrameSize}-byte frames on an established plain session");
        var plain = Established(pair, client, plainAddress, 5201, packets);
        progress($"timing {packets:N0} round trips of {FrameSize}-byte frames on an established encrypted session (AES-256-GCM)");
        var encrypted = Established(pair, client, sealedAddress, 5432, packets);
        progress($"drops in both routers: {pair.Drops()}");
        progress("timing AesGcm.Encrypt of the same payload alone (the baseline of the encrypted figure)");
        var aesNs = AesGcmBaseline(FrameSize - 14 - 20 - 20, packets);
        return new Result(
            plain.NsPerPass, encrypted.NsPerPass, setupNs, plain.Overhead, encrypted.Overhead,
            (plain.Allocated + encrypted.Allocated) / (8.0 * packets), aesNs, sessions, packets, quick);
    }

    /// <summary>Nanoseconds of one .NET <see cref="System.Security.Cryptography.AesGcm"/> encryption (AES-256, 16-byte tag) of <paramref name="length"/> bytes in place.</summary>
    private static double AesGcmBaseline(int length, int count)
    {
        var payload = new byte[length];
        var nonce = new byte[PacketSealer.NonceLength];
        var tag = new byte[PacketSealer.TagLength];
        using var aes = new System.Security.Cryptography.AesGcm(new byte[32], PacketSealer.TagLength);
        for (var i = 0; i < 10_000; i++)
        {
            aes.Encrypt(nonce, payload, payload, tag);
        }

        var watch = Stopwatch.StartNew();
        for (var i = 0; i < count; i++)
        {
            aes.Encrypt(nonce, payload, payload, tag);
        }

        return watch.Elapsed.TotalNanoseconds / count;
    }

    /// <summary>
    /// Opens one session, then times <paramref name="packets"/> round trips of full-size data frames, each through
    /// both routers and back: four router passes (ingress rewrite, egress restore, and the same back). Returns
    /// nanoseconds per pass, the bytes the wire frame carries beyond the client's, and what was allocated.
    /// </summary>
    private static (double NsPerPass, int Overhead, long Allocated) Established(RouterPair pair, uint client, uint service, ushort port, int packets)
    {
        pair.RoundTrip(
            DataplaneBench.Frame(client, service, 999, port, TcpFlags.Syn, 64),
            DataplaneBench.Frame(service, client, port, 999, TcpFlags.Syn | TcpFlags.Ack, 64));
        var forward = DataplaneBench.Frame(client, service, 999, port, TcpFlags.Ack | TcpFlags.Psh, FrameSize);
        var reverse = DataplaneBench.Frame(service, client, port, 999, TcpFlags.Ack | TcpFlags.Psh, FrameSize);
        for (var i = 0; i < 1000; i++)
        {
            pair.RoundTrip(forward, reverse);
        }

        var overhead = pair.LastWireLength - forward.Length;
        var (elapsed, allocated) = ThreadAllocations.During(() =>
        {
            var watch = Stopwatch.StartNew();
            for (var i = 0; i < packets; i++)
            {
                pair.RoundTrip(forward, reverse);
            }

            return watch.Elapsed;
        });
        return (elapsed.TotalNanoseconds / (4.0 * packets), overhead, allocated);
    }

    /// <summary>Two routers whose WAN ports hand each frame straight to the other, with every neighbour known.</summary>
    private sealed class RouterPair
    {
        private readonly CapturePort _brWan = new("wan0", new MacAddress(0x02_00_00_00_0B_01));
        private readonly CapturePort _brLan = new("lan", new MacAddress(0x02_00_00_00_0B_02));
        private readonly CapturePort _dcWan = new("wan0", new MacAddress(0x02_00_00_00_0D_01));
        private readonly CapturePort _dcSvc = new("svc", new MacAddress(0x02_00_00_00_0D_02));
        private readonly byte[] _buffer = new byte[PacketBuffer.DefaultCapacity];
        private readonly long _now = Stopwatch.GetTimestamp();

        public RouterPair(FabricConfig model, int sessions)
        {
            Branch = new ForwardingEngine("br", [_brWan, _brLan], new RouterOptions(SessionCapacity: sessions * 2));
            Datacenter = new ForwardingEngine("dc", [_dcWan, _dcSvc], new RouterOptions(SessionCapacity: sessions * 2));
            Branch.Apply(model, 1);
            Datacenter.Apply(model, 1);
            var host = new MacAddress(0x02_00_00_00_00_99);
            Branch.Worker.Neighbors.AddPermanent(0, IpAddressConversions.ParseIpv4("172.16.0.1"), isIpv6: false, _dcWan.Mac);
            Branch.Worker.Neighbors.AddPermanent(1, IpAddressConversions.ParseIpv4("10.30.1.10"), isIpv6: false, host);
            Datacenter.Worker.Neighbors.AddPermanent(0, IpAddressConversions.ParseIpv4("172.16.0.2"), isIpv6: false, _brWan.Mac);
            Datacenter.Worker.Neighbors.AddPermanent(1, IpAddressConversions.ParseIpv4("10.10.1.30"), isIpv6: false, host);
            Datacenter.Worker.Neighbors.AddPermanent(1, IpAddressConversions.ParseIpv4("10.10.1.20"), isIpv6: false, host);
        }

        /// <summary>Keys handed in are installed before a router's next round: this gives both that round.</summary>
        public void InstallKeys()
        {
            Branch.RunOnce();
            Datacenter.RunOnce();
        }

        /// <summary>What the two routers dropped, for the progress output.</summary>
        public string Drops()
        {
            var text = "";
            foreach (var reason in Enum.GetValues<Fabric.Dataplane.Pipeline.DropReason>())
            {
                var count = Branch.Worker.Drops.Total(reason) + Datacenter.Worker.Drops.Total(reason);
                text += count > 0 ? $" {reason}={count}" : "";
            }

            return text.Length == 0 ? "none" : text;
        }

        public ForwardingEngine Branch { get; }

        public ForwardingEngine Datacenter { get; }

        /// <summary>The length of the last frame that crossed the WAN from br to dc.</summary>
        public int LastWireLength { get; private set; }

        /// <summary>Client frame → br → WAN → dc → instance; instance frame → dc → WAN → br → client.</summary>
        public void RoundTrip(byte[] fromClient, byte[] fromInstance)
        {
            Pass(Branch, fromClient, port: 1);
            LastWireLength = _brWan.LastLength;
            Pass(Datacenter, _brWan.Last, port: 0);
            Pass(Datacenter, fromInstance, port: 1);
            Pass(Branch, _dcWan.Last, port: 0);
        }

        private void Pass(ForwardingEngine router, ReadOnlySpan<byte> frame, int port)
        {
            frame.CopyTo(_buffer);
            router.Worker.Process(_buffer, frame.Length, port, _now, router.Snapshot);
        }
    }
}
