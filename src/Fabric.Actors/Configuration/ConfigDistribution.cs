using Akka.DistributedData;
using Fabric.Actors.Serialization;

namespace Fabric.Actors.Configuration;

/// <summary>The running configuration as the conductor publishes it: the committed document's own text, read back by Fabric's strict parser.</summary>
[WireMessage("fabric.config.running.v1")]
public sealed record RunningConfig(long Version, string Text);

/// <summary>What one router node last did with the running configuration.</summary>
/// <param name="Node">The router node (a router has one node, or two as an HA pair).</param>
/// <param name="Applied">The version whose snapshot forwards packets now; 0 before the first.</param>
/// <param name="FailedVersion">A later version the node could not apply, or null.</param>
/// <param name="Failure">Why <paramref name="FailedVersion"/> could not be applied.</param>
[WireMessage("fabric.config.router-status.v1")]
public sealed record RouterConfigStatus(string Node, string Router, long Applied, long? FailedVersion, string? Failure);

/// <summary>
/// The Distributed Data keys of the configuration push and its acks. Config flows one way: the
/// conductor writes <see cref="Running"/>; every router's applier reads it and writes its own entry
/// of <see cref="Status"/>, which the conductor reads.
/// </summary>
public static class ConfigDistribution
{
    /// <summary>The running configuration: a last-writer-wins register whose clock is the version, so a higher version always wins, whatever the wall clocks say.</summary>
    public static readonly LWWRegisterKey<RunningConfig> Running = new("fabric-running-config");

    /// <summary>Each router node's status under its node name.</summary>
    public static readonly LWWDictionaryKey<string, RouterConfigStatus> Status = new("fabric-router-config-status");

    /// <summary>
    /// The largest document a commit takes, in UTF-8 bytes: the running configuration travels to every router as one
    /// cluster message (a Distributed Data write or gossip), which must fit in <see cref="Cluster.FabricCluster.MaxFrameBytes"/>
    /// with the other keys gossip may carry beside it.
    /// </summary>
    public const int MaxDocumentBytes = 4 * 1024 * 1024;

    /// <summary>How long a write waits for every node before it settles for gossip (which reaches the rest within a second).</summary>
    public static readonly TimeSpan WriteTimeout = TimeSpan.FromSeconds(3);

    public static Clock<RunningConfig> VersionClock { get; } = (_, value) => value.Version;
}
