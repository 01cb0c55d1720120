using Fabric.Dataplane.Io;
using Fabric.Dataplane.Io.InMemory;
using Fabric.Dataplane.Routing;
using Fabric.Dataplane.Wire;
using Fabric.Model;
using Fabric.Tests.Dataplane.Routing;
using Fabric.Tests.Support;

namespace Fabric.Tests.Dataplane.Svr.Routers;

/// <summary>
/// The lab fabric (hocon/lab.conf, through the real loader) split into two WANs, so dc1 is the only way between the
/// branches: br1's wan0 on neighborhood west (172.16.0.0/24), br2's wan0 on east (172.17.0.0/24), dc1 on both (wan0 west,
/// wan1 east). A service "remote" (10.200.0.95: TCP and UDP 9000, ping; engineering only) lives on app2 behind br2, so
/// br1's sessions to it go through dc1 as a transit; "vault" (10.200.0.96, TCP 9443, engineering, encryption required)
/// lives on app2 too. Router identities are pinned (seeded key pairs) so tests may give peer paths keys. All three WAN ports of dc1 and br2 are <see cref="WirePort"/>s;
/// <see cref="Attacker"/> is a stray host on the east WAN. dc1's east port may have a smaller MTU than the west WAN's
/// (<c>eastMtu</c>), so that dc1, as a transit, is the router that finds a packet too big. With <c>dc2On</c> the fabric
/// has a fourth router, dc2 (on the west or the east WAN, 172.16.0.4 or 172.17.0.4, its identity pinned too), whose bridged
/// network apps also serves 10.30.1.0/24 (gateway 10.30.1.254, container spare2 10.30.1.99), with the host
/// <see cref="Mover"/> at app2's address on it: where app2 lands when it moves keeping its address. With <c>withBr1Apps</c>
/// br1 has a fourth port, apps (a bridge), with the host <see cref="Homecomer"/> at app2's address (gateway 10.30.1.252) on
/// it: where app2 lands when it moves to the client's own router; the document gives br1 a network there only where a test
/// adds one (<see cref="SvrFabric.WithBr1Apps"/> with gateway 10.30.1.252/24). With <c>withDc1Apps</c> dc1, the transit,
/// has a fourth port, apps (a bridge), with the host <see cref="Lander"/> at app2's address (gateway 10.30.1.253) on it:
/// where app2 lands when it moves to the transit of br1's sessions; the document gives dc1 a network there only where a
/// test adds one (<see cref="WithDc1Apps"/>).
/// </summary>
public sealed class TransitFabric : IDisposable
{
    private static ulong _mac = 0x02_00_00_00_09_00;

