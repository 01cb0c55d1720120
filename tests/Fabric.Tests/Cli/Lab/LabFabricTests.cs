using System.Buffers.Binary;
using System.Text.Json;
using Fabric.Cli.Hosting;
using Fabric.Tests.Support;

namespace Fabric.Tests.Cli.Lab;

/// <summary>One lab for the class: the default topology (hocon/lab.conf), three routers talking SVR over the WAN bridge.</summary>
public sealed class DefaultLab : IDisposable
{
    public DefaultLab()
    {
        Run = new LabRun("e", Repository.Read("hocon/lab.conf"));
        var up = Run.Up();
        if (!up.Succeeded)
        {
            Run.Dispose();
            throw new InvalidOperationException($"lab up failed: {up}");
        }
    }

    public LabRun Run { get; }

    public void Dispose() => Run.Dispose();
}

/// <summary>
/// End to end across routers on the default lab: real curl, ping, iperf3, a TCP client and tcpdump in the
/// containers and on the WAN, through the real router processes of br1, br2 and dc1.
/// </summary>
[Collection(LabCollection.Name)]
public sealed partial class LabFabricTests(DefaultLab lab) : IClassFixture<DefaultLab>
{
    /// <summary>The SVR metadata cookie (docs/svr-wire.md), as it appears on the wire.</summary>
    private static readonly byte[] Cookie = [0x4C, 0x48, 0xDB, 0xC6, 0xDD, 0xF6, 0x67, 0x0C];

    /// <summary>The routers' WAN addresses in hocon/lab.conf: the only addresses SVR puts on the WAN.</summary>
    private static readonly string[] Waypoints = ["172.16.0.1", "172.16.0.2", "172.16.0.3"];

    private readonly LabRun _run = lab.Run;

    [Fact]
    public void Curl_EngineeringAndGuestOnBothBranches_ReachWeb_OnBothInstances()
    {
        _run.AssertEachReachesEveryInstance(["eng1", "guest1", "eng2", "eng1", "guest1", "eng2"], "http://10.200.0.80/", "web1", "web2");
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
        var capture = Path.Combine(_run.StateRoot, "wan.pcap");
        using var tcpdump = System.Diagnostics.Process.Start(ExternalCommand.Info(
            "ip", ["netns", "exec", $"fab-{_run.Name}", "tcpdump", "-i", "wan", "-n", "--immediate-mode", "-U", "-s", "0", "-w", capture, "ip"]))!;
        try
        {
            // tcpdump says "listening on wan" once the capture is active; --immediate-mode hands it every packet at
            // once (not when a ring block times out), so nothing sent between that line and SIGINT is missed.
            for (var line = tcpdump.StandardError.ReadLine(); line is not null && !line.Contains("listening on", StringComparison.Ordinal); line = tcpdump.StandardError.ReadLine())
            {
            }

            foreach (var client in new[] { "eng1", "eng2", "guest1" })
            {
                var curl = _run.Exec(client, "curl", "-s", "-m", "5", "http://10.200.0.80/");
                Assert.True(curl.Succeeded, $"{client}: {curl}");
            }
        }
        finally
        {
            // SIGINT: tcpdump flushes and exits (ip netns exec runs it in its own process, not a child).
            ExternalCommand.Run("kill", "-INT", tcpdump.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
            tcpdump.WaitForExit(10_000);
        }

        var packets = ReadIpv4(capture);
        Assert.NotEmpty(packets);
        var flows = new Dictionary<(string, string, ushort, ushort), List<(bool Syn, bool Cookie)>>();
        var sessionsSeen = new List<List<(bool Syn, bool Cookie)>>();
        foreach (var ip in packets)
        {
            var source = $"{ip[12]}.{ip[13]}.{ip[14]}.{ip[15]}";
            var destination = $"{ip[16]}.{ip[17]}.{ip[18]}.{ip[19]}";
            Assert.Contains(source, Waypoints);
            Assert.Contains(destination, Waypoints);
            // No overlay: the transport is the flow's own TCP (or UDP/ICMP as SVR carries it), never GRE,
            // IP in IP, VXLAN (4789) or Geneve (6081) around another IP packet.
            Assert.Contains(ip[9], new byte[] { 6, 17 });
            var transport = ip.AsSpan((ip[0] & 0xF) * 4);
            var sourcePort = BinaryPrimitives.ReadUInt16BigEndian(transport);
            var destinationPort = BinaryPrimitives.ReadUInt16BigEndian(transport[2..]);
            Assert.DoesNotContain(destinationPort, new ushort[] { 4789, 6081 });
            var payload = ip[9] == 6 ? transport[((transport[12] >> 4) * 4)..] : transport[8..];
            Assert.False(payload.Length > 0 && payload[0] >> 4 == 4 && payload.Length >= 20 && payload[9] == 6, "an IPv4 packet inside the transport");
            // A SYN starts a new session on the tuple (waypoint pairs are reused once a session ends).
            var syn = ip[9] == 6 && (transport[13] & 0x02) != 0;
            var key = (source, destination, sourcePort, destinationPort);
            if (!flows.TryGetValue(key, out var marks) || (syn && !marks[^1].Syn))
            {
                marks = [];
                flows[key] = marks;
                sessionsSeen.Add(marks);
            }

            marks.Add((syn, payload.IndexOf(Cookie) >= 0));
        }

        // Each direction of each session begun during the capture (first packet SYN or SYN-ACK): metadata on
        // its first packets, then never again.
        var sessions = sessionsSeen.Where(f => f[0].Syn).ToList();
        Assert.True(sessions.Count >= 6, $"three sessions, both directions: {sessions.Count} of {sessionsSeen.Count} flows");
        foreach (var flow in sessions)
        {
            var key = string.Join(" ", flow.Select(p => p.Syn ? "S" : "."));
            var marks = flow.Select(p => p.Cookie).ToList();
            Assert.True(marks[0], $"{key}: the first packet carries metadata");
            var firstPlain = marks.IndexOf(false);
            Assert.True(firstPlain < 0 || !marks.Skip(firstPlain).Contains(true), $"{key}: metadata after a packet without it ({string.Join(",", marks)})");
            Assert.Contains(false, marks);
        }
    }

    /// <summary>Every client × service × port; db's finance cell needs the routers' peer keys (see Finance_ToDb_Succeeds).</summary>
    [Fact]
    public void Verify_ReportsNoneWrong()
    {
        var verify = _run.Verify();

        Assert.True(verify.Succeeded, verify.ToString());
        Assert.Matches(@"\d+ correct, 0 wrong\n$", verify.Output);
    }

    /// <summary>The IPv4 packets of a pcap file (Ethernet link type, microsecond or nanosecond timestamps).</summary>
    private static List<byte[]> ReadIpv4(string path)
    {
        var file = File.ReadAllBytes(path);
        Assert.True(file.Length >= 24, "tcpdump wrote a capture");
        Assert.Equal(1u, BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(20)));
        var packets = new List<byte[]>();
        for (var at = 24; at + 16 <= file.Length;)
        {
            var length = (int)BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(at + 8));
            var frame = file.AsSpan(at + 16, Math.Min(length, file.Length - at - 16));
            at += 16 + length;
            if (frame.Length >= 34 && BinaryPrimitives.ReadUInt16BigEndian(frame[12..]) == 0x0800)
            {
                packets.Add(frame[14..].ToArray());
            }
        }

        return packets;
    }

    private JsonDocument Counters(string node) => JsonDocument.Parse(RouterProcess.ReadCounters(_run.AdminSocketOf(node)));
}
