using System.Text.RegularExpressions;
using Fabric.Router;
using Fabric.Config;
using Fabric.Dataplane.Io;
using Fabric.Dataplane.Io.Linux;
using Fabric.Dataplane.Pipeline;
using Fabric.Dataplane.Routing;
using Fabric.Model;
using Fabric.Tests.Support;

namespace Fabric.Tests.Dataplane.Io.Linux;

/// <summary>
/// A router on two (three) AF_PACKET ports, with real kernels on the other side: a client namespace of
/// tenant engineering and one of tenant guest (host-based, one veth each) and a server namespace on a
/// bridged network. The router's veth ends have no address, so only Fabric answers there. The ports receive by
/// recvmmsg, or through a TPACKET_V3 ring for <see cref="AfPacketRingLab"/> (its own namespaces and devices).
/// </summary>
public sealed class AfPacketLab : IDisposable
{
    private readonly List<AfPacketPort> _ports = [];

    public AfPacketLab()
        : this(PacketIo.Recvmmsg, "t", "f")
    {
    }

    /// <param name="io">How the router's ports receive.</param>
    /// <param name="tag">One letter in the namespaces' names, <paramref name="devicePrefix"/> in the devices': unique per lab.</param>
    internal AfPacketLab(PacketIo io, string tag, string devicePrefix)
    {
        Io = io;
        var suffix = NetworkNamespaces.Suffix;
        Client = $"fab{tag}-c1-{suffix}";
        Guest = $"fab{tag}-g1-{suffix}";
        Server = $"fab{tag}-s1-{suffix}";
        ClientPort = $"{devicePrefix}c1-{suffix}";
        GuestPort = $"{devicePrefix}g1-{suffix}";
        ServerPort = $"{devicePrefix}s1-{suffix}";
        try
        {
            Namespaces.AddNamespace(Client);
            Namespaces.AddNamespace(Guest);
            Namespaces.AddNamespace(Server);
            Namespaces.AddContainer(Client, ClientPort, "10.20.1.10/24", "10.20.1.1");
            Namespaces.AddContainer(Guest, GuestPort, "10.20.1.20/24", "10.20.1.1");
            Namespaces.AddContainer(Server, ServerPort, "10.10.1.11/24", "10.10.1.1");
            foreach (var device in new[] { ClientPort, GuestPort, ServerPort })
            {
                _ports.Add(AfPacketPort.Open(device, io: io));
            }

            var loaded = FabricConfigLoader.Load(ConfigFor(ServerPort, ClientPort, GuestPort));
            Assert.True(loaded.IsValid, string.Join("\n", loaded.Errors));
            Router = new ForwardingEngine("lab", [.. _ports.Cast<IPacketPort>()], new RouterOptions(SessionCapacity: 1024, Seed: 0x5eed, IdleWait: new EpollWait(_ports)));
            Router.Apply(loaded.Config!, version: 1);
            Router.Start();
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public PacketIo Io { get; }

    public string Client { get; }

    public string Guest { get; }

    public string Server { get; }

    public string ClientPort { get; }

    public string GuestPort { get; }

    public string ServerPort { get; }

    /// <summary>The lab's fabric: service web on the server's device, tenants engineering (the client) and guest (when given) on theirs.</summary>
    public static string ConfigFor(string serverPort, string clientPort, string? guestPort) => $$"""
        fabric {
          tenants { engineering {}, guest {} }
          services {
            web {
              addresses = ["10.200.0.80/32"]
              transports = [{ protocol = tcp, ports = ["80"] }, { protocol = icmp }]
              access = [engineering]
              instances = [{ container = web1 }]
            }
          }
          routers {
            lab {
              nodes { laba { management-address = "10.99.0.11" } }
              networks {
                servers {
                  device = "{{serverPort}}"
                  gateways = ["10.10.1.1/24"]
                  containers { web1 { addresses = ["10.10.1.11"] } }
                }
                clients {
                  model = host-based
                  gateways = ["10.20.1.1/24"]
                  containers {
                    "{{clientPort}}" { addresses = ["10.20.1.10"], tenant = engineering }
                    {{(guestPort is null ? "" : $"\"{guestPort}\" {{ addresses = [\"10.20.1.20\"], tenant = guest }}")}}
                  }
                }
              }
            }
          }
        }
        """;

    public NetworkNamespaces Namespaces { get; } = new();

    public ForwardingEngine? Router { get; }

    public IReadOnlyList<AfPacketPort> Ports => _ports;

    public void Dispose()
    {
        Router?.Dispose(); // stops the worker before its ports close
        foreach (var port in _ports)
        {
            port.Dispose();
        }

        Namespaces.Dispose();
    }
}

/// <summary>The <see cref="AfPacketLab"/> with ports that receive through a TPACKET_V3 ring (<c>dataplane.io = ring</c>).</summary>
public sealed class AfPacketRingLab : IDisposable
{
    // Not "r": RouterProcessTests' namespaces (fabr-c1-PID, fabr-s1-PID) and devices (rc1-PID, rs1-PID) use it, and
    // classes run in parallel in one process, so each would delete the other's namespaces and veths.
    public AfPacketLab Lab { get; } = new(PacketIo.Ring, "q", "q");

    public void Dispose() => Lab.Dispose();
}

/// <summary>The router tests on ports that receive by recvmmsg (the default).</summary>
public sealed class AfPacketRouterTests(AfPacketLab lab, ITestOutputHelper output) : AfPacketRouterContract(lab, output), IClassFixture<AfPacketLab>;

/// <summary>The router tests on ports that receive through a TPACKET_V3 ring.</summary>
public sealed class AfPacketRingRouterTests(AfPacketRingLab ring, ITestOutputHelper output) : AfPacketRouterContract(ring.Lab, output), IClassFixture<AfPacketRingLab>;

/// <summary>Real programs (ping, a Python TCP client and server) through the router, as a user would try it, on either receive path.</summary>
public abstract partial class AfPacketRouterContract(AfPacketLab lab, ITestOutputHelper output)
{
    private const string EchoServer = """
        import socket
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", 80))
        s.listen(8)
        print("ready", flush=True)
        while True:
            c, peer = s.accept()
            data = c.recv(4096)
            c.sendall(data + b" from " + peer[0].encode())
            c.close()
        """;

    private const string EchoClient = """
        import socket, sys
        s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2)
        s.sendall(b"hello fabric")
        print(s.recv(4096).decode())
        """;

    private ForwardingEngine Router => lab.Router!;

    [GeneratedRegex(@"rtt min/avg/max/mdev = ([\d.]+)/([\d.]+)/([\d.]+)/([\d.]+) ms")]
    private static partial Regex RoundTrip();

    private CommandResult Ping(string ns, string address, int count = 3)
    {
        var result = ExternalCommand.InNamespace(ns, "ping", "-n", "-c", count.ToString(System.Globalization.CultureInfo.InvariantCulture), "-W", "1", address);
        output.WriteLine($"ping {address} from {ns}: {result}");
        return result;
    }

    [Fact]
    public void Ping_RouterGatewayFromClient_Answered()
    {
        var result = Ping(lab.Client, "10.20.1.1");

        Assert.True(result.Succeeded, result.ToString());
        Assert.Contains("3 received", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void Ping_ServiceAddressFromClient_ReplyFromServiceAddressThroughServerKernel()
    {
        var result = Ping(lab.Client, "10.200.0.80");

        Assert.True(result.Succeeded, result.ToString());
        Assert.Contains("3 received", result.Output, StringComparison.Ordinal);
        Assert.Contains("from 10.200.0.80", result.Output, StringComparison.Ordinal);
        Assert.Matches(RoundTrip(), result.Output);
    }

    [Fact]
    public async Task Tcp_ClientToServicePort_EchoedByServerThatSeesTheClientAddress()
    {
        var cancel = TestContext.Current.CancellationToken;
        var server = lab.Namespaces.Start(lab.Server, "python3", "-u", "-c", EchoServer);
        try
        {
            var ready = await server.StandardOutput.ReadLineAsync(cancel).AsTask().WaitAsync(TimeSpan.FromSeconds(10), cancel);
            Assert.Equal("ready", ready);

            // A bounded retry covers a first SYN lost to neighbour resolution; each attempt times out in 2 s.
            CommandResult result = new(-1, "", "not run");
            for (var attempt = 0; attempt < 3 && !result.Succeeded; attempt++)
            {
                result = ExternalCommand.InNamespace(lab.Client, "python3", "-c", EchoClient, "10.200.0.80", "80");
                output.WriteLine($"attempt {attempt}: {result}");
            }

            Assert.True(result.Succeeded, result.ToString());
            Assert.Equal("hello fabric from 10.20.1.10", result.Output.Trim());
            foreach (var port in lab.Ports)
            {
                output.WriteLine($"{port}: partial checksums completed {port.ChecksumsCompleted}, own frames skipped {port.OwnFramesSkipped}, truncated {port.Truncated}, qdisc bypass {port.QdiscBypass}");
            }
        }
        finally
        {
            // The server runs in the lab's namespace, which outlives this test: the test stops what it started.
            lab.Namespaces.Stop(server);
        }
    }

    [Fact]
    public void Ping_ServiceAddressFromGuest_DeniedAndCountedAsAccessDenied()
    {
        var snapshot = Router.Snapshot;
        var guest = snapshot.TenantIndex("guest");
        var web = snapshot.ServiceIndex("web");
        var before = Router.Worker.Drops.Get(DropReason.AccessDenied, guest, web);

        var result = Ping(lab.Guest, "10.200.0.80", count: 2);

        Assert.False(result.Succeeded, result.ToString());
        Assert.Contains("0 received", result.Output, StringComparison.Ordinal);
        // The worker counts on its own thread; the pings ended seconds ago, so the count is there.
        Assert.True(Router.Worker.Drops.Get(DropReason.AccessDenied, guest, web) - before >= 2, "the denied echo requests were not counted");
    }

    [Fact]
    public void Ports_OpenedOnVethEnds_ReportKernelMacAndMtu()
    {
        foreach (var port in lab.Ports)
        {
            Assert.Equal(lab.Io == PacketIo.Ring, port.ReceivesFromRing);
            var shown = ExternalCommand.Run("ip", "-o", "link", "show", "dev", port.Name);
            Assert.Contains($"mtu {port.Mtu} ", shown.Output, StringComparison.Ordinal);
            Assert.Contains(port.Mac.ToString().ToLowerInvariant(), shown.Output, StringComparison.Ordinal);
            Assert.Contains(",UP", shown.Output, StringComparison.Ordinal);
        }
    }
}
