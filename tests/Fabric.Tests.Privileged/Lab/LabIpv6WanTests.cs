using Fabric.Dataplane.Wire;
using Fabric.Tests.Support;

namespace Fabric.Tests.Lab;

/// <summary>One lab for the class: the shipped IPv6 WAN topology (hocon/lab-ipv6-wan.conf).</summary>
public sealed class Ipv6WanLab : IDisposable
{
    public LabRun Run { get; } = LabRun.Started("v6w", Repository.Read("hocon/lab-ipv6-wan.conf"));

    public void Dispose() => Run.Dispose();
}

/// <summary>
/// An IPv6 WAN between real router processes: the routers' waypoints are fd00:16::1 (dc1) and fd00:16::2 (br1), and eng1
/// (fd00:20:1::10 and 10.20.1.10 behind br1) reaches web and vault (instances behind dc1) over it with either family,
/// vault sealed between the routers.
/// </summary>
[Collection(LabCollection.Name)]
public sealed class LabIpv6WanTests(Ipv6WanLab lab) : IClassFixture<Ipv6WanLab>
{
    private static readonly string[] Wan = ["fd00:16::1", "fd00:16::2"];

    private readonly LabRun _run = lab.Run;

    [Fact]
    public void Verify_EveryCellOfBothFamiliesAgreesWithThePolicy()
    {
        var verify = _run.Verify();

        Assert.True(verify.Succeeded, verify.ToString());
        Assert.Contains("web:80/6", verify.Output, StringComparison.Ordinal);
        Assert.Contains("vault:8080/6", verify.Output, StringComparison.Ordinal);
        Assert.Contains("web:icmp/6", verify.Output, StringComparison.Ordinal);
        Assert.Matches(@"6 correct, 0 wrong\n$", verify.Output);
    }

    /// <summary>
    /// <c>ping -6</c> and <c>ping -4</c> from eng1 to web's service addresses behind dc1 get every reply over the IPv6 WAN:
    /// each echo crosses as IPv6 UDP between the waypoints with its metadata naming the session of its own family.
    /// </summary>
    [Fact]
    public void Ping6AndPing4_ToTheServiceBehindTheOtherRouter_ThreeRepliesEachOverTheIpv6Wan()
    {
        List<byte[]> wan;
        using (var capture = WireCapture.Start(_run, "wan", ipv6: true))
        {
            foreach (var (family, address) in new[] { ("-6", "fd00:200::80"), ("-4", "10.200.0.80") })
            {
                var ping = _run.Exec("eng1", "ping", family, "-n", "-c", "3", "-i", "0.2", "-W", "2", address);
                Assert.True(ping.Succeeded, ping.ToString());
                Assert.Contains("3 packets transmitted, 3 received", ping.Output, StringComparison.Ordinal);
            }

            wan = capture.Stop();
        }

        WireCapture.AssertSvrOnly(wan, Wan, sessionDirections: 0);
        Assert.All(wan, packet => Assert.Equal(IpProtocol.Udp, packet[6]));
        var contexts = wan.Select(WireCapture.ForwardContext).Where(c => c is not null).Select(c => c!.Value).ToList();
        Assert.Contains(contexts, c => c.IsIpv6 && c.Key.Protocol == IpProtocol.Icmpv6);
        Assert.Contains(contexts, c => !c.IsIpv6 && c.Key.Protocol == IpProtocol.Icmp);
    }

    [Fact]
    public void Curl_BothFamilies_PlainAndEncrypted_OverTheIpv6Wan_OnlyIpv6WaypointsOnTheWire_NothingInClear()
    {
        List<byte[]> wan;
        List<byte[]> wan4;
        using (var capture = WireCapture.Start(_run, "wan", ipv6: true))
        using (var capture4 = WireCapture.Start(_run, "wan"))
        {
            foreach (var (family, url, answer) in new[]
            {
                ("-6", "http://[fd00:200::80]/", "web1"), ("-6", "http://[fd00:200::90]:8080/", "vault1"),
                ("-4", "http://10.200.0.80/", "web1"), ("-4", "http://10.200.0.90:8080/", "vault1"),
            })
            {
                var curl = _run.Exec("eng1", "curl", family, "-g", "-sS", "-m", "5", url);
                Assert.True(curl.Succeeded, curl.ToString());
                Assert.Equal(answer, curl.Output.Trim());
            }

            wan4 = capture4.Stop();
            wan = capture.Stop();
        }

        // IPv6 between the waypoints only, no tunnel, metadata on each session's first packets only; no IPv4 at all.
        Assert.Empty(wan4);
        WireCapture.AssertSvrOnly(wan, Wan, sessionDirections: 8);
        // The first packets name the client in its own family (forward context TLV 3 or 2), in clear for the plain
        // sessions and authenticated for the sealed ones; the sealed service's answer never crosses readable.
        var eng1 = IpAddressConversions.ParseIpv6("fd00:20:1::10");
        var eng1v4 = IpAddressConversions.ParseIpv4("10.20.1.10");
        var contexts = wan.Select(WireCapture.ForwardContext).Where(c => c is not null).Select(c => c!.Value).ToList();
        Assert.Contains(contexts, c => c.IsIpv6 && c.Key.Source == eng1 && c.Key.DestinationPort == 80);
        Assert.Contains(contexts, c => c.IsIpv6 && c.Key.Source == eng1 && c.Key.DestinationPort == 8080);
        Assert.Contains(contexts, c => !c.IsIpv6 && c.Key.Source == eng1v4 && c.Key.DestinationPort == 80);
        Assert.Contains(contexts, c => !c.IsIpv6 && c.Key.Source == eng1v4 && c.Key.DestinationPort == 8080);
        Assert.DoesNotContain(wan, packet => packet.AsSpan().IndexOf("vault1\n"u8) >= 0);
        Assert.Contains(wan, packet => packet.AsSpan().IndexOf("web1\n"u8) >= 0);
    }

    [Fact]
    public void Counters_ThePeerPathRunsBetweenIpv6Waypoints_ComesUp_AndMeasuresLatency()
    {
        // A new path counts as up before it has heard anything: wait for the peer's probes over IPv6 (its MAC found by
        // neighbour discovery), then for an echo burst.
        _run.Until("br1 hears dc1's probes", () => PathOfBr1().GetProperty("probes_received").GetInt64() > 0);
        _run.Until("an echo burst over the IPv6 path is measured", () => PathOfBr1().GetProperty("latency_us").GetInt64() >= 0);
        var path = PathOfBr1();

        Assert.Equal(("dc1", "fd00:16::2", "fd00:16::1", "up"), (
            path.GetProperty("peer").GetString(), path.GetProperty("local").GetString(), path.GetProperty("remote").GetString(),
            path.GetProperty("state").GetString()));
    }

    private System.Text.Json.JsonElement PathOfBr1() => Assert.Single(_run.Counters("br1a").GetProperty("peer_paths").EnumerateArray());
}
