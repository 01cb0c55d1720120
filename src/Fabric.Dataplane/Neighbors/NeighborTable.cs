using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Fabric.Dataplane.Wire;

namespace Fabric.Dataplane.Neighbors;

/// <summary>
/// Link-layer addresses of the hosts next to the router, per port and address family. The stages learn an entry from
/// ARP, from neighbour discovery and from frames whose source is on the receiving port's link (never from an address
/// a packet quotes or from an off-link source: see <see cref="Pipeline.GatewayStage"/>). An entry not confirmed for
/// <see cref="ReachableTime"/> is no longer used: the next packet for it waits while the neighbour is asked again,
/// exactly as for a neighbour never seen, and its slot may be taken by another neighbour. Frames for a neighbour not
/// yet known wait for its address (up to <see cref="MaxWaitingPerNeighbor"/>, as Linux queues unresolved packets),
/// so the first packets of flows are not lost to resolution; the neighbour is asked again every
/// <see cref="RetransmitTime"/> while they wait, and they are given up after <see cref="GiveUpTime"/> (counted in
/// <see cref="GivenUp"/>), so a neighbour that never answers does not keep the waiting room.
/// </summary>
/// <remarks>
/// A flat array of struct entries, open addressing with a bounded probe window: a neighbour lives in one of the
/// <see cref="ProbeWindow"/> slots from its home slot (the top bits of <see cref="NeighborKey.Hash"/> under the table's
/// seed, a secret per engine: no one outside can aim many addresses at one window). Slots are never emptied: a stale
/// one is reused in place, so a lookup still stops at the first empty slot. A neighbour whose window holds only fresh entries of others is
/// not kept (counted in <see cref="NotKept"/>); the frames that waited for it still leave. Learning and looking up
/// allocate nothing; holding a frame copies it into the table's waiting room (<see cref="HeldFrames"/>, allocated once), and a
/// neighbour's frames leave through the learner's <see cref="IHeldFrameSender"/>. Not thread-safe unless made shared (one table for a router's
/// workers): then each operation holds a lock.
/// </remarks>
public sealed class NeighborTable
{
    /// <summary>Slots of a table when the engine does not say otherwise (tunable): about 3 MiB per worker.</summary>
    public const int DefaultCapacity = 65_536;

    /// <summary>Frames that may wait for one unresolved neighbour (tunable).</summary>
    public const int MaxWaitingPerNeighbor = 64;

    /// <summary>Frames that may wait for all unresolved neighbours together (tunable).</summary>
    public const int MaxWaiting = 4096;

    /// <summary>Slots after its home where a neighbour may live (tunable).</summary>
    public const int ProbeWindow = 16;

    /// <summary>
    /// How long an entry is used after it was last confirmed (by ARP, neighbour discovery or a frame from the
    /// neighbour) before it must be resolved again (tunable): Linux's <c>gc_stale_time</c> default.
    /// </summary>
    public static readonly TimeSpan ReachableTime = TimeSpan.FromSeconds(60);

    /// <summary>How long after asking for a neighbour the router asks again while frames wait (tunable): Linux's <c>retrans_time</c>.</summary>
    public static readonly TimeSpan RetransmitTime = TimeSpan.FromSeconds(1);

    /// <summary>How long frames wait for a neighbour that does not answer before they are dropped (tunable): Linux's three probes.</summary>
    public static readonly TimeSpan GiveUpTime = TimeSpan.FromSeconds(3);

    /// <summary>
    /// How often per <see cref="ReachableTime"/> a neighbour that keeps sending is confirmed again (tunable): frames from the
    /// neighbour last learned are not written to the table within <c>ReachableTime / 64</c> (under a second) of the last
    /// confirmation, so an entry of a neighbour that stopped sending goes stale that much earlier at most.
    /// </summary>
    public const int RefreshesPerReachableTime = 64;

    /// <summary>The confirmation time of an entry that never ages (<see cref="AddPermanent"/>).</summary>
    private const long Permanent = long.MaxValue;

