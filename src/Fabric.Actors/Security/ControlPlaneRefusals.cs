namespace Fabric.Actors.Security;

/// <summary>
/// What a router node's control plane refused to believe, counted: configurations the pinned conductor key did not
/// sign, configurations older than the one applied, HA pair messages from anyone but the partner, and entries of the
/// cluster's shared registries (instances, load, tenant demands) that their node did not seal or may not write. Shown in
/// <c>fabric router counters</c> under <c>control_plane</c>. Thread-safe: interlocked counters.
/// </summary>
public sealed class ControlPlaneRefusals
{
    private long _unsignedConfigs;
    private long _olderConfigs;
    private long _foreignPairMessages;
    private long _foreignEntries;

    /// <summary>Running configurations refused because the conductor's pinned key did not sign them.</summary>
    public long UnsignedConfigs => Interlocked.Read(ref _unsignedConfigs);

    /// <summary>Signed running configurations refused because they are older than the version the node applied.</summary>
    public long OlderConfigs => Interlocked.Read(ref _olderConfigs);

    /// <summary>Heartbeats and session batches refused because they did not come from the node's HA partner.</summary>
    public long ForeignPairMessages => Interlocked.Read(ref _foreignPairMessages);

    /// <summary>
    /// Distributed Data entries (instances, load, tenant demands) refused: not sealed by the node they name, filed under
    /// another node's key, naming a router the node is not part of, or an earlier entry of the node replayed.
    /// </summary>
    public long ForeignEntries => Interlocked.Read(ref _foreignEntries);

    public void CountUnsignedConfig() => Interlocked.Increment(ref _unsignedConfigs);

    public void CountOlderConfig() => Interlocked.Increment(ref _olderConfigs);

    public void CountForeignPairMessage() => Interlocked.Increment(ref _foreignPairMessages);

    public void CountForeignEntry() => Interlocked.Increment(ref _foreignEntries);
}
