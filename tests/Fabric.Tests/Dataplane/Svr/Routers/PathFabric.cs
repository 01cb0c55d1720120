using Fabric.Dataplane.Forwarding;
using Fabric.Dataplane.Io;
using Fabric.Dataplane.Io.InMemory;
using Fabric.Dataplane.Routing;
using Fabric.Dataplane.Wire;
using Fabric.Model;
using Fabric.Tests.Dataplane.Routing;
using Fabric.Tests.Support;

namespace Fabric.Tests.Dataplane.Svr.Routers;

/// <summary>
/// The lab fabric's br1 and dc1 (hocon/lab.conf through the real loader) joined by two WANs: wan0 (neighborhood
/// wan, 172.16.0.0/24, the preferred path) and wan1 (neighborhood wan2, 172.17.0.0/24). Each router's WAN ports are
/// <see cref="WirePort"/>s, so a test can cut a WAN (<see cref="CutWan0"/>) or hold frames back. The web service's
/// session resiliency (and any further keys of its policy, <c>webPolicy</c>) is given by the test; bulk keeps the
/// default (none). Time moves only by <see cref="Run"/>.
/// </summary>
public sealed class PathFabric : IDisposable
{
    private static ulong _mac = 0x02_00_00_00_07_00;

    private readonly int _dc1Workers;

    /// <param name="edit">Changes to the document's text after the second WAN is added.</param>
    /// <param name="dc1Workers">
    /// dc1's packet workers: above 1 each of its in-memory ports is fanned out over them (as AF_PACKET fanout spreads a
    /// device's flows); dc1's WAN ports then see no <see cref="WirePort.Tamper"/>, so <see cref="CutWan0"/> cuts wan0 at br1 only.
    /// </param>
    public PathFabric(string webResiliency = "revertible-failover", string webPolicy = "", Func<string, string>? edit = null, int dc1Workers = 1)
    {
        _dc1Workers = dc1Workers;
        // No identities are pinned, so the routers have no peer keys: both neighborhoods opt in to unauthenticated metadata.
        var text = Repository.Read("hocon/lab.conf")
            .Replace(
                "neighborhoods {\n    wan {}\n  }",
                "neighborhoods {\n    wan { allow-unauthenticated-metadata = true }\n    wan2 { allow-unauthenticated-metadata = true }\n  }")
            .Replace(
                "wan0 { addresses = [\"172.16.0.1/24\"], neighborhoods = [wan] }",
                "wan0 { addresses = [\"172.16.0.1/24\"], neighborhoods = [wan] }\n        wan1 { addresses = [\"172.17.0.1/24\"], neighborhoods = [wan2] }")
            .Replace(
                "wan0 { addresses = [\"172.16.0.2/24\"], neighborhoods = [wan] }",
                "wan0 { addresses = [\"172.16.0.2/24\"], neighborhoods = [wan] }\n        wan1 { addresses = [\"172.17.0.2/24\"], neighborhoods = [wan2] }")
            .Replace(
                "      load-balancing = proportional\n",
                $"      load-balancing = proportional\n      session-resiliency = {webResiliency}\n      {webPolicy}\n")
            // No health check: these tests count every SYN and reset web's servers see.
            .Replace("      health-check {}\n", "");
        Model = RouterFixture.Load(edit is null ? text : edit(text));
        Assert.Equal(2, Model.Neighborhoods.Count);

        var wan0 = new InMemoryBridge();
        var wan1 = new InMemoryBridge();
        var svc = new InMemoryBridge();
        DcWan0 = new WirePort(wan0.Attach("wan0", NextMac()));
        DcWan1 = new WirePort(wan1.Attach("wan1", NextMac()));
        Dc1 = Start("dc1", [DcWan0, DcWan1, svc.Attach("svc", NextMac())]);
        Web1 = Server("web1", svc, "10.10.1.11");
        Web2 = Server("web2", svc, "10.10.1.12");
        Bulk1 = Server("bulk1", svc, "10.10.1.30");

        var eng1Link = new InMemoryLink("eng1", NextMac(), "eng1-c", NextMac());
        var guest1Link = new InMemoryLink("guest1", NextMac(), "guest1-c", NextMac());
        BrWan0 = new WirePort(wan0.Attach("wan0", NextMac()));
        BrWan1 = new WirePort(wan1.Attach("wan1", NextMac()));
        Br1 = Start("br1", [BrWan0, BrWan1, eng1Link.A, guest1Link.A]);
        Eng1 = new TestHost("eng1", eng1Link.B, eng1Link.B.Mac, "10.20.1.10", "10.20.1.1");
        Hosts = [Web1, Web2, Bulk1, Eng1];
    }

