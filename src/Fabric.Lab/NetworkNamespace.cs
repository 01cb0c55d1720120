using Fabric.Router;

namespace Fabric.Lab;

/// <summary>
/// The <c>ip</c> steps the lab (and the real-kernel tests) build namespaces, veth pairs and bridges
/// with. Every device name follows the keyword that says what it is (<c>name X</c>, <c>dev X</c>), so a
/// device named like an iproute2 keyword (a network called <c>dev</c>, <c>type</c> or <c>up</c>) is never
/// misread. Every step that must succeed throws <see cref="LabException"/> with the command and what it
/// printed. Thread-safe: stateless.
/// </summary>
public static class NetworkNamespace
{
    /// <summary>Every network namespace on this machine, by name.</summary>
    public static IReadOnlyList<string> List() =>
        [.. ExternalCommand.Run("ip", "netns", "list").Output
            .Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(line => line.Split(' ')[0])];

    /// <summary>Creates namespace <paramref name="name"/> with loopback up; a stale one of the same name is removed first.</summary>
    public static void Add(string name)
    {
        ExternalCommand.Run("ip", "netns", "delete", name); // stale from a killed run: the outcome does not matter
        Check("ip", "netns", "add", name);
        Check("ip", "-n", name, "link", "set", "dev", "lo", "up");
    }

    /// <summary>The processes running inside namespace <paramref name="name"/>.</summary>
    public static IReadOnlyList<int> Pids(string name) =>
        [.. ExternalCommand.Run("ip", "netns", "pids", name).Output
            .Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(p => int.Parse(p, System.Globalization.CultureInfo.InvariantCulture))];

    /// <summary>
    /// A veth pair from <paramref name="nameA"/> in <paramref name="nsA"/> to <paramref name="nameB"/> in
    /// <paramref name="nsB"/>, created directly in those namespaces (nothing appears in the caller's),
    /// both ends up with IPv6 off.
    /// </summary>
    public static void AddVeth(string nsA, string nameA, string nsB, string nameB)
    {
        Check("ip", "-n", nsA, "link", "add", "name", nameA, "type", "veth", "peer", "name", nameB, "netns", nsB);
        Quiet(nsA, nameA);
        Quiet(nsB, nameB);
    }

    /// <summary>A Linux bridge <paramref name="name"/> in <paramref name="ns"/>, up, with no address and IPv6 off.</summary>
    public static void AddBridge(string ns, string name)
    {
        Check("ip", "-n", ns, "link", "add", "name", name, "type", "bridge");
        Quiet(ns, name);
    }

    /// <summary>Makes <paramref name="device"/> a port of <paramref name="bridge"/> (both in <paramref name="ns"/>).</summary>
    public static void AttachToBridge(string ns, string device, string bridge) => Check("ip", "-n", ns, "link", "set", "dev", device, "master", bridge);

    /// <summary>Gives <paramref name="device"/> in <paramref name="ns"/> a kernel address (<c>address/length</c>).</summary>
    /// <remarks>
    /// An IPv6 address is added without duplicate address detection (<c>nodad</c>): the lab plans every address, and an
    /// address still tentative when the link comes up would leave the container sending from its link-local address
    /// (not a tenant member) for its first seconds.
    /// </remarks>
    public static void AddAddress(string ns, string device, string prefix)
    {
        if (prefix.Contains(':', StringComparison.Ordinal))
        {
            Check("ip", "-n", ns, "address", "add", prefix, "dev", device, "nodad");
        }
        else
        {
            Check("ip", "-n", ns, "address", "add", prefix, "dev", device);
        }
    }

    /// <summary>The default route of <paramref name="ns"/> via <paramref name="gateway"/>.</summary>
    public static void AddDefaultRoute(string ns, string gateway) =>
        Check("ip", "-n", ns, gateway.Contains(':', StringComparison.Ordinal) ? "-6" : "-4", "route", "add", "default", "via", gateway);

    /// <summary>Deletes namespace <paramref name="name"/> (and every device in it); true if it existed.</summary>
    public static bool Delete(string name) => ExternalCommand.Run("ip", "netns", "delete", name).Succeeded;

    /// <summary>
    /// Writes a kernel setting of namespace <paramref name="ns"/> (a path under <c>/proc/sys</c>, e.g.
    /// <c>net/ipv4/ip_forward</c>) from inside it: no sysctl program (procps) needed.
    /// </summary>
    public static void SetKernelSetting(string ns, string key, string value) =>
        Check("ip", "netns", "exec", ns, "sh", "-c", "echo \"$1\" > \"/proc/sys/$0\"", key, value);

    /// <summary>
    /// Makes the bridges of namespace <paramref name="ns"/> plain wires: where the host has loaded
    /// <c>br_netfilter</c> (container engines do), every frame a bridge forwards also runs the iptables, ip6tables and
    /// arptables hooks (measured: a quarter of a router worker's time under small packets went to
    /// <c>br_nf_pre_routing</c>). The settings are the namespace's own; without the module there is nothing to turn off.
    /// </summary>
    public static void KeepBridgesOutOfFirewall(string ns) =>
        Check("ip", "netns", "exec", ns, "sh", "-c",
            "[ ! -d /proc/sys/net/bridge ] || for t in iptables ip6tables arptables; do echo 0 > /proc/sys/net/bridge/bridge-nf-call-$t; done");

    /// <summary>Turns IPv6 off on a device (no link-local address, no router or neighbour solicitations) and brings it up.</summary>
    private static void Quiet(string ns, string device)
    {
        SetKernelSetting(ns, $"net/ipv6/conf/{device}/disable_ipv6", "1");
        Check("ip", "-n", ns, "link", "set", "dev", device, "up");
    }

    /// <summary>Runs a command that must succeed; throws <see cref="LabException"/> with what it printed otherwise.</summary>
    internal static void Check(string file, params string[] arguments)
    {
        var result = ExternalCommand.Run(file, arguments);
        if (!result.Succeeded)
        {
            throw new LabException($"{file} {string.Join(' ', arguments)}: {(result.Error + result.Output).Trim()}");
        }
    }
}

/// <summary>A lab step failed; the message says which command and what it printed.</summary>
public sealed class LabException(string message) : Exception(message);
