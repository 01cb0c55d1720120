using Fabric.Actors.Security;
using Fabric.Dataplane.Forwarding;
using Fabric.Dataplane.Routing;

namespace Fabric.Actors.Tenants;

/// <summary>
/// Where a router node's budget exchange finds the tenant buckets it governs: the limited tenant buckets of the
/// snapshot in force, the clock their worker polices with, and which router each node is part of by the configuration
/// it runs. The host supplies it, so the exchange runs the same with real interfaces or in-memory ports.
/// </summary>
public interface ITenantBudgetTarget : INodeRouters
{
    /// <summary>The limited (service, tenant) buckets of the snapshot in force; none before the first configuration.</summary>
    IReadOnlyList<TenantBucket> LimitedTenantBuckets();

    /// <summary>The time in the ticks the buckets are policed with.</summary>
    long Now { get; }
}

/// <summary>A <see cref="ForwardingEngine"/>'s tenant buckets. Thread-safe as the engine is.</summary>
public sealed class EngineTenantBudgets(ForwardingEngine engine) : ITenantBudgetTarget
{
    public IReadOnlyList<TenantBucket> LimitedTenantBuckets() => engine.AppliedVersion == 0 ? [] : engine.Snapshot.LimitedTenantBuckets();

    public long Now => engine.Now;

    public bool TryRouterOf(string node, out string? router) => EngineNodeRouters.TryRouterOf(engine, node, out router);
}
