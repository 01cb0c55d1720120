using Akka.Actor;
using Akka.Cluster.Tools.PublishSubscribe;
using Akka.DistributedData;
using Fabric.Actors.Cluster;
using Fabric.Actors.Configuration;
using Fabric.Actors.Hosting;
using Fabric.Actors.Security;
using Fabric.Actors.Telemetry;
using Fabric.Conductor.Configuration;
using Fabric.Conductor.Telemetry;
using Fabric.Model;
using Fabric.Tests.Support;

namespace Fabric.Tests.Conductor;

/// <summary>
/// A member of the cluster (here br2a, with a certificate of the fabric's CA issued to it: a compromised router)
/// writes or publishes what only the conductor or another node may say — a running configuration, dc1a's ack,
/// dc1a's telemetry — or asks the conductor to commit. The routers and the conductor believe none of it, and the fabric
/// goes on: the conductor's next version still reaches every router, dc1a's own ack and samples still count.
/// </summary>
public sealed class ClusterForgeryTests : IDisposable
{
    private static readonly string Lab = LabDocuments.Lab;
    private static readonly string WithHr = LabDocuments.WithHr;
    private static readonly string WithOps = LabDocuments.WithOps;

    /// <summary>A clock far above anything a node's own writes use: the forged value wins every merge it can.</summary>
    private const long ForgedClock = long.MaxValue / 4;

    private readonly string _dir = Directory.CreateTempSubdirectory("fabric-forgery-").FullName;

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    private StorageSettings Sqlite => new(StorageProvider.Sqlite, Path.Combine(_dir, "conductor.db"), null);

    private static Task<ConfigCommandResult> Send(IActorRef conductor, object command) =>
        conductor.Ask<ConfigCommandResult>(command, ControlPlaneNodes.Deadline, TestContext.Current.CancellationToken);

    private static async Task Write<T>(ActorSystem member, IKey<T> key, T initial, Func<T, T> modify)
        where T : IReplicatedData
    {
        var response = await DistributedData.Get(member).Replicator.Ask<IUpdateResponse>(
            Dsl.Update(key, initial, WriteLocal.Instance, modify), ControlPlaneNodes.Deadline, TestContext.Current.CancellationToken);
        Assert.True(response.IsSuccessful, $"the forger's write failed: {response}");
    }

    /// <summary>dc1's engine on discard ports, as <see cref="ControlPlaneNodes.StartRouter(FabricConfig, string, FabricConfig?, TimeSpan?)"/> makes one.</summary>
    private static global::Fabric.Dataplane.Routing.ForwardingEngine Engine()
    {
        var router = ControlPlaneNodes.Load(Lab).Routers.Single(r => r.Name == "dc1");
        return new global::Fabric.Dataplane.Routing.ForwardingEngine(
            router.Name,
            [.. global::Fabric.Router.RouterProcess.Devices(router).Select((d, i) => (global::Fabric.Dataplane.Io.IPacketPort)new global::Fabric.Dataplane.Io.InMemory.DiscardPort(d, new global::Fabric.Dataplane.Wire.MacAddress(0x02_00_00_00_00_00UL + (ulong)i + 1)))]);
    }

    private async Task<(IActorRef Conductor, global::Fabric.Dataplane.Routing.ForwardingEngine Dc1, ControlPlaneRefusals Refusals, ControlPlaneNodes Nodes)> StartFabric(
        ControlPlaneNodes nodes, TimeSpan? telemetryInterval = null)
    {
        var conductor = await nodes.StartConductor(Sqlite);
        var engine = Engine();
        var refusals = new ControlPlaneRefusals();
        await nodes.StartRouter(
            new RouterNodeTarget("dc1a", new EngineForwardingTarget(engine), telemetryInterval is null ? null : new EngineTelemetrySource(engine), Refusals: refusals),
            telemetryInterval);
        Assert.True((await Send(conductor, new CommitConfig(Lab, "alice", "first"))).Accepted);
        await ControlPlaneNodes.Converged(conductor, 1, "dc1a");
        return (conductor, engine, refusals, nodes);
    }