    /// <param name="eastMtu">The MTU of dc1's east port.</param>
    /// <param name="dc2On">The neighborhood (west or east) of a fourth router dc2; null: none.</param>
    /// <param name="edit">Changes to the document's text (after dc2 is added).</param>
    /// <param name="withBr1Apps">Whether br1 has the port apps with <see cref="Homecomer"/> on it.</param>
    /// <param name="withDc1Apps">Whether dc1 has the port apps with <see cref="Lander"/> on it.</param>
    public TransitFabric(int eastMtu = 1500, string? dc2On = null, Func<string, string>? edit = null, bool withBr1Apps = false, bool withDc1Apps = false)
    {
        // Identities are pinned, but most tests install no keys: both neighborhoods opt in to unauthenticated metadata
        // (a router with keys for a peer refuses it all the same).
        var text = _identities.Pin(Repository.Read("hocon/lab.conf"));
        text = text
            .Replace(
                "  neighborhoods {\n    wan {}\n  }",
                "  neighborhoods {\n    west { allow-unauthenticated-metadata = true }\n    east { allow-unauthenticated-metadata = true }\n  }")
            .Replace(
                "wan0 { addresses = [\"172.16.0.1/24\"], neighborhoods = [wan] }",
                "wan0 { addresses = [\"172.16.0.1/24\"], neighborhoods = [west] }\n        wan1 { addresses = [\"172.17.0.1/24\"], neighborhoods = [east] }")
            .Replace("wan0 { addresses = [\"172.16.0.2/24\"], neighborhoods = [wan] }", "wan0 { addresses = [\"172.16.0.2/24\"], neighborhoods = [west] }")
            .Replace("wan0 { addresses = [\"172.16.0.3/24\"], neighborhoods = [wan] }", "wan0 { addresses = [\"172.17.0.3/24\"], neighborhoods = [east] }")
            .Replace(
                "            fin1 { addresses = [\"10.30.1.20\"], tenant = finance }\n",
                "            fin1 { addresses = [\"10.30.1.20\"], tenant = finance }\n            app2 { addresses = [\"10.30.1.30\"] }\n")
            .Replace(
                "  }\n\n  service-policies {\n",
                """
                    remote {
                      addresses = ["10.200.0.95/32"]
                      transports = [{ protocol = tcp, ports = ["9000"] }, { protocol = udp, ports = ["9000"] }, { protocol = icmp }]
                      access = [engineering]
                      policy = web
                      instances = [{ container = app2 }]
                    }
                    vault {
                      addresses = ["10.200.0.96/32"]
                      transports = [{ protocol = tcp, ports = ["9443"] }]
                      access = [engineering]
                      policy = secure
                      instances = [{ container = app2 }]
                    }
                  }

                  service-policies {

                """);
        if (dc2On is not null)
        {
            text = WithDc2(text, dc2On);
        }

        Text = text;
        Model = Document(edit ?? (unchanged => unchanged));
        Assert.Equal(2, Model.Neighborhoods.Count);

        var west = new InMemoryBridge();
        var east = new InMemoryBridge();
        var svc = new InMemoryBridge();
        DcWest = new WirePort(west.Attach("wan0", NextMac()));
        DcEast = new WirePort(east.Attach("wan1", NextMac(), eastMtu));
        var dc1Apps = withDc1Apps ? new InMemoryBridge() : null;
        Dc1 = Start("dc1", dc1Apps is null ? [DcWest, DcEast, svc.Attach("svc", NextMac())] : [DcWest, DcEast, svc.Attach("svc", NextMac()), dc1Apps.Attach("apps", NextMac())]);

        var eng1Link = new InMemoryLink("eng1", NextMac(), "eng1-c", NextMac());
        var guest1Link = new InMemoryLink("guest1", NextMac(), "guest1-c", NextMac());
        Br1Wan = new WirePort(west.Attach("wan0", NextMac()));
        var br1Apps = withBr1Apps ? new InMemoryBridge() : null;
        Br1 = Start("br1", br1Apps is null ? [Br1Wan, eng1Link.A, guest1Link.A] : [Br1Wan, eng1Link.A, guest1Link.A, br1Apps.Attach("apps", NextMac())]);
        Eng1 = new TestHost("eng1", eng1Link.B, eng1Link.B.Mac, "10.20.1.10", "10.20.1.1");
        Guest1 = new TestHost("guest1", guest1Link.B, guest1Link.B.Mac, "10.20.1.20", "10.20.1.1");

        var lan = new InMemoryBridge();
        Br2East = new WirePort(east.Attach("wan0", NextMac()));
        Br2 = Start("br2", [Br2East, lan.Attach("lan", NextMac())]);
        var appMac = NextMac();
        App2 = new TestHost("app2", lan.Attach("app2", appMac), appMac, "10.30.1.30", "10.30.1.1") { IsServer = true };

        var attackerMac = NextMac();
        Attacker = new TestHost("attacker", east.Attach("attacker", attackerMac), attackerMac, "172.17.0.66", "172.17.0.3");
        Hosts = [Eng1, Guest1, App2, Attacker];
        if (br1Apps is not null)
        {
            var homecomerMac = NextMac();
            Homecomer = new TestHost("homecomer", br1Apps.Attach("homecomer", homecomerMac), homecomerMac, "10.30.1.30", "10.30.1.252");
            Hosts = [.. Hosts, Homecomer];
        }

        if (dc1Apps is not null)
        {
            var landerMac = NextMac();
            Lander = new TestHost("lander", dc1Apps.Attach("lander", landerMac), landerMac, "10.30.1.30", "10.30.1.253");
            Hosts = [.. Hosts, Lander];
        }

        if (dc2On is not null)
        {
            var apps = new InMemoryBridge();
            Dc2Wan = new WirePort((dc2On == "west" ? west : east).Attach("wan0", NextMac()));
            Dc2 = Start("dc2", [Dc2Wan, apps.Attach("apps", NextMac())]);
            var moverMac = NextMac();
            Mover = new TestHost("mover", apps.Attach("mover", moverMac), moverMac, "10.30.1.30", "10.30.1.254");
            Hosts = [.. Hosts, Mover];
        }
    }

    /// <summary>The document's text before a test's edit: what <see cref="Document"/> edits.</summary>
    public string Text { get; }

    /// <summary>The document with <paramref name="edit"/> applied to <see cref="Text"/>, through the real loader: what a commit gives the routers.</summary>
    public FabricConfig Document(Func<string, string> edit)
    {
        ArgumentNullException.ThrowIfNull(edit);
        return RouterFixture.Load(edit(Text));
    }

    /// <summary>The fourth router, when the fabric has one (<c>dc2On</c>), else null.</summary>
    public ForwardingEngine? Dc2 { get; }

    /// <summary>dc2's WAN port, when there is a dc2: what reached dc2.</summary>
    public WirePort? Dc2Wan { get; }

