using Fabric.Router;

namespace Fabric.Lab;

/// <summary>A program the lab runs, and the Debian package that has it.</summary>
public sealed record LabTool(string Program, string Package);

/// <summary>What <c>lab up</c> does about the programs it needs.</summary>
/// <param name="Missing">The Debian packages whose programs are not on PATH, in <see cref="LabPrerequisites.Tools"/> order.</param>
/// <param name="Install">True: install <paramref name="Missing"/> with apt-get now.</param>
/// <param name="Refusal">Set when <c>lab up</c> cannot go on: one sentence saying what is missing and how to get it.</param>
public sealed record PrerequisitePlan(IReadOnlyList<string> Missing, bool Install, string? Refusal)
{
    public bool Ready => Missing.Count == 0;
}

/// <summary>
/// The Debian packages the lab needs (docs/lab.md): <c>lab up</c> installs those whose programs are missing when it
/// runs as root on a machine with apt-get (saying what it installs: apt-get update once, then one apt-get install),
/// and otherwise names them. Which to install is decided apart from installing (<see cref="Plan"/>), so the decision
/// is tested without touching the machine's packages. Thread-safe: stateless.
/// </summary>
public static class LabPrerequisites
{
    /// <summary>
    /// Every program the lab and its "Try next" lines run: ip and ss (namespaces, links, listening servers), ping,
    /// iperf3 (the bulk service's server and client), python3 (HTTP and TCP servers, lab verify's probes), curl,
    /// setsid (detached processes).
    /// </summary>
    public static IReadOnlyList<LabTool> Tools { get; } =
    [
        new("ip", "iproute2"),
        new("ss", "iproute2"),
        new("ping", "iputils-ping"),
        new("iperf3", "iperf3"),
        new("python3", "python3"),
        new("curl", "curl"),
        new("setsid", "util-linux"),
    ];

    /// <summary>How long apt-get may wait for another apt or dpkg to release its lock.</summary>
    public const int AptLockTimeoutSeconds = 300;

    /// <summary>What to do, given which programs are on PATH, whether this process is root and whether apt-get is there.</summary>
    public static PrerequisitePlan Plan(Func<string, bool> installed, bool root, bool apt)
    {
        ArgumentNullException.ThrowIfNull(installed);
        var missing = Tools.Where(t => !installed(t.Program)).Select(t => t.Package).Distinct(StringComparer.Ordinal).ToList();
        if (missing.Count == 0)
        {
            return new PrerequisitePlan(missing, false, null);
        }

        var programs = string.Join(", ", Tools.Where(t => missing.Contains(t.Package) && !installed(t.Program)).Select(t => t.Program));
        var packages = string.Join(' ', missing);
        var sentence = $"the lab needs {programs}, which {(programs.Contains(',', StringComparison.Ordinal) ? "are" : "is")} not installed (Debian {(missing.Count > 1 ? "packages" : "package")} {packages})";
        return (root, apt) switch
        {
            (false, _) => new PrerequisitePlan(missing, false, $"{sentence}; run lab up as root and it installs them, or install them: apt-get install {packages}"),
            (true, false) => new PrerequisitePlan(missing, false, $"{sentence}, and this machine has no apt-get to install them with; install {packages} with its package manager"),
            _ => new PrerequisitePlan(missing, true, null),
        };
    }

    /// <summary>
    /// Carries out <paramref name="plan"/> when it says install: <c>apt-get update</c>, then <c>apt-get install</c> of the
    /// missing packages (through <paramref name="run"/>), saying so on <paramref name="output"/>; then checks the
    /// programs again. Returns null when the lab can go on, else why not in one sentence.
    /// </summary>
    public static string? Ensure(PrerequisitePlan plan, Func<string, bool> installed, TextWriter output, Func<string, string[], CommandResult> run)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(installed);
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(run);
        if (plan.Ready || plan.Refusal is not null)
        {
            return plan.Refusal;
        }

        var packages = string.Join(' ', plan.Missing);
        output.WriteLine($"fabric lab: installing the Debian packages the lab needs: {packages} (apt-get update, then apt-get install)");
        string[] options = ["DEBIAN_FRONTEND=noninteractive", "apt-get", "-q", "-y", "-o", $"DPkg::Lock::Timeout={AptLockTimeoutSeconds}"];
        var update = run("env", [.. options, "update"]);
        if (!update.Succeeded)
        {
            return $"apt-get update failed (exit {update.ExitCode}): {Last(update)}; install {packages} yourself";
        }

        var install = run("env", [.. options, "install", "--no-install-recommends", .. plan.Missing]);
        if (!install.Succeeded)
        {
            return $"apt-get install {packages} failed (exit {install.ExitCode}): {Last(install)}";
        }

        var still = Plan(installed, root: true, apt: true);
        if (!still.Ready)
        {
            return $"after apt-get install {packages}, still missing: {string.Join(' ', still.Missing)}";
        }

        output.WriteLine($"fabric lab: installed {packages}");
        return null;
    }

    /// <summary>The standard way to run apt-get here: to completion, at most 15 minutes.</summary>
    public static CommandResult RunApt(string file, string[] arguments) => ExternalCommand.Run(TimeSpan.FromMinutes(15), file, arguments);

    private static string Last(CommandResult result) =>
        (result.Error + result.Output).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault() ?? "no output";
}
