using Fabric.Dataplane.Io;
using Fabric.Dataplane.Io.InMemory;
using Fabric.Dataplane.Pipeline;
using Fabric.Dataplane.Routing;
using Fabric.Dataplane.Wire;
using Fabric.Model;
using Fabric.Dataplane.Svr.Security;
using Fabric.Tests.Dataplane.Routing;
using Fabric.Tests.Dataplane.Svr.Security;
using Fabric.Tests.Support;

namespace Fabric.Tests.Dataplane.Svr.Routers;

/// <summary>
/// The default lab fabric (hocon/lab.conf, through the real loader) on in-memory links: branches br1
/// (host-based eng1, guest1) and br2 (bridged eng2, fin1), datacenter dc1 (bridged web1, web2, db1, bulk1),
/// all three routers' wan0 on one WAN bridge. web1, web2 and eng1 also hold the IPv6 addresses a test may give them in the
/// document (<see cref="DualStack"/>). dc1's wan0 is wrapped in a <see cref="WirePort"/> so tests
/// see (and may tamper with) what crosses the wire to it; <see cref="Attacker"/> is a stray host on the WAN.
/// </summary>
public sealed class SvrFabric : IDisposable
{
    private static ulong _mac = 0x02_00_00_00_05_00;
    // Each engine (each router process) its own key sender value, distinct rather than drawn at random, so no
    // test depends on two draws differing.
    private static uint _keySender;
    private readonly IPacketPort[] _dc1Ports;
    private readonly IPacketPort[] _br1Ports;
    private readonly int _workers;
    private readonly int _dc1Workers;

