using Fabric.Model;

namespace Fabric.Dataplane.Policing;

/// <summary>
/// A byte token bucket that several workers share (a per-tenant or per-service limit): the same rate, burst
/// and "unlimited when the rate is 0" as <see cref="TokenBucket"/>, with a lock-free
/// <see cref="TryConsume"/>.
/// </summary>
/// <remarks>
/// <para>
/// Thread-safe and lock-free. The whole state is one 64-bit word updated by compare-and-swap, in the manner
/// of the generic cell rate algorithm: a byte clock <c>C(t) = ⌊(t − origin) × rate / ticksPerSecond⌋</c>
/// counts the tokens earned since construction, and the state is the byte-clock reading up to which
/// admitted bytes have been paid for. The debt is <c>max(0, paid − C(now))</c>, the level is
/// <c>burst − debt</c>, and a packet of <c>b</c> bytes passes when the debt plus <c>b</c> fits in the burst.
/// Because C is a floor of one exact product (never a sum of rounded steps), the bytes admitted between
/// construction and any time t never exceed <c>C(t) + burst ≤ rate × elapsed + burst</c>, whichever workers
/// took them and in whatever order their times arrive; a worker whose <c>now</c> is a little stale only sees
/// less credit.
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
    private readonly long _bytesPerSecond;
    private readonly long _burstBytes;
    private readonly long _ticksPerSecond;
    private readonly long _origin;

    // The byte-clock reading (modulo 2^64) up to which admitted bytes are paid for.
    private long _paidUntil;

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
        _bytesPerSecond = bytesPerSecond;
        _burstBytes = burstBytes == 0 ? bytesPerSecond : burstBytes;
        _ticksPerSecond = ticksPerSecond;
        _origin = now;
    }

    /// <summary>Creates a full bucket for a configured limit (unlimited when its rate is 0).</summary>
    public static SharedTokenBucket From(RateLimit limit, long now, long ticksPerSecond) =>
        new(limit.BytesPerSecond, limit.BurstBytes, ticksPerSecond, now);

    public bool IsUnlimited => _bytesPerSecond == 0;

    public long BytesPerSecond => _bytesPerSecond;

    public long BurstBytes => _burstBytes;

    public long TicksPerSecond => _ticksPerSecond;

    /// <summary>The whole tokens the bucket holds at <paramref name="now"/> (the burst when unlimited).</summary>
    public long Tokens(long now) =>
        _bytesPerSecond == 0 ? _burstBytes : _burstBytes - Debt(Volatile.Read(ref _paidUntil), Credit(now));

    /// <summary>Takes <paramref name="bytes"/> tokens if the bucket holds that many at <paramref name="now"/>.</summary>
    /// <returns>Whether the packet conforms (tokens were taken).</returns>
    public bool TryConsume(int bytes, long now)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        if (_bytesPerSecond == 0)
        {
            return true;
        }

        if (bytes > _burstBytes)
        {
            return false;
        }

        var credit = Credit(now);
        while (true)
        {
            var paid = Volatile.Read(ref _paidUntil);
            var debt = Debt(paid, credit);
            if (debt + bytes > _burstBytes)
            {
                return false;
            }

            var next = unchecked((long)(credit + (ulong)debt + (ulong)bytes));
            if (Interlocked.CompareExchange(ref _paidUntil, next, paid) == paid)
            {
                return true;
            }
        }
    }

    private static long Debt(long paid, ulong credit)
    {
        var ahead = unchecked((long)((ulong)paid - credit));
        return ahead > 0 ? ahead : 0;
    }

    /// <summary>⌊(now − origin) × rate / ticksPerSecond⌋ modulo 2^64; 0 before the origin.</summary>
    private ulong Credit(long now)
    {
        var elapsed = now - _origin;
        if (elapsed <= 0)
        {
            return 0;
        }

        var ticksPerSecond = (ulong)_ticksPerSecond;
        var (seconds, ticks) = Math.DivRem((ulong)elapsed, ticksPerSecond);
        var high = Math.BigMul(ticks, (ulong)_bytesPerSecond, out var low);
        var part = high == 0 ? low / ticksPerSecond : (ulong)(new UInt128(high, low) / ticksPerSecond);
        return unchecked((seconds * (ulong)_bytesPerSecond) + part);
    }
}
