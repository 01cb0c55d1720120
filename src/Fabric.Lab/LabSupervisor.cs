using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Fabric.Lab;

/// <summary>A process the lab's supervisor keeps running: its name (its pid file's and log's) and its whole command line.</summary>
public sealed record SupervisedProcess(string Name, IReadOnlyList<string> Command);

/// <summary>How a supervised process last ended.</summary>
/// <param name="Code">Its exit code; 128 + N when signal N killed it (as a shell reports it).</param>
/// <param name="At">When the supervisor saw it end.</param>
/// <param name="RanSeconds">How long that run lasted.</param>
public sealed record SupervisedExit(int Code, DateTimeOffset At, double RanSeconds)
{
    private static readonly Dictionary<int, string> SignalNames = new()
    {
        [1] = "SIGHUP", [2] = "SIGINT", [3] = "SIGQUIT", [4] = "SIGILL", [6] = "SIGABRT", [7] = "SIGBUS", [8] = "SIGFPE",
        [9] = "SIGKILL", [11] = "SIGSEGV", [13] = "SIGPIPE", [15] = "SIGTERM",
    };

    /// <summary>The end in words: <c>exit 3</c>, or <c>killed by signal 9 (SIGKILL)</c>.</summary>
    public string Describe() => Code is > 128 and <= 128 + 64
        ? $"killed by signal {Code - 128}{(SignalNames.TryGetValue(Code - 128, out var name) ? $" ({name})" : "")}"
        : $"exit {Code}";
}

/// <summary>One supervised process as the supervisor's status file shows it.</summary>
/// <param name="State"><see cref="Running"/>, <see cref="Restarting"/> (waiting out its delay) or <see cref="GaveUp"/>.</param>
/// <param name="Pid">The pid of its current run (0 when it does not run).</param>
/// <param name="Restarts">How many times the supervisor started it again after it ended.</param>
/// <param name="LastExit">How its last run ended; null while its first run lasts.</param>
public sealed record SupervisedStatus(string Name, string State, int Pid, int Restarts, SupervisedExit? LastExit)
{
    public const string Running = "running";
    public const string Restarting = "restarting";
    public const string GaveUp = "gave up";
}

