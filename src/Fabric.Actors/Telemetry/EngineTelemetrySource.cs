using Fabric.Dataplane.Pipeline;
using Fabric.Dataplane.Routing;

namespace Fabric.Actors.Telemetry;

/// <summary>
/// A forwarding engine's counters as telemetry: the worker's totals and sessions, drops by reason, drops
/// per tenant and per service, active sessions per service (placed by this router) and per peer path
/// (waypoint pairs in use), and each limited tenant bucket's configured limit, rate in force (the node's share)
/// and bytes offered and refused (<c>tenant-limit.SERVICE.TENANT.rate</c>). Reads what the worker writes with atomic reads; a sample is not one instant
/// across counters, each counter is exact. Thread-safe.
/// </summary>
public sealed class EngineTelemetrySource(ForwardingEngine engine) : ITelemetrySource
{
    public IReadOnlyDictionary<string, long> Sample()
    {
        var worker = engine.Worker;
        var counters = worker.Counters;
        var sample = new Dictionary<string, long>(StringComparer.Ordinal)
        {
            ["received"] = Interlocked.Read(ref counters.Received),
            ["forwarded"] = Interlocked.Read(ref counters.Forwarded),
            ["dropped"] = Interlocked.Read(ref counters.Dropped),
            ["generated"] = Interlocked.Read(ref counters.Generated),
            ["sessions"] = worker.Sessions.Count,
            ["sessions.created"] = Interlocked.Read(ref counters.SessionsCreated),
            ["sessions.expired"] = Interlocked.Read(ref counters.SessionsExpired),
        };
        var reasons = Enum.GetValues<DropReason>().Where(r => r != DropReason.None).ToArray();
        foreach (var reason in reasons)
        {
            sample[$"drop.{reason}"] = worker.Drops.Total(reason);
        }

        if (engine.AppliedVersion == 0)
        {
            return sample;
        }

        var snapshot = engine.Snapshot;
        for (var t = -1; t < snapshot.Tenants.Length; t++)
        {
            long drops = 0;
            for (var s = -1; s < snapshot.Services.Length; s++)
            {
                foreach (var reason in reasons)
                {
                    drops += worker.Drops.Get(reason, t, s);
                }
            }

            sample[$"tenant.{(t < 0 ? "(none)" : snapshot.Tenants[t])}.drops"] = drops;
        }

        for (var s = 0; s < snapshot.Services.Length; s++)
        {
            var service = snapshot.Services[s];
            long sessions = 0;
            for (var i = 0; i < service.Runtime.Load.Count; i++)
            {
                sessions += service.Runtime.Load.LocalSessions(i);
            }

            long drops = 0;
            for (var t = -1; t < snapshot.Tenants.Length; t++)
            {
                foreach (var reason in reasons)
                {
                    drops += worker.Drops.Get(reason, t, s);
                }
            }

            sample[$"service.{service.Name}.sessions"] = sessions;
            sample[$"service.{service.Name}.drops"] = drops;
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
            sample[$"path.{path.PeerRouter}/{path.Neighborhood}.sessions"] = path.Waypoints.InUse;
        }

        return sample;
    }
}