    /// <param name="edit">Changes to the document's text.</param>
    /// <param name="unauthenticatedMetadata">Whether the WAN opts in to unauthenticated metadata (see <see cref="Document"/>).</param>
    /// <param name="workers">
    /// Packet workers per router: above 1 each in-memory port is fanned out over the workers as AF_PACKET fanout spreads a
    /// device (<see cref="InMemoryPort.Fanout"/>), and the WAN ports are not wrapped (<see cref="DcWan"/>, <see cref="BrWan"/> see nothing).
    /// </param>
    /// <param name="dc1Workers">dc1's packet workers when not <paramref name="workers"/> (0: as the branches).</param>
    /// <param name="superPackets">
    /// Whether br1's and dc1's WAN ports, br1's eng1 port and dc1's svc port take super-packets whole (each an
    /// <see cref="OffloadPort"/> over the port it would be, in <see cref="Offloads"/>), as AF_PACKET ports with
    /// <c>PACKET_VNET_HDR</c> do. One worker only.
    /// </param>
    /// <param name="serviceLanMtu">The MTU of dc1's svc port (its link toward the instances), which may be below the WAN's.</param>
    /// <param name="withDc2">
    /// Whether the fabric has a fourth router, dc2 (wan0 172.16.0.4, a bridged network apps with gateway 10.10.1.253/24
    /// and the container spare2, 10.10.1.99), added to the document (<see cref="WithDc2"/>), with the host
    /// <see cref="Mover"/> (10.10.1.40) on apps.
    /// </param>
    /// <param name="withBr1Apps">
    /// Whether br1 has a third port, apps (a bridge), with the host <see cref="Homecomer"/> (10.10.1.40, gateway
    /// 10.10.1.252) on it: where a container of dc1's service LAN lands when it moves to br1 keeping its address. The
    /// document gives br1 a network on it only where a test adds one (<see cref="WithBr1Apps"/>).
    /// </param>
    public SvrFabric(
        Func<string, string>? edit = null, bool unauthenticatedMetadata = true, int workers = 1, bool superPackets = false, int dc1Workers = 0, int serviceLanMtu = 1500,
        bool withDc2 = false, bool withBr1Apps = false)
    {
        _withDc2 = withDc2;
        _workers = workers;
        _dc1Workers = dc1Workers > 0 ? dc1Workers : workers;
        Model = Document(edit ?? (text => text), unauthenticatedMetadata);
        var wan = new InMemoryBridge();
        IPacketPort Offload(IPacketPort port, string name) => superPackets ? Offloads[name] = new OffloadPort(port) : port;

        var svc = new InMemoryBridge();
        DcWan = new WirePort(wan.Attach("wan0", NextMac()));
        _dc1Ports = [Offload(DcWan, "dc1/wan0"), Offload(svc.Attach("svc", NextMac(), serviceLanMtu), "dc1/svc")];
        Dc1 = Start("dc1", _dc1Ports);
        Web1 = Server("web1", svc, "10.10.1.11", "10.10.1.1", "fd00:10:1::11");
        Web2 = Server("web2", svc, "10.10.1.12", "10.10.1.1", "fd00:10:1::12");
        Db1 = Server("db1", svc, "10.10.1.20", "10.10.1.1");
        Bulk1 = Server("bulk1", svc, "10.10.1.30", "10.10.1.1");
        Ops1 = Host("ops1", svc, "10.10.1.40", "10.10.1.1", "fd00:10:1::40");

        var eng1Link = new InMemoryLink("eng1", NextMac(), "eng1-c", NextMac());
        var guest1Link = new InMemoryLink("guest1", NextMac(), "guest1-c", NextMac());
        BrWan = new WirePort(wan.Attach("wan0", NextMac()));
        var br1Apps = withBr1Apps ? new InMemoryBridge() : null;
        _br1Ports = br1Apps is null
            ? [Offload(BrWan, "br1/wan0"), Offload(eng1Link.A, "br1/eng1"), guest1Link.A]
            : [Offload(BrWan, "br1/wan0"), Offload(eng1Link.A, "br1/eng1"), guest1Link.A, br1Apps.Attach("apps", NextMac())];
        Br1 = Start("br1", _br1Ports);
        Eng1 = new TestHost("eng1", eng1Link.B, eng1Link.B.Mac, "10.20.1.10", "10.20.1.1") { Address6 = IpAddressConversions.ParseIpv6("fd00:20:1::10") };
        Guest1 = new TestHost("guest1", guest1Link.B, guest1Link.B.Mac, "10.20.1.20", "10.20.1.1");

        var lan = new InMemoryBridge();
        Br2Wan = new WirePort(wan.Attach("wan0", NextMac()));
        Br2 = Start("br2", [Br2Wan, lan.Attach("lan", NextMac())]);
        Eng2 = Host("eng2", lan, "10.30.1.10", "10.30.1.1");
        Fin1 = Host("fin1", lan, "10.30.1.20", "10.30.1.1");
        App2 = Server("app2", lan, "10.30.1.30", "10.30.1.1");
        Roamer = Server("roamer", lan, "10.10.1.40", "10.10.1.254", "fd00:10:1::40");
        Nomad = Host("nomad", lan, "10.20.1.10", "10.20.1.254", "fd00:20:1::10");

        var attackerMac = NextMac();
        Attacker = new TestHost("attacker", wan.Attach("attacker", attackerMac), attackerMac, "172.16.0.66", "172.16.0.1");
        Hosts = [Web1, Web2, Db1, Bulk1, Ops1, Eng1, Guest1, Eng2, Fin1, App2, Roamer, Nomad, Attacker];
        if (br1Apps is not null)
        {
            Homecomer = Server("homecomer", br1Apps, "10.10.1.40", "10.10.1.252");
            Hosts = [.. Hosts, Homecomer];
        }

        if (withDc2)
        {
            var apps = new InMemoryBridge();
            Dc2 = Start("dc2", [wan.Attach("wan0", NextMac()), apps.Attach("apps", NextMac())]);
            Mover = Server("mover", apps, "10.10.1.40", "10.10.1.253");
            Hosts = [.. Hosts, Mover];
        }
    }

    /// <summary>The fourth router when the fabric was made with one (<c>withDc2</c>), else null.</summary>
    public ForwardingEngine? Dc2 { get; }

    /// <summary>A server on dc2's apps network at 10.10.1.40 (the address ops1 and roamer have elsewhere), when there is a dc2.</summary>
    public TestHost? Mover { get; }

    /// <summary>A server on br1's apps port at 10.10.1.40 (ops1's address on dc1's service LAN), when br1 has that port (<c>withBr1Apps</c>).</summary>
    public TestHost? Homecomer { get; }

    private readonly bool _withDc2;

    public ManualTime Time { get; } = new();

