using Fabric.Dataplane.Svr;
using Fabric.Dataplane.LoadBalancing;
using Fabric.Dataplane.Policing;
using Fabric.Model;

namespace Fabric.Dataplane.Forwarding;

/// <summary>
/// Keeps each service's mutable runtime (instance load, admission, shared rate limits) across
/// snapshot compiles: a recompile with the same policy, instances and tenants gets the same runtime
/// back, so active-session counts and buckets carry over a swap. A session keeps the id of the runtime
/// that admitted it and gives back what it took to that runtime, whatever was swapped in since.
/// A recompile that changes the policy or the tenants but keeps the slots (the same instances, or peer routers, in the
/// same order) and the instance health check gives a new runtime the old one's <see cref="InstanceLoad"/> and checks: the
/// sessions on each slot, the sessions others hold there and each slot's health go on, and a session admitted before
/// gives its slot back to the same counts. Admission's limits and the rate buckets stand for the policy, so they are the new
/// runtime's own; the sessions admission counts are the service's (<see cref="AdmittedSessions"/>, carried by every new
/// runtime of the service, whatever changed): the sessions admitted before count against the new policy's max-sessions.
/// A changed health check gets a new load, as before: workers still reading the old snapshot run the old
/// checks for a moment, and their verdicts must not reach a load whose new checks would never hear of them.
/// </summary>
/// <remarks>
/// A runtime a compile replaced (its service changed shape) or left out (its service is gone) is retired, and
/// removed by <see cref="Prune"/> once nothing can reach it any more: neither the snapshot in force nor the one any
/// worker runs names it, and no session holds it (its admission holds no session: every session is admitted by the
/// runtime whose id it keeps, or handed on to the one it moved to, and releases it when it ends). Only workers admit
/// sessions, each under the snapshot it published for its round, so the first worker prunes, between rounds; compiles come one at a time (<see cref="Routing.ForwardingEngine.Apply"/>),
/// and a retired runtime is never handed out again, so a snapshot compiled later never names it. A removed
/// runtime's id is handed out again. Memory is then bounded by the services of the snapshot in force and the
/// runtimes live sessions still hold, not by the number of configuration changes (docs/dataplane.md).
/// Thread-safe.
/// </remarks>
/// <param name="keySender">This node's per-boot sender value for its peer keys (<see cref="Svr.Security.PeerKeyring"/>).</param>
/// <param name="workers">The node's packet workers: each waypoint pool has a lane per worker (<see cref="Svr.WaypointAllocator"/>).</param>
public sealed class ServiceRuntimes(uint keySender = 0, int workers = 1)
{
    private readonly Dictionary<string, (string Shape, string Slots, ServiceRuntime Runtime)> _byService = new(StringComparer.Ordinal);
    private readonly List<ServiceRuntime> _retired = [];
    private readonly Stack<int> _freeIds = new();
    private readonly Lock _gate = new();
    private ServiceRuntime?[] _all = [];
    private int _retiredCount;

    /// <summary>The waypoint port pools of the router's peer paths, kept across compiles like the runtimes.</summary>
    public WaypointPools Waypoints { get; } = new(workers);

    /// <summary>The liveness and quality of the router's peer paths, by waypoint pool id, kept across compiles like the pools.</summary>
    public PeerPathHealthTable PathHealth { get; } = new();

    /// <summary>The keys of the router's peers, kept across compiles like the runtimes.</summary>
    public Svr.Security.PeerKeyring PeerKeys { get; } = new(keySender);

    /// <summary>The runtime with this id: a runtime the snapshot in force names, or one a live session holds.</summary>
    public ServiceRuntime this[int id] => Volatile.Read(ref _all)[id]!;

