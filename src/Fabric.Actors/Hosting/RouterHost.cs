using Akka.Actor;
using Fabric.Actors.Cluster;
using Fabric.Actors.Configuration;
using Fabric.Actors.HighAvailability;
using Fabric.Actors.Security;
using Fabric.Actors.Services;
using Fabric.Actors.Sessions;
using Fabric.Actors.Telemetry;
using Fabric.Actors.Tenants;
using Microsoft.Extensions.Configuration;

namespace Fabric.Actors.Hosting;

/// <summary>One router node's forwarding engine as the control plane sees it.</summary>
/// <param name="Node">The node's name in the configuration.</param>
/// <param name="Telemetry">Its counters, sampled and shipped to the conductor; none: no telemetry.</param>
/// <param name="TenantBudgets">Its tenant rate-limit buckets, governed by the cluster-wide budget exchange; none: each bucket polices at its configured limit alone.</param>
/// <param name="Services">Its services for the live instance registry and cluster-wide load balancing; none: not taking part.</param>
/// <param name="Pair">When the node is one of an HA pair: its dataplane as the pair actor drives it, who its partner is, and the node's heartbeat link (which outlives the actor system).</param>
/// <param name="Flows">Its sessions and drops, queried by the conductor and streamed to it by a <see cref="SessionActor"/>; none: not visible.</param>
/// <param name="Refusals">Where the node counts what its control plane refused (shown with its counters); none: counted nowhere.</param>
/// <param name="RemoteInstances">Where the node compiles in the service instances other routers attached (with <paramref name="Services"/>); none: it serves only its document's.</param>
public sealed record RouterNodeTarget(
    string Node,
    IForwardingTarget Target,
    ITelemetrySource? Telemetry = null,
    ITenantBudgetTarget? TenantBudgets = null,
    IServiceDataplane? Services = null,
    (IPairNode Node, PairSettings Settings, PairLink Link)? Pair = null,
    IFlowSource? Flows = null,
    ControlPlaneRefusals? Refusals = null,
    IRemoteInstanceHost? RemoteInstances = null);

/// <summary>
/// The actor side of a router: a cluster node with role <c>router</c> running, per forwarding engine it
/// hosts (one for a real node; many when a benchmark simulates routers in one process), a
/// <see cref="ConfigApplier"/> and, when given, a telemetry sampler, a <see cref="TenantBudgetExchange"/>, a
/// <see cref="ServiceDirectory"/>, a <see cref="SessionActor"/> and a <see cref="Tracing.TraceActor"/>, and a <see cref="PairActor"/> for a node of an HA pair.
/// </summary>
public static class RouterHost
{
    /// <summary>
    /// The router node, not started; throws <see cref="ClusterTlsException"/> at once when its cluster TLS cannot be used, is
    /// off without <see cref="ClusterNodeSettings.Insecure"/>, or names another node than the one it hosts.
    /// </summary>
    /// <param name="conductorKey">The conductor's public key the node pins: only running configurations it signed are applied.</param>
    /// <param name="log">Where the node's Akka log goes, one line per event (<see cref="FabricNode"/>); none: dropped.</param>
    /// <remarks>
    /// With cluster TLS, every node's acks, telemetry, registered instances, service load, tenant demands and HA session
    /// batches are sealed with the node's certificate, which must have been
    /// issued to that node's name (the conductor believes a seal only for the node it names): a certificate issued to
    /// another name is refused with <see cref="ClusterTlsException"/>.
    /// </remarks>
    public static FabricNode Build(
        ClusterNodeSettings cluster, ConductorKeyPin conductorKey, IReadOnlyList<RouterNodeTarget> targets, IConfiguration? hostConfiguration = null,
        Action<string, string>? log = null, TimeSpan? telemetryInterval = null, TenantBudgetSettings? tenantBudgets = null)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        ArgumentNullException.ThrowIfNull(conductorKey);
        ArgumentNullException.ThrowIfNull(targets);
        var resolved = cluster.Resolve(hostConfiguration);
        var signer = SignerFor(resolved.Tls, targets);
        var setup = FabricCluster.Setup(resolved, FabricCluster.RouterRole, hostConfiguration, PairActor.DispatcherHocon);
        return new FabricNode(setup, system => StartActors(system, targets, conductorKey, signer, telemetryInterval, tenantBudgets), log);
    }

    private static void StartActors(
        ActorSystem system, IReadOnlyList<RouterNodeTarget> targets, ConductorKeyPin conductorKey, NodeSigner? signer, TimeSpan? telemetryInterval,
        TenantBudgetSettings? tenantBudgets)
    {
        foreach (var target in targets)
        {
            system.ActorOf(ConfigApplier.Props(target.Node, target.Target, conductorKey, signer, target.Refusals), $"config-applier-{target.Node}");
            if (target.Pair is { } pair)
            {
                system.ActorOf(PairActor.Props(target.Node, pair.Node, pair.Settings, pair.Link, target.Refusals, signer), PairActor.NameOf(target.Node));
            }

            if (target.Telemetry is { } telemetry)
            {
                system.ActorOf(
                    TelemetrySampler.Props(target.Node, target.Target.RouterName, telemetry, TimeProvider.System, telemetryInterval ?? TelemetryDistribution.DefaultInterval, signer),
                    $"telemetry-{target.Node}");
            }

            if (target.TenantBudgets is { } budgets)
            {
                system.ActorOf(
                    TenantBudgetExchange.Props(target.Node, target.Target.RouterName, budgets, tenantBudgets ?? TenantBudgetSettings.Default, TimeProvider.System, signer, target.Refusals),
                    $"tenant-budgets-{target.Node}");
            }

            if (target.Services is { } services)
            {
                system.ActorOf(ServiceDirectory.Props(target.Node, target.Target.RouterName, services, signer: signer, refusals: target.Refusals, remoteInstances: target.RemoteInstances), ServiceDirectory.NameFor(target.Node));
            }

            if (target.Flows is { } flows)
            {
                system.ActorOf(SessionActor.Props(target.Node, flows, signer: signer), SessionActor.NameOf(target.Node));
                system.ActorOf(Tracing.TraceActor.Props(target.Node, flows), Tracing.TraceActor.NameOf(target.Node));
            }
        }
    }

    /// <summary>The seal of the nodes' statements: none without TLS; the certificate must be every hosted node's.</summary>
    private static NodeSigner? SignerFor(ClusterTls? tls, IReadOnlyList<RouterNodeTarget> targets)
    {
        if (tls is null)
        {
            return null;
        }

        var signer = new NodeSigner(tls);
        if (targets.FirstOrDefault(t => !string.Equals(t.Node, signer.Name, StringComparison.Ordinal)) is { } other)
        {
            throw new ClusterTlsException(
                $"the cluster certificate was issued to node {signer.Name}, not to {other.Node}: the conductor would refuse {other.Node}'s acks and telemetry; issue one with fabric certs node {other.Node}");
        }

        return signer;
    }
}
