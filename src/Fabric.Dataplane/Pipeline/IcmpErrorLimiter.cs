namespace Fabric.Dataplane.Pipeline;

/// <summary>
/// The limit on ICMP errors a worker sends (RFC 1812 §4.3.2.8 asks for one): a token bucket of
/// <see cref="ErrorsPerSecond"/> tokens a second with a burst of as many, refilled in whole tokens from the worker's
/// clock. Not thread-safe: one worker owns it.
/// </summary>
public sealed class IcmpErrorLimiter(long ticksPerSecond)
{
    /// <summary>ICMP errors sent per second at most, and the burst.</summary>
    public const int ErrorsPerSecond = 100;

    private readonly long _ticksPerToken = Math.Max(1, ticksPerSecond / ErrorsPerSecond);
    private long _tokens = ErrorsPerSecond;
    private long _refilledAt;

    /// <summary>True, taking a token, when an error may be sent at <paramref name="now"/> (worker clock ticks).</summary>
    public bool TryTake(long now)
    {
        if (now - _refilledAt >= _ticksPerToken)
        {
            _tokens = Math.Min(ErrorsPerSecond, _tokens + ((now - _refilledAt) / _ticksPerToken));
            _refilledAt = now;
        }

        if (_tokens <= 0)
        {
            return false;
        }

        _tokens--;
        return true;
    }
}