    /// <summary>Runtimes kept now: those of the latest compile's services and the retired ones not yet removed.</summary>
    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _all.Count(r => r is not null);
            }
        }
    }

    /// <summary>Retired runtimes not yet removed (a snapshot in force or a live session still holds them).</summary>
    public int Retired => Volatile.Read(ref _retiredCount);

    /// <summary>
    /// How many times an instance health check took an instance down, since the router started: a worker that sees it
    /// grow ends its sessions on failed instances where the policy says so (<see cref="Pipeline.InstanceFailover"/>).
    /// </summary>
    public long InstanceDowns => Interlocked.Read(ref _instanceDowns);

    private long _instanceDowns;

    /// <summary>Records that a health check took an instance down. Thread-safe.</summary>
    public void InstanceWentDown() => Interlocked.Increment(ref _instanceDowns);

    /// <param name="checkInstances">Whether the slots are instances of this router that the policy's health check probes.</param>
    public ServiceRuntime For(string service, ServicePolicy policy, string[] instances, string[] tenants, long ticksPerSecond, long now, bool checkInstances = false)
    {
        ArgumentNullException.ThrowIfNull(policy);
        var checks = checkInstances ? HealthCheckSettings.From(policy.HealthCheck, ticksPerSecond) : null;
        var slots = string.Join(',', instances);
        var shape = $"{policy}|{slots}|{string.Join(',', tenants)}|{checks is not null}";
        lock (_gate)
        {
            ServiceRuntime? carried = null;
            AdmittedSessions? admitted = null;
            if (_byService.TryGetValue(service, out var existing))
            {
                if (existing.Shape == shape)
                {
                    return existing.Runtime;
                }

                Retire(existing.Runtime);
                carried = existing.Slots == slots && ChecksAlike(existing.Runtime.HealthChecks, checks) ? existing.Runtime : null;
                admitted = existing.Runtime.Admission.Sessions;
            }

            var id = _freeIds.Count > 0 ? _freeIds.Pop() : _all.Length;
            var runtime = new ServiceRuntime(
                id,
                service,
                carried?.Load ?? new InstanceLoad(instances.Length),
                SessionAdmission.From(policy, now, ticksPerSecond, admitted),
                SharedTokenBucket.From(policy.ServiceRateLimit, now, ticksPerSecond),
                [.. tenants.Select(_ => SharedTokenBucket.From(policy.TenantRateLimit, now, ticksPerSecond))])
            {
                HealthChecks = carried is not null ? carried.HealthChecks : checks is null ? null : [.. instances.Select(_ => new InstanceHealthCheck(checks, now))],
                SessionRate = TokenRate.From(policy.SessionRateLimit, ticksPerSecond),
                Slots = slots,
            };
            _byService[service] = (shape, slots, runtime);
            var all = id < _all.Length ? (ServiceRuntime?[])_all.Clone() : [.. _all, null];
            all[id] = runtime;
            Volatile.Write(ref _all, all);
            return runtime;
        }
    }

    /// <summary>After a compile that succeeded: retires the runtimes of services it did not compile (gone from the configuration).</summary>
    public void Retain(IReadOnlySet<string> services)
    {
        ArgumentNullException.ThrowIfNull(services);
        lock (_gate)
        {
            foreach (var gone in _byService.Keys.Where(name => !services.Contains(name)).ToList())
            {
                Retire(_byService[gone].Runtime);
                _byService.Remove(gone);
            }
        }
    }

    /// <summary>
    /// Removes each retired runtime that the snapshot in force (<paramref name="inForce"/>, read under this object's lock)
    /// does not name, that no snapshot in <paramref name="running"/> names (by worker, the one it runs this round, published
    /// before use: null for none) and that no session holds; returns how many. The snapshot in force is read under the lock
    /// that retiring takes, so every runtime retired so far was retired by a compile whose snapshot is in force or not yet
    /// swapped in: one a later compile will name is never removed. Its elements of <paramref name="running"/> are read after
    /// it (<see cref="Routing.ForwardingEngine"/>'s <c>Publish</c> says why that is enough). Called by a worker between rounds.
    /// Allocates nothing when nothing is retired.
    /// </summary>
    public int Prune(Func<ForwardingSnapshot> inForce, ForwardingSnapshot?[]? running = null)
    {
        ArgumentNullException.ThrowIfNull(inForce);
        if (Volatile.Read(ref _retiredCount) == 0)
        {
            return 0;
        }

        var removed = 0;
        lock (_gate)
        {
            var snapshot = inForce();
            ServiceRuntime?[]? all = null;
            for (var i = _retired.Count - 1; i >= 0; i--)
            {
                var runtime = _retired[i];
                if (runtime.Admission.Holding > 0 || Names(snapshot, runtime) || AnyNames(running, runtime))
                {
                    continue;
                }

                all ??= (ServiceRuntime?[])_all.Clone();
                all[runtime.Id] = null;
                _freeIds.Push(runtime.Id);
                _retired.RemoveAt(i);
                removed++;
            }

            if (all is not null)
            {
                Volatile.Write(ref _all, all);
            }

            Volatile.Write(ref _retiredCount, _retired.Count);
        }

        return removed;

        static bool AnyNames(ForwardingSnapshot?[]? running, ServiceRuntime runtime)
        {
            for (var i = 0; running is not null && i < running.Length; i++)
            {
                if (Volatile.Read(ref running[i]) is { } snapshot && Names(snapshot, runtime))
                {
                    return true;
                }
            }

            return false;
        }

        static bool Names(ForwardingSnapshot snapshot, ServiceRuntime runtime)
        {
            foreach (var entry in snapshot.Services)
            {
                if (ReferenceEquals(entry.Runtime, runtime))
                {
                    return true;
                }
            }

            return false;
        }
    }

    /// <summary>Whether a runtime whose instances <paramref name="judged"/> checks (null: none) checks them as <paramref name="checks"/> would.</summary>
    private static bool ChecksAlike(InstanceHealthCheck[]? judged, HealthCheckSettings? checks) =>
        judged is null ? checks is null : judged.Length > 0 && judged[0].Settings == checks;

    private void Retire(ServiceRuntime runtime)
    {
        _retired.Add(runtime);
        Volatile.Write(ref _retiredCount, _retired.Count);
    }
}
