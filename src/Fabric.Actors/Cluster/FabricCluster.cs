using System.Globalization;
using Akka.Actor;
using Akka.Cluster.Tools.PublishSubscribe;
using Akka.Cluster.Tools.Singleton;
using Akka.Configuration;
using Akka.Remote.Transport.DotNetty;
using Fabric.Actors.Serialization;
using Fabric.Config.Canonical;
using Microsoft.Extensions.Configuration;

namespace Fabric.Actors.Cluster;

/// <summary>
/// The Akka settings every fabric node shares, whatever starts its actor system: remoting on the management address,
/// clustering with the node's role and seeds, the keep-majority split-brain resolver (counted among conductor nodes), Fabric's
/// serializer for every message of ours (and for anything else without a serializer of its own, so
/// no polymorphic serializer ever reaches the network), coordinated shutdown that leaves the cluster.
/// </summary>
public static class FabricCluster
{
    public const string RouterRole = "router";

    public const string ConductorRole = "conductor";

    /// <summary>
    /// The largest message remoting carries (Akka's default is 128 000 bytes): a running configuration of up to
    /// <see cref="Configuration.ConfigDistribution.MaxDocumentBytes"/> in one Distributed Data write, with room for the
    /// other keys a gossip message may carry beside it. A larger message is dropped by the sender, so a value that
    /// does not fit never arrives; every node of a fabric must agree on it.
    /// </summary>
    public const int MaxFrameBytes = 16 * 1024 * 1024;

    /// <summary>
    /// How long a router's actor system tries to join its seeds before it shuts down, so that the router starts a new
    /// incarnation (a new uid, new connections) and tries again. A join can stall for good when it races the conductor
    /// downing and quarantining the router's previous incarnation on the same address (seen after a SIGKILL restart:
    /// every InitJoin went unanswered for minutes while the conductor ran on); a fresh incarnation is let in.
    /// </summary>
    public static readonly TimeSpan RouterJoinTimeout = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Control-plane timing. Akka's scheduler turns every 100 ms, so no actor timer is finer than that and an idle
    /// node wakes about 25 times a second. Distributed Data gossips every 500 ms and tells subscribers of a change
    /// within a scheduler tick, so a router that missed a direct write hears of it within a second; the
    /// splitbrain resolver waits 7 s of stable unreachability before downing (Akka's default 20 s
    /// is tuned for large clusters; a fabric is small and should fail over quickly). The resolver keeps the majority
    /// counted among conductor nodes only: a router that dies or is cut off never outvotes the conductor (counted among all
    /// nodes, one conductor and one router tie, a tie goes to the lower address, and killing the router can down the conductor); a
    /// side without a conductor downs itself, keeps forwarding and rejoins.
    /// </summary>
    private const string ControlPlaneHocon = $$"""
        akka {
          loglevel = WARNING                                  # Akka's own log level: a router writes it as node lines (FabricNode), the conductor to its host's logging
          scheduler.tick-duration = 100ms                     # timer resolution: the 10 ms default wakes an idle node ~300 times a second (docs/benchmarks.md)
          coordinated-shutdown.exit-clr = off                 # the host, not Akka, decides when the process ends
          coordinated-shutdown.run-by-clr-shutdown-hook = on  # SIGTERM leaves the cluster before the process exits
          remote.retry-gate-closed-for = 500ms                # after a failed connection, retry this soon (an HA partner that starts a moment later is heard at once)
          remote.dot-netty.tcp.enable-pooling = false         # no pooled buffer arenas: they hold 16 MiB per node for a control plane that sends a few KiB a second
          cluster {
            run-coordinated-shutdown-when-down = on           # a node downed by the resolver stops instead of lingering
            downing-provider-class = "Akka.Cluster.SBR.SplitBrainResolverProvider, Akka.Cluster"
            split-brain-resolver {
              active-strategy = keep-majority                 # the side with more nodes of keep-majority.role stays up
              keep-majority.role = {{ConductorRole}}          # the majority is counted among conductor nodes only
              stable-after = 7s                               # unreachable this long before the minority is downed
            }
            distributed-data {
              gossip-interval = 500ms                         # anti-entropy between replicas
              notify-subscribers-interval = 100ms             # how soon a subscriber hears of a change (one scheduler tick)
            }
          }
        }
        """;

