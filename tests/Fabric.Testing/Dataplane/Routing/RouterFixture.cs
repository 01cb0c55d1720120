using Fabric.Config;
using Fabric.Dataplane.Io;
using Fabric.Dataplane.Io.InMemory;
using Fabric.Dataplane.Routing;
using Fabric.Dataplane.Wire;
using Fabric.Model;

namespace Fabric.Tests.Dataplane.Routing;

/// <summary>
/// One router, dc1, on in-memory links with simulated containers in both network models:
/// a bridged service LAN (web1, web2, db1), host-based clients (eng1, guest1) and a bridged
/// client LAN (fin1, eng2). The configuration is real HOCON through the real loader.
/// </summary>
public sealed class RouterFixture : IDisposable
{
    public const string Config = """
        fabric {
          tenants { engineering {}, guest {}, finance {} }
          services {
            web {
              addresses = ["10.200.0.80/32", "fd00:200::80/128"]
              transports = [{ protocol = tcp, ports = ["80"] }, { protocol = udp, ports = ["53"] }, { protocol = icmp }]
              access = [engineering, guest, finance]
              policy = web
              instances = [{ container = web1 }, { container = web2 }]
            }
            db {
              addresses = ["10.10.1.20/32"]
              transports = [{ protocol = tcp, ports = ["5432"] }]
              access = [finance]
              policy = strict
              instances = [{ container = db1 }]
            }
            bulk {
              addresses = ["10.10.1.30/32"]
              transports = [{ protocol = udp, ports = ["5201"] }]
              access = [engineering]
              policy = limited
              instances = [{ container = sink1, port = 9000 }]
            }
          }
          service-policies {
            web { load-balancing = proportional }
            strict { transport-state-enforcement = reset }
            limited { session-rate-limit { bytes-per-second = 100000, burst-bytes = 10000 } }
          }
          routers {
            dc1 {
              nodes { dc1a { management-address = "10.99.0.11" } }
              networks {
                svc {
                  gateways = ["10.10.1.1/24", "fd00:10:1::1/64"]
                  containers {
                    web1 { addresses = ["10.10.1.11", "fd00:10:1::11"] }
                    web2 { addresses = ["10.10.1.12", "fd00:10:1::12"] }
                    db1 { addresses = ["10.10.1.20"] }
                    sink1 { addresses = ["10.10.1.40"] }
                  }
                }
                hosts {
                  model = host-based
                  gateways = ["10.20.1.1/24", "fd00:20:1::1/64"]
                  containers {
                    eng1 { addresses = ["10.20.1.10", "fd00:20:1::10"], tenant = engineering }
                    guest1 { addresses = ["10.20.1.20"], tenant = guest }
                  }
                }
                lan {
                  gateways = ["10.30.1.1/24"]
                  containers {
                    eng2 { addresses = ["10.30.1.10"], tenant = engineering }
                    fin1 { addresses = ["10.30.1.20"], tenant = finance }
                  }
                }
              }
            }
          }
        }
        """;

    private static ulong _mac = 0x02_00_00_00_01_00;

    public RouterFixture(string config = Config, RouterOptions? options = null)
    {
        var svc = Svc = new InMemoryBridge();
        var lan = new InMemoryBridge();
        var eng1Link = new InMemoryLink("eng1", NextMac(), "eng1-c", NextMac());
        var guest1Link = new InMemoryLink("guest1", NextMac(), "guest1-c", NextMac());
        IPacketPort[] ports = [svc.Attach("svc", NextMac()), eng1Link.A, guest1Link.A, lan.Attach("lan", NextMac())];
        Router = new ForwardingEngine("dc1", ports, options ?? new RouterOptions(SessionCapacity: 1024, Seed: 0x5eed), Time);
        Model = Load(config);
        Router.Apply(Model, version: 1);

        Web1 = Server("web1", svc, "10.10.1.11", "10.10.1.1", "fd00:10:1::11");
        Web2 = Server("web2", svc, "10.10.1.12", "10.10.1.1", "fd00:10:1::12");
        Db1 = Server("db1", svc, "10.10.1.20", "10.10.1.1");
        Sink1 = Host("sink1", svc, "10.10.1.40", "10.10.1.1");
        Eng1 = new TestHost("eng1", eng1Link.B, eng1Link.B.Mac, "10.20.1.10", "10.20.1.1") { Address6 = IpAddressConversions.ParseIpv6("fd00:20:1::10") };
        Guest1 = new TestHost("guest1", guest1Link.B, guest1Link.B.Mac, "10.20.1.20", "10.20.1.1");
        Eng2 = Host("eng2", lan, "10.30.1.10", "10.30.1.1");
        Fin1 = Host("fin1", lan, "10.30.1.20", "10.30.1.1");
        Hosts = [Web1, Web2, Db1, Sink1, Eng1, Guest1, Eng2, Fin1];
    }

    public ManualTime Time { get; } = new();

    /// <summary>The service LAN (port 0): where a test attaches a host of its own beside web1, web2, db1 and sink1.</summary>
    public InMemoryBridge Svc { get; }

    public ForwardingEngine Router { get; }

    public FabricConfig Model { get; }

    public TestHost Web1 { get; }
    public TestHost Web2 { get; }
    public TestHost Db1 { get; }

    /// <summary>Takes what it gets and answers nothing (but ARP).</summary>
    public TestHost Sink1 { get; }
    public TestHost Eng1 { get; }
    public TestHost Guest1 { get; }
    public TestHost Eng2 { get; }
    public TestHost Fin1 { get; }

    public TestHost[] Hosts { get; }

    public static FabricConfig Load(string text)
    {
        var result = FabricConfigLoader.Load(text);
        Assert.True(result.IsValid, string.Join("\n", result.Errors));
        return result.Config!;
    }

    /// <summary>Moves frames between the router and the hosts until nothing moves (bounded, so a loop fails instead of hanging).</summary>
    public void Pump() => FramePump.Run([Router], Hosts, maxRounds: 100);

    public int Tenant(string name) => Router.Snapshot.TenantIndex(name);

    public int Service(string name) => Router.Snapshot.ServiceIndex(name);

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

    private static TestHost Host(string name, InMemoryBridge bridge, string address, string gateway)
    {
        var mac = NextMac();
        return new TestHost(name, bridge.Attach(name, mac), mac, address, gateway);
    }

    public void Dispose() => Router.Dispose();
}
