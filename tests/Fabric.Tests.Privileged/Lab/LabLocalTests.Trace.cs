namespace Fabric.Tests.Lab;

public sealed partial class LabLocalTests
{
    /// <summary>Every cell of the one-router lab's verify grid: the trace's verdict is what the real connection did.</summary>
    [Fact]
    public void Trace_AgreesWithVerify_OnEveryCell() => TraceAgreement.AssertEveryCellAgrees(_run);
}