    /// <summary>With super-packets: the ports that take them whole, by router and port ("br1/wan0", "br1/eng1", "dc1/wan0", "dc1/svc").</summary>
    public Dictionary<string, OffloadPort> Offloads { get; } = [];

    public FabricConfig Model { get; }

    public ForwardingEngine Dc1 { get; private set; }

    public ForwardingEngine Br1 { get; private set; }

    public ForwardingEngine Br2 { get; }

    /// <summary>dc1's WAN port: what reached dc1 over the wire.</summary>
    public WirePort DcWan { get; }

    /// <summary>br1's WAN port: what reached br1 over the wire.</summary>
    public WirePort BrWan { get; }

    /// <summary>br2's WAN port: what reached br2 over the wire.</summary>
    public WirePort Br2Wan { get; }

    public TestHost Web1 { get; }
    public TestHost Web2 { get; }
    public TestHost Db1 { get; }
    public TestHost Bulk1 { get; }
    public TestHost Eng1 { get; }
    public TestHost Guest1 { get; }
    public TestHost Eng2 { get; }
    public TestHost Fin1 { get; }

    /// <summary>A client on dc1's service LAN (10.10.1.40, fd00:10:1::40); the lab's configuration has no container for it unless a test adds one.</summary>
    public TestHost Ops1 { get; }

    /// <summary>A server on br2's LAN (10.30.1.30); the lab's configuration has no container for it unless a test adds one.</summary>
    public TestHost App2 { get; }

    /// <summary>
    /// A server on br2's LAN with ops1's addresses (10.10.1.40, gateway 10.10.1.254; fd00:10:1::40): where a container on dc1's service LAN
    /// lands when it moves to br2 keeping its address. Silent unless a test gives br2's LAN that gateway.
    /// </summary>
    public TestHost Roamer { get; }

    /// <summary>
    /// A client on br2's LAN with eng1's addresses (10.20.1.10, gateway 10.20.1.254; fd00:20:1::10, the address
    /// <see cref="DualStack"/> gives eng1): where eng1 lands when it moves from br1 to br2 keeping its addresses. Silent
    /// unless a test gives br2's LAN that gateway.
    /// </summary>
    public TestHost Nomad { get; }

    /// <summary>A host on the WAN that is no router: it sends hand-made waypoint packets.</summary>
    public TestHost Attacker { get; }

    public TestHost[] Hosts { get; }

    /// <summary>Moves frames between routers and hosts until nothing moves (bounded).</summary>
    public void Pump() => FramePump.Run(Dc2 is null ? [Dc1, Br1, Br2] : [Dc1, Br1, Br2, Dc2], Hosts);

    /// <summary>
    /// dc1 restarts: a new process on the same ports, with no session, neighbour or counter of before (also how a
    /// test stands in for dc1's HA partner node taking over: <paramref name="active"/> false starts it standing by).
    /// </summary>
    /// <param name="model">The document the new process starts with; null: <see cref="Model"/>.</param>
    public void RestartDc1(bool active = true, FabricConfig? model = null)
    {
        Dc1.Dispose();
        Dc1 = Start("dc1", _dc1Ports, active, model);
    }

    /// <summary>br1 restarts, as <see cref="RestartDc1"/>.</summary>
    /// <param name="seed">The new process's seed (session ids, hashes); null: the fabric's fixed one. A real process draws its own.</param>
    public void RestartBr1(bool active = true, ulong? seed = null)
    {
        Br1.Dispose();
        Br1 = Start("br1", _br1Ports, active, seed: seed);
    }

    /// <summary>
    /// lab.conf with each router node's identity pinned (public keys of seeded key pairs), edited, through the real
    /// loader. Most tests install no keys, so unless <paramref name="unauthenticatedMetadata"/> is false the WAN opts in
    /// to unauthenticated metadata; a router that has keys for a peer refuses unsealed metadata all the same.
    /// </summary>
    public FabricConfig Document(Func<string, string> edit, bool unauthenticatedMetadata = true) => RouterFixture.Load(DocumentText(edit, unauthenticatedMetadata));

