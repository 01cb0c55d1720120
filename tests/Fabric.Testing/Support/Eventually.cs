using System.Diagnostics;

namespace Fabric.Tests.Support;

/// <summary>Waits for something a test made to come about in other processes: polls, and fails with what it waited for.</summary>
public static class Eventually
{
    /// <summary>How often <see cref="True"/> looks.</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(100);

    /// <summary>Returns once <paramref name="condition"/> holds; fails the test when it still does not after <paramref name="deadline"/>.</summary>
    public static void True(Func<bool> condition, TimeSpan deadline, string what)
    {
        ArgumentNullException.ThrowIfNull(condition);
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(clock.Elapsed < deadline, $"not within {deadline.TotalSeconds} s: {what}");
            Thread.Sleep(Interval);
        }
    }
}
