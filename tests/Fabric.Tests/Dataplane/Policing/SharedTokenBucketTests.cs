using Fabric.Bench;
using Fabric.Dataplane.Policing;
using FsCheck.Xunit;
using Fabric.Tests.Support;

namespace Fabric.Tests.Dataplane.Policing;

[Collection(AllocationMeasurement.Name)]
public class SharedTokenBucketTests
{
    private const long TicksPerSecond = 1_000_000_000;

    [Fact]
    public void SharedTokenBucket_BurstSpent_RefusesUntilRefilled()
    {
        var bucket = new SharedTokenBucket(1000, 1500, TicksPerSecond, 0);

        Assert.True(bucket.TryConsume(1500, 0));
        Assert.False(bucket.TryConsume(1, 0));
        Assert.False(bucket.TryConsume(500, 499_999_999));
        Assert.True(bucket.TryConsume(500, 500_000_000));
        Assert.Equal(0, bucket.Tokens(500_000_000));
    }

    [Fact]
    public void SharedTokenBucket_LongIdle_CapsAtBurst()
    {
        var bucket = new SharedTokenBucket(1L << 40, 1L << 40, TicksPerSecond, 0);
        Assert.True(bucket.TryConsume(int.MaxValue, 0));

        var days = 30L * 86_400 * TicksPerSecond;
        Assert.Equal(1L << 40, bucket.Tokens(days));
        Assert.True(bucket.TryConsume(int.MaxValue, days));
        Assert.Equal((1L << 40) - int.MaxValue, bucket.Tokens(days));
    }

    [Fact]
    public void SharedTokenBucket_Unlimited_AdmitsEverything()
    {
        var bucket = new SharedTokenBucket(0, 0, TicksPerSecond, 0);

        Assert.True(bucket.IsUnlimited);
        Assert.True(bucket.TryConsume(int.MaxValue, 0));
        Assert.True(bucket.TryConsume(int.MaxValue, 0));
    }

