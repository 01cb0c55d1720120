using Fabric.Bench;
using Fabric.Dataplane.Policing;
using Fabric.Model;
using FsCheck.Xunit;
using Fabric.Tests.Support;

namespace Fabric.Tests.Dataplane.Policing;

[Collection(AllocationMeasurement.Name)]
public class TokenBucketTests
{
    private const long TicksPerSecond = 1_000_000_000;

    [Fact]
    public void TokenBucket_Default_AdmitsEverything()
    {
        var bucket = default(TokenBucket);

        Assert.True(bucket.IsUnlimited);
        Assert.True(bucket.TryConsume(int.MaxValue, 0));
        Assert.True(bucket.TryConsume(int.MaxValue, 0));
    }

    [Fact]
    public void TokenBucket_FullBurstSpent_RefusesUntilRefilled()
    {
        var bucket = new TokenBucket(bytesPerSecond: 1000, burstBytes: 1500, TicksPerSecond, now: 0);

        Assert.True(bucket.TryConsume(1500, 0));
        Assert.False(bucket.TryConsume(1, 0));
        Assert.False(bucket.TryConsume(500, 499_999_999));
        Assert.True(bucket.TryConsume(500, 500_000_000));
        Assert.Equal(0, bucket.Tokens);
    }

    [Fact]
    public void TokenBucket_LongIdle_CapsAtBurst()
    {
        var bucket = new TokenBucket(1000, 1500, TicksPerSecond, 0);
        Assert.True(bucket.TryConsume(1500, 0));

        Assert.True(bucket.TryConsume(0, 3600 * TicksPerSecond));
        Assert.Equal(1500, bucket.Tokens);
        Assert.False(bucket.TryConsume(1501, 3600 * TicksPerSecond));
    }

    [Fact]
    public void TokenBucket_FractionalRefills_AddUpWithoutDrift()
    {
        // 3 bytes per second on a 10 Hz clock: each tick earns 0.3 byte, which only the kept remainder preserves.
        var bucket = new TokenBucket(3, 6000, 10, 0);
        Assert.True(bucket.TryConsume(6000, 0));

        for (var tick = 1; tick < 10_000; tick++)
        {
            Assert.False(bucket.TryConsume(3000, tick));
        }

        Assert.Equal(2999, bucket.Tokens);
        Assert.True(bucket.TryConsume(3000, 10_000));
    }

    [Fact]
    public void TokenBucket_HugeRateAndDaysOfGap_RefillsExactlyToBurst()
    {
        const long rate = 1L << 40;
        var bucket = new TokenBucket(rate, rate, TicksPerSecond, 0);
        Assert.True(bucket.TryConsume(int.MaxValue, 0));
        var afterSpend = bucket.Tokens;

        // A gap of days would overflow elapsed × rate in 64 bits.
        Assert.True(bucket.TryConsume(0, 3L * 86_400 * TicksPerSecond));
        Assert.Equal(rate, bucket.Tokens);
        Assert.Equal(rate - int.MaxValue, afterSpend);

        // 2^25 ns at 2^40 B/s: elapsed × rate is 2^65, and the byte fraction carries into the next tick.
        var spent = new TokenBucket(rate, rate, TicksPerSecond, 0);
        for (var i = 0; i < 512; i++)
        {
            Assert.True(spent.TryConsume(int.MaxValue, 0));
        }

        Assert.Equal(512, spent.Tokens);
        Assert.True(spent.TryConsume(0, 1L << 25));
        Assert.Equal(512 + (long)(((Int128)1 << 65) / TicksPerSecond), spent.Tokens);
        Assert.True(spent.TryConsume(0, (1L << 25) + 1));
        Assert.Equal(512 + (long)((((Int128)1 << 65) + rate) / TicksPerSecond), spent.Tokens);
    }

    [Fact]
    public void TokenBucket_FromRateLimitWithoutBurst_BurstIsOneSecond()
    {
        var bucket = TokenBucket.From(new RateLimit(2000, 0), 0, TicksPerSecond);

        Assert.Equal(2000, bucket.BurstBytes);
        Assert.True(TokenBucket.From(RateLimit.Unlimited, 0, TicksPerSecond).IsUnlimited);
    }