    private readonly Entry[] _entries;
    private readonly int _shift;
    private readonly int _mask;
    private readonly long _reachableTicks;
    private readonly ulong _seed;
    private readonly long _retransmitTicks;
    private readonly long _giveUpTicks;
    private readonly Dictionary<NeighborKey, FrameQueue> _waiting;
    private readonly HeldFrames _held = new(MaxWaiting);
    private readonly byte[] _leaving = new byte[HeldFrames.MaxFrameBytes];
    private long _nextSweep = long.MinValue;
    private readonly Lock? _gate;

    // The last neighbour learned and the last one found, so that the next frame from or to the same neighbour (every frame
    // on a link to one peer router; most of a batch) neither hashes nor probes. Unshared tables only. _version changes
    // whenever a slot takes another key or MAC, which ends what _found says; what _learned says stays true without it
    // (a fresh entry is never given to another neighbour).
    private readonly long _refreshTicks;
    private long _version;
    private NeighborKey _learnedKey;
    private MacAddress _learnedMac;
    private long _learnedAt = long.MaxValue;
    private NeighborKey _foundKey;
    private MacAddress _foundMac;
    private long _foundVersion = -1;
    private long _foundFreshUntil;

    /// <summary>A table of <paramref name="capacity"/> slots (rounded up to a power of two).</summary>
    /// <param name="ticksPerSecond">The rate of the worker's clock, which every time passed in is read from.</param>
    /// <param name="hashSeed">The secret the slots are hashed with (the engine's seed, random unless a test gives one).</param>
    /// <param name="shared">Whether several workers use the table at once (a router with several workers shares one: an ARP
    /// reply reaches one worker, every worker sends to that neighbour); each operation then holds a lock.</param>
    public NeighborTable(int capacity, long ticksPerSecond, ulong hashSeed, bool shared = false)
    {
        _gate = shared ? new Lock() : null;
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(capacity, 1 << 24);
        ArgumentOutOfRangeException.ThrowIfLessThan(ticksPerSecond, 1);
        var slots = (int)Math.Max(ProbeWindow, System.Numerics.BitOperations.RoundUpToPowerOf2((uint)capacity));
        _entries = new Entry[slots];
        _mask = slots - 1;
        _shift = 64 - System.Numerics.BitOperations.Log2((uint)slots);
        _reachableTicks = (long)(ReachableTime.TotalSeconds * ticksPerSecond);
        _retransmitTicks = (long)(RetransmitTime.TotalSeconds * ticksPerSecond);
        _giveUpTicks = (long)(GiveUpTime.TotalSeconds * ticksPerSecond);
        _refreshTicks = _reachableTicks / RefreshesPerReachableTime;
        _seed = hashSeed;
        _waiting = new Dictionary<NeighborKey, FrameQueue>(MaxWaiting, new SeededComparer(hashSeed));
    }

    /// <summary>Slots in the table.</summary>
    public int Capacity => _entries.Length;

    /// <summary>Slots that hold a neighbour, fresh or stale.</summary>
    public int Count { get; private set; }

    /// <summary>Neighbours learned but not kept because their probe window held only fresh entries.</summary>
    public long NotKept { get; private set; }

    /// <summary>Frames dropped after waiting <see cref="GiveUpTime"/> for a neighbour that did not answer.</summary>
    public long GivenUp { get; private set; }

    /// <summary>
    /// The MAC of the neighbour at <paramref name="address"/> on <paramref name="port"/> when it was confirmed less than
    /// <see cref="ReachableTime"/> before <paramref name="now"/>; false for a neighbour unknown or stale.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryGet(int port, UInt128 address, bool isIpv6, long now, out MacAddress mac)
    {
        // The neighbour found last (most frames of a batch go to it) is answered here, inline; unshared tables only.
        if (_gate is null && _foundVersion == _version && now < _foundFreshUntil && _foundKey == new NeighborKey(port, address, isIpv6))
        {
            mac = _foundMac;
            return true;
        }

        return TryGetFromTable(port, address, isIpv6, now, out mac);
    }

