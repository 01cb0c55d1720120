using System.Runtime;

namespace Fabric.Bench;

/// <summary>
/// Bytes the calling thread allocates in a measured window, with no garbage collection inside it. A collection that
/// another thread triggers mid-window retires this thread's allocation context and can show up as a few kilobytes the
/// thread never allocated (a CI run of the unit tests read 0.01 B/packet from <c>bench svr</c> once, never again in
/// 25 runs alone or under load, and 7 768 bytes once in a test that allocates nothing); a no-GC region of
/// <see cref="Budget"/> bytes keeps collections out of the window. Whatever the window allocates for itself (a warm-up,
/// the fixtures) belongs outside it: the budget is what the whole process may allocate while it runs.
/// </summary>
/// <remarks>
/// Thread-safe: windows are counted one at a time (a no-GC region is process-wide, so two windows at once would
/// share one region and the first to end would end it under the other).
/// </remarks>
public static class ThreadAllocations
{
    /// <summary>What the whole process may allocate during a window before the runtime collects anyway (and ends the region).</summary>
    public const long Budget = 64L << 20;

    private static readonly Lock OneWindowAtATime = new();

    /// <summary>Runs <paramref name="window"/> and returns what it returns with the bytes this thread allocated meanwhile.</summary>
    public static (T Result, long Allocated) During<T>(Func<T> window)
    {
        ArgumentNullException.ThrowIfNull(window);
        lock (OneWindowAtATime)
        {
            var region = GCSettings.LatencyMode != GCLatencyMode.NoGCRegion && GC.TryStartNoGCRegion(Budget);
            try
            {
                var before = GC.GetAllocatedBytesForCurrentThread();
                var result = window();
                return (result, GC.GetAllocatedBytesForCurrentThread() - before);
            }
            finally
            {
                // The region ends by itself when the process allocated more than the budget (the runtime collected).
                if (region && GCSettings.LatencyMode == GCLatencyMode.NoGCRegion)
                {
                    GC.EndNoGCRegion();
                }
            }
        }
    }

    /// <summary>Runs <paramref name="window"/> and returns the bytes this thread allocated meanwhile.</summary>
    public static long During(Action window)
    {
        ArgumentNullException.ThrowIfNull(window);
        return During(() =>
        {
            window();
            return 0;
        }).Allocated;
    }
}
