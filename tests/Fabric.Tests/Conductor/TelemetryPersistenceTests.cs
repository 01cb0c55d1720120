using Akka.Actor;
using Akka.Configuration;
using Fabric.Actors.Serialization;
using Fabric.Actors.Telemetry;
using Fabric.Conductor.Configuration;
using Fabric.Conductor.Telemetry;
using Fabric.Model;
using Fabric.Tests.Support;

namespace Fabric.Tests.Conductor;

/// <summary>
/// The conductor's telemetry survives a restart: samples are events, the store is snapshotted and the journal
/// trimmed behind it; on a SQLite file, on PostgreSQL (<c>FABRIC_TEST_POSTGRES</c>), and through a whole
/// conductor node restarted on the same file while routers ship samples.
/// </summary>
public sealed class TelemetryPersistenceTests : IDisposable
{
    private static readonly TimeSpan Ask = TimeSpan.FromSeconds(20);
    private readonly string _dir = Directory.CreateTempSubdirectory("fabric-telemetry-db-").FullName;

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    private StorageSettings Sqlite => new(StorageProvider.Sqlite, Path.Combine(_dir, "conductor.db"), null);

    private static ActorSystem Start(StorageSettings storage) => ActorSystem.Create(
        "telemetry-test",
        ConfigurationFactory.ParseString(FabricSerialization.Hocon(WireMessageRegistry.FromApplicationAssemblies()) + "\nakka.loglevel = WARNING")
            .WithFallback(ConductorStorage.PersistenceConfig(storage)));

    [Fact]
    public async Task Samples_SurviveRestart_FromSnapshotAndJournal_OnSqlite()
    {
        await SamplesSurviveRestart(Sqlite);

        // Bounded: the events before the last snapshot are gone, and so are the older snapshots.
        await using var db = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Sqlite.SqlitePath}");
        await db.OpenAsync(TestContext.Current.CancellationToken);
        Assert.InRange(await Count(db, "journal WHERE deleted = 0 AND"), 0, 7); // of 12: the snapshot after the 5th trimmed the journal
        Assert.Equal(1, await Count(db, "snapshot WHERE"));

        static async Task<long> Count(Microsoft.Data.Sqlite.SqliteConnection db, string from)
        {
            await using var command = db.CreateCommand();
            command.CommandText = $"SELECT COUNT(*) FROM {from} persistence_id = '{TelemetryCollector.Id}'";
            return (long)(await command.ExecuteScalarAsync(TestContext.Current.CancellationToken))!;
        }
    }

    [Fact]
    public async Task Samples_SurviveRestart_FromSnapshotAndJournal_OnPostgresql()
    {
        var connection = Environment.GetEnvironmentVariable("FABRIC_TEST_POSTGRES");
        Assert.SkipWhen(string.IsNullOrEmpty(connection), "FABRIC_TEST_POSTGRES is not set (scripts/test.sh starts PostgreSQL and sets it)");
        await using (var cleanup = new Npgsql.NpgsqlConnection(connection))
        {
            await cleanup.OpenAsync(TestContext.Current.CancellationToken);
            await using var delete = new Npgsql.NpgsqlCommand(
                $"DO $$ BEGIN IF to_regclass('journal') IS NOT NULL THEN DELETE FROM journal WHERE persistence_id = '{TelemetryCollector.Id}'; END IF; " +
                $"IF to_regclass('snapshot') IS NOT NULL THEN DELETE FROM snapshot WHERE persistence_id = '{TelemetryCollector.Id}'; END IF; END $$",
                cleanup);
            await delete.ExecuteNonQueryAsync(TestContext.Current.CancellationToken);
        }

        await SamplesSurviveRestart(new StorageSettings(StorageProvider.Postgresql, "", connection));
    }

    private static async Task SamplesSurviveRestart(StorageSettings storage)
    {
        // 12 samples of two nodes, 5 s apart, ending now: a snapshot after the 5th (the next is due when 10 more are in).
        var now = DateTimeOffset.UtcNow;
        var sent = new List<CounterSample>();
        for (var i = 11; i >= 0; i--)
        {
            var node = i % 2 == 0 ? "r1a" : "r2a";
            sent.Add(new CounterSample(node, node[..2], (now - TimeSpan.FromSeconds(5 * i)).ToUnixTimeMilliseconds(), new Dictionary<string, long> { ["received"] = 100 - i }));
        }

        TelemetryView before;
        using (var system = Start(storage))
        {
            var collector = system.ActorOf(TelemetryCollector.Props(TimeProvider.System, subscribe: false, snapshotEvery: 5));
            foreach (var sample in sent)
            {
                collector.Tell(sample);
            }

            collector.Tell(sent[0]); // a repeat: kept once
            before = await collector.Ask<TelemetryView>(new GetTelemetry(null), Ask, TestContext.Current.CancellationToken);
            Assert.Equal(12, before.Nodes.Sum(n => n.Samples.Count));

            // Let the last snapshot and the journal trim behind it land before the system stops.
            await Task.Delay(1000, TestContext.Current.CancellationToken);
            await system.Terminate();
        }

        using var restarted = Start(storage);
        var again = restarted.ActorOf(TelemetryCollector.Props(TimeProvider.System, subscribe: false, snapshotEvery: 5));
        var after = await again.Ask<TelemetryView>(new GetTelemetry(null), Ask, TestContext.Current.CancellationToken);
        Assert.Equal(Points(before), Points(after));
        Assert.Equal(["r1a", "r2a"], after.Nodes.Select(n => n.Node));
        await restarted.Terminate();
    }

    private static List<(string, long, long)> Points(TelemetryView view) =>
        [.. view.Nodes.SelectMany(n => n.Samples.Select(s => (n.Node, s.UnixMilliseconds, s.Counters["received"])).Concat(n.Rollups.Select(r => (n.Node + "/rollup", r.UnixMilliseconds, r.Counters["received"]))))];

    [Fact]
    public async Task ConductorNodeRestart_OnTheSameFile_StillServesTheEarlierSamples()
    {
        var lab = Repository.Read("hocon/lab.conf");
        List<long> earlier;
        await using (var nodes = new ControlPlaneNodes())
        {
            var conductor = await nodes.StartConductor(Sqlite);
            await nodes.StartRouter(ControlPlaneNodes.Load(lab), "dc1a", telemetryInterval: TimeSpan.FromMilliseconds(200));
            var view = await ControlPlaneNodes.Until(
                () => conductor.Ask<TelemetryView>(new GetTelemetry("dc1a"), ControlPlaneNodes.Deadline, TestContext.Current.CancellationToken),
                v => v.Nodes.Count == 1 && v.Nodes[0].Samples.Count >= 5,
                "five samples from dc1a");
            earlier = [.. view.Nodes[0].Samples.Select(s => s.UnixMilliseconds)];
        }

        // A new conductor on the same file, no router: what it serves is what the first one kept.
        await using var restarted = new ControlPlaneNodes();
        var again = await restarted.StartConductor(Sqlite);
        var kept = await again.Ask<TelemetryView>(new GetTelemetry(null), ControlPlaneNodes.Deadline, TestContext.Current.CancellationToken);
        var samples = Assert.Single(kept.Nodes).Samples.Select(s => s.UnixMilliseconds).ToList();
        Assert.Equal("dc1a", kept.Nodes[0].Node);
        Assert.Superset(earlier.ToHashSet(), samples.ToHashSet());
    }
}
