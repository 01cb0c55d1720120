namespace Fabric.Tests.Support;

/// <summary>
/// Tests that measure bytes allocated on their thread run in this collection, alone: while other tests
/// allocate on other threads, a garbage collection they trigger can retire this thread's allocation
/// context mid-measurement and show up as a few kilobytes this thread never allocated.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class AllocationMeasurement
{
    public const string Name = "allocation measurement";
}
