using System.Text.Json;
using Fabric.Router;

namespace Fabric.Tests.Lab;

/// <summary>
/// Moves a lab container to another router as a live migration does, its network namespace and sockets kept
/// (docs/lab.md): its link is plugged into the other router's bridge in the wires namespace, its default route points at
/// that router's gateway and its neighbours are resolved again; then a commit lists it there (<see cref="Commit"/>).
/// Thread-safe: stateless.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public static class LabMoves
{
    /// <summary>
    /// Plugs <paramref name="container"/>'s eth0 into the bridged network of router node <paramref name="toNode"/> and
    /// routes it via <paramref name="gateway"/>. A node with several bridged networks needs <paramref name="device"/>: the
    /// router's device on the network's bridge (the network's name unless the document names another).
    /// </summary>
    public static void Replug(LabRun run, string container, string toNode, string gateway, string? device = null)
    {
        ArgumentNullException.ThrowIfNull(run);
        var moving = run.NamespaceOf(container);
        var wires = $"fab-{run.Name}";
        var bridge = LinksOf(run.NamespaceOf(toNode))
            .Where(l => l.GetProperty("ifname").GetString() is { } name && name != "lo" && (device is null || name == device))
            .Select(l => Master(wires, WiresEnd(wires, l)))
            .Single(b => b?.StartsWith("lan", StringComparison.Ordinal) == true)!;
        var end = WiresEnd(wires, LinksOf(moving).Single(l => l.GetProperty("ifname").GetString() == "eth0"));
        Check(ExternalCommand.Run("ip", "-n", wires, "link", "set", "dev", end, "master", bridge));
        Check(ExternalCommand.Run("ip", "-n", moving, "route", "replace", "default", "via", gateway, "dev", "eth0"));
        Check(ExternalCommand.Run("ip", "-n", moving, "neigh", "flush", "dev", "eth0"));
    }

    /// <summary>
    /// <paramref name="topology"/> with <paramref name="listed"/> (a network's containers block) taken out of where it is
    /// and put after <paramref name="after"/> (the line of the network it moves to): the document that moves a container.
    /// </summary>
    public static string Relisted(string topology, string listed, string after)
    {
        ArgumentNullException.ThrowIfNull(topology);
        var moved = topology.Replace(listed, "", StringComparison.Ordinal).Replace(after, after + listed, StringComparison.Ordinal);
        Assert.NotEqual(topology, moved);
        return moved;
    }

    /// <summary>Commits <paramref name="text"/> to the lab's conductor and waits until its <paramref name="nodes"/> router nodes all applied it.</summary>
    public static void Commit(LabRun run, string text, string message, int nodes)
    {
        ArgumentNullException.ThrowIfNull(run);
        var document = Path.Combine(run.StateRoot, $"commit-{Guid.NewGuid():N}.conf");
        File.WriteAllText(document, text);
        var commit = Config(run, "commit", document, "-m", message);
        Assert.True(commit.Succeeded, commit.ToString());
        var version = System.Text.RegularExpressions.Regex.Match(commit.Output, @"version (\d+) committed").Groups[1].Value;
        run.Until($"every router node applied version {version}", () =>
        {
            var status = Config(run, "status");
            return status.Succeeded && System.Text.RegularExpressions.Regex.Count(status.Output, $@"applied {version}\s+ok") == nodes;
        });
    }

    private static CommandResult Config(LabRun run, params string[] arguments) => LabRun.Fabric(["config", .. arguments, "--lab", run.Name, "--state-dir", run.StateRoot]);

    private static List<JsonElement> LinksOf(string ns)
    {
        var shown = ExternalCommand.Run("ip", "-n", ns, "-j", "link", "show");
        Check(shown);
        using var links = JsonDocument.Parse(shown.Output);
        return [.. links.RootElement.EnumerateArray().Select(l => l.Clone())];
    }

    /// <summary>The name of the wires namespace's end of a veth whose other end is <paramref name="link"/>.</summary>
    private static string WiresEnd(string wires, JsonElement link) =>
        link.TryGetProperty("link_index", out var peer)
            ? LinksOf(wires).Where(l => l.GetProperty("ifindex").GetInt32() == peer.GetInt32()).Select(l => l.GetProperty("ifname").GetString()).FirstOrDefault() ?? ""
            : "";

    private static string? Master(string wires, string device) =>
        LinksOf(wires)
            .Where(l => device.Length > 0 && l.GetProperty("ifname").GetString() == device && l.TryGetProperty("master", out _))
            .Select(l => l.GetProperty("master").GetString())
            .FirstOrDefault();

    private static void Check(CommandResult result) => Assert.True(result.Succeeded, result.ToString());
}
