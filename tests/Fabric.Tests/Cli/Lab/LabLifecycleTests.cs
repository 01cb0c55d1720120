namespace Fabric.Tests.Cli.Lab;

/// <summary><c>fabric lab up</c> then <c>down</c> on the default topology: the machine is left as it was.</summary>
[Collection(LabCollection.Name)]
public sealed class LabLifecycleTests
{
    [Fact]
    public void Down_AfterUp_LeavesNamespacesAndLinksAsBefore_AndASecondDownIsFine()
    {
        var before = LabRun.MachineNetworks();
        using var run = new LabRun("d", File.ReadAllText(Support.Repository.PathOf("hocon/lab.conf")));

        var up = run.Up();
        Assert.True(up.Succeeded, up.ToString());
        Assert.Contains(run.NamespaceOf("dc1a"), string.Join('\n', LabRun.MachineNetworks()), StringComparison.Ordinal);
        var ping = run.Exec("fin1", "ping", "-n", "-c", "1", "-W", "2", "10.30.1.1");
        Assert.True(ping.Succeeded, ping.ToString());

        var down = run.Down();
        Assert.True(down.Succeeded, down.ToString());
        Assert.Contains("is down: stopped 7 processes, removed 13 namespaces", down.Output, StringComparison.Ordinal);
        Assert.Equal(before, LabRun.MachineNetworks());

        var again = run.Down();
        Assert.True(again.Succeeded, again.ToString());
        Assert.Contains("is not up; nothing to remove", again.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void Up_InvalidTopology_PrintsEveryErrorWithItsPath_AndBuildsNothing()
    {
        var before = LabRun.MachineNetworks();
        using var run = new LabRun("v", File.ReadAllText(Support.Repository.PathOf("hocon/lab.conf")).Replace("access = [finance]", "access = [finanse]", StringComparison.Ordinal));

        var up = run.Up();

        Assert.Equal(2, up.ExitCode);
        Assert.Contains("fabric.services.db.access[0]: unknown tenant \"finanse\"", up.Error, StringComparison.Ordinal);
        Assert.Equal(before, LabRun.MachineNetworks());
    }
}
