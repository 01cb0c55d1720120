using System.Diagnostics;
using Fabric.Router;

namespace Fabric.Lab;

/// <summary>
/// Starts lab processes detached inside namespaces (they outlive <c>fabric lab up</c>), and stops
/// them. Each writes its own pid file and log. Thread-safe: stateless.
/// </summary>
public static class LabProcesses
{
    // Run by sh inside the namespace: record its own pid (which exec keeps), then become the program
    // with its output in the log. $0 is the pid file, $1 the log, the rest the program and arguments.
    private const string LaunchScript = "echo $$ >\"$0\"; log=\"$1\"; shift; exec \"$@\" >>\"$log\" 2>&1 </dev/null";

    /// <summary>
    /// The command line that runs <paramref name="command"/> inside <paramref name="ns"/> with its pid in
    /// <paramref name="pidFile"/> and its output appended to <paramref name="logFile"/> (the pid is the program's:
    /// <c>ip netns exec</c> and the shell both exec it).
    /// </summary>
    public static IReadOnlyList<string> Launch(string ns, string pidFile, string logFile, IReadOnlyList<string> command) =>
        ["ip", "netns", "exec", ns, .. Launch(pidFile, logFile, command)];

    /// <summary>The same in the caller's namespace.</summary>
    public static IReadOnlyList<string> Launch(string pidFile, string logFile, IReadOnlyList<string> command) =>
        ["sh", "-c", LaunchScript, pidFile, logFile, .. command];

    /// <summary>Starts <paramref name="command"/> in <paramref name="ns"/> in its own session; returns its pid.</summary>
    public static int StartDetached(string ns, string pidFile, string logFile, IReadOnlyList<string> command)
    {
        File.Delete(pidFile);
        var started = ExternalCommand.Run("setsid", ["-f", .. Launch(ns, pidFile, logFile, command)]);
        if (!started.Succeeded)
        {
            throw new LabException($"cannot start {string.Join(' ', command)} in {ns}: {(started.Error + started.Output).Trim()}");
        }

        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(10))
        {
            if (ReadPid(pidFile) is { } pid)
            {
                return pid;
            }

            Thread.Sleep(20);
        }

        throw new LabException($"{string.Join(' ', command)} in {ns} did not start within 10 s (log: {logFile})");
    }

    /// <summary>The pid a pid file holds, or null (no file yet, or not a number).</summary>
    public static int? ReadPid(string pidFile)
    {
        try
        {
            return int.TryParse(File.ReadAllText(pidFile).Trim(), System.Globalization.CultureInfo.InvariantCulture, out var pid) && pid > 0 ? pid : null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>True while <paramref name="pid"/> runs (a zombie awaiting its parent counts as gone).</summary>
    public static bool IsAlive(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var state = stat[(stat.LastIndexOf(')') + 2)..];
            return !state.StartsWith('Z');
        }
        catch (IOException)
        {
            return false;
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>Waits until <paramref name="condition"/> holds, <paramref name="pid"/> dies, or the deadline passes.</summary>
    public static bool WaitFor(Func<bool> condition, int pid, TimeSpan deadline)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < deadline)
        {
            if (condition())
            {
                return true;
            }

            if (!IsAlive(pid))
            {
                return false;
            }

            Thread.Sleep(50);
        }

        return condition();
    }

    /// <summary>
    /// Stops the processes <paramref name="current"/> lists (asked again before each signal, so a pid is signalled
    /// only while it is still one of them): SIGTERM, then SIGKILL to those left after <paramref name="grace"/>.
    /// Returns how many were running.
    /// </summary>
    public static int Stop(Func<IReadOnlySet<int>> current, TimeSpan grace)
    {
        ArgumentNullException.ThrowIfNull(current);
        var running = current();
        if (running.Count == 0)
        {
            return 0;
        }

        Signal("TERM", running);
        var clock = Stopwatch.StartNew();
        while (running.Any(IsAlive) && clock.Elapsed < grace)
        {
            Thread.Sleep(50);
        }

        var left = current();
        if (left.Count > 0)
        {
            Signal("KILL", left);
        }

        return running.Count;
    }

    /// <summary>
    /// Sends SIG<paramref name="signal"/> (TERM, KILL, INT) to every pid, with the shell's built-in
    /// <c>kill</c>: a bare Debian has no kill program (procps) but always a shell.
    /// </summary>
    public static CommandResult Signal(string signal, IEnumerable<int> pids) =>
        ExternalCommand.Run("sh", ["-c", "kill -s \"$0\" \"$@\"", signal, .. pids.Select(p => p.ToString(System.Globalization.CultureInfo.InvariantCulture))]);

    /// <summary>The last lines of a log, to show why a process stopped.</summary>
    public static string Tail(string logFile, int lines = 5) =>
        File.Exists(logFile) ? string.Join("\n", File.ReadAllLines(logFile).TakeLast(lines)) : "(no log)";
}
