using Fabric.Bench;
using Fabric.Dataplane.Svr;
using FsCheck.Xunit;
using Fabric.Tests.Support;

namespace Fabric.Tests.Dataplane.Svr;

[Collection(AllocationMeasurement.Name)]
public class WaypointAllocatorTests
{
    [Fact]
    public void WaypointAllocator_Defaults_GiveEvenLocalAndOddPeerPortsInRange()
    {
        var allocator = new WaypointAllocator(seed: 42);

        Assert.Equal(50_000, allocator.Capacity);
        for (var i = 0; i < 50_000; i++)
        {
            Assert.True(allocator.TryAllocate(out var local, out var peer));
            Assert.Equal(0, local % 2);
            Assert.Equal(1, peer % 2);
            Assert.InRange(local, 16384, 65534);
            Assert.InRange(peer, 16384, 65534);
        }

        Assert.Equal(50_000, allocator.InUse);
        Assert.False(allocator.TryAllocate(out _, out _));
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    public void WaypointAllocator_Lanes_EachWorkerGetsOnlyPairsItsPortsNameAndTheLanesTogetherHoldThePool(int workers)
    {
        var allocator = new WaypointAllocator(16384, 16384 + 199, maxInUse: 600, seed: 42, workers: workers);
        var pairs = new HashSet<(ushort, ushort)>();
        for (var owner = 0; owner < workers; owner++)
        {
            while (allocator.TryAllocate(out var local, out var peer, owner))
            {
                Assert.Equal(owner, Fabric.Dataplane.Pipeline.Workers.WorkerOwnership.OwnerOfWaypoint(local, workers));
                Assert.True(pairs.Add((local, peer)));
            }
        }

        Assert.Equal(allocator.Capacity, pairs.Count);
        Assert.Equal(allocator.Capacity, allocator.InUse);
        var (firstLocal, firstPeer) = pairs.First();
        Assert.True(allocator.Release(firstLocal, firstPeer));
        Assert.False(allocator.Release(firstLocal, firstPeer));
        var lane = Fabric.Dataplane.Pipeline.Workers.WorkerOwnership.OwnerOfWaypoint(firstLocal, workers);
        Assert.False(allocator.TryAllocate(out _, out _, (lane + 1) % workers));
        Assert.True(allocator.TryAllocate(out var again, out var againPeer, lane));
        Assert.Equal((firstLocal, firstPeer), (again, againPeer));
    }

    [Fact]
    public void WaypointAllocator_SmallRange_HandsOutEveryPairOnceThenRefuses()
    {
        // 100..105: evens 100, 102, 104; odds 101, 103, 105: nine pairs.
        var allocator = new WaypointAllocator(100, 105, maxInUse: 1000, seed: 7);
        var pairs = new HashSet<(ushort, ushort)>();

        while (allocator.TryAllocate(out var local, out var peer))
        {
            Assert.True(pairs.Add((local, peer)), $"{local}/{peer} handed out twice");
            Assert.True(allocator.IsInUse(local, peer));
        }

        Assert.Equal(9, allocator.Capacity);
        Assert.Equal(9, pairs.Count);
        Assert.Equal(9, allocator.InUse);
        Assert.All(pairs, pair => Assert.Contains(pair.Item1, new ushort[] { 100, 102, 104 }));
        Assert.All(pairs, pair => Assert.Contains(pair.Item2, new ushort[] { 101, 103, 105 }));
        Assert.False(allocator.TryAllocate(out var noLocal, out var noPeer));
        Assert.Equal(0, noLocal + noPeer);
    }

    [Fact]
    public void WaypointAllocator_OddBoundaries_StayInsideTheRange()
    {
        var allocator = new WaypointAllocator(1001, 1010, maxInUse: 100);

        while (allocator.TryAllocate(out var local, out var peer))
        {
            Assert.InRange(local, 1002, 1010);
            Assert.InRange(peer, 1001, 1009);
        }

        Assert.Equal(25, allocator.Capacity);
    }

    [Fact]
    public void WaypointAllocator_Release_MakesThePairAvailableAgainLast()
    {
        var allocator = new WaypointAllocator(2000, 2003, maxInUse: 4, seed: 1);
        var pairs = new List<(ushort Local, ushort Peer)>();
        while (allocator.TryAllocate(out var local, out var peer))
        {
            pairs.Add((local, peer));
        }

        Assert.Equal(4, pairs.Count);
        Assert.True(allocator.Release(pairs[2].Local, pairs[2].Peer));
        Assert.False(allocator.Release(pairs[2].Local, pairs[2].Peer));
        Assert.False(allocator.IsInUse(pairs[2].Local, pairs[2].Peer));
        Assert.Equal(3, allocator.InUse);

        Assert.True(allocator.TryAllocate(out var again, out var againPeer));
        Assert.Equal(pairs[2], (again, againPeer));
        Assert.False(allocator.TryAllocate(out _, out _));
    }

    [Theory]
    [InlineData(2001, 2000)]
    [InlineData(2000, 2001)]
    [InlineData(1998, 2001)]
    [InlineData(2004, 2001)]
    [InlineData(2000, 2005)]
    [InlineData(0, 0)]
    public void WaypointAllocator_ReleaseOfForeignPair_ChangesNothing(ushort local, ushort peer)
    {
        var allocator = new WaypointAllocator(2000, 2003, maxInUse: 4);
        Assert.True(allocator.TryAllocate(out _, out _));

        Assert.False(allocator.Release(local, peer));
        Assert.Equal(1, allocator.InUse);
    }

    [Fact]
    public void WaypointAllocator_Seeds_ChangeTheOrderButNotTheSet()
    {
        var first = Drain(new WaypointAllocator(3000, 3099, maxInUse: 500, seed: 1));
        var second = Drain(new WaypointAllocator(3000, 3099, maxInUse: 500, seed: 2));
        var repeat = Drain(new WaypointAllocator(3000, 3099, maxInUse: 500, seed: 1));

        Assert.Equal(first, repeat);
        Assert.NotEqual(first, second);
        Assert.Equal(first.ToHashSet(), second.ToHashSet());
        Assert.Equal(500, first.Distinct().Count());
    }

    [Fact]
    public void WaypointAllocator_InvalidSettings_Throw()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new WaypointAllocator(2000, 2000));
        Assert.Throws<ArgumentOutOfRangeException>(() => new WaypointAllocator(3000, 2000));
        Assert.Throws<ArgumentOutOfRangeException>(() => new WaypointAllocator(maxInUse: 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new WaypointAllocator(maxInUse: WaypointAllocator.MaxCapacity + 1));
    }

