using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Fabric.Router;
using Fabric.Tests.Support;

namespace Fabric.Tests.Lab;

/// <summary>
/// Path-MTU discovery of an IPv6 client whose bottleneck is behind the egress router, with real router processes and
/// kernels: the IPv6 lab (hocon/lab-ipv6.conf, IPv4 WAN) with an iperf3 service (bulk, fd00:200::52, bulk1 behind dc1),
/// dc1's device toward the instances set to 1 280 octets (below what the MSS clamp leaves a segment, so TCP's own
/// negotiation does not hide the bottleneck) and dc1 restarted to take it.
/// </summary>
[Collection(LabCollection.Name)]
public sealed class LabIpv6PathMtuTests
{
    private static readonly string Topology = Repository.Read("hocon/lab-ipv6.conf")
        .Replace("    # Sealed between the routers", """
                     bulk {
                       addresses = ["10.200.0.52/32", "fd00:200::52/128"]
                       transports = [{ protocol = tcp, ports = ["5201"] }]
                       access = [engineering]
                       instances = [{ container = bulk1 }]
                     }
                     # Sealed between the routers
                 """, StringComparison.Ordinal)
        .Replace("""            vault1 { addresses = ["10.10.1.21", "fd00:10:1::21"] }""", """
                             vault1 { addresses = ["10.10.1.21", "fd00:10:1::21"] }
                             bulk1 { addresses = ["10.10.1.30", "fd00:10:1::30"] }
                 """, StringComparison.Ordinal);

    /// <summary>
    /// A 2-second iperf3 upload over IPv6 from eng1 to bulk1 goes on past the bottleneck: dc1 answers the first full-size
    /// segments with fragmentation-needed about the IPv4 waypoint packets, br1 turns that into a packet-too-big from the
    /// service address about eng1's own segment, eng1's kernel takes it (its route to the service gets MTU 1 280) and
    /// resends smaller. Without the error reaching eng1 the connection stalls after its first window.
    /// </summary>
    [Fact]
    public void Iperf6Upload_ServiceLanSmallerThanTheWan_ClientLearnsThePathMtuAndTheTransferGoesOn()
    {
        using var run = LabRun.Started("pmtu", Topology);
        var lowered = ExternalCommand.Run("ip", "-n", run.NamespaceOf("dc1a"), "link", "set", "dev", "svc", "mtu", "1280");
        Assert.True(lowered.Succeeded, lowered.ToString());
        var restart = run.Restart("dc1a");
        Assert.True(restart.Succeeded, restart.ToString());

        var upload = run.Exec("eng1", "iperf3", "-6", "-c", "fd00:200::52", "-p", "5201", "-t", "2", "-J");

        Assert.True(upload.Succeeded, upload.ToString());
        using var report = JsonDocument.Parse(upload.Output);
        var received = report.RootElement.GetProperty("end").GetProperty("sum_received").GetProperty("bytes").GetInt64();
        Assert.True(received > 4_000_000, $"bulk1 received {received} bytes in 2 s");
        var route = ExternalCommand.InNamespace(run.NamespaceOf("eng1"), "ip", "-6", "route", "get", "fd00:200::52");
        Assert.Contains("mtu 1280", route.Output, StringComparison.Ordinal);
        var dc1 = run.Counters("dc1a").GetProperty("drops");
        Assert.True(dc1.GetProperty("TooBig").GetInt64() > 0, "dc1 never met the bottleneck");
        Assert.Equal(0, run.Counters("br1a").GetProperty("drops").GetProperty("IcmpErrorNotCarried").GetInt64());
    }
    /// <summary>
    /// <c>ping -M do</c> from eng1 to web (web1 behind dc1, whose device toward the instances is set to 1 280 octets) with
    /// echoes too big for that link but not for the WAN, over IPv4 and IPv6: dc1 cannot deliver them and says so about
    /// the waypoint packet, br1 hands eng1 the error from the service address about its own echo request, iputils'
    /// ping prints it ("Frag needed", "Packet too big") with the MTU, and a ping of that size is answered.
    /// </summary>
    [Fact]
    public void PingDontFragment_ServiceLanSmallerThanTheWan_ClientToldTheMtuFromTheServiceAddress_ThenThatSizeIsAnswered()
    {
        using var run = LabRun.Started("pings", Topology);
        var lowered = ExternalCommand.Run("ip", "-n", run.NamespaceOf("dc1a"), "link", "set", "dev", "svc", "mtu", "1280");
        Assert.True(lowered.Succeeded, lowered.ToString());
        var restart = run.Restart("dc1a");
        Assert.True(restart.Succeeded, restart.ToString());

        foreach (var (family, service, headers, told) in new[] { ("-4", "10.200.0.80", 28, "Frag needed"), ("-6", "fd00:200::80", 48, "Packet too big") })
        {
            var big = run.Exec("eng1", "ping", family, "-M", "do", "-s", "1300", "-c", "2", "-i", "0.5", "-W", "2", service);
            Assert.Contains($"From {service}", big.Output, StringComparison.Ordinal);
            Assert.Contains(told, big.Output, StringComparison.Ordinal);
            var mtu = Regex.Match(big.Output, @"mtu ?= ?(\d+)");
            Assert.True(mtu.Success, big.ToString());
            var size = int.Parse(mtu.Groups[1].Value, CultureInfo.InvariantCulture) - headers;

            var fits = run.Exec("eng1", "ping", family, "-M", "do", "-s", size.ToString(CultureInfo.InvariantCulture), "-c", "1", "-W", "2", service);
            Assert.True(fits.Succeeded, fits.ToString());
        }

        Assert.True(run.Counters("dc1a").GetProperty("drops").GetProperty("TooBig").GetInt64() >= 2, "dc1 never met the bottleneck");
        Assert.Equal(0, run.Counters("br1a").GetProperty("drops").GetProperty("IcmpErrorNotCarried").GetInt64());
    }
}
