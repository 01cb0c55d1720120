namespace Fabric.Dataplane.Svr;

/// <summary>
/// Hands out waypoint port pairs for one peer path. The sender picks both ports: an even port for itself and
/// an odd port for the peer, so sessions two routers open at each other at once never share a 5-tuple.
/// </summary>
/// <remarks>
/// The pool holds <see cref="Capacity"/> pair indexes, <c>min(maxInUse, evens × odds)</c>; index p is the pair
/// (even e = p mod E, odd (e + p div E) mod O) over the E even and O odd ports of the range, so every index is a
/// distinct pair and a pair maps back to its index. Free indexes wait in a ring in an order shuffled by the
/// injected seed: allocation takes the oldest free pair, release queues the pair at the back, so a released
/// pair is reused as late as possible and the ports are not trivially predictable (not a secret either). A
/// bitmap of live indexes keeps a pair from being handed out twice or released twice. Everything is
/// allocated in the constructor (2 octets per pair plus a bit); the operations are O(1) and allocate nothing.
/// Not thread-safe: one owner (the peer path's dataplane worker) calls it.
/// </remarks>
public sealed class WaypointAllocator
{
    /// <summary>The default port range and cap (SVR defaults).</summary>
    public const ushort DefaultFirstPort = 16384;
    public const ushort DefaultLastPort = 65534;
    public const int DefaultMaxInUse = 50_000;

    /// <summary>The largest pool this type holds: indexes are stored in 16 bits.</summary>
    public const int MaxCapacity = 1 << 16;

    private readonly ushort _firstEven;
    private readonly ushort _firstOdd;
    private readonly int _evenCount;
    private readonly int _oddCount;
    private readonly ushort[] _free;
    private readonly ulong[] _live;
    private int _head;
    private int _freeCount;

    /// <summary>
    /// Throws <see cref="ArgumentOutOfRangeException"/> when the range [<paramref name="firstPort"/>,
    /// <paramref name="lastPort"/>] holds no even or no odd port, or <paramref name="maxInUse"/> is not in 1..65536.
    /// </summary>
    public WaypointAllocator(
        ushort firstPort = DefaultFirstPort, ushort lastPort = DefaultLastPort, int maxInUse = DefaultMaxInUse, ulong seed = 0)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(firstPort, lastPort, nameof(firstPort));
        ArgumentOutOfRangeException.ThrowIfLessThan(maxInUse, 1, nameof(maxInUse));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(maxInUse, MaxCapacity, nameof(maxInUse));

        _firstEven = (ushort)(firstPort + (firstPort & 1));
        _firstOdd = (ushort)(firstPort | 1);
        _evenCount = ((lastPort - _firstEven) / 2) + 1;
        _oddCount = ((lastPort - _firstOdd) / 2) + 1;
        Capacity = (int)Math.Min(maxInUse, (long)_evenCount * _oddCount);
        _free = new ushort[Capacity];
        _live = new ulong[(Capacity + 63) / 64];
        for (var i = 0; i < Capacity; i++)
        {
            _free[i] = (ushort)i;
        }

        Shuffle(_free, seed);
        _freeCount = Capacity;
    }

    /// <summary>The most pairs in use at once.</summary>
    public int Capacity { get; }

    public int InUse => Capacity - _freeCount;

    /// <summary>Takes a free pair: an even port for this router, an odd one for the peer. False when all are in use.</summary>
    public bool TryAllocate(out ushort localPort, out ushort peerPort)
    {
        if (_freeCount == 0)
        {
            localPort = 0;
            peerPort = 0;
            return false;
        }

        int index = _free[_head];
        _head = _head + 1 == Capacity ? 0 : _head + 1;
        _freeCount--;
        _live[index >> 6] |= 1UL << index;
        var even = index % _evenCount;
        localPort = (ushort)(_firstEven + (2 * even));
        peerPort = (ushort)(_firstOdd + (2 * ((even + (index / _evenCount)) % _oddCount)));
        return true;
    }

    /// <summary>
    /// Takes a given pair out of the pool (a session replicated from the HA partner, which allocated it there):
    /// false, changing nothing, when the pair is outside the pool or already in use. O(free pairs): for the
    /// replication path, never per packet.
    /// </summary>
    public bool TryTake(ushort localPort, ushort peerPort)
    {
        if (!TryIndexOf(localPort, peerPort, out var index) || (_live[index >> 6] & (1UL << index)) != 0)
        {
            return false;
        }

        // Swap the pair to the head of the free ring, then take the head as TryAllocate does.
        for (var i = 0; i < _freeCount; i++)
        {
            var position = _head + i >= Capacity ? _head + i - Capacity : _head + i;
            if (_free[position] == index)
            {
                (_free[position], _free[_head]) = (_free[_head], _free[position]);
                _head = _head + 1 == Capacity ? 0 : _head + 1;
                _freeCount--;
                _live[index >> 6] |= 1UL << index;
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// Returns a pair to the pool. False, changing nothing, when the pair is not in use (never allocated, or
    /// already released): the caller's session state is wrong, and it is counted, not thrown.
    /// </summary>
    public bool Release(ushort localPort, ushort peerPort)
    {
        if (!TryIndexOf(localPort, peerPort, out var index) || (_live[index >> 6] & (1UL << index)) == 0)
        {
            return false;
        }

        _live[index >> 6] &= ~(1UL << index);
        var tail = _head + _freeCount;
        _free[tail >= Capacity ? tail - Capacity : tail] = (ushort)index;
        _freeCount++;
        return true;
    }

    /// <summary>True when the pair is currently allocated.</summary>
    public bool IsInUse(ushort localPort, ushort peerPort) =>
        TryIndexOf(localPort, peerPort, out var index) && (_live[index >> 6] & (1UL << index)) != 0;

    private bool TryIndexOf(ushort localPort, ushort peerPort, out int index)
    {
        index = 0;
        if ((localPort & 1) != 0 || (peerPort & 1) == 0 || localPort < _firstEven || peerPort < _firstOdd)
        {
            return false;
        }

        var even = (localPort - _firstEven) / 2;
        var odd = (peerPort - _firstOdd) / 2;
        if (even >= _evenCount || odd >= _oddCount)
        {
            return false;
        }

        // odd = (even + round) mod O, so round = (odd - even) mod O; every round below O is a distinct pair.
        var round = (long)(((odd - even) % _oddCount) + _oddCount) % _oddCount;
        var candidate = even + (round * _evenCount);
        if (candidate >= Capacity)
        {
            return false;
        }

        index = (int)candidate;
        return true;
    }

    /// <summary>Fisher-Yates with SplitMix64 from <paramref name="seed"/>.</summary>
    private static void Shuffle(ushort[] items, ulong seed)
    {
        var state = seed;
        for (var i = items.Length - 1; i > 0; i--)
        {
            state += 0x9E3779B97F4A7C15;
            var z = state;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
            z ^= z >> 31;
            var j = (int)(z % (ulong)(i + 1));
            (items[i], items[j]) = (items[j], items[i]);
        }
    }
}
