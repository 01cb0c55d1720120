using Fabric.Dataplane.Pipeline;

namespace Fabric.Dataplane.Telemetry;

/// <summary>
/// Drop counts per reason × tenant × service, plus the most recent drops with their details. Tenant and service are
/// indexes of the snapshot in force (−1 when not known yet); only the pairs that occur take cells
/// (<see cref="TenantServiceCells"/>), so the counters take about a megabyte whatever the configuration numbers.
/// Written by one worker; read by anyone (reads may be a few packets behind).
/// </summary>
public sealed class DropCounters
{
    private static readonly int Reasons = Enum.GetValues<DropReason>().Length;
    private readonly long[] _counts;
    private readonly TenantServiceCells _cells;

    /// <param name="pairs">Tenant × service pairs kept apart; more share one cell (see <see cref="TenantServiceCells"/>).</param>
    public DropCounters(int pairs = TenantServiceCells.DefaultCapacity)
    {
        _cells = new TenantServiceCells(pairs);
        _counts = new long[Reasons * _cells.Count];
        Recent = new DropRing(RecentCapacity);
    }

    /// <summary>Drops the ring keeps (tunable); readers see the newest <c>RecentCapacity − 1</c>.</summary>
    public const int RecentCapacity = 256;

    /// <summary>The latest drops, oldest overwritten first.</summary>
    public DropRing Recent { get; }

    public void Count(in DropRecord record)
    {
        _counts[((int)record.Reason * _cells.Count) + _cells.Claim(record.Tenant, record.Service)]++;
        Recent.Add(record);
    }

    /// <summary>Drops for a reason, a tenant (−1: none) and a service (−1: none).</summary>
    public long Get(DropReason reason, int tenant, int service)
    {
        var cell = _cells.Find(tenant, service);
        return cell < 0 ? 0 : Volatile.Read(ref _counts[((int)reason * _cells.Count) + cell]);
    }

    /// <summary>Drops for a reason over every tenant and service.</summary>
    public long Total(DropReason reason)
    {
        long sum = 0;
        var start = (int)reason * _cells.Count;
        for (var i = 0; i < _cells.Count; i++)
        {
            sum += Volatile.Read(ref _counts[start + i]);
        }

        return sum;
    }

    /// <summary>Drops of every reason summed per tenant and per service over the pairs counted so far (allocates: for the control plane).</summary>
    public (Dictionary<int, long> ByTenant, Dictionary<int, long> ByService) Totals()
    {
        var byTenant = new Dictionary<int, long>();
        var byService = new Dictionary<int, long>();
        foreach (var (tenant, service, cell) in _cells.Pairs())
        {
            long sum = 0;
            for (var reason = 0; reason < Reasons; reason++)
            {
                sum += Volatile.Read(ref _counts[(reason * _cells.Count) + cell]);
            }

            byTenant[tenant] = byTenant.GetValueOrDefault(tenant) + sum;
            byService[service] = byService.GetValueOrDefault(service) + sum;
        }

        return (byTenant, byService);
    }
}

/// <summary>One dropped packet: why (and under which rule, where the reason does not say), whom and what it concerned, and the 5-tuple.</summary>
/// <param name="Port">The port the packet came in by.</param>
/// <param name="Time">When, in the worker's clock ticks.</param>
public readonly record struct DropRecord(
    DropReason Reason, int Tenant, int Service, UInt128 Source, UInt128 Destination,
    ushort SourcePort, ushort DestinationPort, byte Protocol, int Port, long Time, DropRule Rule = DropRule.None, bool IsIpv6 = false);

/// <summary>The latest drop records. One writer (the worker); any number of readers.</summary>
public sealed class DropRing(int capacity) : EventRing<DropRecord>(capacity);