    [Fact]
    public async Task RunningConfig_NotSignedByThePinnedKey_RefusedAndCounted_SignedOnesApplied_AnOlderSignedOneRefused()
    {
        // No conductor: the member at the seed address is the only one who writes the key.
        await using var nodes = new ControlPlaneNodes(tls: true);
        var forger = await nodes.StartMember("br2a", asSeed: true);
        var self = Akka.Cluster.Cluster.Get(forger).SelfUniqueAddress;
        var refusals = new ControlPlaneRefusals();
        var engine = Engine();
        await nodes.StartRouter(new RouterNodeTarget("dc1a", new EngineForwardingTarget(engine), Refusals: refusals));
        var clock = ForgedClock;
        Task Publish(long version, string text, ConductorSigningKey key)
        {
            var value = new RunningConfig(version, text, key.Sign(version, text));
            var at = ++clock;
            return Write(forger, ConfigDistribution.Running, new LWWRegister<RunningConfig>(self, value, (_, _) => at), r => r.WithValue(self, value, (_, _) => at));
        }

        await Publish(999, WithHr, ConductorSigningKey.Generate());
        await ControlPlaneNodes.Until(() => Task.FromResult(refusals.UnsignedConfigs), n => n == 1, "dc1a refusing version 999, signed by another key");
        Assert.Equal(0, engine.AppliedVersion);

        // Signed by the key dc1a pins: applied, whoever wrote it to the cluster.
        await Publish(2, WithOps, nodes.ConductorKey);
        await ControlPlaneNodes.Until(() => Task.FromResult(engine.AppliedVersion), v => v == 2, "dc1a applying version 2");

        // A replay of an older signed version: refused, counted, version 2 stays.
        await Publish(1, Lab, nodes.ConductorKey);
        await ControlPlaneNodes.Until(() => Task.FromResult(refusals.OlderConfigs), n => n == 1, "dc1a refusing the older version 1");
        Assert.Equal(2, engine.AppliedVersion);
        Assert.Contains("ops", engine.Snapshot.Tenants);
        Assert.Equal(1, refusals.UnsignedConfigs);
    }

    [Fact]
    public async Task RunningConfig_WrittenByAMemberWithAWinningClock_TheConductorsNextVersionStillReachesTheRouter()
    {
        await using var nodes = new ControlPlaneNodes(tls: true);
        var (conductor, dc1, _, _) = await StartFabric(nodes);
        var forger = await nodes.StartMember("br2a");
        var self = Akka.Cluster.Cluster.Get(forger).SelfUniqueAddress;

        var forged = new RunningConfig(999, WithHr, ConductorSigningKey.Generate().Sign(999, WithHr));
        await Write(forger, ConfigDistribution.Running, new LWWRegister<RunningConfig>(self, forged, (_, _) => ForgedClock), r => r.WithValue(self, forged, (_, _) => ForgedClock));

        // The conductor publishes over the forged value: its next version reaches dc1a, the forged one never applies.
        Assert.Equal(2L, (await Send(conductor, new CommitConfig(WithOps, "bob", "add ops"))).Version);
        await ControlPlaneNodes.Converged(conductor, 2, "dc1a");
        Assert.Equal(2, dc1.AppliedVersion);
        Assert.Contains("ops", dc1.Snapshot.Tenants);
        Assert.DoesNotContain("hr", dc1.Snapshot.Tenants);
        Assert.Equal(2, (await ControlPlaneNodes.Rollout(conductor)).Running);
        await ControlPlaneNodes.Until(
            async () => ((GetSuccess)await DistributedData.Get(forger).Replicator.Ask<IGetResponse>(
                Dsl.Get(ConfigDistribution.Running, ReadLocal.Instance), ControlPlaneNodes.Deadline, TestContext.Current.CancellationToken)).Get(ConfigDistribution.Running).Value.Version,
            v => v == 2,
            "the forger's own replica holding the conductor's version 2");
    }

