using System.Runtime.CompilerServices;
using Fabric.Model;

namespace Fabric.Dataplane.Policing;

/// <summary>
/// A byte token bucket that several workers share (a per-tenant or per-service limit): the same rate, burst
/// and "unlimited when the rate is 0" as <see cref="TokenBucket"/>, with a lock-free
/// <see cref="TryConsume"/>, a rate a control plane may change at run time (<see cref="SetRate"/>), and a
/// measure of the bucket's demand (<see cref="OfferedBytes"/>, <see cref="RefusedBytes"/>).
/// </summary>
/// <remarks>
/// <para>
/// Thread-safe and lock-free for <see cref="TryConsume"/>; <see cref="SetRate"/> takes a lock among its callers
/// only. The policing state is one 64-bit word updated by compare-and-swap, in the manner of the generic cell
/// rate algorithm: a byte clock <c>C(t)</c> counts the tokens earned since construction, and the state is the
/// byte-clock reading up to which admitted bytes have been paid for. The debt is <c>max(0, paid − C(now))</c>,
/// the level is <c>burst − debt</c>, and a packet of <c>b</c> bytes passes when the debt plus <c>b</c> fits in
/// the burst.
/// </para>
/// <para>
/// The byte clock is piecewise: each rate in force is a piece <c>C(t) = base + ⌊(t − origin) × rate /
/// ticksPerSecond⌋</c> that starts where the previous one stood when the rate was set, so the clock is
/// continuous and the paid-for reading keeps its meaning across a change: nothing admitted is forgiven, no
/// credit is invented. Because each piece is a floor of one exact product (never a sum of rounded steps), the
/// bytes admitted between construction and any time t never exceed <c>C(t) + burst ≤ Σ rateᵢ × durationᵢ +
/// burst</c>, whichever workers took them and in whatever order their times arrive within one piece. A worker
/// whose <c>now</c> is a little stale only sees less credit; one whose <c>now</c> is later than the time a
/// concurrent <see cref="SetRate"/> was given may still use the old rate for that gap (the skew between the two
/// threads' clock readings, a few bytes). A <c>now</c> before the latest change counts as the change's time.
/// The rate of a piece is read lock-free from one of two slots, guarded by a generation the writer publishes
/// after filling the slot (a reader that sees the generation move retries).
/// </para>
/// <para>
/// The byte clock wraps modulo 2^64 and only differences are used, so the one limit is that the bucket must
/// be touched at least once per 2^63 bytes of credit (about 97 days at 2^40 B/s, longer at any slower rate);
/// after a longer silence it may refuse until the clock comes round. Unlike <see cref="TokenBucket"/>, the
/// fraction of a byte earned while the bucket is full is not discarded, so the two may differ by one byte
/// at a boundary. Nothing here allocates.
/// </para>
/// </remarks>
public sealed class SharedTokenBucket
{
    private readonly long _configuredBytesPerSecond;
    private readonly long _burstBytes;
    private readonly long _ticksPerSecond;
    private readonly Lock _rateGate = new();

    // The byte clock's piece in force is _pieces[_generation & 1]; SetRate fills the other slot, then moves the generation.
    private readonly ClockPiece[] _pieces = new ClockPiece[2];
    private long _generation;

    // The byte-clock reading (modulo 2^64) up to which admitted bytes are paid for.
    private long _paidUntil;

    // Bytes offered to a limited bucket (admitted or not) and bytes it refused, since construction.
    private long _offeredBytes;
    private long _refusedBytes;

