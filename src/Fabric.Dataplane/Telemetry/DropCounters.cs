using Fabric.Dataplane.Pipeline;

namespace Fabric.Dataplane.Telemetry;

/// <summary>
/// Drop counts per reason × tenant × service, plus the most recent drops with their details.
/// Tenant and service are indexes of the snapshot in force (−1 when not known yet; they are stored
/// shifted by one). Written by one worker; read by anyone (reads may be a few packets behind).
/// </summary>
public sealed class DropCounters
{
    private readonly long[] _counts;
    private readonly TenantServiceCells _cells;

    public DropCounters(int maxTenants, int maxServices)
    {
        _cells = new TenantServiceCells(maxTenants, maxServices);
        _counts = new long[(Enum.GetValues<DropReason>().Length + 1) * _cells.Count];
        Recent = new DropRing(256);
    }

    /// <summary>The latest drops, oldest overwritten first.</summary>
    public DropRing Recent { get; }

    public void Count(in DropRecord record)
    {
        _counts[((int)record.Reason * _cells.Count) + _cells.Of(record.Tenant, record.Service)]++;
        Recent.Add(record);
    }

    /// <summary>Drops for a reason, a tenant (−1: none) and a service (−1: none).</summary>
    public long Get(DropReason reason, int tenant, int service) =>
        Volatile.Read(ref _counts[((int)reason * _cells.Count) + _cells.Of(tenant, service)]);

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
}

/// <summary>One dropped packet: why, whom and what it concerned, and the 5-tuple.</summary>
public readonly record struct DropRecord(
    DropReason Reason, int Tenant, int Service, UInt128 Source, UInt128 Destination,
    ushort SourcePort, ushort DestinationPort, byte Protocol, int Port, long Time);

/// <summary>A fixed ring of the latest drop records. One writer; readers copy a consistent-enough view.</summary>
public sealed class DropRing(int capacity)
{
    private readonly DropRecord[] _records = new DropRecord[capacity];
    private long _written;

    public long Written => Volatile.Read(ref _written);

    public void Add(in DropRecord record)
    {
        _records[(int)(_written % _records.Length)] = record;
        Volatile.Write(ref _written, _written + 1);
    }

    /// <summary>The records still in the ring, oldest first (allocates: for the control plane and tests).</summary>
    public DropRecord[] Snapshot()
    {
        var written = Written;
        var count = (int)Math.Min(written, _records.Length);
        var result = new DropRecord[count];
        for (var i = 0; i < count; i++)
        {
            result[i] = _records[(int)((written - count + i) % _records.Length)];
        }

        return result;
    }
}
