using System.Diagnostics;
using Fabric.Tests.Support;

namespace Fabric.Tests.Cli;

/// <summary>
/// <c>fabric conductor</c> and <c>fabric config commit|history|rollback|status</c> as an operator runs
/// them: separate processes on loopback, the history in a SQLite file in a scratch directory.
/// </summary>
public sealed class ConductorCliTests : IDisposable
{
    private static readonly string Fabric = Path.Combine(AppContext.BaseDirectory, "fabric.dll");
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);
    private readonly string _dir = Directory.CreateTempSubdirectory("fabric-conductor-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Conductor_CommitHistoryRollbackStatus_OverItsAdminEndpoint_HistoryInTheSqliteFile()
    {
        var lab = Repository.Read("hocon/lab.conf").Replace("path = \"fabric-conductor.db\"", "path = \"history/conductor.db\"", StringComparison.Ordinal);
        Directory.CreateDirectory(Path.Combine(_dir, "history"));
        File.WriteAllText(Path.Combine(_dir, "lab.conf"), lab);
        File.WriteAllText(Path.Combine(_dir, "hr.conf"), lab.Replace("    finance {}\n", "    finance {}\n    hr {}\n", StringComparison.Ordinal));
        File.WriteAllText(Path.Combine(_dir, "typo.conf"), lab.Replace("access = [finance]", "access = [fnance]", StringComparison.Ordinal));
        var api = ControlPlaneNodes.FreePort();
        var conductor = $"http://127.0.0.1:{api}";

        using var process = Start("conductor", "--config", "lab.conf", "--address", "127.0.0.1", "--cluster-port", ControlPlaneNodes.FreePort().ToString(), "--api-port", api.ToString());
        using var output = new OutputLines(process);
        try
        {
            await output.WaitFor("event=started");

            Assert.Equal((0, "version 1 committed"), await Run("config", "commit", "lab.conf", "-m", "first", "--author", "alice", "--conductor", conductor));
            Assert.Equal((0, "version 2 committed"), await Run("config", "commit", "hr.conf", "-m", "add hr", "--author", "bob", "--conductor", conductor));
            var (typoExit, typoError) = await Run("config", "commit", "typo.conf", "-m", "typo", "--conductor", conductor);
            Assert.Equal(2, typoExit);
            Assert.Contains("unknown tenant \"fnance\"", typoError, StringComparison.Ordinal);
            Assert.Equal((0, "version 3 running"), await Run("config", "rollback", "1", "--author", "carol", "--conductor", conductor));

            var (historyExit, history) = await Run("config", "history", "--conductor", conductor);
            Assert.Equal(0, historyExit);
            var versions = history.Split('\n').Where(l => !l.StartsWith("          ", StringComparison.Ordinal)).ToList();
            Assert.Equal(3, versions.Count);
            Assert.Matches(@"^\s*1  \S+ \S+  alice  first$", versions[0]);
            Assert.Matches(@"^\s+2  \S+ \S+  bob  add hr$", versions[1]);
            Assert.Matches(@"^\*\s+3  \S+ \S+  carol  rollback to version 1 \(restores 1\)$", versions[2]);
            Assert.Contains("          + fabric.tenants.hr = { members = [] }", history, StringComparison.Ordinal);

            // No router runs: every node of the document is listed as not reported, and status says so.
            var (statusExit, status) = await Run("config", "status", "--conductor", conductor);
            Assert.Equal(1, statusExit);
            Assert.Contains("running version 3", status, StringComparison.Ordinal);
            Assert.Matches(@"dc1a\s+dc1\s+applied 0\s+not reported", status);
        }
        finally
        {
            Signal(process);
            await process.WaitForExitAsync(TestContext.Current.CancellationToken).WaitAsync(Deadline, TestContext.Current.CancellationToken);
        }

        Assert.Equal(0, process.ExitCode);
        await output.WaitFor("event=stopped");
        Assert.True(File.Exists(Path.Combine(_dir, "history", "conductor.db")));
        var (downExit, down) = await Run("config", "history", "--conductor", conductor);
        Assert.Equal(1, downExit);
        Assert.Contains("no conductor answers", down, StringComparison.Ordinal);
    }

    private Process Start(params string[] args)
    {
        var info = new ProcessStartInfo("dotnet") { WorkingDirectory = _dir, RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add(Fabric);
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        return Process.Start(info)!;
    }

    /// <summary>Runs one CLI command to its end: exit code and its output (stdout, then stderr), trimmed.</summary>
    private async Task<(int, string)> Run(params string[] args)
    {
        using var process = Start(args);
        var stdout = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        await process.WaitForExitAsync(TestContext.Current.CancellationToken).WaitAsync(Deadline, TestContext.Current.CancellationToken);
        return (process.ExitCode, ((await stdout) + (await stderr)).Trim());
    }

    private static void Signal(Process process)
    {
        if (!process.HasExited)
        {
            using var kill = Process.Start("kill", ["-TERM", process.Id.ToString()]);
            kill.WaitForExit();
        }
    }

    /// <summary>A long-running process's output lines, collected as they come.</summary>
    private sealed class OutputLines : IDisposable
    {
        private readonly List<string> _lines = [];
        private readonly SemaphoreSlim _arrived = new(0);

        public OutputLines(Process process)
        {
            process.OutputDataReceived += (_, e) => Add(e.Data);
            process.ErrorDataReceived += (_, e) => Add(e.Data);
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
        }

        private void Add(string? line)
        {
            if (line is null)
            {
                return;
            }

            lock (_lines)
            {
                _lines.Add(line);
            }

            _arrived.Release();
        }

        public void Dispose() => _arrived.Dispose();

        public async Task WaitFor(string text)
        {
            var deadline = DateTime.UtcNow + Deadline;
            while (true)
            {
                lock (_lines)
                {
                    if (_lines.Any(l => l.Contains(text, StringComparison.Ordinal)))
                    {
                        return;
                    }
                }

                var left = deadline - DateTime.UtcNow;
                if (left <= TimeSpan.Zero || !await _arrived.WaitAsync(left, TestContext.Current.CancellationToken))
                {
                    lock (_lines)
                    {
                        Assert.Fail($"\"{text}\" did not appear within {Deadline.TotalSeconds} s; output:\n{string.Join('\n', _lines)}");
                    }
                }
            }
        }
    }
}
