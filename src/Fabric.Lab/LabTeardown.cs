namespace Fabric.Lab;

/// <summary>
/// <c>fabric lab down</c>: finds the lab by its namespace prefix and its state directory (not by
/// memory of what <c>up</c> did, so it works after a crash or a half-built lab), stops the lab's
/// supervisor first (it would restart the routers being stopped), then every process inside the lab's
/// namespaces, then deletes the namespaces, which removes every veth and bridge with them. A process is
/// signalled only while it runs inside one of the lab's namespaces: a pid file whose pid now names
/// another program (after a reboot, or a pid reused) is left alone and said so. Running it again finds
/// nothing and succeeds.
/// </summary>
public static class LabTeardown
{
    private static readonly TimeSpan StopGrace = TimeSpan.FromSeconds(10);

    public static void Run(LabLayout layout, TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(layout);
        ArgumentNullException.ThrowIfNull(output);
        var namespaces = layout.ExistingNamespaces();
        var inside = layout.ProcessesInside();
        var pidFiles = layout.PidFiles();
        var stopped = 0;
        if (pidFiles.FirstOrDefault(p => p.Process == LabSupervisor.ProcessName) is { Pid: > 0 } supervisor)
        {
            stopped += LabProcesses.Stop(() => layout.ProcessesInside().Contains(supervisor.Pid) ? new HashSet<int> { supervisor.Pid } : [], StopGrace);
        }

        stopped += LabProcesses.Stop(layout.ProcessesInside, StopGrace);
        foreach (var ns in namespaces)
        {
            NetworkNamespace.Delete(ns);
        }

        foreach (var (process, pid) in pidFiles.Where(p => !inside.Contains(p.Pid) && LabProcesses.IsAlive(p.Pid)))
        {
            output.WriteLine($"{process}.pid names pid {pid}, which runs outside the lab's namespaces (another program's now): not signalled.");
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
