using Fabric.Actors.Configuration;
using Fabric.Dataplane.Forwarding;
using Fabric.Dataplane.Routing;
using Fabric.Model;

namespace Fabric.Actors.Services;

/// <summary>
/// A forwarding engine that takes attachments as a router node does, without its ports: containers attached to it
/// (<see cref="Attach"/>, <see cref="Detach"/>) and what the registries say other routers attached are compiled in with
/// the committed document (<see cref="RemoteAttachments.Effective"/>), each change at the version the engine runs. For
/// routers of in-memory ports (tests, simulations); a real node is <c>RouterProcess</c>. Thread-safe: one gate.
/// </summary>
public sealed class AttachingEngineTarget(ForwardingEngine engine) : IForwardingTarget, IRemoteInstanceHost
{
    private readonly Lock _gate = new();
    private readonly List<AttachedWorkload> _attached = [];
    private FabricConfig? _committed;
    private IReadOnlyList<RegisteredInstance> _instances = [];
    private IReadOnlyList<RegisteredClient> _clients = [];

    public string RouterName => engine.Name;

    public event Action? AttachedHereChanged;

    public void Apply(FabricConfig config, long version)
    {
        lock (_gate)
        {
            engine.Apply(RemoteAttachments.Effective(config, engine.Name, _attached, _instances, _clients), version);
            _committed = config;
        }
    }

    /// <summary>Attaches <paramref name="workload"/> here (a container of this router) and compiles it in.</summary>
    public void Attach(AttachedWorkload workload)
    {
        ArgumentNullException.ThrowIfNull(workload);
        lock (_gate)
        {
            _attached.Add(workload);
            Recompile();
        }

        AttachedHereChanged?.Invoke();
    }

    /// <summary>Detaches the container named <paramref name="name"/> and compiles without it.</summary>
    public void Detach(string name)
    {
        lock (_gate)
        {
            _attached.RemoveAll(w => w.Name == name);
            Recompile();
        }

        AttachedHereChanged?.Invoke();
    }

    public IReadOnlyList<AttachedWorkload> AttachedHere()
    {
        lock (_gate)
        {
            return [.. _attached];
        }
    }

    /// <summary>Compiles the instances other routers attached in, when what is compiled in changes (as a router node does).</summary>
    public bool HostRemoteInstances(IReadOnlyCollection<RegisteredInstance> registered)
    {
        lock (_gate)
        {
            var before = _committed is null ? [] : RemoteAttachments.Of(_committed, engine.Name, _instances);
            _instances = [.. registered];
            return (_committed is null || !before.SequenceEqual(RemoteAttachments.Of(_committed, engine.Name, _instances))) && Recompile();
        }
    }

    /// <summary>Compiles the clients other routers attached in, when what is compiled in changes (as a router node does).</summary>
    public bool HostRemoteClients(IReadOnlyCollection<RegisteredClient> registered)
    {
        lock (_gate)
        {
            var before = _committed is null ? [] : AttachedClients.Of(_committed, engine.Name, _clients, _attached);
            _clients = [.. registered];
            return (_committed is null || !before.SequenceEqual(AttachedClients.Of(_committed, engine.Name, _clients, _attached))) && Recompile();
        }
    }

    /// <summary>
    /// Compiles what is attached now at the version the engine runs; nothing before the first commit. A compile that fails
    /// keeps what forwards. True when a new snapshot forwards.
    /// </summary>
    private bool Recompile()
    {
        if (_committed is not { } committed)
        {
            return false;
        }

        try
        {
            engine.Apply(RemoteAttachments.Effective(committed, engine.Name, _attached, _instances, _clients), engine.AppliedVersion);
            return true;
        }
        catch (SnapshotCompileException)
        {
            // The running snapshot stays, as a router node keeps it.
            return false;
        }
    }
}