    private bool TryGetFromTable(int port, UInt128 address, bool isIpv6, long now, out MacAddress mac)
    {
        if (_gate is null)
        {
            return TryGetUnlocked(port, address, isIpv6, now, out mac);
        }

        lock (_gate)
        {
            return TryGetUnlocked(port, address, isIpv6, now, out mac);
        }
    }

    private bool TryGetUnlocked(int port, UInt128 address, bool isIpv6, long now, out MacAddress mac)
    {
        var key = new NeighborKey(port, address, isIpv6);
        var home = Home(key);
        for (var i = 0; i < ProbeWindow; i++)
        {
            ref readonly var entry = ref _entries[(home + i) & _mask];
            if (entry.Mac == MacAddress.Zero)
            {
                break;
            }

            if (entry.Key == key)
            {
                if (IsFresh(entry.Confirmed, now))
                {
                    mac = entry.Mac;
                    if (_gate is null)
                    {
                        _foundKey = key;
                        _foundMac = mac;
                        _foundVersion = _version;
                        _foundFreshUntil = entry.Confirmed == Permanent ? long.MaxValue : entry.Confirmed + _reachableTicks;
                    }

                    return true;
                }

                break;
            }
        }

        mac = default;
        return false;
    }

    /// <summary>
    /// Records that <paramref name="address"/> is at <paramref name="mac"/> as of <paramref name="now"/> (a permanent
    /// entry stays as it is). The frames that were waiting for it leave through <paramref name="sender"/>, oldest first, each
    /// handed over in a buffer of the table's that is valid only during the call (a shared table holds its lock meanwhile);
    /// returns how many left.
    /// </summary>
    public int Learn<TSender>(int port, UInt128 address, bool isIpv6, MacAddress mac, long now, ref TSender sender)
        where TSender : struct, IHeldFrameSender
    {
        if (_gate is null)
        {
            return LearnUnlocked(port, address, isIpv6, mac, now, ref sender);
        }

        lock (_gate)
        {
            return LearnUnlocked(port, address, isIpv6, mac, now, ref sender);
        }
    }

    /// <summary><see cref="Learn{TSender}"/> for a router that sends nothing (an HA standby): the frames that waited are dropped.</summary>
    public int Learn(int port, UInt128 address, bool isIpv6, MacAddress mac, long now)
    {
        var discard = default(DiscardHeldFrames);
        return Learn(port, address, isIpv6, mac, now, ref discard);
    }

    /// <summary>
    /// Whether <see cref="Learn"/> of these would change nothing and return nothing now: the same neighbour was learned at this
    /// MAC under a refresh interval ago and no frame waits for any neighbour. Unshared tables only (false for a shared one). Reads only.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool IsLearnedRecently(int port, UInt128 address, bool isIpv6, MacAddress mac, long now) =>
        _gate is null && IsLearnedRecently(new NeighborKey(port, address, isIpv6), mac, now);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool IsLearnedRecently(in NeighborKey key, MacAddress mac, long now) =>
        _held.Count == 0 && now >= _learnedAt && now - _learnedAt < _refreshTicks && mac == _learnedMac && key == _learnedKey;

    private int LearnUnlocked<TSender>(int port, UInt128 address, bool isIpv6, MacAddress mac, long now, ref TSender sender)
        where TSender : struct, IHeldFrameSender
    {
        if (mac.IsMulticast || mac == MacAddress.Zero)
        {
            return 0;
        }

        var key = new NeighborKey(port, address, isIpv6);
        if (IsLearnedRecently(key, mac, now))
        {
            // Confirmed under a refresh interval ago with this MAC: the entry is fresh and says so already.
            return 0;
        }

        if (Store(key, mac, now) && _gate is null)
        {
            _learnedKey = key;
            _learnedMac = mac;
            _learnedAt = now;
        }

        if (_held.Count == 0 || !_waiting.Remove(key, out var waiting))
        {
            return 0;
        }

        var left = 0;
        for (var length = _held.TakeOldest(ref waiting, _leaving); length >= 0; length = _held.TakeOldest(ref waiting, _leaving))
        {
            sender.Send(_leaving.AsSpan(0, length));
            left++;
        }

        return left;
    }

