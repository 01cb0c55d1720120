using System.Diagnostics;
using System.Text.RegularExpressions;

namespace Fabric.Lab;

/// <summary>What <c>lab restart</c> saw of one restart.</summary>
/// <param name="Stopped">From SIGTERM until the old process was gone.</param>
/// <param name="Answering">From SIGTERM until the new process answered on its admin socket (it forwards from then on).</param>
/// <param name="HandedOver">Sessions the old process left (its <c>sessions-handed-over</c> line), null when it wrote none.</param>
/// <param name="Restored">Sessions the new process took (its <c>started</c> line), null when its log does not say.</param>
/// <param name="Refused">Why the new process refused the session state file, when it did.</param>
public sealed record LabRestartReport(string Node, int OldPid, int NewPid, TimeSpan Stopped, TimeSpan Answering, int? HandedOver, int? Restored, string? Refused);

/// <summary>
/// <c>fabric lab restart NODE</c>: restarts one router node of a running lab as an operator's restart or an upgrade does:
/// SIGTERM to its process, which hands its sessions over (docs/sessions.md "Restarts") and exits; the lab's supervisor
/// starts it again at once (<see cref="RestartPolicy"/>: an exit 0 was asked for); done when the new process answers on
/// its admin socket. Thread-safe: stateless.
/// </summary>
public static partial class LabRestart
{
    /// <summary>How long the old process may take to stop (it leaves the cluster first).</summary>
    public static readonly TimeSpan StopDeadline = TimeSpan.FromSeconds(30);

    /// <summary>How long the new process may take to answer.</summary>
    public static readonly TimeSpan StartDeadline = TimeSpan.FromSeconds(60);

    /// <summary>Restarts <paramref name="node"/>; throws <see cref="LabException"/> saying why when it cannot.</summary>
    public static LabRestartReport Run(LabLayout layout, string node)
    {
        ArgumentNullException.ThrowIfNull(layout);
        var plan = File.Exists(LabSupervisor.PlanOf(layout)) ? LabSupervisor.ReadPlan(LabSupervisor.PlanOf(layout)) : [];
        if (plan.All(p => p.Name != node))
        {
            throw new LabException(plan.Count == 0
                ? $"lab \"{layout.Name}\" is not up; start it with ./fabric lab up"
                : $"lab \"{layout.Name}\" has no router node \"{node}\" (it has: {string.Join(", ", plan.Select(p => p.Name))})");
        }

        if (LabProcesses.ReadPid(layout.PidFileOf(LabSupervisor.ProcessName)) is not { } supervisor || !LabProcesses.IsAlive(supervisor))
        {
            throw new LabException($"the supervisor of lab \"{layout.Name}\" does not run, so nothing would start {node} again; bring the lab down and up");
        }

        var status = LabSupervisor.StatusOf(layout);
        var old = LabSupervisor.ReadStatus(status).GetValueOrDefault(node);
        if (old is not { State: SupervisedStatus.Running, Pid: > 0 } || !LabProcesses.IsAlive(old.Pid))
        {
            throw new LabException($"router node {node} is not running ({old?.State ?? "unknown"}); see ./fabric lab status");
        }

        var log = layout.LogOf(node);
        var logFrom = new FileInfo(log).Length;
        // The signal straight from here (not through a shell), so the clock starts when it is sent.
        var clock = Stopwatch.StartNew();
        if (Tmds.Linux.LibC.kill(old.Pid, Tmds.Linux.LibC.SIGTERM) != 0)
        {
            throw new LabException($"cannot signal router node {node} (pid {old.Pid}): it ended meanwhile, or this is not root");
        }

        while (LabProcesses.IsAlive(old.Pid))
        {
            if (clock.Elapsed > StopDeadline)
            {
                throw new LabException($"router node {node} (pid {old.Pid}) did not stop within {StopDeadline.TotalSeconds} s of SIGTERM (log {log})");
            }

            Thread.Sleep(5);
        }

        var stopped = clock.Elapsed;
        var socket = layout.AdminSocketOf(node);
        SupervisedStatus? now;
        while ((now = LabSupervisor.ReadStatus(status).GetValueOrDefault(node)) is not { State: SupervisedStatus.Running } || now.Pid == old.Pid || !LabBuilder.Answers(socket))
        {
            if (now?.State == SupervisedStatus.GaveUp || clock.Elapsed > StartDeadline)
            {
                throw new LabException($"router node {node} did not start again within {StartDeadline.TotalSeconds} s (log {log}):\n{LabProcesses.Tail(log)}");
            }

            Thread.Sleep(5);
        }

        var answering = clock.Elapsed;

        // The started line comes once the node has joined the cluster too: after it answers, not before.
        string[] lines;
        while (!(lines = NewLines(log, logFrom)).Any(l => RestoredLine().IsMatch(l)) && clock.Elapsed < StartDeadline)
        {
            Thread.Sleep(20);
        }

        return new LabRestartReport(
            node, old.Pid, now.Pid, stopped, answering,
            Field(lines, HandedOverLine()), Field(lines, RestoredLine()),
            lines.Select(l => RefusedLine().Match(l)).FirstOrDefault(m => m.Success)?.Groups[1].Value);
    }

    private static string[] NewLines(string log, long from)
    {
        using var stream = new FileStream(log, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        stream.Seek(Math.Min(from, stream.Length), SeekOrigin.Begin);
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd().Split('\n');
    }

    private static int? Field(string[] lines, Regex pattern) =>
        lines.Select(l => pattern.Match(l)).FirstOrDefault(m => m.Success) is { } match
            ? int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture)
            : null;

    [GeneratedRegex(@"event=sessions-handed-over .*sessions=(\d+)")]
    private static partial Regex HandedOverLine();

    [GeneratedRegex(@"event=started .*sessions-restored=(\d+)")]
    private static partial Regex RestoredLine();

    [GeneratedRegex(@"the session state file \S+ is refused: (.*); the node starts with no sessions")]
    private static partial Regex RefusedLine();
}
