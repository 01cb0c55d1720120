using System.Text.Json;
using Fabric.Router;
using Fabric.Tests.Support;

namespace Fabric.Tests.Lab;

/// <summary>One lab for the class: the default topology (hocon/lab.conf), three routers talking SVR over the WAN bridge.</summary>
public sealed class DefaultLab : IDisposable
{
    public LabRun Run { get; } = LabRun.Started("e", Repository.Read("hocon/lab.conf"));

    public void Dispose() => Run.Dispose();
}

/// <summary>
/// End to end across routers on the default lab: real curl, ping, iperf3, a TCP client and tcpdump in the
/// containers and on the WAN, through the real router processes of br1, br2 and dc1.
/// </summary>
[Collection(LabCollection.Name)]
public sealed partial class LabFabricTests(DefaultLab lab) : IClassFixture<DefaultLab>
{
    /// <summary>The routers' WAN addresses in hocon/lab.conf: the only addresses SVR puts on the WAN.</summary>
    private static readonly string[] Waypoints = ["172.16.0.1", "172.16.0.2", "172.16.0.3"];

    private readonly LabRun _run = lab.Run;

    [Fact]
    public void Curl_EngineeringAndGuestOnBothBranches_ReachWeb_OnBothInstances()
    {
        _run.AssertEachReachesEveryInstance(["eng1", "guest1", "eng2", "eng1", "guest1", "eng2"], "http://10.200.0.80/", "web1", "web2");
    }

    /// <summary>
    /// The lab's bridges are wires: where the host loaded br_netfilter (a container engine does), frames crossing them
    /// would otherwise run the firewall hooks, a quarter of a router worker's time under small packets.
    /// </summary>
    [Fact]
    public void WiresNamespace_BridgesRunNoFirewallHooks()
    {
        var wires = $"fab-{_run.Name}";
        var read = ExternalCommand.Run("ip", "netns", "exec", wires, "sh", "-c",
            "[ ! -d /proc/sys/net/bridge ] && echo absent || cat /proc/sys/net/bridge/bridge-nf-call-iptables /proc/sys/net/bridge/bridge-nf-call-ip6tables /proc/sys/net/bridge/bridge-nf-call-arptables");

        Assert.True(read.Succeeded, read.ToString());
        Assert.True(read.Output.Trim() is "absent" or "0\n0\n0", read.Output);
    }

    [Fact]
    public void Guest_ToDb_IsRefusedAtItsBranch_CountedAsAccessDeniedForDb()
    {
        var deniedBefore = Counters("br1a").RootElement.GetProperty("drops").GetProperty("AccessDenied").GetInt64();

        var connect = _run.Exec("guest1", "timeout", "3", "bash", "-c", "cat </dev/tcp/10.10.1.20/5432");

        Assert.False(connect.Succeeded, connect.ToString());
        using var after = Counters("br1a");
        Assert.True(after.RootElement.GetProperty("drops").GetProperty("AccessDenied").GetInt64() > deniedBefore);
        var recent = after.RootElement.GetProperty("recent_drops").EnumerateArray().Select(e => e.GetString()!).ToList();
        Assert.Contains(recent, line => line.StartsWith("AccessDenied tenant guest service db proto 6 10.20.1.20:", StringComparison.Ordinal)
            && line.Contains("> 10.10.1.20:5432 on guest1", StringComparison.Ordinal));
    }

    /// <summary>db requires encryption: this passes once lab up gives the routers their peer keys.</summary>
    [Fact]
    public void Finance_ToDb_Succeeds()
    {
        var connect = _run.Exec("fin1", "timeout", "5", "bash", "-c", "cat </dev/tcp/10.10.1.20/5432");

        Assert.True(connect.Succeeded, connect.ToString());
        Assert.Equal("db1", connect.Output.Trim());
    }

