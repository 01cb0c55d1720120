using System.Globalization;
using Fabric.Dataplane.Io.Linux;

namespace Fabric.Tests.Dataplane.Io.Linux;

/// <summary>The packet worker's scheduling: a thread that applies it runs under SCHED_FIFO at the priority given.</summary>
public sealed class RealtimeSchedulingTests
{
    [Fact]
    public void ApplyToCurrentThread_AsRoot_TheThreadRunsFifoAtThePriority_NothingRefused()
    {
        var refusals = new List<string>();
        var scheduling = new RealtimeScheduling(10, refusals.Add);
        string[]? stat = null;

        var thread = new Thread(() =>
        {
            scheduling.ApplyToCurrentThread();
            // /proc/thread-self/stat after the command's closing parenthesis: field 18 of the rest is rt_priority, 39 policy.
            var text = File.ReadAllText("/proc/thread-self/stat");
            stat = text[(text.LastIndexOf(')') + 2)..].Split(' ');
        });
        thread.Start();
        thread.Join();

        Assert.Empty(refusals);
        Assert.NotNull(stat);
        Assert.Equal(1, int.Parse(stat[38], CultureInfo.InvariantCulture)); // SCHED_FIFO
        Assert.Equal(10, int.Parse(stat[37], CultureInfo.InvariantCulture));
    }

    [Fact]
    public void Constructor_PriorityOutsideFifoRange_Refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new RealtimeScheduling(0, _ => { }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new RealtimeScheduling(100, _ => { }));
    }
}