    /// <summary>The text of <see cref="Document"/>: what a conductor commits for these routers.</summary>
    public string DocumentText(Func<string, string> edit, bool unauthenticatedMetadata = true)
    {
        ArgumentNullException.ThrowIfNull(edit);
        var pinned = _identities.Pin(Repository.Read("hocon/lab.conf"));
        var text = edit(_withDc2 ? WithDc2(pinned) : pinned);
        return unauthenticatedMetadata
            ? System.Text.RegularExpressions.Regex.Replace(text, "^    wan \\{", "    wan { allow-unauthenticated-metadata = true\n", System.Text.RegularExpressions.RegexOptions.Multiline)
            : text;
    }

    /// <summary>lab.conf with a fourth router, dc2, on the WAN (see the constructor's <c>withDc2</c>); its node's identity is not pinned.</summary>
    public static string WithDc2(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var edited = text.Replace(
            "\n  }\n\n  conductor {",
            """

                dc2 {
                  nodes { dc2a { management-address = "10.99.0.14" } }
                  interfaces {
                    wan0 { addresses = ["172.16.0.4/24"], neighborhoods = [wan] }
                  }
                  networks {
                    apps {
                      model = bridged
                      gateways = ["10.10.1.253/24"]
                      containers {
                        spare2 { addresses = ["10.10.1.99"] }
                      }
                    }
                  }
                }
              }

              conductor {
            """.Replace("\r", "", StringComparison.Ordinal),
            StringComparison.Ordinal);
        return edited.Contains("dc2 {", StringComparison.Ordinal) ? edited : throw new InvalidOperationException("lab.conf has no routers block to add dc2 to");
    }

    /// <summary>
    /// An edit of the document that gives br1 the bridged network apps (gateway <paramref name="gateway"/>, by default
    /// 10.10.1.252/24, on the port a fabric made <c>withBr1Apps</c> has) with <paramref name="containers"/> (HOCON container
    /// entries, one a line; none by default).
    /// </summary>
    public static string WithBr1Apps(string text, string containers = "", string gateway = "10.10.1.252/24")
    {
        ArgumentNullException.ThrowIfNull(text);
        const string hosts = "            guest1 { addresses = [\"10.20.1.20\"], tenant = guest }\n          }\n        }\n";
        var edited = text.Replace(
            hosts,
            hosts + $"        apps {{\n          model = bridged\n          gateways = [\"{gateway}\"]\n          containers {{\n{containers}          }}\n        }}\n",
            StringComparison.Ordinal);
        return edited.Contains($"\"{gateway}\"", StringComparison.Ordinal) ? edited : throw new InvalidOperationException("lab.conf has no br1 hosts network to add apps beside");
    }

    /// <summary>
    /// An edit of the document that gives web an IPv6 address (fd00:200::80) and its instances theirs (fd00:10:1::11,
    /// ::12 on dc1's svc LAN, fd00:10:1::/64), and eng1 one (fd00:20:1::10 on br1, fd00:20:1::/64): IPv6 sessions across
    /// routers over the IPv4 WAN.
    /// </summary>
    public static string DualStack(string text) => text
        .Replace("addresses = [\"10.200.0.80/32\"]", "addresses = [\"10.200.0.80/32\", \"fd00:200::80/128\"]", StringComparison.Ordinal)
        .Replace("gateways = [\"10.10.1.1/24\"]", "gateways = [\"10.10.1.1/24\", \"fd00:10:1::1/64\"]", StringComparison.Ordinal)
        .Replace("web1 { addresses = [\"10.10.1.11\"] }", "web1 { addresses = [\"10.10.1.11\", \"fd00:10:1::11\"] }", StringComparison.Ordinal)
        .Replace("web2 { addresses = [\"10.10.1.12\"] }", "web2 { addresses = [\"10.10.1.12\", \"fd00:10:1::12\"] }", StringComparison.Ordinal)
        .Replace("gateways = [\"10.20.1.1/24\"]", "gateways = [\"10.20.1.1/24\", \"fd00:20:1::1/64\"]", StringComparison.Ordinal)
        .Replace("eng1 { addresses = [\"10.20.1.10\"]", "eng1 { addresses = [\"10.20.1.10\", \"fd00:20:1::10\"]", StringComparison.Ordinal);

