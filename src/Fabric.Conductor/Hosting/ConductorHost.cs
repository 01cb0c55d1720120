using Akka.Cluster.Hosting;
using Akka.Hosting;
using Fabric.Actors.Cluster;
using Fabric.Conductor.Api.Live;
using Fabric.Conductor.Configuration;
using Fabric.Model;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Fabric.Conductor.Hosting;

/// <summary>
/// The conductor node: a cluster node with role <c>conductor</c> whose <see cref="ConductorActor"/>
/// runs as a cluster singleton among the conductor nodes, persisted in <see cref="StorageSettings"/>
/// (a SQLite file or PostgreSQL). The actor registry holds the singleton's proxy under
/// <see cref="ConductorActor"/>, and, with an API, the node's <see cref="LiveFeedActor"/>.
/// </summary>
public static class ConductorHost
{
    public const string SingletonName = "conductor";

    /// <param name="feed">The API's live feed, fed by a <see cref="LiveFeedActor"/> on this node; none without an API.</param>
    public static AkkaConfigurationBuilder WithConductorNode(
        this AkkaConfigurationBuilder builder, ClusterNodeSettings cluster, StorageSettings storage, TimeProvider time, IConfiguration? hostConfiguration = null, LiveFeed? feed = null)
    {
        ArgumentNullException.ThrowIfNull(storage);
        if (feed is not null)
        {
            builder = builder.WithActors((system, registry) => registry.Register<LiveFeedActor>(system.ActorOf(LiveFeedActor.Props(feed), "api-feed")));
        }

        return builder
            .WithFabricCluster(cluster, FabricCluster.ConductorRole, hostConfiguration)
            .AddHocon(ConductorStorage.PersistenceConfig(storage), HoconAddMode.Append)
            .WithSingleton<ConductorActor>(
                SingletonName,
                ConductorActor.Props(time, distribute: true),
                new ClusterSingletonOptions { Role = FabricCluster.ConductorRole, LogSingletonIdentificationFailure = false },
                createProxyToo: true);
    }

    public static IHost Build(
        ClusterNodeSettings cluster, StorageSettings storage, IConfiguration? hostConfiguration = null, Action<ILoggingBuilder>? logging = null, LiveFeed? feed = null) =>
        FabricNodeHost.Build(hostConfiguration, logging, akka => akka.WithConductorNode(cluster, storage, TimeProvider.System, hostConfiguration, feed));
}
