namespace Fabric.Dataplane.Telemetry;

/// <summary>
/// The cells of a tenant × service grid of counters, kept only for the pairs that occur: a bounded open-addressing
/// map from (tenant, service) to a dense cell number, claimed the first time the writer counts for a pair. Tenant
/// and service are snapshot indexes, −1 when not known. Once <see cref="Capacity"/> pairs are claimed (or for an
/// index above <see cref="MaxIndex"/>), further pairs share the last cell, <see cref="Overflow"/>, so counts are never
/// lost and memory stays <c>Capacity</c> cells whatever the configuration numbers (the lab uses a dozen).
/// </summary>
/// <remarks>
/// One writer (the worker) calls <see cref="Claim"/>; any thread may call <see cref="Find"/> and <see cref="Pairs"/>:
/// a slot's key is written once and never changes, so a reader sees a pair either not yet or for good. Never
/// allocates after construction except in <see cref="Pairs"/> (for the control plane).
/// </remarks>
internal sealed class TenantServiceCells
{
    /// <summary>Pairs a grid keeps apart by default (tunable): 4096 cells hold every pair of 64 tenants × 64 services.</summary>
    public const int DefaultCapacity = 4096;

    /// <summary>The largest tenant or service index kept apart; a larger one counts under <see cref="Overflow"/>.</summary>
    public const int MaxIndex = 0xFFFE;

    private readonly int[] _keys;
    private readonly int[] _cells;
    private int _claimed;

    public TenantServiceCells(int capacity = DefaultCapacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        Capacity = capacity;
        _keys = new int[(int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)capacity * 2)];
        _cells = new int[_keys.Length];
    }

    /// <summary>Pairs kept apart; the grid has one cell more, <see cref="Overflow"/>.</summary>
    public int Capacity { get; }

    /// <summary>Cells in all: <see cref="Capacity"/> plus the shared overflow cell.</summary>
    public int Count => Capacity + 1;

    /// <summary>The cell every pair beyond <see cref="Capacity"/> shares.</summary>
    public int Overflow => Capacity;

    /// <summary>The cell of a pair, claiming one the first time (writer only). Allocation-free.</summary>
    public int Claim(int tenant, int service)
    {
        if (!TryKey(tenant, service, out var key))
        {
            return Overflow;
        }

        var mask = _keys.Length - 1;
        for (var slot = Home(key, mask); ; slot = (slot + 1) & mask)
        {
            var existing = _keys[slot];
            if (existing == key)
            {
                return _cells[slot];
            }

            if (existing == 0)
            {
                if (_claimed == Capacity)
                {
                    return Overflow;
                }

                _cells[slot] = _claimed++;
                Volatile.Write(ref _keys[slot], key);
                return _cells[slot];
            }
        }
    }

    /// <summary>The cell of a pair already counted, or −1 (any thread).</summary>
    public int Find(int tenant, int service)
    {
        if (!TryKey(tenant, service, out var key))
        {
            return -1;
        }

        var mask = _keys.Length - 1;
        for (var slot = Home(key, mask); ; slot = (slot + 1) & mask)
        {
            var existing = Volatile.Read(ref _keys[slot]);
            if (existing == key)
            {
                return _cells[slot];
            }

            if (existing == 0)
            {
                return -1;
            }
        }
    }

    /// <summary>Every pair counted so far with its cell (allocates: for the control plane).</summary>
    public List<(int Tenant, int Service, int Cell)> Pairs()
    {
        var pairs = new List<(int, int, int)>();
        for (var slot = 0; slot < _keys.Length; slot++)
        {
            var key = Volatile.Read(ref _keys[slot]);
            if (key != 0)
            {
                var packed = key - 1;
                pairs.Add(((packed >> 16) - 1, (packed & 0xFFFF) - 1, _cells[slot]));
            }
        }

        return pairs;
    }

    private static bool TryKey(int tenant, int service, out int key)
    {
        key = 0;
        if (tenant < -1 || tenant > MaxIndex || service < -1 || service > MaxIndex)
        {
            return false;
        }

        key = (((tenant + 1) << 16) | (service + 1)) + 1;
        return true;
    }

    private static int Home(int key, int mask) => (int)(((uint)key * 0x9E3779B1u) >> 7) & mask;
}
