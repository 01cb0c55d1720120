using System.Text.RegularExpressions;

namespace Fabric.Lab;

/// <summary>
/// Where everything of one lab lives: its namespaces (all named <c>fab-LAB</c> or <c>fab-LAB-MEMBER</c>,
/// so they never collide with the user's and <c>lab down</c> finds them after a crash) and its state
/// directory (the applied topology, one log and pid file per process, the routers' admin sockets).
/// A lab's name is checked (<see cref="NameProblem"/>): constructing a layout with another throws
/// <see cref="LabException"/>. Thread-safe: immutable.
/// </summary>
public sealed partial record LabLayout(string Name, string StateRoot)
{
    /// <summary>Where labs keep their state unless told otherwise.</summary>
    public const string DefaultStateRoot = "/var/lib/fabric/lab";

    /// <summary>The longest lab name.</summary>
    public const int MaxNameLength = 32;

    public string Name { get; } = NameProblem(Name) is { } problem ? throw new LabException(problem) : Name;

    /// <summary>
    /// Why <paramref name="name"/> cannot name a lab, in one sentence, or null when it can: 1 to
    /// <see cref="MaxNameLength"/> letters, digits or '_', starting with a letter or digit. No '/' or '.', so
    /// the state directory stays under the state root; no '-', so no lab's namespaces (<c>fab-a-b-...</c>) look like
    /// another's (lab <c>a</c>'s member <c>b-...</c>).
    /// </summary>
    public static string? NameProblem(string? name) => name is not null && LabName().IsMatch(name)
        ? null
        : $"\"{name}\" cannot name a lab: give 1 to {MaxNameLength} letters, digits or '_', starting with a letter or digit " +
          "(no '/', '.' or '-': the name becomes a directory under the state root and the prefix of the lab's namespaces)";

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9_]{0,31}$")]
    private static partial Regex LabName();

    /// <summary>The namespace that holds the lab's bridges (WAN per neighborhood, bridged networks, management).</summary>
    public string Wires => $"fab-{Name}";

    /// <summary>The namespace of a router node, container or the conductor.</summary>
    public string NamespaceOf(string member) => $"fab-{Name}-{member}";

    public string StateDirectory => Path.Combine(StateRoot, Name);

    /// <summary>The document the lab was built from, in canonical form; the routers run from it.</summary>
    public string Topology => Path.Combine(StateDirectory, "topology.conf");

    public string LogOf(string process) => Path.Combine(StateDirectory, process + ".log");

    public string PidFileOf(string process) => Path.Combine(StateDirectory, process + ".pid");

    public string AdminSocketOf(string node) => Path.Combine(StateDirectory, node + ".sock");

    public string NodeStateOf(string node) => Path.Combine(StateDirectory, node);

    /// <summary>The lab's namespaces that exist now.</summary>
    public IReadOnlyList<string> ExistingNamespaces() =>
        [.. NetworkNamespace.List().Where(n => n == Wires || n.StartsWith(Wires + "-", StringComparison.Ordinal)).Order(StringComparer.Ordinal)];

    /// <summary>
    /// The processes that run inside the lab's namespaces now. These are the lab's processes: a pid in a pid file
    /// is the lab's only while it is among them (after a reboot, or once the process exited and its pid was
    /// reused, the pid names another program, outside the lab's namespaces, which must never be signalled).
    /// </summary>
    public IReadOnlySet<int> ProcessesInside() => ExistingNamespaces().SelectMany(NetworkNamespace.Pids).ToHashSet();

    /// <summary>Every process the lab started, by the name its pid file carries, with its pid (check it with <see cref="ProcessesInside"/>).</summary>
    public IReadOnlyList<(string Process, int Pid)> PidFiles()
    {
        if (!Directory.Exists(StateDirectory))
        {
            return [];
        }

        var found = new List<(string, int)>();
        foreach (var file in Directory.GetFiles(StateDirectory, "*.pid").Order(StringComparer.Ordinal))
        {
            if (LabProcesses.ReadPid(file) is { } pid)
            {
                found.Add((Path.GetFileNameWithoutExtension(file), pid));
            }
        }

        return found;
    }

    /// <summary>The names of labs with a state directory whose wires namespace exists (labs that are up).</summary>
    public static IReadOnlyList<string> Running(string stateRoot)
    {
        if (!Directory.Exists(stateRoot))
        {
            return [];
        }

        var namespaces = NetworkNamespace.List();
        return [.. Directory.GetDirectories(stateRoot).Select(Path.GetFileName).OfType<string>()
            .Where(name => NameProblem(name) is null && namespaces.Contains($"fab-{name}")).Order(StringComparer.Ordinal)];
    }
}
