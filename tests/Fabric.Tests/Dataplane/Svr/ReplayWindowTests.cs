using Fabric.Bench;
using Fabric.Dataplane.Svr;
using FsCheck.Xunit;
using Fabric.Tests.Support;

namespace Fabric.Tests.Dataplane.Svr;

[Collection(AllocationMeasurement.Name)]
public class ReplayWindowTests
{
    [Fact]
    public void ReplayWindow_InOrderCounters_AreAllAcceptedOnce()
    {
        var window = new ReplayWindow();

        for (ulong counter = 0; counter < 10_000; counter++)
        {
            Assert.True(window.IsAcceptable(counter));
            Assert.True(window.MarkSeen(counter));
            Assert.False(window.IsAcceptable(counter));
        }

        Assert.Equal(9_999UL, window.Highest);
    }

    [Fact]
    public void ReplayWindow_Duplicate_IsRejected()
    {
        var window = new ReplayWindow();
        window.MarkSeen(5);
        window.MarkSeen(3);

        Assert.False(window.IsAcceptable(5));
        Assert.False(window.IsAcceptable(3));
        Assert.False(window.MarkSeen(3));
        Assert.True(window.IsAcceptable(4));
        Assert.True(window.IsAcceptable(0));
    }

    [Fact]
    public void ReplayWindow_OlderThanWindow_IsRejectedAndInsideIsAccepted()
    {
        var window = new ReplayWindow(2048);
        window.MarkSeen(10_000);

        Assert.True(window.IsAcceptable(10_000 - 2047));
        Assert.False(window.IsAcceptable(10_000 - 2048));
        Assert.False(window.MarkSeen(10_000 - 2048));
        Assert.False(window.IsAcceptable(0));
        Assert.True(window.MarkSeen(10_000 - 2047));
        Assert.False(window.IsAcceptable(10_000 - 2047));
    }

    [Fact]
    public void ReplayWindow_FarJump_ForgetsOldBitsAndKeepsNewOnes()
    {
        var window = new ReplayWindow();
        for (ulong counter = 0; counter < 3000; counter++)
        {
            window.MarkSeen(counter);
        }

        window.MarkSeen(1_000_000_000_000);

        Assert.False(window.IsAcceptable(2999));
        Assert.False(window.IsAcceptable(1_000_000_000_000));
        // The words that held 0..2999 are reused for counters just below the new highest: they must be clear.
        for (var back = 1UL; back < 2048; back++)
        {
            Assert.True(window.IsAcceptable(1_000_000_000_000 - back), $"counter {back} below the top");
        }

        window.MarkSeen(ulong.MaxValue);
        Assert.False(window.IsAcceptable(ulong.MaxValue));
        Assert.True(window.IsAcceptable(ulong.MaxValue - 1));
        Assert.False(window.IsAcceptable(1_000_000_000_000));
    }

    [Fact]
    public void ReplayWindow_SlideByLessThanTheRing_ClearsOnlyTheNewWords()
    {
        var window = new ReplayWindow(128);
        window.MarkSeen(100);
        window.MarkSeen(130);

        window.MarkSeen(200);

        Assert.False(window.IsAcceptable(130));
        Assert.True(window.IsAcceptable(129));
        Assert.False(window.IsAcceptable(72));
        Assert.True(window.IsAcceptable(199));
        Assert.True(window.IsAcceptable(201));
    }

    [Fact]
    public void ReplayWindow_InvalidSize_Throws()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new ReplayWindow(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new ReplayWindow(100));
    }

    [Property(MaxTest = 300, EndSize = 3000)]
    public void ReplayWindow_RandomCounters_AgreeWithSetModel(byte sizeSeed, ulong start, ushort[] steps, bool[] marks)
    {
        steps ??= [];
        marks ??= [];
        var size = 64 * (1 + (sizeSeed % 40));
        var window = new ReplayWindow(size);
        var seen = new HashSet<ulong>();
        var highest = 0UL;
        var baseCounter = start % (ulong.MaxValue / 2);
        var cursor = baseCounter;

        for (var i = 0; i < steps.Length; i++)
        {
            // Mostly small moves either way around a cursor that drifts upward, sometimes a far jump.
            var step = steps[i];
            cursor = (step % 16) switch
            {
                0 => cursor + (ulong)(step * 97),
                1 or 2 or 3 => cursor > (ulong)(step % 4096) ? cursor - (ulong)(step % 4096) : 0,
                _ => cursor + (ulong)(step % 8),
            };
            var counter = cursor;
            var expected = !seen.Contains(counter) && (counter > highest || highest - counter < (ulong)size);

            Assert.Equal(expected, window.IsAcceptable(counter));
            if (i < marks.Length && !marks[i])
            {
                continue;
            }

            Assert.Equal(expected, window.MarkSeen(counter));
            if (expected)
            {
                seen.Add(counter);
                highest = Math.Max(highest, counter);
            }
        }
    }

    [Fact]
    public void ReplayWindow_CheckAndMark_AllocateNothing()
    {
        var window = new ReplayWindow();
        window.MarkSeen(1);
        var accepted = 0;

        var allocated = ThreadAllocations.During(() =>
        {
            for (ulong i = 0; i < 100_000; i++)
            {
                var counter = (i * 7) % 5000 + (i / 3);
                if (window.IsAcceptable(counter) && window.MarkSeen(counter))
                {
                    accepted++;
                }
            }
        });

        Assert.Equal(0, allocated);
        Assert.True(accepted > 1000);
    }
}