    /// <summary>
    /// The actor system of one node: remoting, clustering and serialization, and <paramref name="nodeHocon"/> (settings of
    /// the node's own actors, such as a dispatcher). Overrides from the host's configuration (its <c>akka</c> section, such as
    /// environment variables <c>akka__cluster__seed-nodes__0</c>) come first and win (<see cref="ClusterNodeSettings.AkkaOverrides"/>).
    /// Throws <see cref="ClusterTlsException"/> when the node has no TLS and is not started insecure
    /// (<see cref="ClusterNodeSettings.Resolve"/>).
    /// </summary>
    public static FabricNodeSetup Setup(ClusterNodeSettings node, string role, IConfiguration? hostConfiguration = null, string? nodeHocon = null)
    {
        ArgumentNullException.ThrowIfNull(node);
        var registry = WireMessageRegistry.FromApplicationAssemblies();
        var tls = node.Resolve(hostConfiguration).Tls;
        WithoutPooledBufferArenas();
        var config = ConfigurationFactory.ParseString(RemotingHocon(node, tls))
            .WithFallback(ConfigurationFactory.ParseString(ControlPlaneHocon))
            .WithFallback(ConfigurationFactory.ParseString(FabricSerialization.Hocon(registry, clusterNode: true)))
            .WithFallback(ConfigurationFactory.ParseString(MembershipHocon(role, node.SeedsFor(tls))))
            .WithFallback(ClusterSingleton.DefaultConfig())
            .WithFallback(Akka.DistributedData.DistributedData.DefaultConfig())
            .WithFallback(DistributedPubSub.DefaultConfig());
        if (nodeHocon is not null)
        {
            config = ConfigurationFactory.ParseString(nodeHocon).WithFallback(config);
        }

        if (role == RouterRole)
        {
            config = ConfigurationFactory.ParseString($"akka.cluster.shutdown-after-unsuccessful-join-seed-nodes = {RouterJoinTimeout.TotalSeconds:0}s").WithFallback(config);
        }

        if (ClusterNodeSettings.AkkaOverrides(hostConfiguration) is { } overrides)
        {
            config = overrides.WithFallback(config);
        }

        return new FabricNodeSetup(config, tls is null ? null : TlsSetup(tls));
    }

    /// <summary>
    /// The node's role and seeds. Clustering is configured by HOCON, not Akka.Cluster.Hosting's <c>WithClustering</c>:
    /// that adds the reference configuration of every cluster module, sharding and cluster client too, which makes a
    /// node load Akka.Cluster.Sharding and make the serializers of both for messages a fabric never sends
    /// (docs/benchmarks.md "Memory, 2026-12-06, Akka's share"). The modules a node uses (singleton, Distributed Data,
    /// pub-sub) get theirs beside it. Each seed must parse as an Akka address.
    /// </summary>
    private static string MembershipHocon(string role, IReadOnlyList<string> seeds)
    {
        foreach (var seed in seeds)
        {
            _ = Address.Parse(seed);
        }

        return $$"""
            akka.cluster {
              roles = [{{HoconWriter.Quote(role)}}]
              seed-nodes = [{{string.Join(", ", seeds.Select(HoconWriter.Quote))}}]
            }
            """;
    }

    /// <summary>
    /// DotNetty sizes its pooled allocator's arenas from these process-wide settings when it is first used; with
    /// none, the TLS handler and codecs take plain arrays instead of holding two 8 MiB chunks per process for a
    /// control plane that sends a few KiB a second. A value the operator set is kept.
    /// </summary>
    private static void WithoutPooledBufferArenas()
    {
        foreach (var name in (string[])["io.netty.allocator.numHeapArenas", "io.netty.allocator.numDirectArenas"])
        {
            if (Environment.GetEnvironmentVariable(name) is null)
            {
                Environment.SetEnvironmentVariable(name, "0");
            }
        }
    }

    /// <summary>
    /// Remoting on the node's address (<paramref name="node"/>'s host name is quoted, never parsed as HOCON); with
    /// <paramref name="tls"/>, TLS on every connection in both directions (<see cref="TlsSetup"/>).
    /// </summary>
    private static string RemotingHocon(ClusterNodeSettings node, ClusterTls? tls) => $$"""
        akka.remote.dot-netty.tcp {
          hostname = {{HoconWriter.Quote(node.Hostname)}}
          port = {{node.Port.ToString(CultureInfo.InvariantCulture)}}
          maximum-frame-size = {{MaxFrameBytes.ToString(CultureInfo.InvariantCulture)}}
          enable-ssl = {{(tls is null ? "off" : "on")}}
          ssl {
            suppress-validation = off
            require-mutual-authentication = on
            validate-certificate-hostname = off  # peers are reached by address; the CA, not the name, says who is a fabric node
          }
        }
        """;

    /// <summary>
    /// TLS on every remoting connection in both directions: the node presents its certificate, requires the peer's
    /// (require-mutual-authentication) and accepts it only if the fabric CA signed it. The certificate is an object, not
    /// HOCON text, so no file name or password ever reaches Akka's parser.
    /// </summary>
    private static DotNettySslSetup TlsSetup(ClusterTls tls) => new(
        tls.NodeCertificate,
        suppressValidation: false,
        requireMutualAuthentication: true,
        validateCertificateHostname: false,
        customValidator: (certificate, _, _, _, _) => tls.IsIssuedByAuthority(certificate));
}
