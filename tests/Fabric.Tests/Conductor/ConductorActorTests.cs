using Akka.Actor;
using Akka.Configuration;
using Fabric.Actors.Serialization;
using Fabric.Conductor.Configuration;
using Fabric.Model;
using Fabric.Tests.Support;

namespace Fabric.Tests.Conductor;

/// <summary>
/// The persistent conductor on a real database: history survives a restart of the whole actor system,
/// on a SQLite file and on PostgreSQL (the one <c>scripts/test.sh</c> starts; its connection string
/// comes in <c>FABRIC_TEST_POSTGRES</c>).
/// </summary>
public sealed class ConductorActorTests : IDisposable
{
    private static readonly string Lab = Repository.Read("hocon/lab.conf");
    private static readonly TimeSpan Ask = TimeSpan.FromSeconds(20);
    private readonly string _dir = Directory.CreateTempSubdirectory("fabric-conductor-").FullName;

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    private ActorSystem Start(StorageSettings? postgres = null)
    {
        var storage = postgres ?? new StorageSettings(StorageProvider.Sqlite, Path.Combine(_dir, "conductor.db"), null);
        var config = ConfigurationFactory.ParseString(FabricSerialization.Hocon(WireMessageRegistry.FromApplicationAssemblies()) + "\nakka.loglevel = WARNING")
            .WithFallback(ConductorStorage.PersistenceConfig(storage));
        return ActorSystem.Create("conductor-test", config);
    }

    [Fact]
    public Task History_SurvivesRestart_OnSqlite() => HistorySurvivesRestart(null);

    [Fact]
    public async Task History_SurvivesRestart_OnPostgresql()
    {
        var connection = Environment.GetEnvironmentVariable("FABRIC_TEST_POSTGRES");
        Assert.SkipWhen(string.IsNullOrEmpty(connection), "FABRIC_TEST_POSTGRES is not set (scripts/test.sh starts PostgreSQL and sets it)");
        await using (var cleanup = new Npgsql.NpgsqlConnection(connection))
        {
            // A fresh journal each run: the test database is throwaway.
            await cleanup.OpenAsync(TestContext.Current.CancellationToken);
            await using var drop = new Npgsql.NpgsqlCommand("DROP TABLE IF EXISTS journal, tags, snapshot", cleanup);
            await drop.ExecuteNonQueryAsync(TestContext.Current.CancellationToken);
        }

        await HistorySurvivesRestart(new StorageSettings(StorageProvider.Postgresql, "", connection));
    }

    [Fact]
    public async Task Commit_MalformedCommand_AnsweredWithARefusal_TheHistoryGoesOn()
    {
        using var system = Start();
        var conductor = system.ActorOf(ConductorActor.Props(TimeProvider.System));
        var first = await conductor.Ask<ConfigCommandResult>(new CommitConfig(Lab, "alice", "first"), Ask, TestContext.Current.CancellationToken);

        // A command that decodes with nulls (a JSON body of {"author":"x"}) is answered, not thrown inside the actor.
        var malformed = await conductor.Ask<ConfigCommandResult>(new CommitConfig(null!, "x", null!), Ask, TestContext.Current.CancellationToken);
        var noAuthor = await conductor.Ask<ConfigCommandResult>(new RollbackConfig(1, null!, null!), Ask, TestContext.Current.CancellationToken);
        var second = await conductor.Ask<ConfigCommandResult>(
            new CommitConfig(Lab.Replace("    finance {}\n", "    finance {}\n    hr {}\n", StringComparison.Ordinal), "bob", "add hr"), Ask, TestContext.Current.CancellationToken);

        Assert.True(first.Accepted);
        Assert.Equal((false, "a commit needs a document"), (malformed.Accepted, malformed.Errors.Single().Message));
        Assert.Equal((false, "a rollback needs an author"), (noAuthor.Accepted, noAuthor.Errors.Single().Message));
        Assert.Equal(2L, second.Version);
        await system.Terminate();
    }

    /// <summary>The document names a password file; the connection string in it has no password: the conductor still connects.</summary>
    [Fact]
    public async Task History_OnPostgresql_PasswordFromTheFileTheDocumentNames()
    {
        var connection = Environment.GetEnvironmentVariable("FABRIC_TEST_POSTGRES");
        Assert.SkipWhen(string.IsNullOrEmpty(connection), "FABRIC_TEST_POSTGRES is not set (scripts/test.sh starts PostgreSQL and sets it)");
        var builder = new System.Data.Common.DbConnectionStringBuilder { ConnectionString = connection };
        var password = (string)builder["Password"];
        builder.Remove("Password");
        var file = Path.Combine(_dir, "postgres.password");
        Fabric.Actors.Security.PrivateFile.WriteText(file, password + "\n");
        await using (var cleanup = new Npgsql.NpgsqlConnection(connection))
        {
            await cleanup.OpenAsync(TestContext.Current.CancellationToken);
            await using var drop = new Npgsql.NpgsqlCommand("DROP TABLE IF EXISTS journal, tags, snapshot", cleanup);
            await drop.ExecuteNonQueryAsync(TestContext.Current.CancellationToken);
        }

        var storage = new StorageSettings(StorageProvider.Postgresql, "", builder.ConnectionString, file);
        await HistorySurvivesRestart(ConductorStorage.Prepare(storage, null));
    }

    private async Task HistorySurvivesRestart(StorageSettings? postgres)
    {
        using (var system = Start(postgres))
        {
            var conductor = system.ActorOf(ConductorActor.Props(TimeProvider.System));
            var first = await conductor.Ask<ConfigCommandResult>(new CommitConfig(Lab, "alice", "first"), Ask, TestContext.Current.CancellationToken);
            var second = await conductor.Ask<ConfigCommandResult>(
                new CommitConfig(Lab.Replace("    finance {}\n", "    finance {}\n    hr {}\n", StringComparison.Ordinal), "bob", "add hr"), Ask, TestContext.Current.CancellationToken);
            var invalid = await conductor.Ask<ConfigCommandResult>(new CommitConfig("fabric { tenants { a { } }", "eve", "broken"), Ask, TestContext.Current.CancellationToken);
            var rollback = await conductor.Ask<ConfigCommandResult>(new RollbackConfig(1, "carol", ""), Ask, TestContext.Current.CancellationToken);

            Assert.Equal((true, 1L), (first.Accepted, first.Version!.Value));
            Assert.Equal(2L, second.Version);
            Assert.False(invalid.Accepted);
            Assert.Contains("unterminated object", invalid.Errors.Single().ToString(), StringComparison.Ordinal);
            Assert.Equal(3L, rollback.Version);
            await system.Terminate();
        }

        using (var restarted = Start(postgres))
        {
            var conductor = restarted.ActorOf(ConductorActor.Props(TimeProvider.System));
            var history = await conductor.Ask<ConfigHistoryView>(new GetConfigHistory(), Ask, TestContext.Current.CancellationToken);

            Assert.Equal(3, history.Running);
            Assert.Equal(
                [(1L, "alice", "first"), (2L, "bob", "add hr"), (3L, "carol", "rollback to version 1")],
                history.Versions.Select(v => (v.Number, v.Author, v.Message)));
            Assert.Equal(["+ fabric.tenants.hr = { members = [] }"], history.Versions[1].Changes.Select(c => c.ToString()));
            Assert.Equal(1L, history.Versions[2].RestoredFrom);
            Assert.Equal(Lab, history.RunningText);
            await restarted.Terminate();
        }
    }
}
