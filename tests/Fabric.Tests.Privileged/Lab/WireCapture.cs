using System.Buffers.Binary;
using Fabric.Dataplane.Svr;
using Fabric.Router;

namespace Fabric.Tests.Lab;

/// <summary>
/// A tcpdump capture of the IPv4 packets other than IGMP on one of a lab's bridges (in the lab's wires namespace; or of its
/// IPv6 packets other than ICMPv6, for an IPv6 WAN), and what SVR must look like there: only waypoint addresses, no encapsulation,
/// metadata on the first packets of each session only.
/// </summary>
public sealed class WireCapture : IDisposable
{
    /// <summary>The SVR metadata cookie (docs/svr-wire.md), as it appears on the wire.</summary>
    private static readonly byte[] Cookie = [0x4C, 0x48, 0xDB, 0xC6, 0xDD, 0xF6, 0x67, 0x0C];

    private readonly System.Diagnostics.Process _tcpdump;
    private readonly string _file;
    private bool _stopped;

    private WireCapture(System.Diagnostics.Process tcpdump, string file)
    {
        _tcpdump = tcpdump;
        _file = file;
    }

    /// <summary>
    /// Starts capturing on <paramref name="bridge"/> (IPv4, or with <paramref name="ipv6"/> IPv6 without neighbour
    /// discovery) and returns once tcpdump says the capture is active.
    /// </summary>
    public static WireCapture Start(LabRun run, string bridge, bool ipv6 = false)
    {
        var file = Path.Combine(run.StateRoot, bridge + (ipv6 ? "-6" : "") + ".pcap");
        // Not the hosts' own link-local control traffic, which no router sends and SVR never is: neighbour discovery and MLD
        // (ICMPv6) on an IPv6 wire, IGMP membership reports on an IPv4 one. A report from 0.0.0.0 to 224.0.0.22 for the
        // all-snoopers group 224.0.0.106, sent by an interface without an IPv4 address on the wire, failed
        // LabIpv6Tests.Ping6_… (CI at 76d31ab) as "a packet not between waypoints"; a packet from 0.0.0.0 had failed it
        // before (CI at 5a28f5d), its kind not printed then.
        string[] filter = ipv6 ? ["ip6", "and", "not", "icmp6"] : ["ip", "and", "not", "igmp"];
        var tcpdump = System.Diagnostics.Process.Start(ExternalCommand.Info(
            "ip", ["netns", "exec", $"fab-{run.Name}", "tcpdump", "-i", bridge, "-n", "--immediate-mode", "-U", "-s", "0", "-w", file, .. filter]))!;
        // tcpdump says "listening on BRIDGE" once the capture is active; --immediate-mode hands it every packet at
        // once (not when a ring block times out), so nothing sent between that line and SIGINT is missed.
        for (var line = tcpdump.StandardError.ReadLine(); line is not null && !line.Contains("listening on", StringComparison.Ordinal); line = tcpdump.StandardError.ReadLine())
        {
        }

        return new WireCapture(tcpdump, file);
    }

    /// <summary>Stops the capture and returns its IP packets (without their Ethernet headers), in order.</summary>
    public List<byte[]> Stop()
    {
        Dispose();
        return ReadIp(_file);
    }