    [Fact]
    public void Iperf3_FromBr1ToBulk_MovesTheDataIntact()
    {
        const long bytes = 64L << 20;
        var checksumErrorsBefore = TcpChecksumErrors("bulk1");

        var iperf = _run.Exec("eng1", "iperf3", "-c", "10.10.1.30", "-p", "5201", "-n", bytes.ToString(System.Globalization.CultureInfo.InvariantCulture), "-J");

        Assert.True(iperf.Succeeded, iperf.ToString());
        using var result = JsonDocument.Parse(iperf.Output);
        var end = result.RootElement.GetProperty("end");
        var sent = end.GetProperty("sum_sent").GetProperty("bytes").GetInt64();
        var received = end.GetProperty("sum_received").GetProperty("bytes").GetInt64();
        Assert.True(sent >= bytes, $"sent {sent}");
        // The server stops counting when the client says the test ended; the last window may still be in flight.
        Assert.True(received >= sent * 9 / 10, $"sent {sent}, received {received}");
        // Every segment the fabric rewrote (whole super-packets and cut ones) arrived with a valid checksum.
        Assert.Equal(checksumErrorsBefore, TcpChecksumErrors("bulk1"));
        // Sane, not a benchmark: well below what the path does on a loaded two-core machine.
        Assert.True(end.GetProperty("sum_received").GetProperty("bits_per_second").GetDouble() > 20e6, iperf.Output);
    }

    /// <summary>TCP segments a container's kernel refused for a bad checksum (Tcp InCsumErrors in /proc/net/snmp).</summary>
    private long TcpChecksumErrors(string container)
    {
        var snmp = _run.Exec(container, "cat", "/proc/net/snmp");
        Assert.True(snmp.Succeeded, snmp.ToString());
        var tcp = snmp.Output.Split('\n').Where(l => l.StartsWith("Tcp:", StringComparison.Ordinal)).ToArray();
        var names = tcp[0].Split(' ');
        var values = tcp[1].Split(' ');
        return long.Parse(values[Array.IndexOf(names, "InCsumErrors")], System.Globalization.CultureInfo.InvariantCulture);
    }

    [Fact]
    public void Ping_FromBothBranches_CrossesTheFabric()
    {
        var fromBr1 = _run.Exec("eng1", "ping", "-n", "-c", "3", "-W", "2", "10.10.1.30");
        var fromBr2 = _run.Exec("eng2", "ping", "-n", "-c", "3", "-W", "2", "10.10.1.30");

        Assert.True(fromBr1.Succeeded, fromBr1.ToString());
        Assert.Contains("3 received", fromBr1.Output, StringComparison.Ordinal);
        Assert.True(fromBr2.Succeeded, fromBr2.ToString());
        Assert.Contains("3 received", fromBr2.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void WanCapture_ShowsOnlyWaypoints_NoEncapsulation_CookieOnlyOnFirstPacketsOfEachSession()
    {
        List<byte[]> packets;
        using (var capture = WireCapture.Start(_run, "wan"))
        {
            foreach (var client in new[] { "eng1", "eng2", "guest1" })
            {
                var curl = _run.Exec(client, "curl", "-s", "-m", "5", "http://10.200.0.80/");
                Assert.True(curl.Succeeded, $"{client}: {curl}");
            }

            packets = capture.Stop();
        }

        WireCapture.AssertSvrOnly(packets, Waypoints, sessionDirections: 6); // three sessions, both directions
    }

    /// <summary>Every client × service × port; db's finance cell needs the routers' peer keys (see Finance_ToDb_Succeeds).</summary>
    [Fact]
    public void Verify_ReportsNoneWrong()
    {
        var verify = _run.Verify();

        Assert.True(verify.Succeeded, verify.ToString());
        Assert.Matches(@"\d+ correct, 0 wrong\n$", verify.Output);
    }

    private JsonDocument Counters(string node) => JsonDocument.Parse(RouterProcess.ReadCounters(_run.AdminSocketOf(node)));
}
