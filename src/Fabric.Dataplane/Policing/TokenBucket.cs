using Fabric.Model;

namespace Fabric.Dataplane.Policing;

/// <summary>
/// A byte token bucket owned by one worker: it refills at <see cref="BytesPerSecond"/>, saves up at most
/// <see cref="BurstBytes"/>, and admits a packet when it holds at least as many whole tokens as the packet
/// has bytes. A zero rate means unlimited, so <c>default(TokenBucket)</c> admits everything.
/// </summary>
/// <remarks>
/// <para>
/// Time is passed in as ticks of a clock that runs at <see cref="TicksPerSecond"/> (fixed at construction);
/// the bucket never reads a clock. A <c>now</c> at or before the last refill adds nothing and does not move
/// the refill time back.
/// </para>
/// <para>
/// Arithmetic is exact: the level is kept as whole tokens plus a remainder in units of
/// 1/<see cref="TicksPerSecond"/> byte, and the refill <c>elapsed × rate</c> is formed in 128 bits, so the
/// bucket matches an exact rational model (level = min(burst, level + elapsed × rate / ticksPerSecond)) for
/// every rate up to <see cref="long.MaxValue"/> and any gap, with no drift over time. Reaching the burst
/// discards the remainder, as the rational model does.
/// </para>
/// <para>
/// Not thread-safe: a mutable value type for session-table entries and per-worker arrays, changed only by
/// its owner and only in place (a copy is an independent bucket). <see cref="SharedTokenBucket"/> is the
/// variant several workers may share. Nothing here allocates.
/// </para>
/// </remarks>
public struct TokenBucket
{
    private readonly TokenRate _rate;
    private TokenLevel _level;

    /// <summary>Creates a full bucket at <paramref name="now"/>.</summary>
    /// <param name="bytesPerSecond">The sustained rate; 0 means unlimited (the other arguments are then ignored).</param>
    /// <param name="burstBytes">The most the bucket saves up; 0 means one second's worth.</param>
    /// <param name="ticksPerSecond">The frequency of the clock that <paramref name="now"/> counts.</param>
    /// <param name="now">The current time in ticks.</param>
    public TokenBucket(long bytesPerSecond, long burstBytes, long ticksPerSecond, long now)
    {
        _rate = new TokenRate(bytesPerSecond, burstBytes, ticksPerSecond);
        _level = TokenLevel.Full(_rate, now);
    }

    /// <summary>A bucket that admits everything.</summary>
    public static TokenBucket Unlimited => default;

    /// <summary>Creates a full bucket for a configured limit (unlimited when its rate is 0).</summary>
    public static TokenBucket From(RateLimit limit, long now, long ticksPerSecond) =>
        new(limit.BytesPerSecond, limit.BurstBytes, ticksPerSecond, now);

    public readonly bool IsUnlimited => _rate.IsUnlimited;

    public readonly long BytesPerSecond => _rate.BytesPerSecond;

    public readonly long BurstBytes => _rate.BurstBytes;

    public readonly long TicksPerSecond => _rate.TicksPerSecond;

    /// <summary>Whole tokens held as of the last refill (the last call to <see cref="TryConsume"/>).</summary>
    public readonly long Tokens => _level.Tokens;

    /// <summary>
    /// Refills for the time elapsed up to <paramref name="now"/>, then takes <paramref name="bytes"/> tokens
    /// if the bucket holds that many. A packet larger than the burst never passes a limited bucket.
    /// </summary>
    /// <returns>Whether the packet conforms (tokens were taken).</returns>
    public bool TryConsume(int bytes, long now) => _level.TryConsume(_rate, bytes, now);
}
