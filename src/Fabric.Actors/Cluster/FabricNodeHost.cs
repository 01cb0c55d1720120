using Akka.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Fabric.Actors.Cluster;

/// <summary>
/// A generic host around one fabric actor system: starting the host starts the node and joins the
/// cluster; stopping it runs Akka's coordinated shutdown (leave the cluster, then stop). Akka's log
/// goes to the host's <see cref="ILoggerFactory"/>.
/// </summary>
public static class FabricNodeHost
{
    /// <summary>
    /// Whether <paramref name="system"/> shut down because it was downed (by the split-brain resolver on the
    /// minority side of a partition, or by an operator), as opposed to leaving or a signal.
    /// </summary>
    public static bool WasDowned(Akka.Actor.ActorSystem system) =>
        Akka.Actor.CoordinatedShutdown.Get(system).ShutdownReason is Akka.Actor.CoordinatedShutdown.ClusterDowningReason;

    /// <summary>
    /// Why <paramref name="system"/> ended on its own, in the words a router logs before it joins again as a new
    /// incarnation: <c>removed-from-cluster</c> (downed) or <c>join-timed-out</c> (no seed let it join within
    /// <see cref="FabricCluster.RouterJoinTimeout"/>); null when it was stopped (it left, or a signal).
    /// </summary>
    public static string? RejoinReason(Akka.Actor.ActorSystem system) => Akka.Actor.CoordinatedShutdown.Get(system).ShutdownReason switch
    {
        Akka.Actor.CoordinatedShutdown.ClusterDowningReason => "removed-from-cluster",
        Akka.Actor.CoordinatedShutdown.ClusterJoinUnsuccessfulReason => "join-timed-out",
        _ => null,
    };

    /// <param name="hostConfiguration">Overrides such as environment variables; its <c>akka</c> section reaches Akka (see <see cref="FabricCluster.WithFabricCluster"/>).</param>
    /// <param name="logging">Where logs go; none by default.</param>
    public static IHost Build(IConfiguration? hostConfiguration, Action<ILoggingBuilder>? logging, Action<AkkaConfigurationBuilder> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
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
            configure(akka);
        });
        return builder.Build();
    }
}