    /// <summary>
    /// Records a neighbour that never ages and that nothing learned replaces (Linux's <c>nud permanent</c>): for
    /// benchmarks and fixtures that place hosts by hand.
    /// </summary>
    public void AddPermanent(int port, UInt128 address, bool isIpv6, MacAddress mac)
    {
        if (_gate is null)
        {
            AddPermanentUnlocked(port, address, isIpv6, mac);
            return;
        }

        lock (_gate)
        {
            AddPermanentUnlocked(port, address, isIpv6, mac);
        }
    }

    private void AddPermanentUnlocked(int port, UInt128 address, bool isIpv6, MacAddress mac)
    {
        ArgumentOutOfRangeException.ThrowIfEqual(mac, MacAddress.Zero);
        Store(new NeighborKey(port, address, isIpv6), mac, Permanent);
    }

    /// <summary>
    /// Keeps a copy of the frame until the neighbour answers; false when no more may wait (the caller drops it).
    /// <paramref name="ask"/> says whether the caller asks for the address now (ARP or NS): for the first frame, and
    /// again once <see cref="RetransmitTime"/> has passed since the last time while frames wait. Frames that waited
    /// <see cref="GiveUpTime"/> are dropped first, and the neighbour is asked afresh.
    /// </summary>
    public bool Hold(int port, UInt128 address, bool isIpv6, ReadOnlySpan<byte> frame, long now, out bool ask)
    {
        if (_gate is null)
        {
            return HoldUnlocked(port, address, isIpv6, frame, now, out ask);
        }

        lock (_gate)
        {
            return HoldUnlocked(port, address, isIpv6, frame, now, out ask);
        }
    }

    private bool HoldUnlocked(int port, UInt128 address, bool isIpv6, ReadOnlySpan<byte> frame, long now, out bool ask)
    {
        var key = new NeighborKey(port, address, isIpv6);
        ref var waiting = ref CollectionsMarshal.GetValueRefOrNullRef(_waiting, key);
        if (!Unsafe.IsNullRef(ref waiting))
        {
            if (now - waiting.FirstAsked >= _giveUpTicks)
            {
                GiveUp(ref waiting);
                waiting.FirstAsked = now;
            }

            ask = waiting.Count == 0 || now - waiting.LastAsked >= _retransmitTicks;
            if (ask)
            {
                waiting.LastAsked = now;
            }
        }
        else
        {
            SweepWhenFull(now);
            if (_held.Count >= MaxWaiting || _waiting.Count >= MaxWaiting)
            {
                ask = false;
                return false;
            }

            _waiting[key] = FrameQueue.Empty(now);
            waiting = ref CollectionsMarshal.GetValueRefOrNullRef(_waiting, key);
            ask = true;
        }

        if (waiting.Count < MaxWaitingPerNeighbor && _held.TryAdd(ref waiting, frame))
        {
            return true;
        }

        if (waiting.Count == 0)
        {
            // Nothing of this neighbour's waits: it keeps no place in the room (it is asked for again with its next frame).
            _waiting.Remove(key);
        }

        return false;
    }

    /// <summary>When the waiting room is full, gives up (at most once per <see cref="RetransmitTime"/>) the frames of every neighbour that did not answer in time.</summary>
    private void SweepWhenFull(long now)
    {
        if ((_held.Count < MaxWaiting && _waiting.Count < MaxWaiting) || now < _nextSweep)
        {
            return;
        }

        _nextSweep = now + _retransmitTicks;
        foreach (var key in _waiting.Keys)
        {
            ref var waiting = ref CollectionsMarshal.GetValueRefOrNullRef(_waiting, key);
            if (now - waiting.FirstAsked >= _giveUpTicks)
            {
                GiveUp(ref waiting);
                _waiting.Remove(key);
            }
        }
    }

    private void GiveUp(ref FrameQueue waiting) => GivenUp += _held.Clear(ref waiting);