/// <summary>
/// The lab's supervisor (<c>fabric lab supervise</c>, started by <c>lab up</c> in the lab's wires namespace): starts
/// every router process of the lab as its own child and starts one again when it ends, as a service manager does
/// (<see cref="RestartPolicy"/>: a growing delay, giving up after repeated fast failures). It knows how each run
/// ended from the child's exit status, and keeps every process's state in a status file (JSON, replaced whole on
/// each change) that <c>lab status</c> shows. Stopped (SIGTERM), it leaves its children running: <c>lab down</c>
/// stops it first, then them. Not thread-safe: <see cref="Run"/> owns it.
/// </summary>
public sealed class LabSupervisor
{
    /// <summary>The supervisor's own name among the lab's processes (its pid file and log).</summary>
    public const string ProcessName = "supervisor";

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, DefaultIgnoreCondition = JsonIgnoreCondition.Never };

    private readonly RestartPolicy _policy;
    private readonly string _statusFile;
    private readonly TextWriter _log;
    private readonly Child[] _children;
    private readonly BlockingCollection<(Child Child, Process Process)> _exits = [];

    private LabSupervisor(IReadOnlyList<SupervisedProcess> plan, string statusFile, RestartPolicy policy, TextWriter log)
    {
        _policy = policy;
        _statusFile = statusFile;
        _log = log;
        _children = [.. plan.Select(p => new Child(p))];
    }

    /// <summary>Where a lab's supervisor reads what to run.</summary>
    public static string PlanOf(LabLayout layout) => Path.Combine(layout.StateDirectory, "supervised.json");

    /// <summary>Where a lab's supervisor keeps its status.</summary>
    public static string StatusOf(LabLayout layout) => Path.Combine(layout.StateDirectory, "supervisor.json");

    public static void WritePlan(string file, IReadOnlyList<SupervisedProcess> plan) => WriteWhole(file, JsonSerializer.Serialize(plan, Json));

    public static IReadOnlyList<SupervisedProcess> ReadPlan(string file) =>
        JsonSerializer.Deserialize<List<SupervisedProcess>>(File.ReadAllText(file), Json) ?? [];

    /// <summary>The status file's processes by name; empty when there is none (no supervisor, or it has not written yet).</summary>
    public static IReadOnlyDictionary<string, SupervisedStatus> ReadStatus(string file)
    {
        try
        {
            return (JsonSerializer.Deserialize<List<SupervisedStatus>>(File.ReadAllText(file), Json) ?? []).ToDictionary(s => s.Name);
        }
        catch (Exception e) when (e is IOException or JsonException)
        {
            return new Dictionary<string, SupervisedStatus>();
        }
    }

    /// <summary>Starts every process of <paramref name="plan"/> and keeps them running until <paramref name="stop"/> is cancelled.</summary>
    public static void Run(IReadOnlyList<SupervisedProcess> plan, string statusFile, RestartPolicy policy, TextWriter log, CancellationToken stop)
    {
        ArgumentNullException.ThrowIfNull(plan);
        new LabSupervisor(plan, statusFile, policy, log).Loop(stop);
    }

    private void Loop(CancellationToken stop)
    {
        foreach (var child in _children)
        {
            Start(child);
        }

        Save();
        while (!stop.IsCancellationRequested)
        {
            var now = Stopwatch.GetTimestamp();
            var next = _children.Where(c => c.StartAt is not null).Select(c => c.StartAt!.Value).DefaultIfEmpty(long.MaxValue).Min();
            var wait = next == long.MaxValue ? Timeout.Infinite : (int)Math.Ceiling(Stopwatch.GetElapsedTime(now, Math.Max(now, next)).TotalMilliseconds);
            try
            {
                if (_exits.TryTake(out var exit, wait, stop))
                {
                    Ended(exit.Child, exit.Process);
                }
            }
            catch (OperationCanceledException)
            {
                return;
            }

            var changed = false;
            foreach (var due in _children.Where(c => c.StartAt is { } at && at <= Stopwatch.GetTimestamp()))
            {
                due.StartAt = null;
                due.Restarts++;
                Start(due);
                changed = true;
            }

            if (changed)
            {
                Save();
            }
        }
    }

    private void Start(Child child)
    {
        var info = new ProcessStartInfo(child.Plan.Command[0]) { UseShellExecute = false };
        foreach (var argument in child.Plan.Command.Skip(1))
        {
            info.ArgumentList.Add(argument);
        }

        child.StartedAt = Stopwatch.GetTimestamp();
        try
        {
            var process = new Process { StartInfo = info, EnableRaisingEvents = true };
            process.Exited += (_, _) => _exits.Add((child, process));
            process.Start();
            child.Pid = process.Id;
            child.State = SupervisedStatus.Running;
            Log($"event=started process={child.Plan.Name} pid={child.Pid} restarts={child.Restarts}");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            Log($"event=start-failed process={child.Plan.Name} reason=\"{e.Message}\"");
            child.Pid = 0;
            Decide(child, new SupervisedExit(127, DateTimeOffset.UtcNow, 0));
        }
    }

    private void Ended(Child child, Process process)
    {
        var ran = Stopwatch.GetElapsedTime(child.StartedAt);
        var exit = new SupervisedExit(process.ExitCode, DateTimeOffset.UtcNow, Math.Round(ran.TotalSeconds, 3));
        process.Dispose();
        child.Pid = 0;
        Log($"event=exited process={child.Plan.Name} how=\"{exit.Describe()}\" ran={exit.RanSeconds.ToString("0.0", CultureInfo.InvariantCulture)}s");
        Decide(child, exit);
        Save();
    }

    private void Decide(Child child, SupervisedExit exit)
    {
        child.LastExit = exit;
        var (decision, failures) = _policy.After(TimeSpan.FromSeconds(exit.RanSeconds), child.FastFailures, exit.Code);
        child.FastFailures = failures;
        if (decision.GiveUp)
        {
            child.State = SupervisedStatus.GaveUp;
            Log($"event=gave-up process={child.Plan.Name} fast_failures={failures}");
            return;
        }

        child.State = SupervisedStatus.Restarting;
        child.StartAt = Stopwatch.GetTimestamp() + (long)(decision.Delay.TotalSeconds * Stopwatch.Frequency);
        Log($"event=restarting process={child.Plan.Name} in={decision.Delay.TotalSeconds.ToString("0.0##", CultureInfo.InvariantCulture)}s");
    }

    private void Save() => WriteWhole(_statusFile, JsonSerializer.Serialize(
        _children.Select(c => new SupervisedStatus(c.Plan.Name, c.State, c.Pid, c.Restarts, c.LastExit)).ToList(), Json));

    private void Log(string fields) => _log.WriteLine($"time={DateTimeOffset.UtcNow:O} {fields}");

    /// <summary>Writes a file whole: readers see the old or the new content, never a part.</summary>
    private static void WriteWhole(string file, string content)
    {
        var temporary = file + ".tmp";
        File.WriteAllText(temporary, content);
        File.Move(temporary, file, overwrite: true);
    }

    private sealed class Child(SupervisedProcess plan)
    {
        public SupervisedProcess Plan { get; } = plan;

        public string State { get; set; } = SupervisedStatus.Running;

        public int Pid { get; set; }

        public int Restarts { get; set; }

        public int FastFailures { get; set; }

        public long StartedAt { get; set; }

        public long? StartAt { get; set; }

        public SupervisedExit? LastExit { get; set; }
    }
}
