using Fabric.Dataplane.Forwarding;
using Fabric.Dataplane.Pipeline;
using Fabric.Dataplane.Routing;
using Fabric.Dataplane.Sessions;
using Fabric.Dataplane.Telemetry;

namespace Fabric.Actors.Sessions;

/// <summary>
/// What a router node's <see cref="SessionActor"/> reads from its dataplane: session queries the workers answer, the rings
/// of sessions opening and closing and of recent drops each worker publishes, the drop counts of all of them, and their
/// clock. Thread-safe.
/// </summary>
public interface IFlowSource
{
    /// <summary>The snapshot in force, or null before the first configuration.</summary>
    ForwardingSnapshot? Snapshot { get; }

    /// <summary>Each worker's ring of sessions opening and closing, in worker order; an event's handle is its worker's (see <see cref="RouterHandle"/>).</summary>
    IReadOnlyList<EventRing<SessionEvent>> SessionEvents { get; }

    /// <summary>Each worker's ring of recent drops, in worker order.</summary>
    IReadOnlyList<EventRing<DropRecord>> Drops { get; }

    /// <summary>Drops counted for <paramref name="reason"/>, tenant and service (−1: none) over every worker.</summary>
    long DropCount(DropReason reason, int tenant, int service);

    /// <summary>
    /// The handle that names, router-wide, the session in slot <paramref name="handle"/> of worker <paramref name="worker"/>'s
    /// shard: the numbering session queries use (shards one after the other, a shard's capacity apart).
    /// </summary>
    int RouterHandle(int worker, int handle);

    /// <summary>The workers' clock now, against the wall clock.</summary>
    WorkerClock Clock();

    Task<SessionPage> QuerySessionsAsync(SessionQuery query);

    /// <summary>The sessions of clients that moved to another router, given up as records (see <see cref="ForwardingEngine.GiveUpClientSessionsAsync"/>).</summary>
    Task<ClientSessionRecords> GiveUpClientSessionsAsync(ClientAddress[] clients);

    /// <summary>Installs sessions another router gave up for clients now here (see <see cref="ForwardingEngine.TakeClientSessionsAsync"/>).</summary>
    Task<SessionImportResult> TakeClientSessionsAsync(ClientSessionRecords given);

    /// <summary>Ends the arrival grace of clients whose hand-over is over (see <see cref="ForwardingEngine.EndClientArrivalsAsync"/>).</summary>
    Task EndClientArrivalsAsync(ClientAddress[] clients);

    /// <summary>
    /// Whether this node forwards: a router of one node always does, an HA pair's active node does, its standby does not
    /// (it holds replicas of the active's sessions). Only a forwarding node asks for or gives up a moved client's sessions.
    /// </summary>
    bool IsActive { get; }
}

/// <summary>A forwarding engine as a flow source. Thread-safe as the engine is.</summary>
public sealed class EngineFlowSource(ForwardingEngine engine, TimeProvider? wall = null) : IFlowSource
{
    private readonly TimeProvider _wall = wall ?? TimeProvider.System;

    public ForwardingSnapshot? Snapshot => engine.AppliedVersion == 0 ? null : engine.Snapshot;

    public IReadOnlyList<EventRing<SessionEvent>> SessionEvents { get; } = [.. engine.Workers.Select(w => w.SessionEvents)];

    public IReadOnlyList<EventRing<DropRecord>> Drops { get; } = [.. engine.Workers.Select(w => w.Drops.Recent)];

    public long DropCount(DropReason reason, int tenant, int service)
    {
        long count = 0;
        foreach (var worker in engine.Workers)
        {
            count += worker.Drops.Get(reason, tenant, service);
        }

        return count;
    }

    public int RouterHandle(int worker, int handle) => engine.RouterHandle(worker, handle);

    public WorkerClock Clock() => new(engine.Now, engine.Worker.TicksPerSecond, _wall.GetUtcNow().ToUnixTimeMilliseconds());

    public Task<SessionPage> QuerySessionsAsync(SessionQuery query) => engine.QuerySessionsAsync(query);

    public Task<ClientSessionRecords> GiveUpClientSessionsAsync(ClientAddress[] clients) => engine.GiveUpClientSessionsAsync(clients);

    public Task<SessionImportResult> TakeClientSessionsAsync(ClientSessionRecords given) => engine.TakeClientSessionsAsync(given);

    public Task EndClientArrivalsAsync(ClientAddress[] clients) => engine.EndClientArrivalsAsync(clients);

    public bool IsActive => engine.IsActive;
}
