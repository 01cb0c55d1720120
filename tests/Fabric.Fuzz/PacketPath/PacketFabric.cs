using Fabric.Dataplane.Routing;
using Fabric.Dataplane.Wire;
using Fabric.Tests.Dataplane.Routing;
using Fabric.Tests.Dataplane.Svr.Routers;
using Xunit;

namespace Fabric.Fuzz.PacketPath;

/// <summary>
/// The lab fabric of the unit tests (<see cref="SvrFabric"/>: branches br1 and br2, datacenter dc1, one WAN) with
/// IPv6 on dc1's service LAN and br1's hosts, a client (ops1) of its own on dc1's LAN, and sessions of every kind
/// already open when an input arrives: SVR with plain metadata (eng1 → web, bulk over TCP, UDP and ping through
/// br1 to dc1), sealed SVR (fin1 → db through br2, whose keys with dc1 are shared), local IPv4 and IPv6 (ops1 →
/// web at dc1). br1 and dc1 share no keys, so dc1 reads br1's metadata unauthenticated: the metadata parser sees
/// what an input puts there. Built the same way every time (seeded identities, a manual clock), so an input
/// replays exactly. Not thread-safe.
/// </summary>
public sealed class PacketFabric : IDisposable
{
    public const string Web = "10.200.0.80";
    public const string Web6 = "fd00:200::80";
    public const string Bulk = "10.10.1.30";
    public const string Db = "10.10.1.20";
    public const string Ops6 = "fd00:10:1::40";
    public const string Eng6 = "fd00:20:1::10";

    public PacketFabric()
    {
        Lab = new SvrFabric(WithIpv6AndOps);
        Routers = [Lab.Br1, Lab.Dc1, Lab.Br2];
        Lab.ShareKeys(Lab.Br2, Lab.Dc1, epoch: 1);
        OpenSessions();
    }

    public SvrFabric Lab { get; }

    /// <summary>The routers an input's frames go to, by the index its records name: br1, dc1, br2.</summary>
    public ForwardingEngine[] Routers { get; }

    /// <summary>
    /// Runs every router and host round after round until nothing moves, at most <paramref name="rounds"/> rounds:
    /// hosts may echo to each other for ever (a spoofed source), which is no router's fault, so the bound is silent.
    /// </summary>
    public void Settle(int rounds = 32)
    {
        for (var round = 0; round < rounds; round++)
        {
            var moved = 0;
            foreach (var router in Routers)
            {
                moved += router.RunOnce();
            }

            foreach (var host in Lab.Hosts)
            {
                moved += host.Process();
            }

            if (moved == 0)
            {
                return;
            }
        }
    }

    public void Dispose() => Lab.Dispose();

    private void OpenSessions()
    {
        var lab = Lab;
        lab.Eng1.SendTcp(Web, 40000, 80, TcpFlags.Syn, 100, 0, []);
        lab.Eng1.SendUdp(Bulk, 40001, 5201, "bulk"u8.ToArray());
        lab.Eng1.Ping(Bulk, 7, 1);
        lab.Fin1.SendTcp(Db, 40002, 5432, TcpFlags.Syn, 300, 0, []);
        lab.Ops1.SendTcp(Web, 40003, 80, TcpFlags.Syn, 400, 0, []);
        lab.Pump();
        lab.Eng1.SendTcp(Web, 40000, 80, TcpFlags.Ack | TcpFlags.Psh, 101, 5001, "GET / HTTP/1.0\r\n\r\n"u8.ToArray());
        lab.Fin1.SendTcp(Db, 40002, 5432, TcpFlags.Ack | TcpFlags.Psh, 301, 5001, "SELECT 1"u8.ToArray());
        lab.Ops1.SendTcp(Web, 40003, 80, TcpFlags.Ack, 401, 5001, []);
        lab.Ops1.SendIpv6(
            Lab.Dc1.Ports[1].Mac,
            Packets.Udp6(IpAddressConversions.ParseIpv6(Ops6), IpAddressConversions.ParseIpv6(Web6), 40004, 53, "v6 local"u8.ToArray()));
        lab.Eng1.SendIpv6(
            Lab.Br1.Ports[1].Mac,
            Packets.Udp6(IpAddressConversions.ParseIpv6(Eng6), IpAddressConversions.ParseIpv6(Web6), 40005, 53, "v6 via br1"u8.ToArray()));
        lab.Pump();

        // The inputs are written against these sessions: a fabric that no longer opens them would fuzz much less than it claims.
        Assert.True(Lab.Br1.Worker.Sessions.Count >= 3, $"br1 has {Lab.Br1.Worker.Sessions.Count} sessions");
        Assert.True(Lab.Br2.Worker.Sessions.Count >= 1, $"br2 has {Lab.Br2.Worker.Sessions.Count} sessions");
        Assert.True(Lab.Dc1.Worker.Sessions.Count >= 6, $"dc1 has {Lab.Dc1.Worker.Sessions.Count} sessions");
    }

    /// <summary>lab.conf with ops1 on dc1's service LAN and IPv6 on that LAN, on web and on br1's hosts.</summary>
    private static string WithIpv6AndOps(string lab)
    {
        (string From, string To)[] edits =
        [
            ("gateways = [\"10.10.1.1/24\"]", "gateways = [\"10.10.1.1/24\", \"fd00:10:1::1/64\"]"),
            ("web1 { addresses = [\"10.10.1.11\"] }", "web1 { addresses = [\"10.10.1.11\", \"fd00:10:1::11\"] }"),
            ("web2 { addresses = [\"10.10.1.12\"] }", "web2 { addresses = [\"10.10.1.12\", \"fd00:10:1::12\"] }"),
            ("bulk1 { addresses = [\"10.10.1.30\"] }",
                "bulk1 { addresses = [\"10.10.1.30\"] }\n            ops1 { addresses = [\"10.10.1.40\", \"" + Ops6 + "\"], tenant = engineering }"),
            ("addresses = [\"10.200.0.80/32\"]", "addresses = [\"10.200.0.80/32\", \"" + Web6 + "/128\"]"),
            ("transports = [{ protocol = tcp, ports = [\"80\"] }]", "transports = [{ protocol = tcp, ports = [\"80\"] }, { protocol = udp, ports = [\"53\"] }]"),
            ("gateways = [\"10.20.1.1/24\"]", "gateways = [\"10.20.1.1/24\", \"fd00:20:1::1/64\"]"),
            ("eng1 { addresses = [\"10.20.1.10\"], tenant = engineering }", "eng1 { addresses = [\"10.20.1.10\", \"" + Eng6 + "\"], tenant = engineering }"),
        ];
        foreach (var (from, to) in edits)
        {
            Assert.True(lab.Contains(from, StringComparison.Ordinal), $"lab.conf no longer has {from}: the fuzz fabric needs updating");
            lab = lab.Replace(from, to, StringComparison.Ordinal);
        }

        return lab;
    }
}
