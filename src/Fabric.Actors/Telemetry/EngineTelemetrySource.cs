using Fabric.Dataplane.Pipeline;
using Fabric.Dataplane.Routing;
using Fabric.Dataplane.Telemetry;

namespace Fabric.Actors.Telemetry;

/// <summary>
/// A forwarding engine's counters as telemetry: the worker's totals and sessions, drops by reason, drops
/// per tenant and per service, forwarded traffic per tenant and per service (<see cref="Traffic"/>), active
/// sessions per service (placed by this router) and per peer path (waypoint pairs in use), each peer path's
/// monitoring figures once measured (<c>path.PEER/NEIGHBORHOOD.up</c>, round trip <c>.rtt-us</c>, <c>.jitter-us</c>, <c>.loss-bp</c>), whether
/// the node forwards (<c>ha.active</c>: 1 alone or active in an HA pair, 0 standing by), and each limited
/// tenant bucket's configured limit, rate in force (the node's share) and bytes offered and refused
/// (<c>tenant-limit.SERVICE.TENANT.rate</c>). Reads what the worker writes with atomic reads; a sample is not one instant
/// across counters, each counter is exact. Thread-safe.
/// </summary>
public sealed class EngineTelemetrySource(ForwardingEngine engine) : ITelemetrySource
{
    public IReadOnlyDictionary<string, long> Sample()
    {
        // Every figure sums the engine's workers.
        var counters = engine.Counters();
        var sample = new Dictionary<string, long>(StringComparer.Ordinal)
        {
            ["received"] = Interlocked.Read(ref counters.Received),
            ["forwarded"] = Interlocked.Read(ref counters.Forwarded),
            ["dropped"] = Interlocked.Read(ref counters.Dropped),
            ["generated"] = Interlocked.Read(ref counters.Generated),
            ["sessions"] = engine.SessionCount,
            ["sessions.created"] = Interlocked.Read(ref counters.SessionsCreated),
            ["sessions.expired"] = Interlocked.Read(ref counters.SessionsExpired),
            ["sessions.evicted"] = Interlocked.Read(ref counters.SessionsEvicted),
            ["sessions.superseded"] = Interlocked.Read(ref counters.SessionsSuperseded),
            ["sessions.revoked"] = Interlocked.Read(ref counters.SessionsRevoked),
            ["ha.active"] = engine.IsActive ? 1 : 0,
        };
        var reasons = Enum.GetValues<DropReason>().Where(r => r != DropReason.None).ToArray();
        foreach (var reason in reasons)
        {
            sample[$"drop.{reason}"] = engine.DropTotal(reason);
        }

        if (engine.AppliedVersion == 0)
        {
            return sample;
        }

        var snapshot = engine.Snapshot;
        var traffic = Traffic(engine);
        foreach (var (tenant, count) in traffic.Tenants)
        {
            Add(sample, $"tenant.{tenant}", count);
        }

        foreach (var (service, count) in traffic.Services)
        {
            Add(sample, $"service.{service}", count);
        }

        var (tenantDrops, serviceDrops) = engine.DropTotals();
        for (var t = -1; t < snapshot.Tenants.Length; t++)
        {
            sample[$"tenant.{(t < 0 ? "(none)" : snapshot.Tenants[t])}.drops"] = tenantDrops.GetValueOrDefault(t);
        }

        for (var s = 0; s < snapshot.Services.Length; s++)
        {
            var service = snapshot.Services[s];
            long sessions = 0;
            for (var i = 0; i < service.Runtime.Load.Count; i++)
            {
                sessions += service.Runtime.Load.LocalSessions(i);
            }

            sample[$"service.{service.Name}.sessions"] = sessions;
            sample[$"service.{service.Name}.drops"] = serviceDrops.GetValueOrDefault(s);
        }

        foreach (var limit in snapshot.LimitedTenantBuckets())
        {
            // The rate in force is this node's share of the fabric-wide limit (docs/policing.md).
            var name = $"tenant-limit.{limit.Service}.{limit.Tenant}";
            sample[$"{name}.configured"] = limit.Bucket.ConfiguredBytesPerSecond;
            sample[$"{name}.rate"] = limit.Bucket.BytesPerSecond;
            sample[$"{name}.offered-bytes"] = limit.Bucket.OfferedBytes;
            sample[$"{name}.refused-bytes"] = limit.Bucket.RefusedBytes;
        }

        foreach (var path in snapshot.PeerPaths)
        {
            var name = $"path.{path.PeerRouter}/{path.Neighborhood}/{path.Family}";
            sample[$"{name}.sessions"] = path.Waypoints.InUse;
            sample[$"{name}.up"] = path.Health.State == Dataplane.Svr.PeerPathState.Up ? 1 : 0;
            if (path.Health.LatencyMicroseconds >= 0)
            {
                // Measured once a burst of echoes came back; the health keeps the one-way figure (round trip / 2).
                sample[$"{name}.rtt-us"] = path.Health.LatencyMicroseconds * 2;
                sample[$"{name}.jitter-us"] = path.Health.JitterMicroseconds;
            }

            if (path.Health.LossBasisPoints >= 0)
            {
                sample[$"{name}.loss-bp"] = path.Health.LossBasisPoints;
            }
        }

        return sample;
    }

    /// <summary>
    /// Forwarded traffic per tenant and per service, named by the snapshot in force ("(none)" for packets
    /// and sessions of no tenant or service); empty before the first configuration. Allocates.
    /// </summary>
    public static TrafficByName Traffic(ForwardingEngine engine)
    {
        ArgumentNullException.ThrowIfNull(engine);
        if (engine.AppliedVersion == 0)
        {
            return new TrafficByName(new Dictionary<string, TrafficTotals>(), new Dictionary<string, TrafficTotals>());
        }

        var snapshot = engine.Snapshot;
        var (byTenant, byService) = engine.TrafficTotals(snapshot.Tenants.Length, snapshot.Services.Length);
        return new TrafficByName(
            Named(byTenant, i => snapshot.Tenants[i]),
            Named(byService, i => snapshot.Services[i].Name));

        static Dictionary<string, TrafficTotals> Named(TrafficCount[] counts, Func<int, string> name)
        {
            var named = new Dictionary<string, TrafficTotals>(StringComparer.Ordinal);
            for (var i = 0; i < counts.Length; i++)
            {
                var c = counts[i];
                if (i > 0 || c.Packets != 0 || c.SessionsOpened != 0)
                {
                    named[i == 0 ? "(none)" : name(i - 1)] = new TrafficTotals(c.Packets, c.Bytes, c.SessionsOpened, c.ActiveSessions);
                }
            }

            return named;
        }
    }

    private static void Add(Dictionary<string, long> sample, string prefix, TrafficTotals count)
    {
        sample[$"{prefix}.packets"] = count.Packets;
        sample[$"{prefix}.bytes"] = count.Bytes;
        sample[$"{prefix}.sessions.opened"] = count.SessionsOpened;
        sample[$"{prefix}.sessions.active"] = count.ActiveSessions;
    }
}

/// <summary>Forwarded traffic of one tenant or service: packets, IP bytes, sessions opened, sessions active now.</summary>
public sealed record TrafficTotals(long Packets, long Bytes, long SessionsOpened, long ActiveSessions);

/// <summary>Forwarded traffic by tenant name and by service name.</summary>
public sealed record TrafficByName(IReadOnlyDictionary<string, TrafficTotals> Tenants, IReadOnlyDictionary<string, TrafficTotals> Services);
