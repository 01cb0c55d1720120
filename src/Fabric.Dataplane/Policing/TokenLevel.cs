namespace Fabric.Dataplane.Policing;

/// <summary>
/// The mutable half of a byte token bucket: the tokens held and when they were last refilled (24 bytes), refilled at a
/// <see cref="TokenRate"/> the caller keeps elsewhere and passes in on every call, always the same one. A session keeps
/// its level in its table entry and its rate in the service runtime that admitted it (<see cref="Forwarding.ServiceRuntime.SessionRate"/>).
/// <see cref="TokenBucket"/> is the two together; the arithmetic (exact, see there) is this type's.
/// </summary>
/// <remarks>Not thread-safe: changed only by its owner, in place. <c>default</c> with an unlimited rate admits everything.</remarks>
public struct TokenLevel
{
    private long _tokens;

    // The part of a token below one byte, in units of 1/ticksPerSecond byte; always below ticksPerSecond.
    private long _remainder;
    private long _lastRefill;

    /// <summary>A full level at <paramref name="now"/> for <paramref name="rate"/>.</summary>
    public static TokenLevel Full(in TokenRate rate, long now) =>
        rate.IsUnlimited ? default : new TokenLevel { _tokens = rate.BurstBytes, _lastRefill = now };

    /// <summary>Whole tokens held as of the last refill.</summary>
    public readonly long Tokens => _tokens;

    /// <summary>
    /// Refills at <paramref name="rate"/> for the time elapsed up to <paramref name="now"/>, then takes <paramref name="bytes"/>
    /// tokens if the level holds that many. A packet larger than the burst never passes a limited rate.
    /// </summary>
    /// <returns>Whether the packet conforms (tokens were taken).</returns>
    public bool TryConsume(in TokenRate rate, int bytes, long now)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        if (rate.IsUnlimited)
        {
            return true;
        }

        Refill(rate, now);
        if (_tokens < bytes)
        {
            return false;
        }

        _tokens -= bytes;
        return true;
    }

    private void Refill(in TokenRate rate, long now)
    {
        var elapsed = now - _lastRefill;
        if (elapsed <= 0)
        {
            return;
        }

        _lastRefill = now;
        var room = (ulong)(rate.BurstBytes - _tokens);
        if (room == 0)
        {
            return;
        }

        var ticksPerSecond = (ulong)rate.TicksPerSecond;
        var high = Math.BigMul((ulong)elapsed, (ulong)rate.BytesPerSecond, out var low);
        low += (ulong)_remainder;
        if (low < (ulong)_remainder)
        {
            high++;
        }

        ulong added;
        ulong remainder;
        if (high == 0)
        {
            (added, remainder) = Math.DivRem(low, ticksPerSecond);
        }
        else
        {
            var scaled = new UInt128(high, low);
            var quotient = scaled / ticksPerSecond;
            if (quotient >= room)
            {
                Fill(rate);
                return;
            }

            added = (ulong)quotient;
            remainder = (ulong)(scaled - (quotient * ticksPerSecond));
        }

        if (added >= room)
        {
            Fill(rate);
            return;
        }

        _tokens += (long)added;
        _remainder = (long)remainder;
    }

    private void Fill(in TokenRate rate)
    {
        _tokens = rate.BurstBytes;
        _remainder = 0;
    }
}
