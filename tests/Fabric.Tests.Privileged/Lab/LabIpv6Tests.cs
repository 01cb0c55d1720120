using Fabric.Dataplane.Wire;
using Fabric.Tests.Support;

namespace Fabric.Tests.Lab;

/// <summary>One lab for the class: the shipped IPv6 topology (hocon/lab-ipv6.conf).</summary>
public sealed class Ipv6Lab : IDisposable
{
    public LabRun Run { get; } = LabRun.Started("v6", Repository.Read("hocon/lab-ipv6.conf"));

    public void Dispose() => Run.Dispose();
}

/// <summary>
/// IPv6 across real router processes: eng1 (fd00:20:1::10 behind br1) reaches web and vault (fd00:200::80 and ::90,
/// instances behind dc1) over the IPv4 WAN, vault sealed between the routers.
/// </summary>
[Collection(LabCollection.Name)]
public sealed class LabIpv6Tests(Ipv6Lab lab) : IClassFixture<Ipv6Lab>
{
    private static readonly string[] Wan = ["172.16.0.1", "172.16.0.2"];

    private readonly LabRun _run = lab.Run;

    [Fact]
    public void Verify_ProbesTheIpv6CellsToo_AndEveryCellAgreesWithThePolicy()
    {
        var verify = _run.Verify();

        Assert.True(verify.Succeeded, verify.ToString());
        Assert.Contains("web:80/6", verify.Output, StringComparison.Ordinal);
        Assert.Contains("vault:8080/6", verify.Output, StringComparison.Ordinal);
        Assert.Contains("web:icmp/6", verify.Output, StringComparison.Ordinal);
        Assert.Matches(@"6 correct, 0 wrong\n$", verify.Output);
    }

    /// <summary>
    /// <c>ping -6</c> from eng1 to web's IPv6 service address behind dc1 gets every reply: each echo crosses the IPv4 WAN
    /// as UDP between the waypoints (nothing else on the wire), its metadata naming the IPv6 ICMPv6 session.
    /// </summary>
    [Fact]
    public void Ping6_ToTheServiceBehindTheOtherRouter_ThreeRepliesOverTheIpv4Wan()
    {
        List<byte[]> wan;
        using (var capture = WireCapture.Start(_run, "wan"))
        {
            var ping = _run.Exec("eng1", "ping", "-6", "-n", "-c", "3", "-i", "0.2", "-W", "2", "fd00:200::80");
            Assert.True(ping.Succeeded, ping.ToString());
            Assert.Contains("3 packets transmitted, 3 received", ping.Output, StringComparison.Ordinal);
            wan = capture.Stop();
        }

        WireCapture.AssertSvrOnly(wan, Wan, sessionDirections: 0);
        Assert.All(wan, packet => Assert.Equal(IpProtocol.Udp, packet[9]));
        var eng1 = IpAddressConversions.ParseIpv6("fd00:20:1::10");
        Assert.Contains(wan, packet => WireCapture.ForwardContext(packet) is { IsIpv6: true } c && c.Key.Source == eng1 && c.Key.Protocol == IpProtocol.Icmpv6);
    }

    [Fact]
    public void Curl6_PlainAndEncrypted_OverTheIpv4Wan_SvrWithIpv6MetadataAndNothingInClear()
    {
        List<byte[]> wan;
        using (var capture = WireCapture.Start(_run, "wan"))
        {
            var web = _run.Exec("eng1", "curl", "-6", "-g", "-sS", "-m", "5", "http://[fd00:200::80]/");
            Assert.True(web.Succeeded, web.ToString());
            Assert.Equal("web1", web.Output.Trim());
            var vault = _run.Exec("eng1", "curl", "-6", "-g", "-sS", "-m", "5", "http://[fd00:200::90]:8080/");
            Assert.True(vault.Succeeded, vault.ToString());
            Assert.Equal("vault1", vault.Output.Trim());
            wan = capture.Stop();
        }

        // IPv4 between the waypoints only, no tunnel, metadata on each session's first packets only.
        WireCapture.AssertSvrOnly(wan, Wan, sessionDirections: 4);
        // The first packets name the IPv6 client (forward context TLV 3), in clear for the plain session and
        // authenticated for the sealed one; the sealed service's answer never crosses readable.
        var eng1 = IpAddressConversions.ParseIpv6("fd00:20:1::10");
        var contexts = wan.Select(WireCapture.ForwardContext).Where(c => c is not null).Select(c => c!.Value).ToList();
        Assert.Contains(contexts, c => c.IsIpv6 && c.Key.Source == eng1 && c.Key.DestinationPort == 80);
        Assert.Contains(contexts, c => c.IsIpv6 && c.Key.Source == eng1 && c.Key.DestinationPort == 8080);
        Assert.DoesNotContain(wan, packet => packet.AsSpan().IndexOf("vault1\n"u8) >= 0);
        Assert.Contains(wan, packet => packet.AsSpan().IndexOf("web1\n"u8) >= 0);
    }
}
