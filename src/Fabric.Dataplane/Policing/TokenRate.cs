using Fabric.Model;

namespace Fabric.Dataplane.Policing;

/// <summary>
/// The fixed half of a byte token bucket: it refills at <see cref="BytesPerSecond"/> per second of a clock running at
/// <see cref="TicksPerSecond"/> and saves up at most <see cref="BurstBytes"/>. A zero rate means unlimited, so
/// <c>default</c> admits everything. Immutable and thread-safe.
/// </summary>
public readonly record struct TokenRate
{
    /// <param name="bytesPerSecond">The sustained rate; 0 means unlimited (the other arguments are then ignored).</param>
    /// <param name="burstBytes">The most a bucket saves up; 0 means one second's worth.</param>
    /// <param name="ticksPerSecond">The frequency of the clock that times are counted in.</param>
    public TokenRate(long bytesPerSecond, long burstBytes, long ticksPerSecond)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytesPerSecond);
        ArgumentOutOfRangeException.ThrowIfNegative(burstBytes);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(ticksPerSecond);
        if (bytesPerSecond == 0)
        {
            return;
        }

        BytesPerSecond = bytesPerSecond;
        BurstBytes = burstBytes == 0 ? bytesPerSecond : burstBytes;
        TicksPerSecond = ticksPerSecond;
    }

    /// <summary>The rate of a configured limit (unlimited when its rate is 0).</summary>
    public static TokenRate From(RateLimit limit, long ticksPerSecond) => new(limit.BytesPerSecond, limit.BurstBytes, ticksPerSecond);

    public long BytesPerSecond { get; }

    public long BurstBytes { get; }

    public long TicksPerSecond { get; }

    public bool IsUnlimited => BytesPerSecond == 0;
}
