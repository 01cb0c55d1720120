using Akka.Actor;
using Fabric.Conductor.Configuration;
using Fabric.Model;
using Fabric.Tests.Support;

namespace Fabric.Tests.Conductor;

/// <summary>
/// The conductor and router nodes as separate actor systems on loopback (real Akka remoting and
/// Distributed Data, the real snapshot compiler, a real SQLite file): what an operator sees after a
/// commit, a rollback, an invalid commit, a router that cannot apply, a router that was down, and a
/// conductor restart.
/// </summary>
public sealed class ControlPlaneTests : IDisposable
{
    private static readonly string Lab = LabDocuments.Lab;
    private static readonly string WithHr = LabDocuments.WithHr;
    private static readonly string WithoutBr2 = Lab.Remove(
        Lab.IndexOf("\n    br2 {", StringComparison.Ordinal),
        Lab.IndexOf("\n  }\n\n  conductor", StringComparison.Ordinal) - Lab.IndexOf("\n    br2 {", StringComparison.Ordinal));

    private readonly string _dir = Directory.CreateTempSubdirectory("fabric-control-plane-").FullName;

    private StorageSettings Sqlite => new(StorageProvider.Sqlite, Path.Combine(_dir, "conductor.db"), null);

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    private static Task<ConfigCommandResult> Send(IActorRef conductor, object command) =>
        conductor.Ask<ConfigCommandResult>(command, ControlPlaneNodes.Deadline, TestContext.Current.CancellationToken);

    [Fact]
    public async Task Commit_EveryRouterAppliesAndAcks_RollbackInvalidAndFailedCompileAsAnOperatorSeesThem()
    {
        await using var nodes = new ControlPlaneNodes();
        var conductor = await nodes.StartConductor(Sqlite);
        var model = ControlPlaneNodes.Load(Lab);
        var engines = new Dictionary<string, Fabric.Dataplane.Routing.ForwardingEngine>();
        foreach (var node in new[] { "br1a", "br2a", "dc1a" })
        {
            // dc1a starts on another document from its disk as its own version 1: the conductor's version 1 still replaces it.
            engines[node] = (await nodes.StartRouter(model, node, fromDisk: node == "dc1a" ? ControlPlaneNodes.Load(WithHr) : null)).Engine;
        }

        Assert.True((await Send(conductor, new CommitConfig(Lab, "alice", "first"))).Accepted);
        var first = await ControlPlaneNodes.Converged(conductor, 1);
        Assert.Equal(["br1a", "br2a", "dc1a"], first.Nodes.Select(n => n.Node));
        Assert.All(engines.Values, e => Assert.Equal((1L, false), (e.AppliedVersion, e.Snapshot.Tenants.Contains("hr"))));

        Assert.Equal(2L, (await Send(conductor, new CommitConfig(WithHr, "bob", "add hr"))).Version);
        await ControlPlaneNodes.Converged(conductor, 2);
        Assert.All(engines.Values, e => Assert.Contains("hr", e.Snapshot.Tenants));

        // An invalid document is refused with its error and creates no version: the next one is 3.
        var invalid = await Send(conductor, new CommitConfig(WithHr.Replace("access = [finance]", "access = [fnance]", StringComparison.Ordinal), "eve", "typo"));
        Assert.False(invalid.Accepted);
        Assert.Contains("fnance", invalid.Errors.Single().ToString(), StringComparison.Ordinal);
        Assert.Equal(2, (await ControlPlaneNodes.Rollout(conductor)).Running);

        Assert.Equal(3L, (await Send(conductor, new RollbackConfig(1, "carol", ""))).Version);
        await ControlPlaneNodes.Converged(conductor, 3);
        Assert.All(engines.Values, e => Assert.Equal((3L, false), (e.AppliedVersion, e.Snapshot.Tenants.Contains("hr"))));

        // br2 removed from the document: br2a cannot compile it, keeps version 3 and says why; the others move on.
        Assert.Equal(4L, (await Send(conductor, new CommitConfig(WithoutBr2, "dave", "retire br2"))).Version);
        var drift = await ControlPlaneNodes.Until(
            () => ControlPlaneNodes.Rollout(conductor),
            r => r.Nodes.Count(n => n.Applied == 4) == 2 && r.Nodes.Any(n => n.FailedVersion == 4),
            "br2a reporting a failed compile");
        var br2 = drift.Nodes.Single(n => n.Node == "br2a");
        Assert.Equal((3L, true), (br2.Applied, br2.Drift));
        Assert.Contains("router \"br2\" is not in the configuration", br2.Failure, StringComparison.Ordinal);
        Assert.Equal(3, engines["br2a"].AppliedVersion);
        Assert.False(drift.Converged);
    }

    [Fact]
    public async Task RouterDownDuringCommit_CatchesUpWhenItReturns()
    {
        await using var nodes = new ControlPlaneNodes();
        var conductor = await nodes.StartConductor(Sqlite);
        var model = ControlPlaneNodes.Load(Lab);
        var (_, dc1) = await nodes.StartRouter(model, "dc1a");
        var (br1Host, _) = await nodes.StartRouter(model, "br1a");
        await Send(conductor, new CommitConfig(Lab, "alice", "first"));
        await ControlPlaneNodes.Converged(conductor, 1, "dc1a", "br1a");

        await nodes.Stop(br1Host);
        Assert.Equal(2L, (await Send(conductor, new CommitConfig(WithHr, "bob", "add hr"))).Version);
        var whileDown = await ControlPlaneNodes.Until(() => ControlPlaneNodes.Rollout(conductor), _ => dc1.AppliedVersion == 2, "dc1a applying version 2");
        Assert.Equal((1L, true), whileDown.Nodes.Single(n => n.Node == "br1a") is var br1 ? (br1.Applied, br1.Drift) : default);

        var (_, returned) = await nodes.StartRouter(model, "br1a");
        await ControlPlaneNodes.Converged(conductor, 2, "dc1a", "br1a");
        Assert.Equal(2, returned.AppliedVersion);
        Assert.Contains("hr", returned.Snapshot.Tenants);
    }

    [Fact]
    public async Task ConductorRestart_KeepsFullHistory_AndPublishesTheRunningVersionAgain()
    {
        await using var nodes = new ControlPlaneNodes();
        var conductor = await nodes.StartConductor(Sqlite);
        await Send(conductor, new CommitConfig(Lab, "alice", "first"));
        await Send(conductor, new CommitConfig(WithHr, "bob", "add hr"));
        await nodes.DisposeAsync();

        // A new conductor process on the same file, and a router that has never seen the fabric.
        await using var restarted = new ControlPlaneNodes();
        var again = await restarted.StartConductor(Sqlite);
        var history = await again.Ask<ConfigHistoryView>(new GetConfigHistory(), ControlPlaneNodes.Deadline, TestContext.Current.CancellationToken);
        Assert.Equal([(1L, "alice", "first"), (2L, "bob", "add hr")], history.Versions.Select(v => (v.Number, v.Author, v.Message)));
        Assert.Equal(WithHr, history.RunningText);

        var (_, dc1) = await restarted.StartRouter(ControlPlaneNodes.Load(Lab), "dc1a");
        await ControlPlaneNodes.Until(() => ControlPlaneNodes.Rollout(again), r => r.Nodes.Any(n => n.Node == "dc1a" && n.Applied == 2), "dc1a applying version 2");
        Assert.Contains("hr", dc1.Snapshot.Tenants);
    }
}
