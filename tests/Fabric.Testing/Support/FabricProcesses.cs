using System.Diagnostics;

namespace Fabric.Tests.Support;

/// <summary>The <c>fabric</c> command as separate processes (the build beside the tests), run in one scratch directory.</summary>
public sealed class FabricProcesses(string directory)
{
    public static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);
    private static readonly string Fabric = Path.Combine(AppContext.BaseDirectory, "fabric.dll");

    public Process Start(params string[] args)
    {
        var info = new ProcessStartInfo("dotnet") { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add(Fabric);
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        return Process.Start(info)!;
    }

    /// <summary>Runs one CLI command to its end: exit code and its output (stdout, then stderr), trimmed.</summary>
    public async Task<(int, string)> Run(params string[] args)
    {
        using var process = Start(args);
        var stdout = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        await process.WaitForExitAsync(TestContext.Current.CancellationToken).WaitAsync(Deadline, TestContext.Current.CancellationToken);
        return (process.ExitCode, ((await stdout) + (await stderr)).Trim());
    }

    public static void Signal(Process process)
    {
        if (!process.HasExited)
        {
            using var kill = Process.Start("kill", ["-TERM", process.Id.ToString()]);
            kill.WaitForExit();
        }
    }

    /// <summary>A long-running process's output lines, collected as they come.</summary>
    public sealed class OutputLines : IDisposable
    {
        private readonly List<string> _lines = [];
        private readonly SemaphoreSlim _arrived = new(0);

        private readonly TimeSpan _deadline;

        public OutputLines(Process process, TimeSpan deadline)
        {
            _deadline = deadline;
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
            var deadline = DateTime.UtcNow + _deadline;
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
                        Assert.Fail($"\"{text}\" did not appear within {_deadline.TotalSeconds} s; output:\n{string.Join('\n', _lines)}");
                    }
                }
            }
        }
    }
}