    /// <summary>Creates a full bucket at <paramref name="now"/>.</summary>
    /// <param name="bytesPerSecond">The sustained rate; 0 means unlimited.</param>
    /// <param name="burstBytes">The most the bucket saves up; 0 means one second's worth.</param>
    /// <param name="ticksPerSecond">The frequency of the clock that <paramref name="now"/> counts.</param>
    /// <param name="now">The current time in ticks.</param>
    public SharedTokenBucket(long bytesPerSecond, long burstBytes, long ticksPerSecond, long now)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytesPerSecond);
        ArgumentOutOfRangeException.ThrowIfNegative(burstBytes);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(ticksPerSecond);
        _configuredBytesPerSecond = bytesPerSecond;
        _burstBytes = burstBytes == 0 ? bytesPerSecond : burstBytes;
        _ticksPerSecond = ticksPerSecond;
        _pieces[0] = new ClockPiece { Rate = bytesPerSecond, Origin = now, Base = 0 };
    }

    /// <summary>Creates a full bucket for a configured limit (unlimited when its rate is 0).</summary>
    public static SharedTokenBucket From(RateLimit limit, long now, long ticksPerSecond) =>
        new(limit.BytesPerSecond, limit.BurstBytes, ticksPerSecond, now);

    /// <summary>Whether the bucket was made without a limit; such a bucket admits everything, measures nothing and has no rate to set.</summary>
    public bool IsUnlimited => _configuredBytesPerSecond == 0;

    /// <summary>The rate in force: the configured one until <see cref="SetRate"/> changes it.</summary>
    public long BytesPerSecond
    {
        get
        {
            Read(out var rate, out _, out _);
            return rate;
        }
    }

    /// <summary>The rate the bucket was made with (its policy's limit).</summary>
    public long ConfiguredBytesPerSecond => _configuredBytesPerSecond;

    public long BurstBytes => _burstBytes;

    public long TicksPerSecond => _ticksPerSecond;

    /// <summary>Bytes offered to <see cref="TryConsume"/> since construction, admitted or not (0 for an unlimited bucket): the bucket's demand.</summary>
    public long OfferedBytes => Interlocked.Read(ref _offeredBytes);

    /// <summary>Bytes <see cref="TryConsume"/> refused since construction; admitted is offered minus refused (each read is exact, the two are not one instant).</summary>
    public long RefusedBytes => Interlocked.Read(ref _refusedBytes);

    /// <summary>The whole tokens the bucket holds at <paramref name="now"/> (the burst when unlimited).</summary>
    public long Tokens(long now) =>
        IsUnlimited ? _burstBytes : _burstBytes - Debt(Volatile.Read(ref _paidUntil), Credit(now));

    /// <summary>Takes <paramref name="bytes"/> tokens if the bucket holds that many at <paramref name="now"/>.</summary>
    /// <returns>Whether the packet conforms (tokens were taken).</returns>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryConsume(int bytes, long now)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        return IsUnlimited || TryConsumeLimited(bytes, now);
    }

    /// <summary><see cref="TryConsume"/> for a bucket with a rate, of a count of bytes not negative.</summary>
    private bool TryConsumeLimited(int bytes, long now)
    {
        Interlocked.Add(ref _offeredBytes, bytes);
        if (bytes > _burstBytes)
        {
            Interlocked.Add(ref _refusedBytes, bytes);
            return false;
        }

        var credit = Credit(now);
        while (true)
        {
            var paid = Volatile.Read(ref _paidUntil);
            var debt = Debt(paid, credit);
            if (debt + bytes > _burstBytes)
            {
                Interlocked.Add(ref _refusedBytes, bytes);
                return false;
            }

            var next = unchecked((long)(credit + (ulong)debt + (ulong)bytes));
            if (Interlocked.CompareExchange(ref _paidUntil, next, paid) == paid)
            {
                return true;
            }
        }
    }

    /// <summary>
    /// Makes <paramref name="bytesPerSecond"/> the rate from <paramref name="now"/> on (a time before the latest
    /// change counts as the change's time). Tokens and debt carry over; the burst stays. Thread-safe (callers
    /// take turns; workers never wait), allocates nothing.
    /// </summary>
    /// <exception cref="InvalidOperationException">The bucket is unlimited.</exception>
    public void SetRate(long bytesPerSecond, long now)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(bytesPerSecond);
        if (IsUnlimited)
        {
            throw new InvalidOperationException("an unlimited bucket has no rate to set");
        }

        lock (_rateGate)
        {
            var generation = Volatile.Read(ref _generation);
            var current = _pieces[generation & 1];
            if (current.Rate == bytesPerSecond)
            {
                return;
            }

            var at = Math.Max(now, current.Origin);
            ref var next = ref _pieces[(generation + 1) & 1];
            Volatile.Write(ref next.Rate, bytesPerSecond);
            Volatile.Write(ref next.Origin, at);
            Volatile.Write(ref next.Base, unchecked(current.Base + Earned(at - current.Origin, current.Rate)));
            // A full fence: the slot is filled before the generation moves, and the generation moves before the
            // next call refills the slot this one retires.
            Interlocked.Exchange(ref _generation, generation + 1);
        }
    }

    private static long Debt(long paid, ulong credit)
    {
        var ahead = unchecked((long)((ulong)paid - credit));
        return ahead > 0 ? ahead : 0;
    }

    /// <summary>The byte clock at <paramref name="now"/>, modulo 2^64: the piece's base plus what its rate earned since its origin.</summary>
    private ulong Credit(long now)
    {
        Read(out var rate, out var origin, out var @base);
        return unchecked(@base + Earned(now - origin, rate));
    }

    /// <summary>The piece in force, read whole (retried while a <see cref="SetRate"/> replaces it).</summary>
    private void Read(out long rate, out long origin, out ulong @base)
    {
        while (true)
        {
            var generation = Volatile.Read(ref _generation);
            ref var piece = ref _pieces[generation & 1];
            rate = Volatile.Read(ref piece.Rate);
            origin = Volatile.Read(ref piece.Origin);
            @base = Volatile.Read(ref piece.Base);
            if (Volatile.Read(ref _generation) == generation)
            {
                return;
            }
        }
    }

    /// <summary>⌊elapsed × rate / ticksPerSecond⌋ modulo 2^64; 0 for no elapsed time.</summary>
    private ulong Earned(long elapsed, long rate)
    {
        if (elapsed <= 0)
        {
            return 0;
        }

        var ticksPerSecond = (ulong)_ticksPerSecond;
        var (seconds, ticks) = Math.DivRem((ulong)elapsed, ticksPerSecond);
        var high = Math.BigMul(ticks, (ulong)rate, out var low);
        var part = high == 0 ? low / ticksPerSecond : (ulong)(new UInt128(high, low) / ticksPerSecond);
        return unchecked((seconds * (ulong)rate) + part);
    }

    /// <summary>One piece of the byte clock: from <see cref="Origin"/> (ticks) it reads <see cref="Base"/> and earns <see cref="Rate"/> bytes per second.</summary>
    private struct ClockPiece
    {
        public long Rate;
        public long Origin;
        public ulong Base;
    }
}
