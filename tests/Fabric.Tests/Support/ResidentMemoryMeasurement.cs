namespace Fabric.Tests.Support;

/// <summary>
/// Tests that read the whole process's resident memory (<c>/proc/self/statm</c>) before and after an act run in this
/// collection, alone: another test allocating or freeing megabytes in the same window would move the figure.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ResidentMemoryMeasurement
{
    public const string Name = "resident memory measurement";
}
