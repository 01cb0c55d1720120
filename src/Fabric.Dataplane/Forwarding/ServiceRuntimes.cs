using Fabric.Dataplane.Svr;
using Fabric.Dataplane.LoadBalancing;
using Fabric.Dataplane.Policing;
using Fabric.Model;

namespace Fabric.Dataplane.Forwarding;

/// <summary>
/// Keeps each service's mutable runtime (instance load, admission, shared rate limits) across
/// snapshot compiles: a recompile with the same policy, instances and tenants gets the same runtime
/// back, so active-session counts and buckets carry over a swap. Every runtime made keeps its id, so
/// a session gives back what it took to the runtime that admitted it, whatever was swapped in since.
/// Thread-safe.
/// </summary>
/// <param name="keySender">This node's per-boot sender value for its peer keys (<see cref="Svr.Security.PeerKeyring"/>).</param>
public sealed class ServiceRuntimes(uint keySender = 0)
{
    private readonly Dictionary<string, (string Shape, ServiceRuntime Runtime)> _byService = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();
    private ServiceRuntime[] _all = [];

    /// <summary>The waypoint port pools of the router's peer paths, kept across compiles like the runtimes.</summary>
    public WaypointPools Waypoints { get; } = new();

    /// <summary>The liveness and quality of the router's peer paths, by waypoint pool id, kept across compiles like the pools.</summary>
    public PeerPathHealthTable PathHealth { get; } = new();

    /// <summary>The keys of the router's peers, kept across compiles like the runtimes.</summary>
    public Svr.Security.PeerKeyring PeerKeys { get; } = new(keySender);

    /// <summary>The runtime with this id (ids are handed out by <see cref="For"/> and never reused).</summary>
    public ServiceRuntime this[int id] => Volatile.Read(ref _all)[id];

    public ServiceRuntime For(string service, ServicePolicy policy, string[] instances, string[] tenants, long ticksPerSecond, long now)
    {
        var shape = $"{policy}|{string.Join(',', instances)}|{string.Join(',', tenants)}";
        lock (_gate)
        {
            if (_byService.TryGetValue(service, out var existing) && existing.Shape == shape)
            {
                return existing.Runtime;
            }

            var runtime = new ServiceRuntime(
                _all.Length,
                service,
                new InstanceLoad(instances.Length),
                SessionAdmission.From(policy, now, ticksPerSecond),
                SharedTokenBucket.From(policy.ServiceRateLimit, now, ticksPerSecond),
                [.. tenants.Select(_ => SharedTokenBucket.From(policy.TenantRateLimit, now, ticksPerSecond))]);
            _byService[service] = (shape, runtime);
            Volatile.Write(ref _all, [.. _all, runtime]);
            return runtime;
        }
    }
}
