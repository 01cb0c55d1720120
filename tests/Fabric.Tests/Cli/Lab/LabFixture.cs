using System.Text.RegularExpressions;
using Fabric.Cli.Hosting;
using Fabric.Tests.Support;

namespace Fabric.Tests.Cli.Lab;

/// <summary>
/// Lab tests build namespaces and compare the machine's namespaces and links before and after, so
/// they run alone, after the parallel tests.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class LabCollection
{
    public const string Name = "lab";
}

/// <summary>
/// Runs the real <c>fabric</c> command (this build's, as a separate process) with a lab name and state
/// directory unique to this test run, so parallel runs of the suite never share a namespace.
/// </summary>
public sealed class LabRun : IDisposable
{
    public LabRun(string prefix, string topology)
    {
        Name = prefix + NetworkNamespaces.Suffix;
        TopologyFile = Path.Combine(StateRoot, "topology-in.conf");
        File.WriteAllText(TopologyFile, topology);
    }

    public string Name { get; }

    public string StateRoot { get; } = Directory.CreateTempSubdirectory("fabric-lab-").FullName;

    public string TopologyFile { get; }

    /// <summary>The namespace of a lab member, as a user finds it in <c>ip netns list</c>.</summary>
    public string NamespaceOf(string member) => $"fab-{Name}-{member}";

    public string AdminSocketOf(string node) => Path.Combine(StateRoot, Name, node + ".sock");

    public CommandResult Up(params string[] options) => Fabric(["lab", "up", "--topology", TopologyFile, .. LabOptions, .. options]);

    public CommandResult Down() => Fabric(["lab", "down", .. LabOptions]);

    public CommandResult Status() => Fabric(["lab", "status", .. LabOptions]);

    public CommandResult Verify() => Fabric(["lab", "verify", .. LabOptions]);

    public CommandResult Exec(string container, params string[] command) => Fabric(["lab", "exec", container, .. LabOptions, "--", .. command]);

    private string[] LabOptions => ["--name", Name, "--state-dir", StateRoot];

    /// <summary>
    /// curls <paramref name="url"/> from each client in turn: every one must succeed, answered by
    /// <paramref name="instances"/>, and every instance must answer at least once (the sessions spread).
    /// </summary>
    public void AssertEachReachesEveryInstance(string[] clients, string url, params string[] instances)
    {
        var answers = new List<string>();
        foreach (var client in clients)
        {
            var curl = Exec(client, "curl", "-s", "-m", "5", url);
            Assert.True(curl.Succeeded, $"{client}: {curl}");
            answers.Add(curl.Output.Trim());
        }

        Assert.All(answers, a => Assert.Contains(a, instances));
        foreach (var instance in instances)
        {
            Assert.Contains(instance, answers);
        }
    }

    /// <summary>Runs the fabric command with these arguments, as a user does.</summary>
    public static CommandResult Fabric(params string[] arguments)
    {
        var command = FabricExecutable.CommandLine();
        return ExternalCommand.Run(TimeSpan.FromMinutes(2), command[0], [.. command.Skip(1), .. arguments]);
    }

    public void Dispose()
    {
        Down();
        Directory.Delete(StateRoot, recursive: true);
    }

    /// <summary>
    /// The machine's network namespaces and the links of this namespace, by name. Names ending in the pid
    /// of another running process belong to another test run on this machine (every test names its
    /// namespaces and devices so) and are left out: they come and go on their own.
    /// </summary>
    public static IReadOnlyList<string> MachineNetworks()
    {
        var namespaces = ExternalCommand.Run("ip", "netns", "list").Output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => "netns " + l.Split(' ')[0]);
        var links = ExternalCommand.Run("ip", "-o", "link", "show").Output.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => "link " + l.Split(':')[1].Trim().Split('@')[0]);
        return [.. namespaces.Concat(links).Where(n => !OtherRun(n)).Order(StringComparer.Ordinal)];
    }

    private static bool OtherRun(string name)
    {
        var match = Regex.Match(name, @"(\d+)$");
        return match.Success && int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) is var pid
            && pid != Environment.ProcessId && Directory.Exists($"/proc/{pid}");
    }
}
