using Fabric.Dataplane.Pipeline.Workers;

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
/// With several workers per router the pool is split into one lane per worker (see the constructor's <c>workers</c>):
/// each lane is used by its worker's thread alone; the bitmap of live pairs is changed with interlocked operations.
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
    private readonly int _workers;
    private readonly Lane[] _lanes;
    private readonly ulong[] _live;

    /// <summary>
    /// Throws <see cref="ArgumentOutOfRangeException"/> when the range [<paramref name="firstPort"/>,
    /// <paramref name="lastPort"/>] holds no even or no odd port, or <paramref name="maxInUse"/> is not in 1..65536.
    /// </summary>
    /// <param name="workers">
    /// The router's workers: the pool is split into one lane per worker, a pair going to the worker
    /// <see cref="WorkerOwnership.OwnerOfWaypoint"/> names for its even port, so a pair's ports tell which worker owns its session.
    /// </param>
    public WaypointAllocator(
        ushort firstPort = DefaultFirstPort, ushort lastPort = DefaultLastPort, int maxInUse = DefaultMaxInUse, ulong seed = 0, int workers = 1)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(firstPort, lastPort, nameof(firstPort));
        ArgumentOutOfRangeException.ThrowIfLessThan(maxInUse, 1, nameof(maxInUse));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(maxInUse, MaxCapacity, nameof(maxInUse));
        ArgumentOutOfRangeException.ThrowIfLessThan(workers, 1);

        _firstEven = (ushort)(firstPort + (firstPort & 1));
        _firstOdd = (ushort)(firstPort | 1);
        _evenCount = ((lastPort - _firstEven) / 2) + 1;
        _oddCount = ((lastPort - _firstOdd) / 2) + 1;
        _workers = workers;
        Capacity = (int)Math.Min(maxInUse, (long)_evenCount * _oddCount);
        _live = new ulong[(Capacity + 63) / 64];
        var all = new ushort[Capacity];
        for (var i = 0; i < Capacity; i++)
        {
            all[i] = (ushort)i;
        }

        Shuffle(all, seed);

        // Each lane keeps the shuffled order of its own pairs (one lane: the whole pool, as before lanes).
        var sizes = new int[workers];
        foreach (var index in all)
        {
            sizes[OwnerOfIndex(index)]++;
        }

        _lanes = new Lane[workers];
        for (var w = 0; w < workers; w++)
        {
            _lanes[w] = new Lane(new ushort[sizes[w]]);
        }

        foreach (var index in all)
        {
            var lane = _lanes[OwnerOfIndex(index)];
            lane.Free[lane.FreeCount++] = index;
        }
    }

    /// <summary>The most pairs in use at once.</summary>
    public int Capacity { get; }

    /// <summary>Pairs in use over every lane (a moment's view when several workers allocate).</summary>
    public int InUse
    {
        get
        {
            var free = 0;
            foreach (var lane in _lanes)
            {
                free += Volatile.Read(ref lane.FreeCount);
            }

            return Capacity - free;
        }
    }

    /// <summary>
    /// Takes a free pair of worker <paramref name="owner"/>'s lane: an even port for this router, an odd one for the peer.
    /// False when all of that lane are in use. Each lane is used by its own worker's thread only.
    /// </summary>
    public bool TryAllocate(out ushort localPort, out ushort peerPort, int owner = 0)
    {
        var lane = _lanes[owner];
        if (lane.FreeCount == 0)
        {
            localPort = 0;
            peerPort = 0;
            return false;
        }

        int index = lane.Free[lane.Head];
        lane.Head = lane.Head + 1 == lane.Free.Length ? 0 : lane.Head + 1;
        Volatile.Write(ref lane.FreeCount, lane.FreeCount - 1);
        Interlocked.Or(ref _live[index >> 6], 1UL << index);
        (localPort, peerPort) = PairOf(index);
        return true;
    }

    /// <summary>
    /// Takes a given pair out of the pool (a session replicated from the HA partner, which allocated it there):
    /// false, changing nothing, when the pair is outside the pool or already in use. O(free pairs): for the
    /// replication path, never per packet. Runs on the thread of the worker that owns the pair's lane.
    /// </summary>
    public bool TryTake(ushort localPort, ushort peerPort)
    {
        if (!TryIndexOf(localPort, peerPort, out var index) || IsLive(index))
        {
            return false;
        }

        // Swap the pair to the head of its lane's free ring, then take the head as TryAllocate does.
        var lane = _lanes[OwnerOfIndex(index)];
        for (var i = 0; i < lane.FreeCount; i++)
        {
            var position = (lane.Head + i) % lane.Free.Length;
            if (lane.Free[position] == index)
            {
                (lane.Free[position], lane.Free[lane.Head]) = (lane.Free[lane.Head], lane.Free[position]);
                lane.Head = lane.Head + 1 == lane.Free.Length ? 0 : lane.Head + 1;
                Volatile.Write(ref lane.FreeCount, lane.FreeCount - 1);
                Interlocked.Or(ref _live[index >> 6], 1UL << index);
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// Returns a pair to its lane. False, changing nothing, when the pair is not in use (never allocated, or
    /// already released): the caller's session state is wrong, and it is counted, not thrown. Runs on the thread of
    /// the worker that owns the pair (the owner of its session).
    /// </summary>
    public bool Release(ushort localPort, ushort peerPort)
    {
        if (!TryIndexOf(localPort, peerPort, out var index) || !IsLive(index))
        {
            return false;
        }

        Interlocked.And(ref _live[index >> 6], ~(1UL << index));
        var lane = _lanes[OwnerOfIndex(index)];
        lane.Free[(lane.Head + lane.FreeCount) % lane.Free.Length] = (ushort)index;
        Volatile.Write(ref lane.FreeCount, lane.FreeCount + 1);
        return true;
    }

    /// <summary>True when the pair is currently allocated.</summary>
    public bool IsInUse(ushort localPort, ushort peerPort) => TryIndexOf(localPort, peerPort, out var index) && IsLive(index);

    private bool IsLive(int index) => (Volatile.Read(ref _live[index >> 6]) & (1UL << index)) != 0;

    private (ushort Local, ushort Peer) PairOf(int index)
    {
        var even = index % _evenCount;
        return ((ushort)(_firstEven + (2 * even)), (ushort)(_firstOdd + (2 * ((even + (index / _evenCount)) % _oddCount))));
    }

    private int OwnerOfIndex(int index) => WorkerOwnership.OwnerOfWaypoint(PairOf(index).Local, _workers);

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

    /// <summary>One worker's free pairs: a ring, oldest free first. Written by that worker only.</summary>
    private sealed class Lane(ushort[] free)
    {
        public readonly ushort[] Free = free;
        public int Head;
        public int FreeCount;
    }
}
