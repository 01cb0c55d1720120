using Fabric.Dataplane.LoadBalancing;

namespace Fabric.Tests.Dataplane.LoadBalancing;

public class InstanceLoadTests
{
    [Fact]
    public void InstanceLoad_New_AllUpWithoutSessions()
    {
        var load = new InstanceLoad(3);

        Assert.All(Enumerable.Range(0, 3), i => Assert.Equal(InstanceHealth.Up, load.Health(i)));
        Assert.All(Enumerable.Range(0, 3), i => Assert.Equal(0, load.Sessions(i)));
    }

    [Fact]
    public void InstanceLoad_SetHealth_PublishesACopy()
    {
        var load = new InstanceLoad(2);
        InstanceHealth[] health = [InstanceHealth.Down, InstanceHealth.Up];

        load.SetHealth(health);
        health[0] = InstanceHealth.Up;

        Assert.False(load.Health(0).IsUp);
        Assert.Throws<ArgumentException>(() => load.SetHealth([InstanceHealth.Up]));
    }

    [Fact]
    public void InstanceLoad_StartsAndEndsFromTwoThreads_CountExactly()
    {
        var load = new InstanceLoad(1);
        using var ready = new Barrier(2);

        void Worker()
        {
            ready.SignalAndWait();
            for (var i = 0; i < 100_000; i++)
            {
                load.OnSessionStart(0);
                load.OnSessionStart(0);
                load.OnSessionEnd(0);
            }
        }

        var threads = new[] { new Thread(Worker), new Thread(Worker) };
        threads[0].Start();
        threads[1].Start();
        foreach (var thread in threads)
        {
            thread.Join();
        }

        Assert.Equal(200_000, load.LocalSessions(0));
    }

    [Fact]
    public void InstanceLoad_RemoteLoad_AddsToLocal()
    {
        var load = new InstanceLoad(1);
        load.OnSessionStart(0);
        load.ReportRemoteLoad(0, 41);

        Assert.Equal(42, load.Sessions(0));
        load.ReportRemoteLoad(0, -5);
        Assert.Equal(1, load.Sessions(0));
    }

    [Fact]
    public void InstanceHealth_WeightOutOfRange_IsClamped()
    {
        Assert.Equal(1, default(InstanceHealth).EffectiveWeight);
        Assert.Equal(InstanceHealth.MaxWeight, new InstanceHealth(true, int.MaxValue).EffectiveWeight);
    }

    [Fact]
    public void InstanceSet_MismatchedArrays_Throws()
    {
        Assert.Throws<ArgumentException>(() => new InstanceSet([1, 2], [0]));
        Assert.Throws<ArgumentOutOfRangeException>(() => new InstanceSet([-1], [0]));
    }
}