    public void Dispose()
    {
        if (_stopped)
        {
            return;
        }

        _stopped = true;
        // SIGINT: tcpdump flushes and exits (ip netns exec runs it in its own process, not a child).
        ExternalCommand.Run("kill", "-INT", _tcpdump.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        _tcpdump.WaitForExit(10_000);
        _tcpdump.Dispose();
    }

    /// <summary>
    /// Asserts SVR without an overlay: every packet is between two of <paramref name="waypoints"/>, carries the flow's
    /// own TCP or UDP (never GRE, IP in IP, VXLAN or Geneve around another IP packet), and each direction of each TCP
    /// session begun during the capture has metadata on its first packets and never after a packet without it; at
    /// least <paramref name="sessionDirections"/> such directions were seen.
    /// </summary>
    public static void AssertSvrOnly(IReadOnlyList<byte[]> packets, IReadOnlyCollection<string> waypoints, int sessionDirections)
    {
        Assert.NotEmpty(packets);
        var flows = new Dictionary<(string, string, ushort, ushort), List<(bool Syn, bool Cookie)>>();
        var sessionsSeen = new List<List<(bool Syn, bool Cookie)>>();
        foreach (var ip in packets)
        {
            // IPv4, or IPv6 (the router writes no extension header between waypoints: the next header is the transport's).
            var ipv6 = ip[0] >> 4 == 6;
            var (source, destination) = ipv6
                ? (new System.Net.IPAddress(ip.AsSpan(8, 16)).ToString(), new System.Net.IPAddress(ip.AsSpan(24, 16)).ToString())
                : ($"{ip[12]}.{ip[13]}.{ip[14]}.{ip[15]}", $"{ip[16]}.{ip[17]}.{ip[18]}.{ip[19]}");
            var protocol = ipv6 ? ip[6] : ip[9];
            // Named in full when it fails (an IGMP report from 0.0.0.0 was found this way, see Start).
            Assert.True(
                waypoints.Contains(source) && waypoints.Contains(destination),
                $"a packet on the wire not between waypoints ({string.Join(", ", waypoints)}): {source} -> {destination}, protocol {protocol}, {ip.Length} bytes: {Convert.ToHexString(ip.AsSpan(0, Math.Min(ip.Length, 64)))}");
            Assert.Contains(protocol, new byte[] { 6, 17 });
            var transport = ip.AsSpan(ipv6 ? 40 : (ip[0] & 0xF) * 4);
            var sourcePort = BinaryPrimitives.ReadUInt16BigEndian(transport);
            var destinationPort = BinaryPrimitives.ReadUInt16BigEndian(transport[2..]);
            Assert.DoesNotContain(destinationPort, new ushort[] { 4789, 6081 });
            var payload = protocol == 6 ? transport[((transport[12] >> 4) * 4)..] : transport[8..];
            Assert.False(payload.Length > 0 && ((payload[0] >> 4 == 4 && payload.Length >= 20 && payload[9] == 6) || (payload[0] >> 4 == 6 && payload.Length >= 40 && payload[6] == 6)), "an IP packet inside the transport");
            // A SYN starts a new session on the tuple (waypoint pairs are reused once a session ends).
            var syn = protocol == 6 && (transport[13] & 0x02) != 0;
            var key = (source, destination, sourcePort, destinationPort);
            if (!flows.TryGetValue(key, out var marks) || (syn && !marks[^1].Syn))
            {
                marks = [];
                flows[key] = marks;
                sessionsSeen.Add(marks);
            }

            marks.Add((syn, payload.IndexOf(Cookie) >= 0));
        }

        // Each direction of each session begun during the capture (first packet SYN or SYN-ACK).
        var sessions = sessionsSeen.Where(f => f[0].Syn).ToList();
        Assert.True(sessions.Count >= sessionDirections, $"at least {sessionDirections} session directions: {sessions.Count} of {sessionsSeen.Count} flows");
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

    /// <summary>The forward context of the metadata a captured IPv4 or IPv6 packet carries, if any.</summary>
    public static MetadataContext? ForwardContext(byte[] ip)
    {
        var length = Math.Min(ip.Length, ip[0] >> 4 == 6 ? 40 + BinaryPrimitives.ReadUInt16BigEndian(ip.AsSpan(4)) : BinaryPrimitives.ReadUInt16BigEndian(ip.AsSpan(2)));
        return MetadataInsertion.TryLocate(ip, length, out var block, out _) && SvrMetadata.TryParse(block, out var metadata, out _)
            ? metadata.ForwardContext
            : null;
    }

    /// <summary>The IPv4 and IPv6 packets of a pcap file (Ethernet link type, microsecond or nanosecond timestamps).</summary>
    private static List<byte[]> ReadIp(string path)
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
            if ((frame.Length >= 34 && BinaryPrimitives.ReadUInt16BigEndian(frame[12..]) == 0x0800)
                || (frame.Length >= 54 && BinaryPrimitives.ReadUInt16BigEndian(frame[12..]) == 0x86DD))
            {
                packets.Add(frame[14..].ToArray());
            }
        }

        return packets;
    }
}
