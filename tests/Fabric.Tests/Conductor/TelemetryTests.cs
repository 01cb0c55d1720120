using Akka.Actor;
using Fabric.Actors.Telemetry;
using Fabric.Conductor.Configuration;
using Fabric.Conductor.Telemetry;
using Fabric.Model;
using Fabric.Tests.Support;

namespace Fabric.Tests.Conductor;

/// <summary>The conductor's telemetry history: retention and rollups against an injected clock.</summary>
public sealed class TelemetryStoreTests
{
    private sealed class ManualClock(DateTimeOffset start) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = start;

        public override DateTimeOffset GetUtcNow() => Now;
    }

    private static readonly DateTimeOffset Start = new(2026, 11, 27, 0, 0, 0, TimeSpan.Zero);

    private static CounterSample Sample(string node, DateTimeOffset at, long received) =>
        new(node, "r1", at.ToUnixTimeMilliseconds(), new Dictionary<string, long> { ["received"] = received });

    [Fact]
    public void EverySampleForAnHour_FiveMinuteRollupsForADay_EachRollupTheLastSampleOfItsInterval()
    {
        var clock = new ManualClock(Start);
        var store = new TelemetryStore(clock);

        // Two hours of samples every 5 s, 10 packets each.
        for (var i = 0; i <= 2 * 720; i++)
        {
            clock.Now = Start + TimeSpan.FromSeconds(5 * i);
            Assert.True(store.Add(Sample("r1a", clock.Now, 10L * i)));
        }

        var node = store.View().Nodes.Single();
        Assert.Equal(721, node.Samples.Count); // the last hour, both ends included
        Assert.Equal((clock.Now - TimeSpan.FromHours(1)).ToUnixTimeMilliseconds(), node.Samples[0].UnixMilliseconds);
        Assert.Equal(25, node.Rollups.Count); // 24 full five-minute intervals and the one just begun
        Assert.Equal(Start.ToUnixTimeMilliseconds(), node.Rollups[0].UnixMilliseconds);
        Assert.Equal(10L * 59, node.Rollups[0].Counters["received"]); // the sample at 4:55, the interval's last
        Assert.Equal(10L * 60, node.Rollups[1].Counters["received"] - node.Rollups[0].Counters["received"]); // exactly what was counted in between: 60 samples of 10

        clock.Now += TimeSpan.FromHours(23);
        node = store.View().Nodes.Single();
        Assert.Empty(node.Samples);
        Assert.Equal(13, node.Rollups.Count); // intervals starting at 1:00 or later are younger than a day
        Assert.Equal((Start + TimeSpan.FromHours(1)).ToUnixTimeMilliseconds(), node.Rollups[0].UnixMilliseconds);
    }

    [Fact]
    public void ARepeatedOrOlderSample_IsNotKeptTwice_NodesAreKeptApart()
    {
        var clock = new ManualClock(Start);
        var store = new TelemetryStore(clock);
        Assert.True(store.Add(Sample("r1a", Start, 1)));
        Assert.False(store.Add(Sample("r1a", Start, 1)));
        Assert.False(store.Add(Sample("r1a", Start - TimeSpan.FromSeconds(5), 0)));
        Assert.True(store.Add(Sample("r2a", Start, 7)));

        Assert.Equal(["r1a", "r2a"], store.View().Nodes.Select(n => n.Node));
        Assert.Equal(7, store.View("r2a").Nodes.Single().Samples.Single().Counters["received"]);
    }
}

/// <summary>Router nodes sample their engines and the conductor keeps what they ship (separate actor systems on loopback).</summary>
public sealed class TelemetryTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fabric-telemetry-").FullName;

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task RouterNodes_ShipCounterSamples_TheConductorKeepsThemPerNode()
    {
        await using var nodes = new ControlPlaneNodes();
        var conductor = await nodes.StartConductor(new StorageSettings(StorageProvider.Sqlite, Path.Combine(_dir, "conductor.db"), null));
        var lab = Repository.Read("hocon/lab.conf");
        var model = ControlPlaneNodes.Load(lab);
        foreach (var node in new[] { "br1a", "br2a", "dc1a" })
        {
            await nodes.StartRouter(model, node, telemetryInterval: TimeSpan.FromMilliseconds(200));
        }

        Assert.True((await conductor.Ask<ConfigCommandResult>(new CommitConfig(lab, "alice", "first"), ControlPlaneNodes.Deadline, TestContext.Current.CancellationToken)).Accepted);
        await ControlPlaneNodes.Converged(conductor, 1);

        var view = await ControlPlaneNodes.Until(
            () => conductor.Ask<TelemetryView>(new GetTelemetry(null), ControlPlaneNodes.Deadline, TestContext.Current.CancellationToken),
            v => v.Nodes.Count == 3 && v.Nodes.All(n => n.Samples.Count >= 3 && n.Samples[^1].Counters.ContainsKey("service.web.sessions")),
            "three samples from each router node, taken after version 1");
        Assert.Equal(["br1a", "br2a", "dc1a"], view.Nodes.Select(n => n.Node));
        var br1a = view.Nodes[0];
        Assert.Equal("br1", br1a.Router);
        Assert.True(br1a.Samples.Zip(br1a.Samples.Skip(1)).All(p => p.Item1.UnixMilliseconds < p.Item2.UnixMilliseconds), "oldest first, each kept once");
        var latest = br1a.Samples[^1].Counters;
        foreach (var counter in new[] { "received", "forwarded", "dropped", "sessions", "drop.AccessDenied", "tenant.guest.drops", "service.web.drops", "path.dc1/wan/ipv4.sessions",
            "tenant.engineering.packets", "tenant.engineering.bytes", "service.web.packets", "service.web.sessions.opened", "service.web.sessions.active" })
        {
            Assert.True(latest.ContainsKey(counter), $"br1a's sample has {counter}: {string.Join(", ", latest.Keys)}");
        }

        Assert.Single((await conductor.Ask<TelemetryView>(new GetTelemetry("dc1a"), ControlPlaneNodes.Deadline, TestContext.Current.CancellationToken)).Nodes);
    }
}
