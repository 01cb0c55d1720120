namespace Fabric.Cli.Lab;

/// <summary>
/// <c>fabric lab down</c>: finds the lab by its namespace prefix and its state directory (not by
/// memory of what <c>up</c> did, so it works after a crash or a half-built lab), stops every process
/// inside those namespaces and every process with a pid file, then deletes the namespaces, which
/// removes every veth and bridge with them. Running it again finds nothing and succeeds.
/// </summary>
public static class LabTeardown
{
    private static readonly TimeSpan StopGrace = TimeSpan.FromSeconds(10);

    public static void Run(LabLayout layout, TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(layout);
        ArgumentNullException.ThrowIfNull(output);
        var namespaces = layout.ExistingNamespaces();
        var pids = namespaces.SelectMany(NetworkNamespace.Pids).Concat(layout.PidFiles().Select(p => p.Pid)).ToHashSet();
        var stopped = LabProcesses.Stop(pids, StopGrace);
        foreach (var ns in namespaces)
        {
            NetworkNamespace.Delete(ns);
        }

        if (Directory.Exists(layout.StateDirectory))
        {
            foreach (var file in Directory.GetFiles(layout.StateDirectory, "*.pid").Concat(Directory.GetFiles(layout.StateDirectory, "*.sock")))
            {
                File.Delete(file);
            }
        }

        output.WriteLine(namespaces.Count == 0 && stopped == 0
            ? $"lab \"{layout.Name}\" is not up; nothing to remove."
            : $"lab \"{layout.Name}\" is down: stopped {stopped} processes, removed {namespaces.Count} namespaces (logs stay in {layout.StateDirectory}).");
    }
}
