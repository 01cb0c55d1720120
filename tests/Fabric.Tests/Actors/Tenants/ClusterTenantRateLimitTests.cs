using System.Buffers.Binary;
using System.Diagnostics;
using Fabric.Actors.Cluster;
using Fabric.Actors.Tenants;
using Fabric.Dataplane.Policing;
using Fabric.Dataplane.Routing;
using Fabric.Dataplane.Wire;
using Fabric.Model;
using Fabric.Tests.Dataplane.Routing;
using Fabric.Tests.Dataplane.Svr.Routers;
using Fabric.Tests.Support;

namespace Fabric.Tests.Actors.Tenants;

/// <summary>
/// A tenant whose traffic enters the fabric through two routers (engineering: eng1 behind br1, eng2 behind br2)
/// to a service at a third (sink on dc1, a UDP receiver), the lab fabric on in-memory links, with br1's and
/// br2's tenant buckets governed by the budget exchange of two router nodes in a real Akka cluster (a conductor
/// and two router actor systems on loopback). The clients send in real time; what the sink receives is measured
/// against the time that actually passed, so a slow machine changes the figures' noise, not their meaning.
/// </summary>
public sealed class ClusterTenantRateLimitTests : IDisposable
{
    private const long Limit = 1_000_000;
    private const int PacketBytes = 1200;
    private const string Sink = "10.10.1.40";

    private readonly string _dir = Directory.CreateTempSubdirectory("fabric-tenant-budgets-").FullName;

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    /// <summary>The lab with a container ops1 on dc1 and a service "sink" (UDP 9000) for engineering, limited per tenant to 1 MB/s (burst 250 kB).</summary>
    private static string WithLimitedSink(string lab) => lab
        .Replace(
            "            bulk1 { addresses = [\"10.10.1.30\"] }\n",
            "            bulk1 { addresses = [\"10.10.1.30\"] }\n            ops1 { addresses = [\"10.10.1.40\"] }\n",
            StringComparison.Ordinal)
        .Replace(
            "    # An iperf3 server",
            $$"""
                sink {
                  addresses = ["{{Sink}}/32"]
                  transports = [{ protocol = udp, ports = ["9000"] }]
                  access = [engineering]
                  policy = limited
                  instances = [{ container = ops1 }]
                }
                # An iperf3 server
            """,
            StringComparison.Ordinal)
        .Replace(
            "  service-policies {\n",
            $"  service-policies {{\n    limited {{\n      tenant-rate-limit {{ bytes-per-second = {Limit}, burst-bytes = {Limit / 4} }}\n    }}\n",
            StringComparison.Ordinal);