    /// <summary>A host on dc2's apps network with app2's address (10.30.1.30, gateway 10.30.1.254), when there is a dc2; silent unless a test makes it a server.</summary>
    public TestHost? Mover { get; }

    /// <summary>A host on br1's apps port with app2's address (10.30.1.30, gateway 10.30.1.252), when br1 has that port (<c>withBr1Apps</c>); silent unless a test makes it a server.</summary>
    public TestHost? Homecomer { get; }

    /// <summary>A host on dc1's apps port with app2's address (10.30.1.30, gateway 10.30.1.253), when dc1 has that port (<c>withDc1Apps</c>); silent unless a test makes it a server.</summary>
    public TestHost? Lander { get; }

    /// <summary>
    /// An edit of the document that gives dc1 the bridged network apps (gateway 10.30.1.253/24, on the port a fabric made
    /// <c>withDc1Apps</c> has) with <paramref name="containers"/> (HOCON container entries, one a line; none by default).
    /// </summary>
    public static string WithDc1Apps(string text, string containers = "")
    {
        ArgumentNullException.ThrowIfNull(text);
        const string svc = "            bulk1 { addresses = [\"10.10.1.30\"] }\n          }\n        }\n";
        var edited = text.Replace(
            svc,
            svc + $"        apps {{\n          model = bridged\n          gateways = [\"10.30.1.253/24\"]\n          containers {{\n{containers}          }}\n        }}\n",
            StringComparison.Ordinal);
        return edited.Contains("\"10.30.1.253/24\"", StringComparison.Ordinal) ? edited : throw new InvalidOperationException("lab.conf has no dc1 svc network to add apps beside");
    }

    private string WithDc2(string text, string neighborhood)
    {
        var edited = text.Replace(
            "\n  }\n\n  conductor {",
            $$"""

                dc2 {
                  nodes { dc2a { management-address = "10.99.0.14", identity = "{{_identities.Of("dc2").PublicKeyBase64}}" } }
                  interfaces {
                    wan0 { addresses = ["{{(neighborhood == "west" ? "172.16.0.4" : "172.17.0.4")}}/24"], neighborhoods = [{{neighborhood}}] }
                  }
                  networks {
                    apps {
                      model = bridged
                      gateways = ["10.30.1.254/24"]
                      containers {
                        spare2 { addresses = ["10.30.1.99"] }
                      }
                    }
                  }
                }
              }

              conductor {
            """.Replace("\r", "", StringComparison.Ordinal),
            StringComparison.Ordinal);
        Assert.Contains("dc2 {", edited, StringComparison.Ordinal);
        return edited;
    }

    public ManualTime Time { get; } = new();

    public FabricConfig Model { get; }

    public ForwardingEngine Dc1 { get; }

    public ForwardingEngine Br1 { get; }

    public ForwardingEngine Br2 { get; }

    /// <summary>dc1's port on the west WAN (to br1): what reached dc1 from br1.</summary>
    public WirePort DcWest { get; }

    /// <summary>dc1's port on the east WAN (to br2): what reached dc1 from br2.</summary>
    public WirePort DcEast { get; }

    /// <summary>br1's WAN port: what reached br1 (from dc1, or from dc2 on the west WAN).</summary>
    public WirePort Br1Wan { get; }

    /// <summary>br2's WAN port: what reached br2 (from dc1, or the attacker).</summary>
    public WirePort Br2East { get; }

    public TestHost Eng1 { get; }

    public TestHost Guest1 { get; }

    public TestHost App2 { get; }

    /// <summary>A host on the east WAN that is no router: it sends hand-made waypoint packets to br2 (its gateway).</summary>
    public TestHost Attacker { get; }

    public TestHost[] Hosts { get; }

    /// <summary>Moves frames between routers and hosts until nothing moves (bounded).</summary>
    public void Pump() => FramePump.Run(Dc2 is null ? [Dc1, Br1, Br2] : [Dc1, Br1, Br2, Dc2], Hosts);

    /// <summary>Derives epoch <paramref name="epoch"/> between two routers from their seeded identities, as the key exchange would.</summary>
    public void ShareKeys(ForwardingEngine a, ForwardingEngine b, uint epoch) => _identities.Share(a, b, epoch);

    private readonly RouterIdentities _identities = new();

    public void Dispose()
    {
        Dc1.Dispose();
        Br1.Dispose();
        Br2.Dispose();
        Dc2?.Dispose();
    }

    private ForwardingEngine Start(string name, IPacketPort[] ports)
    {
        var engine = new ForwardingEngine(name, ports, new RouterOptions(SessionCapacity: 1024, Seed: 0x5eed), Time);
        engine.Apply(Model, version: 1);
        return engine;
    }

    private static MacAddress NextMac() => new(Interlocked.Increment(ref _mac));
}
