using Fabric.Dataplane.Forwarding;
using Fabric.Dataplane.Routing;
using Fabric.Dataplane.Sessions;
using Fabric.Dataplane.Telemetry;

namespace Fabric.Actors.Sessions;

/// <summary>
/// What a router node's <see cref="SessionActor"/> reads from its dataplane: session queries the worker answers, the rings
/// of sessions opening and closing and of recent drops it publishes, its drop counts, and its clock. Thread-safe.
/// </summary>
public interface IFlowSource
{
    /// <summary>The snapshot in force, or null before the first configuration.</summary>
    ForwardingSnapshot? Snapshot { get; }

    EventRing<SessionEvent> SessionEvents { get; }

    EventRing<DropRecord> Drops { get; }

    DropCounters DropCounts { get; }

    /// <summary>The worker's clock now, against the wall clock.</summary>
    WorkerClock Clock();

    Task<SessionPage> QuerySessionsAsync(SessionQuery query);
}

/// <summary>A forwarding engine as a flow source. Thread-safe as the engine is.</summary>
public sealed class EngineFlowSource(ForwardingEngine engine, TimeProvider? wall = null) : IFlowSource
{
    private readonly TimeProvider _wall = wall ?? TimeProvider.System;

    public ForwardingSnapshot? Snapshot => engine.AppliedVersion == 0 ? null : engine.Snapshot;

    public EventRing<SessionEvent> SessionEvents => engine.Worker.SessionEvents;

    public EventRing<DropRecord> Drops => engine.Worker.Drops.Recent;

    public DropCounters DropCounts => engine.Worker.Drops;

    public WorkerClock Clock() => new(engine.Now, engine.Worker.TicksPerSecond, _wall.GetUtcNow().ToUnixTimeMilliseconds());

    public Task<SessionPage> QuerySessionsAsync(SessionQuery query) => engine.QuerySessionsAsync(query);
}