    [Fact]
    public void TokenBucket_ClockGoesBack_AddsNothingAndKeepsRefillTime()
    {
        var bucket = new TokenBucket(1000, 1000, TicksPerSecond, 1_000_000_000);
        Assert.True(bucket.TryConsume(1000, 1_000_000_000));

        Assert.False(bucket.TryConsume(1, 0));
        Assert.True(bucket.TryConsume(1, 1_001_000_000));
        Assert.False(bucket.TryConsume(1, 1_001_000_000));
    }

    /// <summary>Every verdict equals that of an exact model: level = min(burst, level + Δt × rate / tps), kept scaled by tps.</summary>
    /// <remarks>
    /// The seed drives a generator rather than FsCheck's sized numbers, so rates span 1 B/s to 2^40 B/s and the
    /// level often sits low, where the fraction of a byte decides a verdict.
    /// </remarks>
    [Property(MaxTest = 500)]
    public bool TokenBucket_RandomConsumeAndAdvance_MatchesExactModel(int seed)
    {
        var random = new Random(seed);
        long tps = random.Next(4) switch { 0 => 1_000_000_000, 1 => 10_000_000, 2 => 1000, _ => 7 };
        var rate = random.Next(3) switch
        {
            0 => random.NextInt64(1, 5_000),
            1 => random.NextInt64(5_000, 100_000_000),
            _ => random.NextInt64(100_000_000, 1L << 40),
        };
        var burst = Math.Max(1500, rate / random.Next(1, 50));
        var maxStep = Math.Max(1, tps / 50);
        var earnedPerStep = Math.Max(1, rate / 100);
        var bucket = new TokenBucket(rate, burst, tps, 0);

        // The model's level in units of 1/tps byte; decimal is exact for these integers.
        decimal scaledLevel = burst * (decimal)tps;
        long now = 0;
        for (var step = 0; step < 300; step++)
        {
            var elapsed = random.NextInt64(0, maxStep + 1);
            var bytes = (int)Math.Min(int.MaxValue, random.Next(4) == 0 ? random.NextInt64(0, burst + 1) : random.NextInt64(0, (2 * earnedPerStep) + 1));
            now += elapsed;
            scaledLevel = Math.Min(burst * (decimal)tps, scaledLevel + (elapsed * (decimal)rate));
            var expected = scaledLevel >= bytes * (decimal)tps;
            if (expected)
            {
                scaledLevel -= bytes * (decimal)tps;
            }

            if (bucket.TryConsume(bytes, now) != expected)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>A greedy sender gets rate × time + burst, short by less than one packet.</summary>
    [Property(MaxTest = 100)]
    public bool TokenBucket_GreedySenderOverLongRun_AdmitsRateTimesTimePlusBurst(ushort rateSeed, int seed)
    {
        const int maxPacket = 1500;
        long rate = 10_000 + (rateSeed * 100L);
        long burst = 4 * maxPacket;
        var random = new Random(seed);
        var bucket = new TokenBucket(rate, burst, TicksPerSecond, 0);
        long admitted = 0;
        long now = 0;
        for (var step = 0; step <= 2000; step++)
        {
            // Step 0 spends the initial burst at time 0; a full bucket could not take a refill.
            // Each step earns well under burst − maxPacket, so the cap never throws credit away.
            now += step == 0 ? 0 : random.Next(1, (int)(TicksPerSecond * 2 * maxPacket / rate));
            int packet;
            while (bucket.TryConsume(packet = random.Next(40, maxPacket + 1), now))
            {
                admitted += packet;
            }
        }

        var earned = (long)((Int128)now * rate / TicksPerSecond);
        return admitted <= earned + burst && admitted > earned + burst - maxPacket;
    }

    [Fact]
    public void TokenBucket_TryConsume_AllocatesNothing()
    {
        var bucket = new TokenBucket(1L << 30, 1L << 20, TicksPerSecond, 0);

        // The warm-up runs the loop itself, so its on-stack replacement is compiled before measuring
        // (compiling it mid-measurement can allocate on this thread).
        var admitted = Run(bucket, 0, 10_000);
        var allocated = ThreadAllocations.During(() =>
        {
            admitted += Run(bucket, 10_000, 100_000);
        });

        Assert.Equal(0, allocated);
        Assert.True(admitted > 0);

        static int Run(TokenBucket bucket, int start, int count)
        {
            var admitted = 0;
            for (var i = start; i < start + count; i++)
            {
                admitted += bucket.TryConsume(1500, i * 1000L) ? 1 : 0;
            }

            return admitted;
        }
    }
}
