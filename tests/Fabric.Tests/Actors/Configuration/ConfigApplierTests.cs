using Akka.Actor;
using Fabric.Actors.Configuration;
using Fabric.Actors.Hosting;
using Fabric.Conductor.Configuration;
using Fabric.Model;
using Fabric.Tests.Support;

namespace Fabric.Tests.Actors.Configuration;

/// <summary>
/// A router node's applier when its target fails in ways other than a compile error: the failure is reported
/// once with its reason and the applier goes on with the next version, never restarting in a loop.
/// </summary>
public sealed class ConfigApplierTests : IDisposable
{
    private static readonly string Lab = LabDocuments.Lab;
    private static readonly string WithHr = LabDocuments.WithHr;
    private static readonly string WithOps = LabDocuments.WithOps;

    private readonly string _dir = Directory.CreateTempSubdirectory("fabric-applier-").FullName;

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    /// <summary>A target that records every version it is asked to apply and throws what the test says for some.</summary>
    private sealed class RecordingTarget(Func<long, Exception?> failure) : IForwardingTarget
    {
        private readonly List<long> _calls = [];

        public string RouterName => "dc1";

        public long[] Calls
        {
            get
            {
                lock (_calls)
                {
                    return [.. _calls];
                }
            }
        }

        public void Apply(FabricConfig config, long version)
        {
            lock (_calls)
            {
                _calls.Add(version);
            }

            if (failure(version) is { } e)
            {
                throw e;
            }
        }
    }

    private static Task<ConfigCommandResult> Send(IActorRef conductor, object command) =>
        conductor.Ask<ConfigCommandResult>(command, ControlPlaneNodes.Deadline, TestContext.Current.CancellationToken);

    [Fact]
    public async Task Apply_TargetThrowsIOException_ReportedOnceNoRestartNextVersionApplies()
    {
        await using var nodes = new ControlPlaneNodes();
        var conductor = await nodes.StartConductor(new StorageSettings(StorageProvider.Sqlite, Path.Combine(_dir, "conductor.db"), null));
        var target = new RecordingTarget(version => version == 2 ? new IOException("disk full") : null);
        await nodes.StartRouter(new RouterNodeTarget("dc1a", target));

        Assert.True((await Send(conductor, new CommitConfig(Lab, "alice", "first"))).Accepted);
        await ControlPlaneNodes.Converged(conductor, 1, "dc1a");
        Assert.True((await Send(conductor, new CommitConfig(WithHr, "bob", "add hr"))).Accepted);
        var failed = await ControlPlaneNodes.Until(
            () => ControlPlaneNodes.Rollout(conductor),
            r => r.Nodes.Any(n => n.Node == "dc1a" && n.FailedVersion == 2),
            "dc1a reporting version 2 as failed");
        var dc1a = failed.Nodes.Single(n => n.Node == "dc1a");
        Assert.Equal(1, dc1a.Applied);
        Assert.Equal("applying it failed: IOException: disk full", dc1a.Failure);

        // A restarting applier would be handed version 2 again and again.
        await Task.Delay(TimeSpan.FromSeconds(2), TestContext.Current.CancellationToken);
        Assert.Equal([1L, 2L], target.Calls);

        Assert.True((await Send(conductor, new CommitConfig(WithOps, "carol", "add ops"))).Accepted);
        await ControlPlaneNodes.Converged(conductor, 3, "dc1a");
        Assert.Equal([1L, 2L, 3L], target.Calls);
    }

    [Fact]
    public async Task Apply_TargetCouldNotKeepTheVersion_ReportedAppliedOnce()
    {
        await using var nodes = new ControlPlaneNodes();
        var conductor = await nodes.StartConductor(new StorageSettings(StorageProvider.Sqlite, Path.Combine(_dir, "conductor.db"), null));
        var target = new RecordingTarget(version => new ConfigNotKeptException($"version {version} forwards, but was not kept", new IOException("read-only")));
        await nodes.StartRouter(new RouterNodeTarget("dc1a", target));

        Assert.True((await Send(conductor, new CommitConfig(Lab, "alice", "first"))).Accepted);
        var rollout = await ControlPlaneNodes.Converged(conductor, 1, "dc1a");
        Assert.Null(rollout.Nodes.Single(n => n.Node == "dc1a").FailedVersion);
        await Task.Delay(TimeSpan.FromSeconds(2), TestContext.Current.CancellationToken);
        Assert.Equal([1L], target.Calls);
    }
}