    /// <summary>One thread: admitted bytes stay within C(t) + burst and a greedy sender gets within a packet of it.</summary>
    [Property(MaxTest = 100)]
    public bool SharedTokenBucket_GreedySender_AdmitsRateTimesTimePlusBurst(ushort rateSeed, int seed)
    {
        const int maxPacket = 1500;
        long rate = 10_000 + (rateSeed * 100L);
        long burst = 4 * maxPacket;
        var random = new Random(seed);
        var bucket = new SharedTokenBucket(rate, burst, TicksPerSecond, 0);
        long admitted = 0;
        long now = 0;
        for (var step = 0; step <= 2000; step++)
        {
            // Step 0 spends the initial burst at time 0; a full bucket could not take a refill.
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
    public void SharedTokenBucket_TwoThreadsDrainingByTheByte_AdmitExactlyRateTimesTimePlusBurst()
    {
        // Each phase both workers take one byte at a time at the same instant until refused, contending on
        // every update; a lost update would admit more than the credit, a spurious refusal less.
        const long rate = 500_000;
        const long burst = 500_000;
        const int phases = 8;
        var bucket = new SharedTokenBucket(rate, burst, TicksPerSecond, 0);
        var admitted = new long[2];
        using var phase = new Barrier(2);

        void Worker(object? state)
        {
            var index = (int)state!;
            for (var k = 0; k < phases; k++)
            {
                phase.SignalAndWait();
                var now = k * TicksPerSecond;
                while (bucket.TryConsume(1, now))
                {
                    admitted[index]++;
                }
            }
        }

        var threads = StartTwoWorkers(Worker);
        JoinAll(threads);

        Assert.Equal(((phases - 1) * rate) + burst, admitted[0] + admitted[1]);
    }

    [Fact]
    public void SharedTokenBucket_TwoThreadsOnASharedClock_NeverAdmitMoreThanRateTimesTimePlusBurst()
    {
        // Demand slightly above the rate keeps the bucket near empty; times reach the bucket out of order.
        const long rate = 100_000_000;
        const long burst = 1500;
        var bucket = new SharedTokenBucket(rate, burst, TicksPerSecond, 0);
        long clock = 0;
        var admitted = new long[2];
        using var ready = new Barrier(2);

        void Worker(object? state)
        {
            var index = (int)state!;
            var random = new Random(index);
            ready.SignalAndWait();
            for (var i = 0; i < 500_000; i++)
            {
                var now = Interlocked.Add(ref clock, random.Next(0, 2) * 1000);
                var packet = random.Next(40, 101);
                if (bucket.TryConsume(packet, now))
                {
                    admitted[index] += packet;
                }
            }
        }

        var threads = StartTwoWorkers(Worker);
        JoinAll(threads);

        var total = admitted[0] + admitted[1];
        var bound = (Volatile.Read(ref clock) * rate / TicksPerSecond) + burst;
        Assert.True(total <= bound, $"admitted {total} > bound {bound}");
        Assert.True(total > bound * 99 / 100, $"admitted {total}, far below bound {bound}");
    }

    [Fact]
    public void SharedTokenBucket_TryConsumeAndSetRate_AllocateNothing()
    {
        var bucket = new SharedTokenBucket(1L << 30, 1L << 20, TicksPerSecond, 0);

        // The warm-up runs the loop itself, so its on-stack replacement is compiled before measuring
        // (compiling it mid-measurement can allocate on this thread).
        var admitted = Run(bucket, 0, 10_000);
        var allocated = ThreadAllocations.During(() =>
        {
            admitted += Run(bucket, 10_000, 100_000);
        });

        Assert.Equal(0, allocated);
        Assert.True(admitted > 0);

        static int Run(SharedTokenBucket bucket, int start, int count)
        {
            var admitted = 0;
            for (var i = start; i < start + count; i++)
            {
                if (i % 100 == 0)
                {
                    bucket.SetRate((1L << 30) + (i % 7), i * 1000L);
                }

                admitted += bucket.TryConsume(1500, i * 1000L) ? 1 : 0;
            }

            return admitted;
        }
    }
    [Fact]
    public void SharedTokenBucket_SetRate_CarriesDebtAndEarnsAtTheNewRateFromThen()
    {
        var bucket = new SharedTokenBucket(1000, 1000, TicksPerSecond, 0);
        Assert.True(bucket.TryConsume(1000, 0));

        // Half a second at 1000 B/s earned 500; from then on 4000 B/s: a quarter second later another 1000.
        bucket.SetRate(4000, TicksPerSecond / 2);
        Assert.Equal(4000, bucket.BytesPerSecond);
        Assert.Equal(1000, bucket.ConfiguredBytesPerSecond);
        Assert.Equal(500, bucket.Tokens(TicksPerSecond / 2));
        Assert.Equal(1000, bucket.Tokens(3 * TicksPerSecond / 4));
        Assert.True(bucket.TryConsume(1000, 3 * TicksPerSecond / 4));
        Assert.False(bucket.TryConsume(1, 3 * TicksPerSecond / 4));

        // A quarter second at 4000 B/s refilled the bucket by then; from 1 s on it earns 10 B/s. A time before the
        // latest change counts as the change's time.
        bucket.SetRate(10, TicksPerSecond);
        Assert.Equal(1000, bucket.Tokens(TicksPerSecond));
        Assert.Equal(1000, bucket.Tokens(TicksPerSecond / 10));
        Assert.True(bucket.TryConsume(1000, TicksPerSecond));
        Assert.Equal(10, bucket.Tokens(2 * TicksPerSecond));
        Assert.Throws<InvalidOperationException>(() => new SharedTokenBucket(0, 0, TicksPerSecond, 0).SetRate(1, 0));
    }

    /// <summary>
    /// One thread, a greedy sender, the rate changed at random times: admitted bytes stay within the piecewise byte
    /// clock plus the burst (never above the exact integral of the rate plus the burst), and within a packet of it.
    /// </summary>
    [Property(MaxTest = 100)]
    public bool SharedTokenBucket_RateChanges_AdmitWithinPiecewiseRateTimesTimePlusBurst(int seed)
    {
        const int maxPacket = 1500;
        const long maxRate = 1_000_000;
        long burst = 4 * maxPacket;
        var random = new Random(seed);
        long rate = random.Next(10_000, (int)maxRate + 1);
        var bucket = new SharedTokenBucket(rate, burst, TicksPerSecond, 0);
        long admitted = 0;
        long now = 0;
        long origin = 0;
        long clockBase = 0; // the model's byte clock at origin: a sum of whole bytes per piece
        Int128 exact = 0;   // Σ rate × ticks over the finished pieces
        for (var step = 0; step <= 3000; step++)
        {
            now += step == 0 ? 0 : random.Next(1, (int)(TicksPerSecond * 2 * maxPacket / maxRate));
            if (random.Next(20) == 0 && random.Next(10_000, (int)maxRate + 1) is var next && next != rate)
            {
                clockBase += (long)((Int128)(now - origin) * rate / TicksPerSecond);
                exact += (Int128)(now - origin) * rate;
                origin = now;
                rate = next;
                bucket.SetRate(rate, now);
            }

            int packet;
            while (bucket.TryConsume(packet = random.Next(40, maxPacket + 1), now))
            {
                admitted += packet;
            }
        }

        var clock = clockBase + (long)((Int128)(now - origin) * rate / TicksPerSecond);
        var integral = (long)((exact + ((Int128)(now - origin) * rate)) / TicksPerSecond);
        return admitted <= clock + burst && clock <= integral && admitted > clock + burst - maxPacket;
    }

    /// <summary>Demand is measured exactly: every byte offered to a limited bucket is counted, and every byte refused.</summary>
    [Property(MaxTest = 100)]
    public bool SharedTokenBucket_Demand_CountsEveryByteOfferedAndRefused(int seed)
    {
        var random = new Random(seed);
        var bucket = new SharedTokenBucket(random.Next(1000, 100_000), random.Next(0, 10_000), TicksPerSecond, 0);
        long offered = 0, refused = 0, now = 0;
        for (var i = 0; i < 2000; i++)
        {
            now += random.Next(0, (int)(TicksPerSecond / 100));
            if (random.Next(50) == 0)
            {
                bucket.SetRate(random.Next(1000, 100_000), now);
            }

            var packet = random.Next(0, 20_000);
            offered += packet;
            refused += bucket.TryConsume(packet, now) ? 0 : packet;
        }

        return bucket.OfferedBytes == offered && bucket.RefusedBytes == refused;
    }

    [Fact]
    public void SharedTokenBucket_Unlimited_MeasuresNothing()
    {
        var bucket = new SharedTokenBucket(0, 0, TicksPerSecond, 0);
        Assert.True(bucket.TryConsume(1500, 0));
        Assert.Equal((0L, 0L), (bucket.OfferedBytes, bucket.RefusedBytes));
    }

    [Fact]
    public void SharedTokenBucket_TwoThreadsDrainingByTheByte_RateChangedBetweenPhases_AdmitExactlyThePiecewiseCredit()
    {
        // Each phase a third thread sets the rate at the phase's start, then both workers take one byte at a time at
        // that instant until refused: the credit of every second is the rate set at its start.
        const long burst = 500_000;
        const int phases = 8;
        long[] rates = [100_000, 300_000, 50_000, 200_000, 10_000, 400_000, 150_000, 80_000];
        var bucket = new SharedTokenBucket(rates[0], burst, TicksPerSecond, 0);
        var admitted = new long[2];
        using var phase = new Barrier(3);

        void Worker(object? state)
        {
            var index = (int)state!;
            for (var k = 0; k < phases; k++)
            {
                phase.SignalAndWait();
                phase.SignalAndWait();
                var now = k * TicksPerSecond;
                while (bucket.TryConsume(1, now))
                {
                    admitted[index]++;
                }
            }
        }

        var threads = StartTwoWorkers(Worker);
        for (var k = 0; k < phases; k++)
        {
            phase.SignalAndWait(TestContext.Current.CancellationToken);
            bucket.SetRate(rates[k], k * TicksPerSecond);
            phase.SignalAndWait(TestContext.Current.CancellationToken);
        }

        JoinAll(threads);

        Assert.Equal(rates[..(phases - 1)].Sum() + burst, admitted[0] + admitted[1]);
    }

    /// <summary>Starts <paramref name="worker"/> on two threads, with 0 and 1 as their state.</summary>
    private static Thread[] StartTwoWorkers(ParameterizedThreadStart worker)
    {
        var threads = new[] { new Thread(worker), new Thread(worker) };
        threads[0].Start(0);
        threads[1].Start(1);
        return threads;
    }

    private static void JoinAll(Thread[] threads)
    {
        foreach (var thread in threads)
        {
            thread.Join();
        }
    }
}
