using Fabric.Dataplane.Sessions;

namespace Fabric.Dataplane.Pipeline.Workers;

/// <summary>
/// Which worker owns the session a reverse key belongs to, for the reverse tuples a router does not choose itself (a
/// local NAT session's instance answering, an SVR egress session's instance): the owner publishes the session's
/// reverse key when the session opens, before its first packet leaves, and withdraws it when the session ends; a worker
/// that receives a packet its own shard does not know looks here (docs/dataplane.md "Workers"). An SVR ingress session
/// taken from another router publishes its client's tuple instead (<see cref="WorkerOwnership.OwnerOfArrival"/>).
/// </summary>
/// <remarks>
/// A fixed array of 64-bit entries with linear probing over at most <see cref="MaxProbe"/> slots: an entry is the
/// key's hash with the owner in its low 7 bits (owner + 1; 0 is an empty slot, <see cref="Withdrawn"/> one given back).
/// Entries are claimed with a compare-and-swap, so every worker may publish; each withdraws only its own. Two keys
/// whose hashes agree in their 57 high bits read as one: the packet then goes to that worker, which treats it as
/// any packet of no session it holds. Allocates only in the constructor. Thread-safe.
/// </remarks>
public sealed class OwnerDirectory
{
    /// <summary>Slots one key may be from its home slot (tunable: bounds a lookup's work; a publish that finds no room there is refused).</summary>
    public const int MaxProbe = 64;

    private const ulong OwnerMask = 0x7F;
    private const ulong Withdrawn = OwnerMask;

    private readonly ulong[] _entries;
    private readonly int _mask;
    private readonly ulong _seed;
    private long _refused;

    /// <param name="sessions">The sessions all workers hold at most: the directory has at least twice as many slots.</param>
    public OwnerDirectory(int sessions, ulong seed)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(sessions, 1);
        var slots = (int)Math.Min(1L << 30, System.Numerics.BitOperations.RoundUpToPowerOf2((uint)Math.Max(64, sessions * 2)));
        _entries = new ulong[slots];
        _mask = slots - 1;
        _seed = seed;
    }

    /// <summary>Publishes refused because no slot was free within <see cref="MaxProbe"/> of the key's home.</summary>
    public long Refused => Interlocked.Read(ref _refused);

    /// <summary>Records that <paramref name="owner"/> (0–63) owns the session whose reverse key is <paramref name="reverse"/>; false when refused.</summary>
    public bool Publish(in SessionKey reverse, int owner)
    {
        var (home, tag) = Locate(reverse);
        var entry = tag | (uint)(owner + 1);
        for (var i = 0; i < MaxProbe; i++)
        {
            ref var slot = ref _entries[(home + i) & _mask];
            var seen = Volatile.Read(ref slot);
            if ((seen == 0 || seen == Withdrawn) && Interlocked.CompareExchange(ref slot, entry, seen) == seen)
            {
                return true;
            }
        }

        Interlocked.Increment(ref _refused);
        return false;
    }

    /// <summary>Withdraws what <paramref name="owner"/> published for <paramref name="reverse"/> (nothing when it is not there).</summary>
    public void Withdraw(in SessionKey reverse, int owner)
    {
        var (home, tag) = Locate(reverse);
        var entry = tag | (uint)(owner + 1);
        for (var i = 0; i < MaxProbe; i++)
        {
            ref var slot = ref _entries[(home + i) & _mask];
            var seen = Volatile.Read(ref slot);
            if (seen == 0)
            {
                return;
            }

            if (seen == entry && Interlocked.CompareExchange(ref slot, Withdrawn, entry) == entry)
            {
                return;
            }
        }
    }

    /// <summary>The worker that published <paramref name="key"/> as a session's reverse key; false when none did.</summary>
    public bool TryFindOwner(in SessionKey key, out int owner)
    {
        var (home, tag) = Locate(key);
        for (var i = 0; i < MaxProbe; i++)
        {
            var seen = Volatile.Read(ref _entries[(home + i) & _mask]);
            if (seen == 0)
            {
                break;
            }

            if (seen != Withdrawn && (seen & ~OwnerMask) == tag)
            {
                owner = (int)(seen & OwnerMask) - 1;
                return true;
            }
        }

        owner = -1;
        return false;
    }

    /// <summary>The key's home slot and its tag (the hash's 57 high bits, never all zero).</summary>
    private (int Home, ulong Tag) Locate(in SessionKey key)
    {
        var hash = key.Hash(_seed);
        var tag = (hash & ~OwnerMask) == 0 ? OwnerMask + 1 : hash & ~OwnerMask;
        return ((int)(hash & (ulong)_mask), tag);
    }
}
