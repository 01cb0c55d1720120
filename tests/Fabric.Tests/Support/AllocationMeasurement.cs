namespace Fabric.Tests.Support;

/// <summary>
/// Tests that measure bytes allocated on their thread run in this collection, alone, and count each window with
/// <see cref="Fabric.Bench.ThreadAllocations.During(System.Action)"/>: a garbage collection that another thread triggers
/// mid-window retires this thread's allocation context and shows up as a few kilobytes this thread never allocated, so
/// the window runs inside a no-GC region, and running alone keeps other tests from spending that region's budget.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class AllocationMeasurement
{
    public const string Name = "allocation measurement";
}