    public ManualTime Time { get; } = new();

    public FabricConfig Model { get; }

    public ForwardingEngine Dc1 { get; }

    public ForwardingEngine Br1 { get; }

    public WirePort DcWan0 { get; }

    public WirePort DcWan1 { get; }

    public WirePort BrWan0 { get; }

    public WirePort BrWan1 { get; }

    public TestHost Web1 { get; }

    public TestHost Web2 { get; }

    public TestHost Bulk1 { get; }

    public TestHost Eng1 { get; }

    public TestHost[] Hosts { get; }

    /// <summary>br1's path to dc1 over wan0 (the preferred one).</summary>
    public PeerPath Br1Wan0 => Path(Br1, "dc1", "wan");

    /// <summary>br1's path to dc1 over wan1.</summary>
    public PeerPath Br1Wan1 => Path(Br1, "dc1", "wan2");

    /// <summary>dc1's path to br1 over wan0.</summary>
    public PeerPath Dc1Wan0 => Path(Dc1, "br1", "wan");

    public static PeerPath Path(ForwardingEngine router, string peer, string neighborhood) =>
        Array.Find(router.Snapshot.PeerPaths, p => p.PeerRouter == peer && p.Neighborhood == neighborhood)
        ?? throw new InvalidOperationException($"{router.Name} has no path to {peer} over {neighborhood}");

    /// <summary>Cuts wan0 (nothing arrives at either router over it) or joins it again.</summary>
    public void CutWan0(bool cut)
    {
        DcWan0.Tamper = cut ? _ => false : null;
        BrWan0.Tamper = cut ? _ => false : null;
    }

    /// <summary>Neither eng1 nor web's servers ever saw a TCP reset, and web's servers saw one connection (one SYN): a session that moved between paths went on.</summary>
    public void AssertOneWebConnectionNeverReset()
    {
        foreach (var host in new[] { Eng1, Web1, Web2 })
        {
            Assert.DoesNotContain(host.Received, packet => TcpFlagsOf(packet) is { } flags && (flags & TcpFlags.Rst) != 0);
        }

        Assert.Single(new[] { Web1, Web2 }.SelectMany(h => h.Received), packet => TcpFlagsOf(packet) == TcpFlags.Syn);
    }

    /// <summary>The flags of an IPv4 TCP packet, else null.</summary>
    public static TcpFlags? TcpFlagsOf(byte[] packet) =>
        Ipv4Packet.TryCreate(packet, out var ip) && ip.Protocol == IpProtocol.Tcp && TcpSegment.TryCreate(ip.Payload, out var tcp) ? tcp.Flags : null;

    /// <summary>Moves frames between routers and hosts until nothing moves (bounded).</summary>
    public void Pump() => FramePump.Run([Dc1, Br1], Hosts);

    /// <summary>Lets <paramref name="span"/> pass in whole <paramref name="step"/>s, pumping after each.</summary>
    public void Run(TimeSpan span, TimeSpan step)
    {
        for (var passed = TimeSpan.Zero; passed < span; passed += step)
        {
            Time.Advance(step);
            Pump();
        }
    }

    /// <summary>Lets whole seconds pass, pumping after each.</summary>
    public void RunSeconds(int seconds) => Run(TimeSpan.FromSeconds(seconds), TimeSpan.FromSeconds(1));

    public void Dispose()
    {
        Dc1.Dispose();
        Br1.Dispose();
    }

    private ForwardingEngine Start(string name, IPacketPort[] ports)
    {
        var options = new RouterOptions(SessionCapacity: 1024, Seed: 0x5eed);
        var workers = name == "dc1" ? _dc1Workers : 1;
        var engine = workers == 1
            ? new ForwardingEngine(name, ports, options, Time)
            : ForwardingEngine.WithWorkers(name, FannedOut(ports, workers), options, Time);
        engine.Apply(Model, version: 1);
        return engine;
    }

    /// <summary>Each worker's share of every port: the in-memory ports under the WAN wrappers, fanned out.</summary>
    private static WorkerPorts[] FannedOut(IPacketPort[] ports, int workers)
    {
        var members = ports.Select(p => ((InMemoryPort)(p is WirePort wire ? wire.Inner : p)).Fanout(workers)).ToArray();
        return [.. Enumerable.Range(0, workers).Select(w => new WorkerPorts([.. members.Select(m => m[w])]))];
    }

    private static MacAddress NextMac() => new(Interlocked.Increment(ref _mac));

    private static TestHost Server(string name, InMemoryBridge bridge, string address)
    {
        var mac = NextMac();
        return new TestHost(name, bridge.Attach(name, mac), mac, address, "10.10.1.1") { IsServer = true };
    }
}
