using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;
using System.Security.Cryptography;

namespace Fabric.Dataplane.Sessions;

/// <summary>
/// The bounded flow table of one pipeline worker: sessions are structs in arrays allocated by the constructor,
/// addressed by an <c>int</c> handle (the slot), and found by either of their two keys. Nothing allocates after
/// construction. Not thread-safe: one owner (the worker) calls every member.
/// </summary>
/// <remarks>
/// <para><b>Index.</b> Linear probing over one <c>ulong</c> array, two slots per session (forward and reverse
/// key). A slot holds a 32-bit tag (the upper half of the key's hash) and the handle with its direction. The tag
/// picks the home slot (multiply-shift, so the index needs no power-of-two size) and filters probes before a
/// key is compared. Removal shifts later slots of the cluster back (no tombstones), so probe lengths depend
/// only on the live load, which stays at or under <see cref="MaxIndexLoad"/>.</para>
/// <para><b>Idle expiry.</b> A hashed timer wheel of <see cref="WheelSize"/> buckets, each
/// <c>wheelTickWidth</c> clock ticks wide, threads sessions through intrusive doubly-linked lists. A session is
/// filed under the deadline it had when filed; <see cref="Touch"/> only records the time, and a session that
/// turns out to have been touched is re-filed under its new deadline when its bucket comes due.
/// <see cref="ExpireIdle"/> removes a session once <c>now − lastSeen &gt; idleTimeout</c>, no later than the
/// first call whose <c>now</c> lies in a later wheel tick than the deadline.</para>
/// <para><b>Time.</b> Ticks of the caller's clock, non-negative and non-decreasing; the table never reads a
/// clock. Idle timeouts are kept in whole wheel ticks (rounded up, at most <see cref="uint.MaxValue"/> of
/// them), so a session never expires early and, with a wheel tick of one clock tick, expires exactly.</para>
/// <para><b>Handles.</b> Members taking a handle expect a live one unless they say otherwise; on a handle
/// that is not live they read or write the slot's leftover contents. <see cref="Generation"/> tells a reused
/// slot apart.</para>
/// </remarks>
public sealed class SessionTable<TPayload> where TPayload : unmanaged
{
    /// <summary>Buckets of the timer wheel (tunable): with the default tick width it spans 2048 s.</summary>
    public const int WheelSize = 1 << 14;

    /// <summary>The highest index load (tunable): at 0.75 a hit probes about 2.5 slots, a miss about 8.5.</summary>
    public const double MaxIndexLoad = 0.75;

    /// <summary>The most sessions one table holds.</summary>
    public const int MaxCapacity = 1 << 26;

    /// <summary>
    /// Re-filings one <see cref="ExpireIdle"/> call performs at most (tunable): with the span's length and the
    /// wheel size, this bounds the work of one call.
    /// </summary>
    public const int MaxRefilesPerCall = 4096;

    /// <summary>How many keys ahead <see cref="TryFindBatch"/> prefetches each stage (tunable).</summary>
    public const int BatchDistance = 8;

    /// <summary>The default wheel tick: an eighth of a second of <see cref="Stopwatch"/> ticks.</summary>
    public static readonly long DefaultWheelTickWidth = Math.Max(1, Stopwatch.Frequency / 8);

    private const long WheelMask = WheelSize - 1;
    private const int InProgress = WheelSize;
    private const int NoSlot = -1;

    private readonly Entry[] _entries;
    private readonly uint[] _generations;
    private readonly int[] _wheel;
    private readonly ulong[] _index;
    private readonly ulong _seed;
    private readonly long _wheelTickWidth;
    private int _count;
    private long _keysAdded;
    // Free slots: the free list of slots given back (_free, threaded through Entry.Next), then the slots never used,
    // from _neverUsed up. Taking the never-used ones last and in order means a table touches (and the kernel backs with
    // memory) only as many entries as were ever live at once, not its capacity.
    private int _free = NoSlot;
    private int _neverUsed;
    private long _cursor;

