using Akka.Hosting;
using Fabric.Actors.Cluster;
using Fabric.Actors.Configuration;
using Fabric.Actors.HighAvailability;
using Fabric.Actors.Telemetry;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Fabric.Actors.Hosting;

/// <summary>One router node's forwarding engine as the control plane sees it.</summary>
/// <param name="Node">The node's name in the configuration.</param>
/// <param name="Telemetry">Its counters, sampled and shipped to the conductor; none: no telemetry.</param>
/// <param name="Pair">When the node is one of an HA pair: its dataplane as the pair actor drives it, and who its partner is.</param>
public sealed record RouterNodeTarget(string Node, IForwardingTarget Target, ITelemetrySource? Telemetry = null, (IPairNode Node, PairSettings Settings)? Pair = null);

/// <summary>
/// The actor side of a router: a cluster node with role <c>router</c> running a
/// <see cref="ConfigApplier"/> per forwarding engine it hosts (one for a real node; many when a
/// benchmark simulates routers in one process), and a <see cref="PairActor"/> for a node of an HA pair.
/// </summary>
public static class RouterHost
{
    public static AkkaConfigurationBuilder WithRouterNode(
        this AkkaConfigurationBuilder builder, ClusterNodeSettings cluster, IReadOnlyList<RouterNodeTarget> targets, IConfiguration? hostConfiguration = null,
        TimeSpan? telemetryInterval = null)
    {
        ArgumentNullException.ThrowIfNull(targets);
        return builder
            .WithFabricCluster(cluster, FabricCluster.RouterRole, hostConfiguration)
            .AddHocon(PairActor.DispatcherHocon, HoconAddMode.Prepend)
            .WithActors((system, _) =>
            {
                foreach (var target in targets)
                {
                    system.ActorOf(ConfigApplier.Props(target.Node, target.Target), $"config-applier-{target.Node}");
                    if (target.Pair is { } pair)
                    {
                        system.ActorOf(PairActor.Props(target.Node, pair.Node, pair.Settings), PairActor.NameOf(target.Node));
                    }

                    if (target.Telemetry is { } telemetry)
                    {
                        system.ActorOf(
                            TelemetrySampler.Props(target.Node, target.Target.RouterName, telemetry, TimeProvider.System, telemetryInterval ?? TelemetryDistribution.DefaultInterval),
                            $"telemetry-{target.Node}");
                    }
                }
            });
    }

    public static IHost Build(
        ClusterNodeSettings cluster, IReadOnlyList<RouterNodeTarget> targets, IConfiguration? hostConfiguration = null, Action<ILoggingBuilder>? logging = null,
        TimeSpan? telemetryInterval = null) =>
        FabricNodeHost.Build(hostConfiguration, logging, akka => akka.WithRouterNode(cluster, targets, hostConfiguration, telemetryInterval));
}
