using Fabric.Bench;
using Fabric.Dataplane.Pipeline.Workers;
using Fabric.Dataplane.Sessions;
using Fabric.Dataplane.Wire;
using Fabric.Tests.Support;

namespace Fabric.Tests.Dataplane.Pipeline.Workers;

[Collection(AllocationMeasurement.Name)]
public sealed class OwnerDirectoryTests
{
    private static SessionKey Key(int i) => SessionKey.V4(0x0A0A010B, 0x0A14010A, 80, (ushort)(40000 + i), IpProtocol.Tcp);

    [Fact]
    public void Publish_ThousandKeysOfTwoOwners_EachFoundWithItsOwnerUntilWithdrawn()
    {
        var directory = new OwnerDirectory(sessions: 1000, seed: 7);
        for (var i = 0; i < 1000; i++)
        {
            Assert.True(directory.Publish(Key(i), i % 2));
        }

        for (var i = 0; i < 1000; i++)
        {
            Assert.True(directory.TryFindOwner(Key(i), out var owner));
            Assert.Equal(i % 2, owner);
        }

        Assert.False(directory.TryFindOwner(Key(5000), out _));
        for (var i = 0; i < 1000; i += 2)
        {
            directory.Withdraw(Key(i), 0);
        }

        for (var i = 0; i < 1000; i++)
        {
            Assert.Equal(i % 2 == 1, directory.TryFindOwner(Key(i), out _));
        }

        Assert.Equal(0, directory.Refused);
    }

    [Fact]
    public void Withdraw_ByAnotherWorker_LeavesTheOwnersEntry()
    {
        var directory = new OwnerDirectory(sessions: 16, seed: 7);
        directory.Publish(Key(1), 1);

        directory.Withdraw(Key(1), 0);

        Assert.True(directory.TryFindOwner(Key(1), out var owner));
        Assert.Equal(1, owner);
    }

    [Fact]
    public void PublishAndWithdraw_ManyRounds_WithdrawnSlotsReusedNothingRefusedNothingAllocated()
    {
        var directory = new OwnerDirectory(sessions: 64, seed: 7);
        var allocated = ThreadAllocations.During(() =>
        {
            for (var round = 0; round < 100; round++)
            {
                for (var i = 0; i < 64; i++)
                {
                    directory.Publish(Key((round * 64) + i), 1);
                }

                for (var i = 0; i < 64; i++)
                {
                    directory.Withdraw(Key((round * 64) + i), 1);
                }
            }
        });

        Assert.Equal(0, allocated);
        Assert.Equal(0, directory.Refused);
    }
}