    private bool IsFresh(long confirmed, long now) => confirmed == Permanent || now - confirmed < _reachableTicks;

    private int Home(in NeighborKey key) => (int)(key.Hash(_seed) >> _shift);

    /// <summary>
    /// Writes the entry in its slot, or in the first empty or stale slot of its window when it has none. Returns whether
    /// the table now holds the neighbour as a learn of <paramref name="mac"/> at <paramref name="confirmed"/> leaves it
    /// (a permanent entry stays as it is); false: the neighbour was not kept.
    /// </summary>
    private bool Store(in NeighborKey key, MacAddress mac, long confirmed)
    {
        var home = Home(key);
        var free = -1;
        for (var i = 0; i < ProbeWindow; i++)
        {
            var slot = (home + i) & _mask;
            ref var entry = ref _entries[slot];
            if (entry.Mac == MacAddress.Zero)
            {
                free = free < 0 ? slot : free;
                break;
            }

            if (entry.Key == key)
            {
                if (entry.Confirmed != Permanent || confirmed == Permanent)
                {
                    if (entry.Mac != mac)
                    {
                        _version++;
                    }

                    entry.Mac = mac;
                    entry.Confirmed = confirmed;
                }

                return true;
            }

            if (free < 0 && !IsFresh(entry.Confirmed, confirmed))
            {
                free = slot;
            }
        }

        if (free < 0)
        {
            NotKept++;
            return false;
        }

        ref var taken = ref _entries[free];
        if (taken.Mac == MacAddress.Zero)
        {
            Count++;
        }

        taken = new Entry { Key = key, Mac = mac, Confirmed = confirmed };
        _version++;
        return true;
    }

    /// <summary>One slot: a neighbour, its MAC (zero: the slot was never used) and when it was last confirmed.</summary>
    private struct Entry
    {
        public NeighborKey Key;
        public MacAddress Mac;
        public long Confirmed;
    }

    /// <summary>The waiting frames' keys hashed under the table's seed, as its slots are.</summary>
    private sealed class SeededComparer(ulong seed) : IEqualityComparer<NeighborKey>
    {
        public bool Equals(NeighborKey x, NeighborKey y) => x == y;

        public int GetHashCode(NeighborKey key) => (int)(key.Hash(seed) >> 32);
    }
}

/// <summary>
/// A neighbour: the port it is on, its address and the address family, in the form of
/// <see cref="Sessions.SessionKey"/> (an IPv4 address in the low 32 bits). The family is part of the key: the IPv6
/// neighbour <c>::10.20.1.10</c> is not the IPv4 neighbour <c>10.20.1.10</c>, whose address has the same value.
/// </summary>
public readonly record struct NeighborKey(int Port, UInt128 Address, bool IsIpv6)
{
    private const ulong Secret0 = 0xA0761D6478BD642F;
    private const ulong Secret1 = 0xE7037ED1A0B428DB;
    private const ulong Secret2 = 0x8EBC6AF09C88C6E3;

    /// <summary>
    /// A 64-bit hash of every field mixed with <paramref name="seed"/>: one multiply-fold of the address's low half (where an
    /// IPv4 address and an IPv6 interface identifier vary) with the high half, port and family (the prefix of a link).
    /// </summary>
    public ulong Hash(ulong seed)
    {
        var place = ((ulong)(uint)Port << 1) | (IsIpv6 ? 1UL : 0);
        return Fold((ulong)Address ^ seed ^ Secret0, (ulong)(Address >> 64) ^ (place * Secret2) ^ seed ^ Secret1);
    }

    public bool Equals(NeighborKey other) => Port == other.Port && Address == other.Address && IsIpv6 == other.IsIpv6;

    /// <summary>The unseeded hash (tables hash with their own seed through <see cref="Hash"/>).</summary>
    public override int GetHashCode() => (int)(Hash(0) >> 32);

    private static ulong Fold(ulong a, ulong b)
    {
        var high = Math.BigMul(a, b, out var low);
        return high ^ low;
    }
}
