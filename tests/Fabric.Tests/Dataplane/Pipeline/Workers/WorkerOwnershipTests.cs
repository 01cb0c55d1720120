using Fabric.Dataplane.Pipeline.Workers;

namespace Fabric.Tests.Dataplane.Pipeline.Workers;

public sealed class WorkerOwnershipTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(7)]
    public void OwnerOfWaypoint_BothPortsOfAPair_SameOwnerAndEveryWorkerOwnsPairs(int workers)
    {
        var owned = new int[workers];
        for (var even = 16384; even < 16384 + 2000; even += 2)
        {
            var owner = WorkerOwnership.OwnerOfWaypoint((ushort)even, workers);
            Assert.Equal(owner, WorkerOwnership.OwnerOfWaypoint((ushort)(even + 1), workers));
            owned[owner]++;
        }

        Assert.All(owned, count => Assert.InRange(count, 1000 / workers - 1, 1000 / workers + 1));
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(5)]
    public void NextPairOwnedBy_AnyStartAndOwner_TheOwnersNearestPairAtOrAfterTheStart(int workers)
    {
        for (var even = 16384; even < 16384 + 100; even += 2)
        {
            for (var owner = 0; owner < workers; owner++)
            {
                var pair = WorkerOwnership.NextPairOwnedBy(even, owner, workers);

                Assert.Equal(0, pair % 2);
                Assert.InRange(pair, even, even + 2 * (workers - 1));
                Assert.Equal(owner, WorkerOwnership.OwnerOfWaypoint((ushort)pair, workers));
            }
        }
    }

    [Fact]
    public void WorkerOwnership_OneWorker_OwnsEverythingWithoutSkipping()
    {
        Assert.Equal(0, WorkerOwnership.OwnerOfWaypoint(40001, 1));
        Assert.Equal(40000, WorkerOwnership.NextPairOwnedBy(40000, 0, 1));
    }
}
