using System.Diagnostics;
using Fabric.Lab;

namespace Fabric.Tests.Lab;

/// <summary>The lab's supervisor over real processes (no namespaces): how it starts them again, what it records, when it gives up.</summary>
public sealed class LabSupervisorTests : IDisposable
{
    private static readonly RestartPolicy Quick = new(TimeSpan.FromMilliseconds(20), TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(2), 4);
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);
    private readonly string _directory = Directory.CreateTempSubdirectory("fabric-supervisor-").FullName;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<int> _started = [];

    public void Dispose()
    {
        _stop.Cancel();
        foreach (var pid in _started.Where(LabProcesses.IsAlive))
        {
            Process.GetProcessById(pid).Kill();
        }

        _stop.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    private string Status => Path.Combine(_directory, "supervisor.json");

    [Fact]
    public async Task ProcessKilled_StartedAgain_StatusSaysHowItEnded()
    {
        var supervisor = Supervise(new SupervisedProcess("sleeper", Launched("sleeper", "sleep", "60")));
        var first = Until(() => LabSupervisor.ReadStatus(Status).GetValueOrDefault("sleeper") is { Pid: > 0 } s ? s : null);
        _started.Add(first.Pid);

        Process.GetProcessById(first.Pid).Kill();

        var again = Until(() => LabSupervisor.ReadStatus(Status)["sleeper"] is { Restarts: 1, State: SupervisedStatus.Running, Pid: > 0 } s ? s : null);
        _started.Add(again.Pid);
        Assert.NotEqual(first.Pid, again.Pid);
        Assert.Equal("killed by signal 9 (SIGKILL)", again.LastExit!.Describe());
        Assert.Equal(again.Pid, LabProcesses.ReadPid(Path.Combine(_directory, "sleeper.pid")));
        Assert.True(LabProcesses.IsAlive(again.Pid));
        _stop.Cancel();
        await supervisor;
        Assert.True(LabProcesses.IsAlive(again.Pid), "a stopped supervisor leaves its processes to lab down");
    }

    [Fact]
    public void ProcessFailsFastEveryTime_GivesUp_OthersKeepRunning()
    {
        Supervise(
            new SupervisedProcess("broken", Launched("broken", "sh", "-c", "exit 3")),
            new SupervisedProcess("fine", Launched("fine", "sleep", "60")));

        var broken = Until(() => LabSupervisor.ReadStatus(Status).GetValueOrDefault("broken") is { State: SupervisedStatus.GaveUp } s ? s : null);

        Assert.Equal(3, broken.Restarts);
        Assert.Equal(0, broken.Pid);
        Assert.Equal("exit 3", broken.LastExit!.Describe());
        var fine = LabSupervisor.ReadStatus(Status)["fine"];
        _started.Add(fine.Pid);
        Assert.Equal((SupervisedStatus.Running, 0), (fine.State, fine.Restarts));
        Assert.Null(fine.LastExit);
    }

    [Fact]
    public void Plan_WrittenAndReadBack_TheSame()
    {
        var plan = new List<SupervisedProcess> { new("r1a", ["ip", "netns", "exec", "fab-x-r1a", "fabric", "router"]), new("r2a", ["true"]) };
        var file = Path.Combine(_directory, "supervised.json");

        LabSupervisor.WritePlan(file, plan);

        var back = LabSupervisor.ReadPlan(file);
        Assert.Equal(plan.Select(p => (p.Name, string.Join(' ', p.Command))), back.Select(p => (p.Name, string.Join(' ', p.Command))));
    }

    /// <summary>The command as the lab launches it (its pid file, its log), without a namespace.</summary>
    private IReadOnlyList<string> Launched(string name, params string[] command) =>
        LabProcesses.Launch(Path.Combine(_directory, name + ".pid"), Path.Combine(_directory, name + ".log"), command);

    private Task Supervise(params SupervisedProcess[] plan) =>
        Task.Run(() => LabSupervisor.Run(plan, Status, Quick, TextWriter.Null, _stop.Token), TestContext.Current.CancellationToken);

    private static T Until<T>(Func<T?> probe)
        where T : class
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            if (probe() is { } value)
            {
                return value;
            }

            Assert.True(clock.Elapsed < Deadline, $"not within {Deadline.TotalSeconds} s");
            Thread.Sleep(20);
        }
    }
}
