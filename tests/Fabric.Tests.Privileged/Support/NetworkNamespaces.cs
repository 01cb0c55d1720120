using System.Diagnostics;
using Fabric.Router;

namespace Fabric.Tests.Support;

/// <summary>
/// Network namespaces as containers, joined to the test process's namespace by veth pairs, built with
/// <c>ip</c> and torn down in <see cref="Dispose"/> (also after a failed setup). Names carry the process id,
/// so reruns and parallel runs do not collide. Needs root. Not thread-safe: one test class drives one.
/// </summary>
public sealed class NetworkNamespaces : IDisposable
{
    private readonly List<string> _namespaces = [];
    private readonly List<string> _links = [];
    private readonly List<Process> _processes = [];

    /// <summary>A short suffix unique to this process, for namespace and device names (devices allow 15 bytes).</summary>
    public static string Suffix { get; } = Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Creates namespace <paramref name="name"/> with its loopback up; removes a stale one of the same name first.</summary>
    public void AddNamespace(string name)
    {
        _namespaces.Add(name);
        Fabric.Lab.NetworkNamespace.Add(name);
    }

    /// <summary>
    /// A veth pair: <paramref name="hostEnd"/> stays in this process's namespace, up, with no address,
    /// IPv6 and IPv4 forwarding off (so only the program that owns it answers there); the other end
    /// becomes <c>eth0</c> in <paramref name="ns"/> with <paramref name="address"/> (a prefix) and a
    /// default route via <paramref name="gateway"/>.
    /// </summary>
    public void AddContainer(string ns, string hostEnd, string address, string gateway)
    {
        var peer = "p" + hostEnd;
        ExternalCommand.Run("ip", "link", "delete", "dev", hostEnd);
        Check(ExternalCommand.Run("ip", "link", "add", "name", hostEnd, "type", "veth", "peer", "name", peer));
        _links.Add(hostEnd);
        Check(ExternalCommand.Run("sysctl", "-qw", $"net.ipv6.conf.{hostEnd}.disable_ipv6=1"));
        Check(ExternalCommand.Run("sysctl", "-qw", $"net.ipv4.conf.{hostEnd}.forwarding=0"));
        Check(ExternalCommand.Run("ip", "link", "set", "dev", hostEnd, "up"));
        Check(ExternalCommand.Run("ip", "link", "set", "dev", peer, "netns", ns));
        Check(ExternalCommand.InNamespace(ns, "ip", "link", "set", "dev", peer, "name", "eth0"));
        Check(ExternalCommand.InNamespace(ns, "sysctl", "-qw", "net.ipv6.conf.eth0.disable_ipv6=1"));
        Check(ExternalCommand.InNamespace(ns, "ip", "address", "add", address, "dev", "eth0"));
        Check(ExternalCommand.InNamespace(ns, "ip", "link", "set", "dev", "eth0", "up"));
        Check(ExternalCommand.InNamespace(ns, "ip", "route", "add", "default", "via", gateway));
    }

    /// <summary>A veth pair with both ends in this process's namespace, down, IPv6 off: a wire between two ports.</summary>
    public void AddVethPair(string a, string b)
    {
        ExternalCommand.Run("ip", "link", "delete", "dev", a);
        Check(ExternalCommand.Run("ip", "link", "add", "name", a, "type", "veth", "peer", "name", b));
        _links.Add(a);
        Check(ExternalCommand.Run("sysctl", "-qw", $"net.ipv6.conf.{a}.disable_ipv6=1"));
        Check(ExternalCommand.Run("sysctl", "-qw", $"net.ipv6.conf.{b}.disable_ipv6=1"));
    }

    /// <summary>
    /// Starts a long-running command inside <paramref name="ns"/>; <see cref="Stop"/> or <see cref="Dispose"/> kills it
    /// (and whatever it started). Do not dispose the process returned: a disposed <see cref="Process"/> can no longer be killed.
    /// </summary>
    public Process Start(string ns, params string[] command)
    {
        var process = Process.Start(ExternalCommand.Info("ip", ["netns", "exec", ns, .. command])) ?? throw new InvalidOperationException("ip did not start");
        _processes.Add(process);
        return process;
    }

    /// <summary>Kills a process <see cref="Start"/> started, with what it started, and waits for it to exit.</summary>
    public void Stop(Process process)
    {
        ArgumentNullException.ThrowIfNull(process);
        if (_processes.Remove(process))
        {
            Kill(process);
        }
    }

    public void Dispose()
    {
        foreach (var process in _processes)
        {
            Kill(process);
        }

        // Deleting one end of a veth pair deletes both; deleting a namespace deletes the ends inside it.
        foreach (var link in _links)
        {
            ExternalCommand.Run("ip", "link", "delete", "dev", link);
        }

        foreach (var ns in _namespaces)
        {
            ExternalCommand.Run("ip", "netns", "delete", ns);
        }

        _processes.Clear();
        _links.Clear();
        _namespaces.Clear();
    }

    private static void Kill(Process process)
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                process.WaitForExit(5000);
            }
        }
        catch (InvalidOperationException)
        {
            // exited between the check and the kill
        }

        process.Dispose();
    }

    private static void Check(CommandResult result)
    {
        if (!result.Succeeded)
        {
            throw new InvalidOperationException($"lab setup failed: {result}");
        }
    }
}
