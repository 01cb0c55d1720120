namespace Fabric.Tests.Lab;

public sealed partial class LabFabricTests
{
    /// <summary>Every cell of the default lab's verify grid: the trace's verdict is what the real connection did.</summary>
    [Fact]
    public void Trace_AgreesWithVerify_OnEveryCell() => TraceAgreement.AssertEveryCellAgrees(_run);

    [Fact]
    public void Trace_AcrossRouters_NamesEveryStepAndEndsWithTheVerdict()
    {
        var allowed = LabRun.Fabric("trace", "--from", "eng1", "--to", "10.200.0.80:80", "--lab", _run.Name, "--state-dir", _run.StateRoot);
        var denied = LabRun.Fabric("trace", "--from", "guest1", "--to", "10.10.1.20:5432", "--lab", _run.Name, "--state-dir", _run.StateRoot);

        Assert.True(allowed.Succeeded, allowed.ToString());
        Assert.Contains("router br1 (node br1a", allowed.Output, StringComparison.Ordinal);
        Assert.Contains("tenant     engineering: the container at 10.20.1.10 names tenant engineering", allowed.Output, StringComparison.Ordinal);
        Assert.Contains("access     allowed: fabric.services.web.access[0] = engineering", allowed.Output, StringComparison.Ordinal);
        Assert.Contains("peer path  dc1 over wan: waypoints 172.16.0.2 > 172.16.0.1", allowed.Output, StringComparison.Ordinal);
        Assert.Contains("router dc1 (node dc1a", allowed.Output, StringComparison.Ordinal);
        Assert.Contains("tenant     engineering: carried in the session's metadata from router br1", allowed.Output, StringComparison.Ordinal);
        Assert.Matches(@"\n  instance   web[12] 10\.10\.1\.1[12]:80: load balancing proportional", allowed.Output);
        Assert.Matches(@"\nverdict: forwarded to web[12] 10\.10\.1\.1[12]:80 via br1 > dc1\n$", allowed.Output);

        Assert.Equal(1, denied.ExitCode);
        Assert.Contains("access     denied: access = [finance]: guest is not listed", denied.Output, StringComparison.Ordinal);
        Assert.Matches(@"\nverdict: dropped access_denied at br1 by fabric\.services\.db\.access\n$", denied.Output);
    }
}
