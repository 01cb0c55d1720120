using System.Diagnostics;

namespace Fabric.Router;

/// <summary>What a command printed and how it exited.</summary>
public sealed record CommandResult(int ExitCode, string Output, string Error)
{
    public bool Succeeded => ExitCode == 0;

    public override string ToString() => $"exit {ExitCode}\n{Output}\n{Error}";
}

/// <summary>
/// Runs other programs (ip, ping, curl, iperf3...) to completion and captures what they print; the one
/// place the CLI and the tests start external programs. Thread-safe: every call owns its process.
/// </summary>
public static class ExternalCommand
{
    /// <summary>How long <see cref="Run(string, string[])"/> lets a command run before killing it.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(30);

    /// <summary>Runs a command to completion (killed after <see cref="DefaultTimeout"/>) and returns what it printed.</summary>
    public static CommandResult Run(string file, params string[] arguments) => Run(DefaultTimeout, file, arguments);

    /// <summary>Runs a command to completion (killed with its children after <paramref name="timeout"/>, exit code -1).</summary>
    public static CommandResult Run(TimeSpan timeout, string file, params string[] arguments)
    {
        using var process = Process.Start(Info(file, arguments)) ?? throw new InvalidOperationException($"{file} did not start");
        process.StandardInput.Close();
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
            return new CommandResult(-1, output.Result, $"timed out after {timeout}: {file} {string.Join(' ', arguments)}\n{error.Result}");
        }

        return new CommandResult(process.ExitCode, output.Result, error.Result);
    }

    /// <summary>Runs a command inside network namespace <paramref name="ns"/> to completion (<c>ip netns exec</c>).</summary>
    public static CommandResult InNamespace(string ns, params string[] command) => Run("ip", ["netns", "exec", ns, .. command]);

    /// <summary>Start information with every stream redirected and each argument passed as is (no shell).</summary>
    public static ProcessStartInfo Info(string file, IEnumerable<string> arguments)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        var info = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        return info;
    }

    /// <summary>The full path of <paramref name="program"/> on PATH, or null.</summary>
    public static string? FindOnPath(string program)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, program);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }
}
