using Akka.Actor;
using Akka.Cluster.Hosting;
using Akka.Hosting;
using Fabric.Actors.Cluster;
using Fabric.Actors.Security;
using Fabric.Conductor.Api.Live;
using Fabric.Conductor.Configuration;
using Fabric.Model;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Fabric.Conductor.Hosting;

/// <summary>
/// The conductor node: a cluster node with role <c>conductor</c> whose <see cref="ConductorActor"/>
/// runs as a cluster singleton among the conductor nodes, persisted in <see cref="StorageSettings"/>
/// (a SQLite file or PostgreSQL), in a generic host (Akka.Hosting: the conductor's API and singleton are built on it; its
/// log goes to the host's logging). The actor registry holds the singleton's proxy under
/// <see cref="ConductorActor"/>, and, with an API, the node's <see cref="LiveFeedActor"/>.
/// </summary>
public static class ConductorHost
{
    public const string SingletonName = "conductor";

    /// <param name="signingKey">The conductor's key: it signs every running configuration it publishes (routers pin its public key).</param>
    /// <param name="feed">The API's live feed, fed by a <see cref="LiveFeedActor"/> on this node; none without an API.</param>
    public static AkkaConfigurationBuilder WithConductorNode(
        this AkkaConfigurationBuilder builder, ClusterNodeSettings cluster, StorageSettings storage, ConductorSigningKey signingKey, TimeProvider time,
        IConfiguration? hostConfiguration = null, LiveFeed? feed = null)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        ArgumentNullException.ThrowIfNull(storage);
        ArgumentNullException.ThrowIfNull(signingKey);
        var tls = cluster.Resolve(hostConfiguration).Tls;
        if (feed is not null)
        {
            builder = builder.WithActors((system, registry) => registry.Register<LiveFeedActor>(system.ActorOf(LiveFeedActor.Props(feed, signingKey.Pin, tls, time), "api-feed")));
        }

        var setup = FabricCluster.Setup(cluster, FabricCluster.ConductorRole, hostConfiguration);
        builder = builder
            .AddHocon(setup.Config, HoconAddMode.Prepend)
            .WithActorRefProvider(ProviderSelection.Cluster.Instance)
            // Routers' session actors register with the mediator; conductor nodes reach them by path and take their flows by topic.
            .WithDistributedPubSub(string.Empty);
        if (setup.Tls is { } remotingTls)
        {
            builder = builder.AddSetup(remotingTls);
        }

        return builder
            .AddHocon(ConductorStorage.PersistenceConfig(storage), HoconAddMode.Append)
            .WithSingleton<ConductorActor>(
                SingletonName,
                ConductorActor.Props(time, distribute: true, signingKey, tls),
                new ClusterSingletonOptions { Role = FabricCluster.ConductorRole, LogSingletonIdentificationFailure = false },
                createProxyToo: true);
    }

    /// <summary>
    /// The conductor node's host, its storage prepared (<see cref="ConductorStorage.Prepare"/>); throws
    /// <see cref="ClusterTlsException"/> at once when its cluster TLS cannot be used or is off without
    /// <see cref="ClusterNodeSettings.Insecure"/>, and <see cref="PrivateFileException"/> when its password file cannot be used.
    /// </summary>
    public static IHost Build(
        ClusterNodeSettings cluster, StorageSettings storage, ConductorSigningKey signingKey, IConfiguration? hostConfiguration = null,
        Action<ILoggingBuilder>? logging = null, LiveFeed? feed = null)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        var resolved = cluster.Resolve(hostConfiguration);
        var prepared = ConductorStorage.Prepare(storage, hostConfiguration);
        AkkaAppConfig.Skip();
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        if (hostConfiguration is not null)
        {
            builder.Configuration.AddConfiguration(hostConfiguration);
        }

        builder.Services.AddLogging(l => logging?.Invoke(l));
        builder.Services.AddAkka(ClusterNodeSettings.SystemName, akka =>
        {
            akka.ConfigureLoggers(loggers =>
            {
                loggers.ClearLoggers();
                loggers.AddLoggerFactory();
            });
            akka.WithConductorNode(resolved, prepared, signingKey, TimeProvider.System, hostConfiguration, feed);
        });
        return builder.Build();
    }
}
