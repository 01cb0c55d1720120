namespace Fabric.Cli.Lab;

/// <summary>
/// Where everything of one lab lives: its namespaces (all named <c>fab-LAB</c> or <c>fab-LAB-MEMBER</c>,
/// so they never collide with the user's and <c>lab down</c> finds them after a crash) and its state
/// directory (the applied topology, one log and pid file per process, the routers' admin sockets).
/// Thread-safe: immutable.
/// </summary>
public sealed record LabLayout(string Name, string StateRoot)
{
    /// <summary>Where labs keep their state unless told otherwise.</summary>
    public const string DefaultStateRoot = "/var/lib/fabric/lab";

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

    /// <summary>Every process the lab started, by the name its pid file carries, with its pid.</summary>
    public IReadOnlyList<(string Process, int Pid)> PidFiles()
    {
        if (!Directory.Exists(StateDirectory))
        {
            return [];
        }

        var found = new List<(string, int)>();
        foreach (var file in Directory.GetFiles(StateDirectory, "*.pid").Order(StringComparer.Ordinal))
        {
            if (int.TryParse(File.ReadAllText(file).Trim(), System.Globalization.CultureInfo.InvariantCulture, out var pid))
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
            .Where(name => namespaces.Contains($"fab-{name}")).Order(StringComparer.Ordinal)];
    }
}