    [Fact]
    public async Task TenantEnteringThroughTwoRouters_IsHeldToItsLimitAcrossTheFabric_EvenAndUneven()
    {
        using var fabric = new SvrFabric(WithLimitedSink);
        var load = new Load(fabric);

        // No exchange: each router polices the tenant at the whole limit, so two routers let twice through. (A
        // second first, to spend the full buckets' burst and warm up. Each bucket's burst, a quarter second of the
        // limit, is also what keeps a stall of the sending loop on a loaded machine from costing credit.)
        load.Run(TimeSpan.FromSeconds(1), 2 * Limit, 2 * Limit);
        var alone = load.Run(TimeSpan.FromSeconds(3), 2 * Limit, 2 * Limit);
        Assert.InRange(alone.TotalRate, 1.5 * Limit, 2.2 * Limit);

        await using var nodes = new ControlPlaneNodes(tls: true);
        await nodes.StartConductor(new StorageSettings(StorageProvider.Sqlite, Path.Combine(_dir, "conductor.db"), null));
        await nodes.StartRouterNode("br1a", fabric.Br1, TenantBudgetSettings.Default);
        await nodes.StartRouterNode("br2a", fabric.Br2, TenantBudgetSettings.Default);

        // Each offers twice the limit: once the routers hear each other, each polices at half of it.
        var br1 = Bucket(fabric.Br1);
        var br2 = Bucket(fabric.Br2);
        load.RunUntil(2 * Limit, 2 * Limit, () => br1.BytesPerSecond <= 0.55 * Limit && br2.BytesPerSecond <= 0.55 * Limit, "br1 and br2 each policing at half the limit");
        load.Run(TimeSpan.FromSeconds(1.5), 2 * Limit, 2 * Limit);
        var even = load.Run(TimeSpan.FromSeconds(6), 2 * Limit, 2 * Limit);
        Assert.InRange(even.TotalRate, 0.9 * Limit, 1.1 * Limit);
        Assert.InRange(even.Eng1Rate, 0.4 * Limit, 0.6 * Limit);

        // Uneven: br1 offers 3× the limit, br2 0.4×: br2 gets what it offers, br1 the rest.
        load.RunUntil(3 * Limit, 4 * Limit / 10, () => br2.BytesPerSecond is >= 4 * Limit / 10 and <= Limit / 2 && br1.BytesPerSecond >= Limit / 2, "br2 policing at its demand, br1 at the rest");
        load.Run(TimeSpan.FromSeconds(1.5), 3 * Limit, 4 * Limit / 10);
        var uneven = load.Run(TimeSpan.FromSeconds(6), 3 * Limit, 4 * Limit / 10);
        Assert.InRange(uneven.TotalRate, 0.9 * Limit, 1.1 * Limit);
        Assert.InRange(uneven.Eng2Rate, 0.9 * uneven.Eng2Offered, 1.05 * uneven.Eng2Offered);
        foreach (var (name, window) in new[] { ("no exchange", alone), ("even", even), ("uneven", uneven) })
        {
            TestContext.Current.TestOutputHelper?.WriteLine(
                $"{name}: offered eng1 {window.Eng1Offered / Limit:F2}, eng2 {window.Eng2Offered / Limit:F2}; admitted eng1 {window.Eng1Rate / Limit:F3}, eng2 {window.Eng2Rate / Limit:F3}, total {window.TotalRate / Limit:F3} × limit");
        }
    }

    [Fact]
    public async Task DemandForged_InAnotherNodesName_ForARouterTheWriterIsNotPartOf_OrByNoRouterNode_Refused_TheNodeKeepsTheWholeLimit()
    {
        using var fabric = new SvrFabric(WithLimitedSink);
        await using var nodes = new ControlPlaneNodes(tls: true);
        await nodes.StartConductor(new StorageSettings(StorageProvider.Sqlite, Path.Combine(_dir, "conductor.db"), null));
        var refusals = new Fabric.Actors.Security.ControlPlaneRefusals();
        await nodes.StartRouterNode("br1a", fabric.Br1, TenantBudgetSettings.Default, refusals);
        var br1 = Bucket(fabric.Br1);
        Assert.Equal(Limit, br1.BytesPerSecond);

        // dc1a (a member with a certificate of the fabric's CA issued to it) claims 100× the limit of engineering's
        // bucket: in br2a's name under its own seal, as dc1a for router br2, and as "ghost", no router's node, unsealed.
        var forger = await nodes.StartMember("dc1a");
        var self = Akka.Cluster.Cluster.Get(forger).SelfUniqueAddress;
        var member = Fabric.Actors.Services.ServiceDistribution.MemberId(self);
        var signer = new Fabric.Actors.Security.NodeSigner(nodes.Settings("dc1a").Tls!);
        var demands = new Dictionary<string, long> { [TenantBudgetDistribution.KeyOf("sink", "engineering")] = 100 * Limit };
        SealedDemandReport Report(string node, string router, bool seal)
        {
            var report = new TenantDemandReport(node, router, 1_000_000, demands);
            return new SealedDemandReport(report, member, seal ? signer.Seal(SealedDemandReport.Statement(report, member)) : null);
        }

        await ControlPlaneNodes.Write(
            forger, TenantBudgetDistribution.Demands, Akka.DistributedData.LWWDictionary<EntryName, SealedDemandReport>.Empty,
            reports => reports
                .SetItem(self, "br2a", Report("br2a", "br2", seal: true))
                .SetItem(self, "dc1a", Report("dc1a", "br2", seal: true))
                .SetItem(self, "ghost", Report("ghost", "br2", seal: false)),
            everywhere: true);

        // Believed, any of them would leave br1 a small share of the limit.
        await ControlPlaneNodes.Until(
            () => Task.FromResult((refusals.ForeignEntries, br1.BytesPerSecond)),
            r => r.ForeignEntries == 3 || r.BytesPerSecond != Limit,
            "br1a refusing the three forged reports");
        Assert.Equal(Limit, br1.BytesPerSecond);
        Assert.Equal(3, refusals.ForeignEntries);
    }

