namespace Fabric.Dataplane.Telemetry;

/// <summary>
/// Forwarded traffic per tenant × service: packets and bytes (IP bytes, every packet a super-packet stands
/// for), sessions opened, and sessions active now. Tenant and service are indexes of the snapshot in force
/// when the packet or session was counted (−1 when not known; an index above the bound is counted under the
/// last one), so the cardinality is bounded by <c>(maxTenants + 1) × (maxServices + 1)</c> and no name is
/// ever kept here. A session is counted as ended under the tenant and service it opened with.
/// </summary>
/// <remarks>
/// One writer (the worker that owns the sessions) with plain increments; any thread reads with
/// <see cref="Get"/> (volatile reads: a reader may be a few packets behind, never torn). Never allocates after
/// construction.
/// </remarks>
public sealed class TrafficCounters
{
    private readonly TrafficCount[] _counts;
    private readonly TenantServiceCells _cells;

    public TrafficCounters(int maxTenants, int maxServices)
    {
        _cells = new TenantServiceCells(maxTenants, maxServices);
        _counts = new TrafficCount[_cells.Count];
    }

    /// <summary>A packet (or the <paramref name="packets"/> a super-packet stands for, <paramref name="bytes"/> in all) forwarded for a tenant and service.</summary>
    public void Forwarded(int tenant, int service, int packets, int bytes)
    {
        ref var count = ref _counts[Index(tenant, service)];
        count.Packets += packets;
        count.Bytes += bytes;
    }

    /// <summary>A session was inserted for a tenant and service.</summary>
    public void Opened(int tenant, int service)
    {
        ref var count = ref _counts[Index(tenant, service)];
        count.SessionsOpened++;
        count.ActiveSessions++;
    }

    /// <summary>A session opened under this tenant and service ended.</summary>
    public void Ended(int tenant, int service) => _counts[Index(tenant, service)].ActiveSessions--;

    /// <summary>The counts of one tenant (−1: none) and service (−1: none).</summary>
    public TrafficCount Get(int tenant, int service)
    {
        ref var count = ref _counts[Index(tenant, service)];
        return new TrafficCount
        {
            Packets = Volatile.Read(ref count.Packets),
            Bytes = Volatile.Read(ref count.Bytes),
            SessionsOpened = Volatile.Read(ref count.SessionsOpened),
            ActiveSessions = Volatile.Read(ref count.ActiveSessions),
        };
    }

    /// <summary>
    /// The counts per tenant and per service of <paramref name="tenants"/> tenants and <paramref name="services"/>
    /// services (as a snapshot names them), each summed over the other dimension; index 0 of each array is
    /// "none" (−1). Allocates: for the control plane.
    /// </summary>
    public (TrafficCount[] ByTenant, TrafficCount[] ByService) Totals(int tenants, int services)
    {
        var byTenant = new TrafficCount[Math.Min(tenants, _cells.Tenants - 1) + 1];
        var byService = new TrafficCount[Math.Min(services, _cells.Services - 1) + 1];
        for (var t = 0; t < byTenant.Length; t++)
        {
            for (var s = 0; s < byService.Length; s++)
            {
                var count = Get(t - 1, s - 1);
                byTenant[t] = byTenant[t].Plus(count);
                byService[s] = byService[s].Plus(count);
            }
        }

        return (byTenant, byService);
    }

    private int Index(int tenant, int service) => _cells.Of(tenant, service);
}

/// <summary>Forwarded traffic of one tenant and service (or a sum of them).</summary>
public struct TrafficCount
{
    public long Packets;
    public long Bytes;
    public long SessionsOpened;

    /// <summary>Sessions opened and not yet ended.</summary>
    public long ActiveSessions;

    public readonly TrafficCount Plus(TrafficCount other) => new()
    {
        Packets = Packets + other.Packets,
        Bytes = Bytes + other.Bytes,
        SessionsOpened = SessionsOpened + other.SessionsOpened,
        ActiveSessions = ActiveSessions + other.ActiveSessions,
    };
}