    [Fact]
    public async Task Ack_ForgedForAnotherNode_NotBelieved_TheNodesOwnAcksStillCount()
    {
        await using var nodes = new ControlPlaneNodes(tls: true);
        var (conductor, _, _, _) = await StartFabric(nodes);
        var forger = await nodes.StartMember("br2a");
        var self = Akka.Cluster.Cluster.Get(forger).SelfUniqueAddress;

        // dc1a "applied 7": once unsealed, once sealed with the forger's own certificate.
        var claim = new RouterConfigStatus("dc1a", "dc1", 7, null, null);
        foreach (var seal in new[] { null, new NodeSigner(nodes.Settings("br2a").Tls!).Seal(RouterConfigAck.Statement(claim)) })
        {
            var ack = new RouterConfigAck(claim, seal);
            await Write(forger, ConfigDistribution.Status, LWWDictionary<EntryName, RouterConfigAck>.Empty, acks => acks.SetItem(self, new EntryName("dc1a"), ack, (_, _) => ForgedClock));
        }

        Assert.Equal(2L, (await Send(conductor, new CommitConfig(WithOps, "bob", "add ops"))).Version);
        var rollout = await ControlPlaneNodes.Converged(conductor, 2, "dc1a");
        Assert.Equal(2, rollout.Nodes.Single(n => n.Node == "dc1a").Applied);
    }

    [Fact]
    public async Task Telemetry_ForgedForAnotherNode_NeverKept_TheNodesOwnSamplesStillAre()
    {
        await using var nodes = new ControlPlaneNodes(tls: true);
        var (conductor, _, _, _) = await StartFabric(nodes, TimeSpan.FromMilliseconds(200));
        var forger = await nodes.StartMember("br2a");
        var mediator = DistributedPubSub.Get(forger).Mediator;
        await ControlPlaneNodes.Until(
            () => mediator.Ask<CurrentTopics>(GetTopics.Instance, ControlPlaneNodes.Deadline, TestContext.Current.CancellationToken),
            topics => topics.Topics.Contains(TelemetryDistribution.Topic),
            "the forger's mediator knows the conductor's telemetry topic");

        // Stamped a second ahead, so that dc1a's own samples arriving first would not make the forgery old news.
        const long Forged = 123_456_789;
        var stamped = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() + 1_000;
        var sample = new CounterSample("dc1a", "dc1", stamped, new Dictionary<string, long> { ["received"] = Forged });
        foreach (var seal in new[] { null, new NodeSigner(nodes.Settings("br2a").Tls!).Seal(TelemetryReport.Statement(sample)) })
        {
            var report = new TelemetryReport(sample with { UnixMilliseconds = sample.UnixMilliseconds + (seal is null ? 0 : 1) }, seal);
            mediator.Tell(new Publish(TelemetryDistribution.Topic, report));
        }

        var after = stamped + 1;
        var view = await ControlPlaneNodes.Until(
            () => conductor.Ask<TelemetryView>(new GetTelemetry("dc1a"), ControlPlaneNodes.Deadline, TestContext.Current.CancellationToken),
            v => v.Nodes.Count == 1 && v.Nodes[0].Samples.Count(s => s.UnixMilliseconds > after) >= 3,
            "three of dc1a's own samples after the forgery");
        Assert.DoesNotContain(view.Nodes[0].Samples, s => s.Counters.GetValueOrDefault("received") == Forged);
    }

    [Fact]
    public async Task Commit_SentByAMemberToTheConductor_Refused_NoVersionMade()
    {
        await using var nodes = new ControlPlaneNodes(tls: true);
        var (conductor, dc1, _, _) = await StartFabric(nodes);
        var forger = await nodes.StartMember("br2a");

        // The conductor actor itself, as a member would address it over remoting (not through a singleton proxy).
        var identity = await conductor.Ask<ActorIdentity>(new Identify(1), ControlPlaneNodes.Deadline, TestContext.Current.CancellationToken);
        var address = nodes.ConductorAddress.Replace("akka.tcp://", "akka.ssl.tcp://", StringComparison.Ordinal);
        var singleton = forger.ActorSelection(address + identity.Subject!.Path.ToStringWithoutAddress());
        var result = await singleton.Ask<ConfigCommandResult>(new CommitConfig(WithHr, "mallory", "mine now"), ControlPlaneNodes.Deadline, TestContext.Current.CancellationToken);

        Assert.False(result.Accepted);
        Assert.Equal("refused: configuration changes come through the conductor's API, not from members of the cluster", result.Errors.Single().Message);
        Assert.Equal(1, (await ControlPlaneNodes.Rollout(conductor)).Running);
        Assert.Equal(1, dc1.AppliedVersion);
    }
}