    private static SharedTokenBucket Bucket(ForwardingEngine router) =>
        router.Snapshot.LimitedTenantBuckets().Single(b => b.Service == "sink" && b.Tenant == "engineering").Bucket;

    /// <summary>What reached the sink from each client over a window, per second of the fabric's clock (which follows real time).</summary>
    private sealed record Window(double Eng1Rate, double Eng2Rate, double Eng1Offered, double Eng2Offered)
    {
        public double TotalRate => Eng1Rate + Eng2Rate;
    }

    /// <summary>
    /// Drives the fabric in real time: each round moves the fabric's clock by the real time that passed, sends
    /// each client's packets that fell due at its rate, and pumps frames until they settle.
    /// </summary>
    private sealed class Load(SvrFabric fabric)
    {
        private static readonly byte[] Payload = new byte[PacketBytes - 28];
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private TimeSpan _last;

        public Window Run(TimeSpan duration, long eng1Rate, long eng2Rate) => Drive(eng1Rate, eng2Rate, () => false, duration, null);

        /// <summary>Runs until <paramref name="done"/>; fails after a minute (the nodes may still be joining the cluster on a loaded machine).</summary>
        public void RunUntil(long eng1Rate, long eng2Rate, Func<bool> done, string what) => Drive(eng1Rate, eng2Rate, done, TimeSpan.FromMinutes(1), what);

        private Window Drive(long eng1Rate, long eng2Rate, Func<bool> done, TimeSpan duration, string? what)
        {
            var sink = IpAddressConversions.ParseIpv4(Sink);
            Advance();
            var start = fabric.Time.GetTimestamp();
            var end = _clock.Elapsed + duration;
            double due1 = 0, due2 = 0;
            long sent1 = 0, sent2 = 0, got1 = 0, got2 = 0;
            while (_clock.Elapsed < end)
            {
                if (done())
                {
                    return new Window(0, 0, 0, 0);
                }

                var seconds = Advance().TotalSeconds;
                due1 += eng1Rate * seconds;
                due2 += eng2Rate * seconds;
                for (; due1 >= PacketBytes; due1 -= PacketBytes, sent1 += PacketBytes)
                {
                    fabric.Eng1.SendIp(Packets.Udp(fabric.Eng1.Address, sink, 5000, 9000, Payload));
                }

                for (; due2 >= PacketBytes; due2 -= PacketBytes, sent2 += PacketBytes)
                {
                    fabric.Eng2.SendIp(Packets.Udp(fabric.Eng2.Address, sink, 5000, 9000, Payload));
                }

                fabric.Pump();
                foreach (var packet in fabric.Ops1.Received)
                {
                    var source = BinaryPrimitives.ReadUInt32BigEndian(packet.AsSpan(12));
                    got1 += source == fabric.Eng1.Address ? packet.Length : 0;
                    got2 += source == fabric.Eng2.Address ? packet.Length : 0;
                }

                fabric.Ops1.Received.Clear();
                fabric.DcWan.Received.Clear();
                fabric.BrWan.Received.Clear();
                Thread.Sleep(1);
            }

            if (what is not null)
            {
                Assert.Fail($"{what} did not happen within {duration.TotalSeconds} s");
            }

            var elapsed = (double)(fabric.Time.GetTimestamp() - start) / fabric.Time.TimestampFrequency;
            return new Window(got1 / elapsed, got2 / elapsed, sent1 / elapsed, sent2 / elapsed);
        }

        /// <summary>Moves the fabric's clock by the real time since the last call; returns it.</summary>
        private TimeSpan Advance()
        {
            var now = _clock.Elapsed;
            var step = now - _last;
            _last = now;
            fabric.Time.Advance(step);
            return step;
        }
    }
}
