using Fabric.Dataplane.Forwarding;
using Fabric.Dataplane.Routing;
using Fabric.Model;

namespace Fabric.Actors.Configuration;

/// <summary>
/// Where a router's applier swaps compiled configurations in: the node's forwarding engine. The
/// router host supplies it, so the applier runs the same with real interfaces or in-memory ports.
/// </summary>
public interface IForwardingTarget
{
    /// <summary>The router (of the configuration) this node is part of.</summary>
    string RouterName { get; }

    /// <summary>The version in force; 0 before the first.</summary>
    long AppliedVersion { get; }

    /// <summary>Compiles <paramref name="config"/> and swaps it in, or throws <see cref="SnapshotCompileException"/> and keeps the snapshot in force.</summary>
    void Apply(FabricConfig config, long version);
}

/// <summary>A <see cref="ForwardingEngine"/> as a target: <see cref="ForwardingEngine.Apply"/> compiles with <see cref="SnapshotCompiler"/>. Thread-safe as the engine is.</summary>
public sealed class EngineForwardingTarget(ForwardingEngine engine) : IForwardingTarget
{
    public string RouterName => engine.Name;

    public long AppliedVersion => engine.AppliedVersion;

    public void Apply(FabricConfig config, long version) => engine.Apply(config, version);
}