    [Property(MaxTest = 300, EndSize = 2000)]
    public void WaypointAllocator_RandomOperations_AgreeWithSetModel(ushort firstSeed, byte widthSeed, byte capSeed, ulong seed, byte[] script)
    {
        script ??= [];
        var first = (ushort)(1024 + (firstSeed % 60000));
        var last = (ushort)Math.Min(65535, first + 1 + (widthSeed % 40));
        var allocator = new WaypointAllocator(first, last, maxInUse: 1 + (capSeed % 200), seed);
        var live = new List<(ushort Local, ushort Peer)>();
        var liveSet = new HashSet<(ushort, ushort)>();
        var released = new HashSet<(ushort, ushort)>();

        foreach (var step in script)
        {
            if (step % 3 != 0 || live.Count == 0)
            {
                var allocated = allocator.TryAllocate(out var local, out var peer);
                Assert.Equal(live.Count < allocator.Capacity, allocated);
                if (allocated)
                {
                    Assert.True(local % 2 == 0 && peer % 2 == 1 && local >= first && local <= last && peer >= first && peer <= last);
                    Assert.True(liveSet.Add((local, peer)), "a live pair was handed out again");
                    live.Add((local, peer));
                }
            }
            else
            {
                var pair = live[step % live.Count];
                live.Remove(pair);
                liveSet.Remove(pair);
                released.Add(pair);
                Assert.True(allocator.Release(pair.Local, pair.Peer));
                Assert.False(allocator.Release(pair.Local, pair.Peer));
            }

            Assert.Equal(live.Count, allocator.InUse);
        }

        Assert.All(live, pair => Assert.True(allocator.IsInUse(pair.Local, pair.Peer)));
        Assert.All(released.Where(pair => !liveSet.Contains(pair)), pair => Assert.False(allocator.IsInUse(pair.Item1, pair.Item2)));
    }

    [Fact]
    public void WaypointAllocator_AllocateAndRelease_AllocateNothing()
    {
        var allocator = new WaypointAllocator(seed: 3);
        allocator.TryAllocate(out var warmLocal, out var warmPeer);
        allocator.Release(warmLocal, warmPeer);
        var sum = 0L;

        var allocated = ThreadAllocations.During(() =>
        {
            for (var i = 0; i < 100_000; i++)
            {
                allocator.TryAllocate(out var local, out var peer);
                sum += local + peer;
                if (i % 3 != 0)
                {
                    allocator.Release(local, peer);
                }
            }
        });

        Assert.Equal(0, allocated);
        Assert.True(sum > 0);
        Assert.Equal(33_334, allocator.InUse);
    }

    private static List<(ushort, ushort)> Drain(WaypointAllocator allocator)
    {
        var pairs = new List<(ushort, ushort)>();
        while (allocator.TryAllocate(out var local, out var peer))
        {
            pairs.Add((local, peer));
        }

        return pairs;
    }
}
