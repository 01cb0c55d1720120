using Fabric.Router;
using Fabric.Tests.Support;

namespace Fabric.Tests.Lab;

/// <summary>
/// Lab tests build whole labs of processes and namespaces and measure traffic through them, so they run
/// alone, after the parallel tests.
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

    /// <summary>A lab of <paramref name="topology"/>, up (<c>lab up</c> succeeded); else it is taken down and this throws with what lab up said.</summary>
    public static LabRun Started(string prefix, string topology, params string[] options)
    {
        var run = new LabRun(prefix, topology);
        var up = run.Up(options);
        if (!up.Succeeded)
        {
            run.Dispose();
            throw new InvalidOperationException($"lab up failed: {up}");
        }

        return run;
    }

    public string StateRoot { get; } = Directory.CreateTempSubdirectory("fabric-lab-").FullName;

    public string TopologyFile { get; }

    /// <summary>The namespace of a lab member, as a user finds it in <c>ip netns list</c>.</summary>
    public string NamespaceOf(string member) => $"fab-{Name}-{member}";

    public string AdminSocketOf(string node) => Path.Combine(StateRoot, Name, node + ".sock");

    public CommandResult Up(params string[] options) => Fabric(["lab", "up", "--topology", TopologyFile, .. LabOptions, .. options]);

    /// <summary><c>lab down</c>, after remembering the lab's processes (see <see cref="Traces"/>).</summary>
    public CommandResult Down()
    {
        RememberProcesses();
        return Fabric(["lab", "down", .. LabOptions]);
    }

    public CommandResult Status() => Fabric(["lab", "status", .. LabOptions]);

    public CommandResult Verify() => Fabric(["lab", "verify", .. LabOptions]);

    public CommandResult Restart(string node) => Fabric(["lab", "restart", node, .. LabOptions]);

    /// <summary>A router node's counters, read from its admin socket (throws <see cref="System.Net.Sockets.SocketException"/> while it does not answer).</summary>
    public System.Text.Json.JsonElement Counters(string node)
    {
        using var document = System.Text.Json.JsonDocument.Parse(RouterProcess.ReadCounters(AdminSocketOf(node)));
        return document.RootElement.Clone();
    }

    /// <summary>Waits until <paramref name="condition"/> holds; fails with <paramref name="what"/> and the lab's status after 30 s.</summary>
    public void Until(string what, Func<bool> condition)
    {
        var deadline = TimeSpan.FromSeconds(30);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed > deadline)
            {
                Assert.Fail($"{what}: not within {deadline.TotalSeconds} s\n{Status()}");
            }

            Thread.Sleep(100);
        }
    }

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
    public static CommandResult Fabric(params string[] arguments) => FabricCommand.Run(arguments);

    public void Dispose()
    {
        Down();
        Directory.Delete(StateRoot, recursive: true);
    }

    /// <summary>
    /// What of this lab can be seen from here: its namespaces (<c>fab-NAME</c>, <c>fab-NAME-...</c>), the links of
    /// this namespace whose names the lab's topology could give a device (its devices, bridges, wires ends, eth0,
    /// mgmt0), and its processes still running (the pids its pid files name). Only what this lab could have made,
    /// so other programs creating namespaces, links or processes meanwhile change nothing here.
    /// </summary>
    public IReadOnlyList<string> Traces()
    {
        var prefix = $"fab-{Name}";
        var namespaces = ExternalCommand.Run("ip", "netns", "list").Output.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split(' ')[0]).Where(n => n == prefix || n.StartsWith(prefix + "-", StringComparison.Ordinal)).Select(n => "netns " + n);
        var names = LabDeviceNames();
        var links = ExternalCommand.Run("ip", "-o", "link", "show").Output.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split(':')[1].Trim().Split('@')[0]).Where(names.Contains).Select(n => "link " + n);
        var processes = _pids.Where(global::Fabric.Lab.LabProcesses.IsAlive).Select(p => $"process {p}");
        return [.. namespaces.Concat(links).Concat(processes).Order(StringComparer.Ordinal)];
    }

    private readonly HashSet<int> _pids = [];

    /// <summary>Remembers the pids the lab's pid files name now, so <see cref="Traces"/> reports any of them still running later.</summary>
    public void RememberProcesses()
    {
        var directory = Path.Combine(StateRoot, Name);
        foreach (var file in Directory.Exists(directory) ? Directory.GetFiles(directory, "*.pid") : [])
        {
            if (global::Fabric.Lab.LabProcesses.ReadPid(file) is { } pid)
            {
                _pids.Add(pid);
            }
        }
    }

    /// <summary>Every name a device of this lab may have: its topology's devices, bridges and wires ends.</summary>
    private HashSet<string> LabDeviceNames()
    {
        var names = new HashSet<string>(StringComparer.Ordinal) { "mgmt", "mgmt0", "eth0" };
        for (var i = 0; i < 256; i++)
        {
            names.Add($"v{i}");
            names.Add($"lan{i}");
            names.Add($"nh{i}");
        }

        if (global::Fabric.Config.FabricConfigLoader.Load(File.ReadAllText(TopologyFile)).Config is { } config)
        {
            names.UnionWith(config.Neighborhoods.Select(n => n.Name));
            names.UnionWith(config.Routers.SelectMany(global::Fabric.Router.RouterProcess.Devices));
        }

        return names;
    }
}