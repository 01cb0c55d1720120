using System.Runtime.CompilerServices;
namespace Fabric.Dataplane.Telemetry;

/// <summary>
/// Forwarded traffic per tenant × service: packets and bytes (IP bytes, every packet a super-packet stands
/// for), sessions opened, and sessions active now. Tenant and service are indexes of the snapshot in force
/// when the packet or session was counted (−1 when not known); only the pairs that occur take cells, and beyond
/// <see cref="TenantServiceCells.DefaultCapacity"/> pairs they share one (see <see cref="TenantServiceCells"/>), so the
/// cardinality is bounded and no name is ever kept here. A session is counted as ended under the tenant and service it
/// opened with.
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

    // The last pair counted and its cell (a pair's cell never changes): the packets of a batch are mostly of one pair.
    private int _lastTenant = int.MinValue;
    private int _lastService = int.MinValue;
    private int _lastCell;

    /// <param name="pairs">Tenant × service pairs kept apart; more share one cell.</param>
    public TrafficCounters(int pairs = TenantServiceCells.DefaultCapacity)
    {
        _cells = new TenantServiceCells(pairs);
        _counts = new TrafficCount[_cells.Count];
    }

    /// <summary>A packet (or the <paramref name="packets"/> a super-packet stands for, <paramref name="bytes"/> in all) forwarded for a tenant and service.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
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

    /// <summary>A live session's tenant and service got new indexes (a swap renumbered them): its active count moves with it.</summary>
    public void Rebound(int tenant, int service, int newTenant, int newService)
    {
        _counts[Index(tenant, service)].ActiveSessions--;
        _counts[Index(newTenant, newService)].ActiveSessions++;
    }

    /// <summary>The counts of one tenant (−1: none) and service (−1: none).</summary>
    public TrafficCount Get(int tenant, int service)
    {
        var cell = _cells.Find(tenant, service);
        return cell < 0 ? default : Read(cell);
    }

    /// <summary>
    /// The counts per tenant and per service of <paramref name="tenants"/> tenants and <paramref name="services"/>
    /// services (as a snapshot names them), each summed over the other dimension; index 0 of each array is
    /// "none" (−1). Pairs beyond the cells' capacity are not in either. Allocates: for the control plane.
    /// </summary>
    public (TrafficCount[] ByTenant, TrafficCount[] ByService) Totals(int tenants, int services)
    {
        var byTenant = new TrafficCount[tenants + 1];
        var byService = new TrafficCount[services + 1];
        foreach (var (tenant, service, cell) in _cells.Pairs())
        {
            var count = Read(cell);
            if (tenant < tenants)
            {
                byTenant[tenant + 1] = byTenant[tenant + 1].Plus(count);
            }

            if (service < services)
            {
                byService[service + 1] = byService[service + 1].Plus(count);
            }
        }

        return (byTenant, byService);
    }

    /// <summary>What pairs beyond the cells' capacity (or with an index out of bounds) counted together.</summary>
    public TrafficCount Overflowed => Read(_cells.Overflow);

    private TrafficCount Read(int cell)
    {
        ref var count = ref _counts[cell];
        return new TrafficCount
        {
            Packets = Volatile.Read(ref count.Packets),
            Bytes = Volatile.Read(ref count.Bytes),
            SessionsOpened = Volatile.Read(ref count.SessionsOpened),
            ActiveSessions = Volatile.Read(ref count.ActiveSessions),
        };
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int Index(int tenant, int service) =>
        tenant == _lastTenant && service == _lastService ? _lastCell : Claim(tenant, service);

    /// <summary>The cell of a pair other than the last one counted, which becomes the last one.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private int Claim(int tenant, int service)
    {
        _lastCell = _cells.Claim(tenant, service);
        _lastTenant = tenant;
        _lastService = service;
        return _lastCell;
    }
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
