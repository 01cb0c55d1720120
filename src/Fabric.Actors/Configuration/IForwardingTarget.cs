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

    /// <summary>
    /// Compiles <paramref name="config"/> and swaps it in, or throws <see cref="SnapshotCompileException"/> and keeps the
    /// snapshot in force. <see cref="ConfigNotKeptException"/> after the swap says the version forwards but what the
    /// target keeps beside it (a file) was not written; any other exception is a failure of the version.
    /// </summary>
    void Apply(FabricConfig config, long version);
}

/// <summary>A version was swapped in and forwards, but the target could not keep it (on disk); the message says where and why.</summary>
public sealed class ConfigNotKeptException(string message, Exception inner) : Exception(message, inner);

/// <summary>A <see cref="ForwardingEngine"/> as a target: <see cref="ForwardingEngine.Apply"/> compiles with <see cref="SnapshotCompiler"/>. Thread-safe as the engine is.</summary>
public sealed class EngineForwardingTarget(ForwardingEngine engine) : IForwardingTarget
{
    public string RouterName => engine.Name;

    public void Apply(FabricConfig config, long version) => engine.Apply(config, version);
}
