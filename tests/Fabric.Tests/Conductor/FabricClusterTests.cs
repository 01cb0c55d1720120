using System.Text;
using Akka.Actor;
using Akka.Event;
using Fabric.Actors.Cluster;
using Fabric.Actors.Configuration;
using Fabric.Actors.Hosting;
using Fabric.Actors.Serialization;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Fabric.Tests.Conductor;

/// <summary>The settings every cluster node gets from <see cref="FabricCluster"/>, read back from a started router or conductor node.</summary>
public sealed class FabricClusterTests
{
    [Fact]
    public async Task RouterHost_SeedsFromEnvironment_WinOverSettings_AndOnlyFabricSerializerCarriesUnboundTypes()
    {
        var environment = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["akka:cluster:seed-nodes:0"] = "akka.tcp://fabric@127.0.0.1:1", // as akka__cluster__seed-nodes__0
                ["akka:cluster:seed-nodes:1"] = "akka.tcp://fabric@127.0.0.1:3",
                ["akka:loglevel"] = "INFO",
                ["akka:remote:dot_netty:tcp:tcp-nodelay"] = "False", // "_" read as "-", False as off
                ["akka:fabric-test:text"] = "7s\"}\nakka.loglevel = DEBUG", // a value is a string, never HOCON
            })
            .Build();
        await WithRouterNode(environment, system =>
        {
            var config = system.Settings.Config;
            Assert.Equal(["akka.tcp://fabric@127.0.0.1:1", "akka.tcp://fabric@127.0.0.1:3"], config.GetStringList("akka.cluster.seed-nodes"));
            Assert.Equal("INFO", config.GetString("akka.loglevel"));
            Assert.False(config.GetBoolean("akka.remote.dot-netty.tcp.tcp-nodelay"));
            Assert.Equal("7s\"}\nakka.loglevel = DEBUG", config.GetString("akka.fabric-test.text"));
            Assert.Equal([FabricCluster.RouterRole], config.GetStringList("akka.cluster.roles"));
            Assert.Equal("keep-majority", config.GetString("akka.cluster.split-brain-resolver.active-strategy"));
            Assert.Equal(FabricCluster.ConductorRole, config.GetString("akka.cluster.split-brain-resolver.keep-majority.role"));
            Assert.IsType<FabricSerializer>(system.Serialization.FindSerializerForType(typeof(RunningConfig)));
            var unbound = system.Serialization.FindSerializerForType(typeof(Version));
            Assert.IsType<FabricSerializer>(unbound);
            Assert.ThrowsAny<Exception>(() => unbound.ToBinary(new Version(1, 0)));
        });
    }

    /// <summary>The id of Akka's Newtonsoft.Json serializer (its reference configuration's <c>json</c>).</summary>
    private const int AkkaJsonSerializerId = 1;

    [Fact]
    public async Task RouterHost_MessageMarkedAkkaJson_IsRefusedUnread_AndJsonNameIsFabricSerializer()
    {
        await WithRouterNode(new ConfigurationBuilder().Build(), system =>
        {
            Assert.Equal(typeof(FabricSerializer), Type.GetType(system.Settings.Config.GetString("akka.actor.serializers.json")));
            var serialization = system.Serialization;
            Assert.IsType<FabricSerializer>(serialization.FindSerializerForType(typeof(object)));

            // What a peer would send to have a type of its choosing made: Akka's json id and JSON naming the type. Akka's
            // own json serializer makes the List<string> this names (checked against a node with Akka's defaults).
            var planted = Encoding.UTF8.GetBytes("""{"$type":"System.Collections.Generic.List`1[[System.String, System.Private.CoreLib]], System.Private.CoreLib","$values":["planted"]}""");
            var refused = Assert.Throws<System.Runtime.Serialization.SerializationException>(() => serialization.Deserialize(planted, AkkaJsonSerializerId, typeof(object).FullName!));
            Assert.Contains($"id [{AkkaJsonSerializerId}]", refused.Message, StringComparison.Ordinal);
        });
    }

    [Fact]
    public async Task RouterHost_ConfiguresTheClusterModulesAFabricUses_AndNotShardingNorClusterClient()
    {
        await WithRouterNode(new ConfigurationBuilder().Build(), system =>
        {
            var config = system.Settings.Config;
            Assert.IsType<Akka.Cluster.ClusterActorRefProvider>(((ExtendedActorSystem)system).Provider);
            Assert.Equal(["akka.tcp://fabric@127.0.0.1:2"], config.GetStringList("akka.cluster.seed-nodes"));
            Assert.True(config.HasPath("akka.cluster.distributed-data.name"));
            Assert.True(config.HasPath("akka.cluster.singleton.singleton-name"));
            Assert.True(config.HasPath("akka.cluster.pub-sub.name"));
            Assert.False(config.HasPath("akka.cluster.sharding"));
            Assert.False(config.HasPath("akka.cluster.client"));
            var serializers = config.GetConfig("akka.actor.serializers").AsEnumerable().Select(entry => entry.Value.GetString()).ToList();
            Assert.DoesNotContain(serializers, name => name.Contains("Sharding", StringComparison.Ordinal) || name.Contains("ClusterClient", StringComparison.Ordinal));
        });
    }

    [Fact]
    public async Task RouterNode_AkkasLog_IsOneLinePerEventAtItsLevel_WithSourceAndMessage()
    {
        var lines = new System.Collections.Concurrent.ConcurrentQueue<string>();
        using var node = RouterHost.Build(
            new ClusterNodeSettings("127.0.0.1", 0, ["akka.tcp://fabric@127.0.0.1:2"], Insecure: true), Fabric.Actors.Security.ConductorSigningKey.Generate().Pin, [],
            log: (@event, fields) => lines.Enqueue($"event={@event} {fields}"));
        await node.StartAsync(TestContext.Current.CancellationToken);
        try
        {
            node.System.Log.Info("below the node's level");
            node.System.Log.Warning("the peer said \"no\"\nand left");
            await Fabric.Tests.Support.ControlPlaneNodes.Until(
                () => Task.FromResult(lines.Count(l => l.Contains("the peer said", StringComparison.Ordinal))), n => n > 0, "the warning's line");
            var line = Assert.Single(lines, l => l.Contains("the peer said", StringComparison.Ordinal));
            Assert.StartsWith("event=akka-log level=warning source=\"", line, StringComparison.Ordinal);
            Assert.EndsWith(" message=\"the peer said \\\"no\\\"\\nand left\"", line, StringComparison.Ordinal);
            Assert.DoesNotContain(lines, l => l.Contains("below the node's level", StringComparison.Ordinal));
        }
        finally
        {
            await node.StopAsync(CancellationToken.None);
        }
    }

    [Fact]
    public void AkkaOverrides_ReadAsAkkaHostingsAdapterDid_EveryValueAString()
    {
        var environment = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Akka:Remote:Dot_Netty:TCP:Port"] = "4053",             // keys lower-cased, "_" as "-"
                ["akka:cluster:roles:1"] = "b",                          // a list in the order of its numbers
                ["akka:cluster:roles:0"] = "a",
                ["akka:coordinated-shutdown.exit-clr"] = "True",         // a dot splits a key; True as on
                ["akka:fabric-test"] = "own value",                      // a value beside keys that are not numbers: the value
                ["akka:fabric-test:child"] = "ignored",
                ["akka:fabric-test2"] = "${akka.loglevel} include \"x\"", // substitutions and includes stay text
            })
            .Build();
        var config = ClusterNodeSettings.AkkaOverrides(environment)!;
        Assert.Equal(4053, config.GetInt("akka.remote.dot-netty.tcp.port"));
        Assert.Equal(["a", "b"], config.GetStringList("akka.cluster.roles"));
        Assert.True(config.GetBoolean("akka.coordinated-shutdown.exit-clr"));
        Assert.Equal("own value", config.GetString("akka.fabric-test"));
        Assert.Equal("${akka.loglevel} include \"x\"", config.GetString("akka.fabric-test2"));
        Assert.Null(ClusterNodeSettings.AkkaOverrides(new ConfigurationBuilder().Build()));
    }

    [Fact]
    public async Task ConductorHost_SeedsAndLogLevelFromEnvironment_Win_ItsLogGoesToTheHost_ItsJournalIsConfigured()
    {
        var dir = Directory.CreateTempSubdirectory("fabric-conductor-settings-").FullName;
        try
        {
            var environment = new ConfigurationBuilder()
                .AddInMemoryCollection(new Dictionary<string, string?>
                {
                    ["akka:cluster:seed-nodes:0"] = "akka.tcp://fabric@127.0.0.1:1",
                    ["akka:loglevel"] = "INFO",
                })
                .Build();
            var host = Fabric.Conductor.Hosting.ConductorHost.Build(
                new ClusterNodeSettings("127.0.0.1", 0, ["akka.tcp://fabric@127.0.0.1:2"], Insecure: true),
                new Fabric.Model.StorageSettings(Fabric.Model.StorageProvider.Sqlite, Path.Combine(dir, "conductor.db"), null),
                Fabric.Actors.Security.ConductorSigningKey.Generate(),
                environment);
            await host.StartAsync(TestContext.Current.CancellationToken);
            try
            {
                var system = host.Services.GetRequiredService<ActorSystem>();
                var config = system.Settings.Config;
                Assert.IsType<Akka.Cluster.ClusterActorRefProvider>(((ExtendedActorSystem)system).Provider);
                Assert.Equal(["akka.tcp://fabric@127.0.0.1:1"], config.GetStringList("akka.cluster.seed-nodes"));
                Assert.Equal([FabricCluster.ConductorRole], config.GetStringList("akka.cluster.roles"));
                Assert.Equal("INFO", config.GetString("akka.loglevel"));
                Assert.Contains(config.GetStringList("akka.loggers"), logger => logger.StartsWith("Akka.Hosting.Logging.LoggerFactoryLogger", StringComparison.Ordinal));
                Assert.False(string.IsNullOrEmpty(config.GetString("akka.persistence.journal.plugin")));
                Assert.IsType<FabricSerializer>(system.Serialization.FindSerializerForType(typeof(RunningConfig)));
            }
            finally
            {
                await host.StopAsync(CancellationToken.None);
                host.Dispose();
            }
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>Runs <paramref name="check"/> on the actor system of a started router node (its seed unreachable), then stops the node.</summary>
    private static async Task WithRouterNode(IConfiguration environment, Action<ActorSystem> check)
    {
        using var host = RouterHost.Build(new ClusterNodeSettings("127.0.0.1", 0, ["akka.tcp://fabric@127.0.0.1:2"], Insecure: true), Fabric.Actors.Security.ConductorSigningKey.Generate().Pin, [], environment);
        await host.StartAsync(TestContext.Current.CancellationToken);
        try
        {
            check(host.System);
        }
        finally
        {
            await host.StopAsync(CancellationToken.None);
        }
    }
}