    /// <summary>
    /// An edit of the document that makes the WAN IPv6 only: the routers' wan0 addresses fd00:16::1 (dc1), ::2 (br1) and
    /// ::3 (br2) on fd00:16::/64 instead of 172.16.0.x, so their waypoints are IPv6 (the attacker stays an IPv4 host).
    /// </summary>
    public static string Ipv6Wan(string text) => text
        .Replace("\"172.16.0.1/24\"", "\"fd00:16::1/64\"", StringComparison.Ordinal)
        .Replace("\"172.16.0.2/24\"", "\"fd00:16::2/64\"", StringComparison.Ordinal)
        .Replace("\"172.16.0.3/24\"", "\"fd00:16::3/64\"", StringComparison.Ordinal);

    /// <summary>The single live session of a router whose reverse key's protocol and forward key match, as the tests look at it.</summary>
    public static SessionState OnlySession(ForwardingEngine router)
    {
        var sessions = router.Worker.Sessions;
        Assert.Equal(1, sessions.Count);
        for (var handle = 0; handle < sessions.Capacity; handle++)
        {
            if (sessions.IsLive(handle))
            {
                return sessions.Payload(handle);
            }
        }

        throw new InvalidOperationException("no live session");
    }

    public static long Drops(ForwardingEngine router, DropReason reason) => router.Worker.Drops.Total(reason);

    /// <summary>
    /// Derives epoch <paramref name="epoch"/> between two routers from their (seeded) identities, as the key
    /// exchange would, and hands each its side; each router installs it before its next batch.
    /// </summary>
    public void ShareKeys(ForwardingEngine a, ForwardingEngine b, uint epoch) => _identities.Share(a, b, epoch);

    /// <summary>A router's seeded identity, whose public key the fabric's configuration pins.</summary>
    public RouterIdentity IdentityOf(string router) => _identities.Of(router);

    /// <summary>Hands one side only: the other router does not get this epoch.</summary>
    public void GiveKeys(ForwardingEngine to, ForwardingEngine peer, uint epoch) =>
        to.InstallPeerKeys(peer.Name, SecurityFixtures.DerivePair(_identities.Of(to.Name), _identities.Of(peer.Name), epoch).A);

    private readonly RouterIdentities _identities = new();

    public void Dispose()
    {
        Dc1.Dispose();
        Br1.Dispose();
        Br2.Dispose();
        Dc2?.Dispose();
    }

    private ForwardingEngine Start(string name, IPacketPort[] ports, bool active = true, FabricConfig? model = null, ulong? seed = null)
    {
        var options = new RouterOptions(SessionCapacity: 1024, Seed: seed ?? 0x5eed, StartActive: active, KeySender: Interlocked.Increment(ref _keySender));
        var workers = name == "dc1" ? _dc1Workers : _workers;
        var engine = workers == 1
            ? new ForwardingEngine(name, ports, options, Time)
            : ForwardingEngine.WithWorkers(name, FannedOut(ports, workers), options, Time);
        engine.Apply(model ?? Model, version: 1);
        return engine;
    }

    /// <summary>Each worker's share of every port: the in-memory ports under the WAN wrappers, fanned out.</summary>
    private static WorkerPorts[] FannedOut(IPacketPort[] ports, int workers)
    {
        var members = ports.Select(p => ((InMemoryPort)(p is WirePort wire ? wire.Inner : p)).Fanout(workers)).ToArray();
        return [.. Enumerable.Range(0, workers).Select(w => new WorkerPorts([.. members.Select(m => m[w])]))];
    }

    private static MacAddress NextMac() => new(Interlocked.Increment(ref _mac));

    private static TestHost Server(string name, InMemoryBridge bridge, string address, string gateway, string? address6 = null)
    {
        var mac = NextMac();
        return new TestHost(name, bridge.Attach(name, mac), mac, address, gateway)
        {
            IsServer = true,
            Address6 = address6 is null ? null : IpAddressConversions.ParseIpv6(address6),
        };
    }

    private static TestHost Host(string name, InMemoryBridge bridge, string address, string gateway, string? address6 = null)
    {
        var mac = NextMac();
        return new TestHost(name, bridge.Attach(name, mac), mac, address, gateway)
        {
            Address6 = address6 is null ? null : IpAddressConversions.ParseIpv6(address6),
        };
    }
}
