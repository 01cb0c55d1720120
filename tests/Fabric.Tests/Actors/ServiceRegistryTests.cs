using Akka.Actor;
using Fabric.Actors.Cluster;
using Fabric.Actors.Services;
using Fabric.Conductor.Configuration;
using Fabric.Model;
using Fabric.Tests.Support;
using Microsoft.Extensions.Hosting;

namespace Fabric.Tests.Actors;

/// <summary>
/// The live instance registry across router nodes (separate actor systems on loopback, real engines on discard ports):
/// every router sees every router's instances and their health, a commit attaches or detaches them everywhere, a router that leaves
/// takes its instances with it. The conductor serves the same registry. The cluster runs over TLS, so every entry is
/// sealed by its node and checked by every reader.
/// </summary>
public sealed class ServiceRegistryTests : IDisposable
{
    private static readonly string Lab = LabDocuments.Lab;
    private static readonly string WithWeb3 = LabDocuments.WithWeb3;

    private readonly string _dir = Directory.CreateTempSubdirectory("fabric-registry-").FullName;

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task InstancesAttachedOnDc1_AppearOnEveryRouter_DetachedByACommit_GoneWhenDc1Leaves()
    {
        Assert.NotEqual(Lab, WithWeb3);
        await using var nodes = new ControlPlaneNodes(tls: true);
        var conductor = await nodes.StartConductor(new StorageSettings(StorageProvider.Sqlite, Path.Combine(_dir, "conductor.db"), null));
        var model = ControlPlaneNodes.Load(Lab);
        var (dc1a, dc1) = await nodes.StartRouter(model, "dc1a");
        var (br1a, _) = await nodes.StartRouter(model, "br1a");
        var (br2a, _) = await nodes.StartRouter(model, "br2a");
        var routers = new (FabricNode Host, string Node)[] { (dc1a, "dc1a"), (br1a, "br1a"), (br2a, "br2a") };
        await Commit(conductor, Lab, 1);

        // br1 hosts no instance; it sees dc1's four, each up, at their addresses.
        var seen = await Until(br1a, "br1a", v => Names(v) == "bulk/bulk1 db/db1 web/web1 web/web2", "br1a seeing dc1's instances");
        Assert.All(seen.Instances, i => Assert.Equal(("dc1", "dc1a", InstanceView.Up, 0L), (i.Router, i.Node, i.State, i.Sessions)));
        Assert.Equal(("web1", "10.10.1.11"), (seen.Instances.Single(i => i.Instance == "web1").Container, seen.Instances.Single(i => i.Instance == "web1").Address));

        // dc1's dataplane takes web2 out of service: the registry says so everywhere.
        var webLoad = dc1.Snapshot.Services[dc1.Snapshot.ServiceIndex("web")].Runtime.Load;
        webLoad.SetHealth([Fabric.Dataplane.LoadBalancing.InstanceHealth.Up, Fabric.Dataplane.LoadBalancing.InstanceHealth.Down]);
        await Until(br2a, "br2a", v => v.Instances.Any(i => i.Instance == "web2" && i.State == InstanceView.Down), "br2a seeing web2 down");
        webLoad.SetHealth([Fabric.Dataplane.LoadBalancing.InstanceHealth.Up, Fabric.Dataplane.LoadBalancing.InstanceHealth.Up]);
        await Until(br2a, "br2a", v => v.Instances.Any(i => i.Instance == "web2" && i.State == InstanceView.Up), "br2a seeing web2 up again");

        // A commit attaches web3 behind dc1: every router's registry has it, and so has the conductor's view.
        await Commit(conductor, WithWeb3, 2);
        foreach (var (host, node) in routers)
        {
            await Until(host, node, v => v.Instances.Any(i => i.Instance == "web3" && i.Router == "dc1" && i.Address == "10.10.1.13"), $"{node} seeing web3");
        }

        await ControlPlaneNodes.Until(
            () => conductor.Ask<ServiceRegistryView>(new GetServiceRegistry(), ControlPlaneNodes.Deadline, TestContext.Current.CancellationToken),
            v => v.Instances.Any(i => i.Instance == "web3"),
            "the conductor seeing web3");

        // A commit without it detaches it everywhere.
        await Commit(conductor, Lab, 3);
        foreach (var (host, node) in routers)
        {
            await Until(host, node, v => Names(v) == "bulk/bulk1 db/db1 web/web1 web/web2", $"{node} no longer seeing web3");
        }

        // dc1's node leaves the cluster: its instances leave the registry of those that stay.
        await nodes.Stop(dc1a);
        await Until(br1a, "br1a", v => v.Instances.Count == 0, "br1a forgetting dc1's instances");
        await Until(br2a, "br2a", v => v.Instances.Count == 0, "br2a forgetting dc1's instances");
    }

    private static string Names(ServiceRegistryView view) => string.Join(" ", view.Instances.Select(i => $"{i.Service}/{i.Instance}"));

    private static Task<ServiceRegistryView> Until(FabricNode host, string node, Func<ServiceRegistryView, bool> done, string what) =>
        ControlPlaneNodes.Until(() => ControlPlaneNodes.Registry(host, node), done, what);

    private static async Task Commit(IActorRef conductor, string text, long version)
    {
        var result = await conductor.Ask<ConfigCommandResult>(new CommitConfig(text, "alice", $"version {version}"), ControlPlaneNodes.Deadline, TestContext.Current.CancellationToken);
        Assert.True(result.Accepted, string.Join("; ", result.Errors));
        Assert.Equal(version, result.Version);
        await ControlPlaneNodes.Converged(conductor, version);
    }
}
