using Akka.DistributedData;
using Fabric.Actors.Cluster;
using Fabric.Actors.Security;
using Fabric.Actors.Serialization;

namespace Fabric.Actors.Configuration;

/// <summary>
/// The running configuration as the conductor publishes it: the committed document's own text, read back by
/// Fabric's strict parser, and the conductor's Ed25519 signature over version and text (see
/// <see cref="ConductorSigningKey.Sign"/>): a router applies it only if the key it pins signed it.
/// </summary>
[WireMessage("fabric.config.running.v2")]
public sealed record RunningConfig(long Version, string Text, byte[] Signature)
{
    /// <summary>The same version, text and signature (records compare arrays by reference).</summary>
    public bool SameAs(RunningConfig? other) =>
        other is not null && other.Version == Version && string.Equals(other.Text, Text, StringComparison.Ordinal)
        && other.Signature.AsSpan().SequenceEqual(Signature);
}

/// <summary>What one router node last did with the running configuration.</summary>
/// <param name="Node">The router node (a router has one node, or two as an HA pair).</param>
/// <param name="Applied">The version whose snapshot forwards packets now; 0 before the first.</param>
/// <param name="FailedVersion">A later version the node could not apply, or null.</param>
/// <param name="Failure">Why <paramref name="FailedVersion"/> could not be applied.</param>
[WireMessage("fabric.config.router-status.v1")]
public sealed record RouterConfigStatus(string Node, string Router, long Applied, long? FailedVersion, string? Failure);

/// <summary>
/// A router node's status as it publishes it, with its seal (<see cref="NodeSigner"/>), null when the cluster runs
/// without TLS. The conductor believes an ack only when the seal is the named node's; a replayed earlier ack of the
/// node is overwritten by the node itself, which writes its ack again whenever its entry changes under it.
/// </summary>
[WireMessage("fabric.config.router-ack.v1")]
public sealed record RouterConfigAck(RouterConfigStatus Status, NodeSeal? Seal)
{
    /// <summary>What the node signs: every field of the status.</summary>
    public static NodeStatement Statement(RouterConfigStatus status)
    {
        ArgumentNullException.ThrowIfNull(status);
        return new NodeStatement("fabric.config.router-ack.v1")
            .Add(status.Node).Add(status.Router).Add(status.Applied).Add(status.FailedVersion).Add(status.Failure);
    }

    public NodeStatement Statement() => Statement(Status);

    /// <summary>The same status with the same seal (records compare arrays by reference).</summary>
    public bool SameAs(RouterConfigAck? other) =>
        other is not null && other.Status == Status
        && (other.Seal?.Signature ?? []).AsSpan().SequenceEqual(Seal?.Signature ?? []);
}

/// <summary>
/// The Distributed Data keys of the configuration push and its acks. Config flows one way: the
/// conductor writes <see cref="Running"/>; every router's applier reads it and writes its own entry
/// of <see cref="Status"/>, which the conductor reads. Any member can write either key: what makes a value
/// count is its signature (the conductor's for <see cref="Running"/>, the node's seal for <see cref="Status"/>).
/// </summary>
public static class ConfigDistribution
{
    /// <summary>The running configuration: a last-writer-wins register whose clock is the version, so a higher version wins, whatever the wall clocks say.</summary>
    public static readonly LWWRegisterKey<RunningConfig> Running = new("fabric-running-config-v2");

    /// <summary>Each router node's ack under its node name.</summary>
    public static readonly LWWDictionaryKey<EntryName, RouterConfigAck> Status = new("fabric-router-config-acks-v2");

    /// <summary>
    /// The largest document a commit takes, in UTF-8 bytes: the running configuration travels to every router as one
    /// cluster message (a Distributed Data write or gossip), which must fit in <see cref="Cluster.FabricCluster.MaxFrameBytes"/>
    /// with the other keys gossip may carry beside it.
    /// </summary>
    public const int MaxDocumentBytes = 4 * 1024 * 1024;

    /// <summary>How long a write waits for every node before it settles for gossip (which reaches the rest within a second).</summary>
    public static readonly TimeSpan WriteTimeout = TimeSpan.FromSeconds(3);

    /// <summary>
    /// The register's clock: the version, and above whatever the register holds when the conductor replaces a value
    /// it did not publish (a member may write any version with any clock: the conductor's own must still win).
    /// </summary>
    public static Clock<RunningConfig> VersionClock { get; } = (current, value) => Math.Max(value.Version, current == long.MaxValue ? current : current + 1);
}
