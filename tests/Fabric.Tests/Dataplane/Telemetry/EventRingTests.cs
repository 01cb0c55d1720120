using Fabric.Dataplane.Telemetry;

namespace Fabric.Tests.Dataplane.Telemetry;

public sealed class EventRingTests
{
    [Fact]
    public void ReadFrom_AfterFewerEventsThanCapacity_ReturnsEachOnceInOrder()
    {
        var ring = new EventRing<int>(8);
        for (var i = 0; i < 5; i++)
        {
            ring.Add(i);
        }

        var read = new List<int>();
        var next = ring.ReadFrom(0, read, 100, out var lost);
        ring.Add(5);
        next = ring.ReadFrom(next, read, 100, out var lostLater);

        Assert.Equal([0, 1, 2, 3, 4, 5], read);
        Assert.Equal((0L, 0L, 6L), (lost, lostLater, next));
    }

    /// <summary>The oldest slot is the one the writer fills next, so a reader takes the newest capacity − 1.</summary>
    [Fact]
    public void ReadFrom_ReaderTooSlow_GetsTheNewestAndCountsTheOverwritten()
    {
        var ring = new EventRing<int>(4);
        for (var i = 0; i < 10; i++)
        {
            ring.Add(i);
        }

        var read = new List<int>();
        var next = ring.ReadFrom(0, read, 100, out var lost);

        Assert.Equal([7, 8, 9], read);
        Assert.Equal(7, lost);
        Assert.Equal(10, next);
    }

    [Fact]
    public void ReadFrom_Max_LeavesTheRestForTheNextRead()
    {
        var ring = new EventRing<int>(16);
        for (var i = 0; i < 10; i++)
        {
            ring.Add(i);
        }

        var read = new List<int>();
        var next = ring.ReadFrom(0, read, 4, out _);
        next = ring.ReadFrom(next, read, 100, out var lost);

        Assert.Equal(Enumerable.Range(0, 10), read);
        Assert.Equal(0, lost);
    }

    /// <summary>A writer racing a reader: every value read is one the writer wrote at that position (never a torn or stale slot), in order.</summary>
    [Fact]
    public void ReadFrom_WhileTheWriterLaps_NeverReturnsAnOverwrittenSlot()
    {
        var ring = new EventRing<(long A, long B)>(64);
        const long total = 2_000_000;
        var writer = Task.Run(
            () =>
            {
                for (long i = 0; i < total; i++)
                {
                    ring.Add((i, -i));
                }
            },
            TestContext.Current.CancellationToken);
        var read = new List<(long A, long B)>();
        long next = 0, lost = 0, count = 0, last = -1;
        while (!writer.IsCompleted || next < ring.Written)
        {
            read.Clear();
            next = ring.ReadFrom(next, read, 1000, out var missed);
            lost += missed;
            foreach (var (a, b) in read)
            {
                Assert.Equal(a, -b);
                Assert.True(a > last, $"{a} after {last}");
                last = a;
                count++;
            }
        }

        Assert.Equal(total, count + lost);
    }
}