    /// <summary>A table for <paramref name="capacity"/> sessions with Stopwatch ticks and a random hash seed.</summary>
    public SessionTable(int capacity)
        : this(capacity, DefaultWheelTickWidth, RandomSeed())
    {
    }

    /// <summary>
    /// A table for <paramref name="capacity"/> sessions whose timer wheel advances in steps of
    /// <paramref name="wheelTickWidth"/> clock ticks, hashing keys with <paramref name="hashSeed"/>.
    /// </summary>
    public SessionTable(int capacity, long wheelTickWidth, ulong hashSeed)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(capacity, MaxCapacity);
        ArgumentOutOfRangeException.ThrowIfLessThan(wheelTickWidth, 1);

        Capacity = capacity;
        _wheelTickWidth = wheelTickWidth;
        _seed = hashSeed;
        _entries = new Entry[capacity];
        _generations = new uint[capacity];
        _wheel = new int[WheelSize + 1];
        _index = new ulong[(int)Math.Ceiling(2.0 * capacity / MaxIndexLoad) + 1];
        _wheel.AsSpan().Fill(NoSlot);
    }

    public int Capacity { get; }

    /// <summary>Live sessions.</summary>
    public int Count => _count;

    /// <summary>
    /// Keys that came into the index since construction (two per insert, one per rekey): a lookup that missed
    /// stays a miss while this count stands.
    /// </summary>
    public long KeysAdded => _keysAdded;

    /// <summary>Bytes held by the table's arrays (entries, generations, wheel, index).</summary>
    public long AllocatedBytes =>
        ((long)Unsafe.SizeOf<Entry>() * _entries.Length) + (4L * _generations.Length) + (4L * _wheel.Length) + (8L * _index.Length);

    /// <summary>Finds the live session one of whose keys is <paramref name="key"/>, and which of the two it is.</summary>
    public bool TryFind(in SessionKey key, out int handle, out SessionDirection direction)
    {
        var tag = Tag(key);
        return Probe(key, tag, Home(tag), out handle, out direction);
    }

    /// <summary>
    /// Looks up a batch of keys (a receive batch), giving each the result <see cref="TryFind"/> gives: the handle
    /// in <paramref name="handles"/> (−1 for a miss) and the direction in <paramref name="directions"/>. Returns
    /// the number of hits. The lookups are pipelined so that their cache misses overlap: the index slot of key
    /// <c>i + 2·<see cref="BatchDistance"/></c> and the entry of key <c>i + <see cref="BatchDistance"/></c> are
    /// prefetched while key <c>i</c> is compared.
    /// </summary>
    public int TryFindBatch(ReadOnlySpan<SessionKey> keys, Span<int> handles, Span<SessionDirection> directions)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(handles.Length, keys.Length);
        ArgumentOutOfRangeException.ThrowIfLessThan(directions.Length, keys.Length);
        const int ring = 4 * BatchDistance;
        Span<uint> tags = stackalloc uint[ring];
        Span<int> homes = stackalloc int[ring];
        var index = _index;
        var hits = 0;
        for (var i = 0; i < keys.Length + (2 * BatchDistance); i++)
        {
            if (i < keys.Length)
            {
                var tag = Tag(keys[i]);
                tags[i % ring] = tag;
                homes[i % ring] = Home(tag);
                Prefetch(ref index[homes[i % ring]]);
            }

            var next = i - BatchDistance;
            if ((uint)next < (uint)keys.Length)
            {
                var slot = index[homes[next % ring]];
                if ((uint)(slot >> 32) == tags[next % ring] && (uint)slot != 0)
                {
                    Prefetch(ref Unsafe.As<Entry, byte>(ref _entries[(int)(((uint)slot - 1) >> 1)]), ((uint)slot - 1) & 1);
                }
            }

            var current = i - (2 * BatchDistance);
            if ((uint)current < (uint)keys.Length
                && Probe(keys[current], tags[current % ring], homes[current % ring], out handles[current], out directions[current]))
            {
                hits++;
            }
        }

        return hits;
    }

    /// <summary>
    /// Adds a session under both keys, last seen at <paramref name="now"/>, expiring after
    /// <paramref name="idleTimeout"/> ticks without a touch. Refuses with <see cref="SessionInsertResult.KeyInUse"/>
    /// when either key belongs to a live session or the two keys are equal, and with
    /// <see cref="SessionInsertResult.TableFull"/> when <see cref="Count"/> equals <see cref="Capacity"/>; a
    /// refusal changes nothing and sets <paramref name="handle"/> to −1.
    /// </summary>
    public SessionInsertResult TryInsert(
        in SessionKey forward, in SessionKey reverse, in TPayload payload, long now, long idleTimeout, out int handle)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(idleTimeout);
        handle = NoSlot;
        // The reverse key's index slot and the free entry are cold (a new session's reverse key was never looked up):
        // ask for them before the forward probe, so that their misses overlap it and each other.
        var forwardTag = Tag(forward);
        var reverseTag = Tag(reverse);
        var reverseHome = Home(reverseTag);
        Prefetch(ref _index[reverseHome]);
        var free = _free != NoSlot ? _free : _neverUsed;
        if (free < Capacity)
        {
            PrefetchWhole(ref Unsafe.As<Entry, byte>(ref _entries[free]));
            Prefetch(ref _generations[free]);
        }

        if (SameKey(forward, reverse)
            || Probe(forward, forwardTag, Home(forwardTag), out _, out _)
            || Probe(reverse, reverseTag, reverseHome, out _, out _))
        {
            return SessionInsertResult.KeyInUse;
        }

        if (_count == Capacity)
        {
            return SessionInsertResult.TableFull;
        }

        handle = free;
        ref var entry = ref _entries[handle];
        if (handle == _free)
        {
            _free = entry.Next;
        }
        else
        {
            _neverUsed++;
        }

        entry.Forward = forward;
        entry.Reverse = reverse;
        entry.LastSeen = now;
        entry.Opened = now;
        entry.IdleTicks = ToWheelTicks(idleTimeout);
        entry.Tcp = default;
        entry.Payload = payload;
        _generations[handle]++;
        _count++;

        Place(forwardTag, (uint)(handle << 1) + 1);
        Place(reverseTag, (uint)(handle << 1) + 2);
        _keysAdded += 2;
        File(handle, Deadline(ref entry));
        return SessionInsertResult.Inserted;
    }

    /// <summary>
    /// Replaces one key of a live session, keeping everything else (a session that moves to another path). Refuses
    /// (false, nothing changed) when the handle is not live, the new key belongs to a live session, or it equals the
    /// session's other key. O(1).
    /// </summary>
    public bool TryRekey(int handle, SessionDirection which, in SessionKey key)
    {
        if (!IsLive(handle) || TryFind(key, out _, out _))
        {
            return false;
        }

        ref var entry = ref _entries[handle];
        var forward = which == SessionDirection.Forward;
        if (SameKey(key, forward ? entry.Reverse : entry.Forward))
        {
            return false;
        }

        var value = (uint)(handle << 1) + (forward ? 1u : 2u);
        Displace(Tag(forward ? entry.Forward : entry.Reverse), value);
        if (forward)
        {
            entry.Forward = key;
        }
        else
        {
            entry.Reverse = key;
        }

        Place(Tag(key), value);
        _keysAdded++;
        return true;
    }

    /// <summary>
    /// Whether <paramref name="handle"/> (any int) is a live session whose <paramref name="direction"/> key is
    /// <paramref name="key"/>: then it is the session <see cref="TryFind"/> finds for that key.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool Holds(int handle, SessionDirection direction, in SessionKey key) =>
        IsLive(handle) && SameKey(direction == SessionDirection.Forward ? ref _entries[handle].Forward : ref _entries[handle].Reverse, key);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ref TPayload Payload(int handle) => ref _entries[handle].Payload;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ref readonly SessionKey ForwardKey(int handle) => ref _entries[handle].Forward;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ref readonly SessionKey ReverseKey(int handle) => ref _entries[handle].Reverse;

    /// <summary>The session's TCP state; reset to <see cref="TcpState.None"/> when the session is inserted.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ref TcpTracker Tcp(int handle) => ref _entries[handle].Tcp;

    /// <summary>Records activity at <paramref name="now"/>; a time earlier than the last one recorded is ignored. O(1).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Touch(int handle, long now)
    {
        ref var lastSeen = ref _entries[handle].LastSeen;
        if (now > lastSeen)
        {
            lastSeen = now;
        }
    }

    /// <summary>
    /// Replaces the idle timeout, measured from the last touch. A shorter timeout takes effect at once (the
    /// session is re-filed); a longer one when the session's current bucket comes due. Ignores a handle that is
    /// not live.
    /// </summary>
    public void SetIdleTimeout(int handle, long idleTimeout)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(idleTimeout);
        if (!IsLive(handle))
        {
            return;
        }

        ref var entry = ref _entries[handle];
        var before = Deadline(ref entry);
        entry.IdleTicks = ToWheelTicks(idleTimeout);
        var after = Deadline(ref entry);
        if (after < before)
        {
            Unlink(handle);
            File(handle, after);
        }
    }

    public long LastSeen(int handle) => _entries[handle].LastSeen;

    /// <summary>When the session was inserted (the time <see cref="TryInsert"/> was given).</summary>
    public long Opened(int handle) => _entries[handle].Opened;

    /// <summary>Changes on every insert into and removal from the slot; odd while the slot holds a live session.</summary>
    public uint Generation(int handle) => _generations[handle];

    /// <summary>Whether the handle names a slot (any int is accepted) that holds a live session.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool IsLive(int handle) => (uint)handle < (uint)_generations.Length && (_generations[handle] & 1) != 0;

    /// <summary>Removes the session at once; its slot becomes free. Ignores a handle that is not live.</summary>
    public void Remove(int handle)
    {
        if (IsLive(handle))
        {
            RemoveLive(handle);
        }
    }

    /// <summary>
    /// Removes sessions idle longer than their timeout (see the remarks on the wheel) and writes them to
    /// <paramref name="expired"/>, returning how many. Stops when the span is full, after
    /// <see cref="MaxRefilesPerCall"/> re-filings, or once every due bucket is done; the next call continues
    /// where this one stopped, and a removed session is never written twice. Each call visits at most
    /// <see cref="WheelSize"/> buckets, never the whole table.
    /// </summary>
    public int ExpireIdle(long now, Span<ExpiredSession<TPayload>> expired)
    {
        var count = 0;
        var refiles = 0;
        var end = now / _wheelTickWidth;
        if (end - _cursor > WheelSize)
        {
            _cursor = end - WheelSize;
        }

        while (count < expired.Length && refiles < MaxRefilesPerCall)
        {
            var handle = _wheel[InProgress];
            if (handle == NoSlot)
            {
                if (_cursor >= end)
                {
                    break;
                }

                var bucket = (int)(_cursor & WheelMask);
                _cursor++;
                var first = _wheel[bucket];
                if (first != NoSlot)
                {
                    _wheel[bucket] = NoSlot;
                    _wheel[InProgress] = first;
                    _entries[first].Previous = ListMark(InProgress);
                }

                continue;
            }

            ref var entry = ref _entries[handle];
            var deadline = Deadline(ref entry);
            if (now > deadline)
            {
                expired[count++] = new ExpiredSession<TPayload>(
                    handle, entry.Forward, entry.Reverse, entry.Payload, entry.LastSeen);
                RemoveLive(handle);
            }
            else
            {
                Unlink(handle);
                File(handle, deadline, expiring: true);
                refiles++;
            }
        }

        return count;
    }

    /// <summary>
    /// The earliest time (clock ticks) at which <see cref="ExpireIdle"/> may find work: the end of the first wheel
    /// tick, from where expiry stands, whose bucket holds a session; 0 when work is pending now; <see cref="long.MaxValue"/>
    /// when the table is empty. A session touched since it was filed makes this early, never late: the caller
    /// (a worker choosing how long to sleep) wakes, finds nothing, and asks again. Reads at most
    /// <see cref="WheelSize"/> buckets.
    /// </summary>
    public long NextExpiryDue()
    {
        if (_count == 0)
        {
            return long.MaxValue;
        }

        if (_wheel[InProgress] != NoSlot)
        {
            return 0;
        }

        for (var tick = _cursor; tick < _cursor + WheelSize; tick++)
        {
            if (_wheel[(int)(tick & WheelMask)] != NoSlot)
            {
                return (tick + 1) * _wheelTickWidth;
            }
        }

        return long.MaxValue;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool Probe(in SessionKey key, uint tag, int position, out int handle, out SessionDirection direction)
    {
        var index = _index;
        while (true)
        {
            var slot = index[position];
            var value = (uint)slot;
            if (value == 0)
            {
                handle = NoSlot;
                direction = SessionDirection.Forward;
                return false;
            }

            if ((uint)(slot >> 32) == tag)
            {
                var candidate = (int)((value - 1) >> 1);
                var reverse = ((value - 1) & 1) != 0;
                ref var entry = ref _entries[candidate];
                if (SameKey(reverse ? ref entry.Reverse : ref entry.Forward, key))
                {
                    handle = candidate;
                    direction = reverse ? SessionDirection.Reverse : SessionDirection.Forward;
                    return true;
                }
            }

            if (++position == index.Length)
            {
                position = 0;
            }
        }
    }

    /// <summary>
    /// Asks the CPU to load the cache line of <paramref name="location"/>. A hint that never faults, so an address
    /// made stale by the GC moving the array (it is not pinned) costs nothing but the hint.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Prefetch<T>(ref T location)
    {
        if (Sse.IsSupported)
        {
            Sse.Prefetch0(Unsafe.AsPointer(ref location));
        }
    }

    /// <summary>Prefetches the line holding the forward (0) or reverse (1) key of the entry at <paramref name="entry"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Prefetch(ref byte entry, uint reverse)
    {
        if (Sse.IsSupported)
        {
            var key = (byte*)Unsafe.AsPointer(ref entry) + (reverse * (uint)Unsafe.SizeOf<SessionKey>());
            Sse.Prefetch0(key);
            Sse.Prefetch0(key + Unsafe.SizeOf<SessionKey>() - 1);
        }
    }

    /// <summary>Prefetches every cache line of the entry at <paramref name="entry"/> (one that is about to be written whole).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void PrefetchWhole(ref byte entry)
    {
        if (Sse.IsSupported)
        {
            var start = (byte*)Unsafe.AsPointer(ref entry);
            for (var offset = 0; offset < Unsafe.SizeOf<Entry>(); offset += 64)
            {
                Sse.Prefetch0(start + offset);
            }

            Sse.Prefetch0(start + Unsafe.SizeOf<Entry>() - 1);
        }
    }

    private static ulong RandomSeed()
    {
        Span<byte> bytes = stackalloc byte[sizeof(ulong)];
        RandomNumberGenerator.Fill(bytes);
        return BitConverter.ToUInt64(bytes);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool SameKey(in SessionKey a, in SessionKey b) =>
        a.Source == b.Source && a.Destination == b.Destination && a.SourcePort == b.SourcePort
        && a.DestinationPort == b.DestinationPort && a.Protocol == b.Protocol && a.IsIpv6 == b.IsIpv6;

    private static int ListMark(int list) => -(list + 2);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private uint Tag(in SessionKey key) => (uint)(key.Hash(_seed) >> 32);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int Home(uint tag) => (int)(((ulong)tag * (ulong)_index.Length) >> 32);

    private uint ToWheelTicks(long idleTimeout)
    {
        var (ticks, rest) = Math.DivRem(idleTimeout, _wheelTickWidth);
        return (uint)Math.Min(ticks + (rest != 0 ? 1 : 0), uint.MaxValue);
    }

    private long Deadline(ref Entry entry) => entry.LastSeen + (entry.IdleTicks * _wheelTickWidth);

    private void Place(uint tag, uint value)
    {
        var index = _index;
        var position = Home(tag);
        while (index[position] != 0)
        {
            if (++position == index.Length)
            {
                position = 0;
            }
        }

        index[position] = ((ulong)tag << 32) | value;
    }

    private void Displace(uint tag, uint value)
    {
        var index = _index;
        var position = Home(tag);
        while ((uint)index[position] != value)
        {
            if (++position == index.Length)
            {
                position = 0;
            }
        }

        // Backward-shift deletion: move each later slot of the cluster into the hole unless its home lies
        // cyclically in (hole, slot], where moving it would put it before its home.
        var hole = position;
        while (true)
        {
            if (++position == index.Length)
            {
                position = 0;
            }

            var slot = index[position];
            if ((uint)slot == 0)
            {
                break;
            }

            var home = Home((uint)(slot >> 32));
            var stays = hole <= position ? home > hole && home <= position : home > hole || home <= position;
            if (!stays)
            {
                index[hole] = slot;
                hole = position;
            }
        }

        index[hole] = 0;
    }

    private void RemoveLive(int handle)
    {
        ref var entry = ref _entries[handle];
        Displace(Tag(entry.Forward), (uint)(handle << 1) + 1);
        Displace(Tag(entry.Reverse), (uint)(handle << 1) + 2);
        Unlink(handle);
        _generations[handle]++;
        entry.Next = _free;
        _free = handle;
        _count--;
    }

    /// <summary>
    /// Files a session in the bucket of its deadline's wheel tick. A deadline in a tick the wheel has passed goes
    /// to the list <see cref="ExpireIdle"/> drains first, unless <paramref name="expiring"/> (the caller is
    /// draining it), in which case it goes to the next bucket due.
    /// </summary>
    private void File(int handle, long deadline, bool expiring = false)
    {
        var tick = deadline / _wheelTickWidth;
        var list = tick >= _cursor ? (int)(tick & WheelMask)
            : expiring ? (int)(_cursor & WheelMask)
            : InProgress;
        var head = _wheel[list];
        ref var entry = ref _entries[handle];
        entry.Next = head;
        entry.Previous = ListMark(list);
        if (head != NoSlot)
        {
            _entries[head].Previous = handle;
        }

        _wheel[list] = handle;
    }

    private void Unlink(int handle)
    {
        ref var entry = ref _entries[handle];
        var previous = entry.Previous;
        var next = entry.Next;
        if (previous >= 0)
        {
            _entries[previous].Next = next;
        }
        else
        {
            _wheel[-previous - 2] = next;
        }

        if (next != NoSlot)
        {
            _entries[next].Previous = previous;
        }
    }

    /// <summary>
    /// A session: 112 bytes plus the payload. Its timer-wheel links live beside its keys, so that inserting, filing and
    /// removing a session touch its own cache lines (and its generation's) and no other array's. The generation stays in
    /// an array of its own: beside the links it would cost every entry 8 bytes of alignment.
    /// </summary>
    private struct Entry
    {
        public SessionKey Forward;
        public SessionKey Reverse;
        public long LastSeen;
        public long Opened;
        public uint IdleTicks;

        /// <summary>The next session in the wheel list this one is filed in, or the next free slot; −1: none.</summary>
        public int Next;

        /// <summary>The previous session in the wheel list, or the list's mark (<see cref="ListMark"/>) at its head.</summary>
        public int Previous;
        public TcpTracker Tcp;
        public TPayload Payload;
    }
}
