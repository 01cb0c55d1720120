using System.Text.Json.Nodes;
using Fabric.Router;
using Fabric.Tests.Support;

namespace Fabric.Tests.Lab;

/// <summary>
/// One lab for the class: the shipped CNI-mobility topology (hocon/lab-cni-mobility.conf), with the conductor, and the
/// CNI plugin installed on each router's host as a runtime finds it (<see cref="CniPlugins"/>), each list naming the
/// router's host-based network <c>pods</c>.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class CniMobilityLab : IClientMobilityLab, IDisposable
{
    public CniMobilityLab()
        : this("cnm", Repository.Read("hocon/lab-cni-mobility.conf"))
    {
    }

    /// <summary>A lab of <paramref name="topology"/> (a variant of the shipped one), named after <paramref name="prefix"/>.</summary>
    internal CniMobilityLab(string prefix, string topology)
    {
        Run = LabRun.Started(prefix, topology);
        Br1 = Plugins.RuntimeOf(Run, "br1a", "pods");
        Br2 = Plugins.RuntimeOf(Run, "br2a", "pods");
        Dc1 = Plugins.RuntimeOf(Run, "dc1a", "pods");
        Dc2 = Plugins.RuntimeOf(Run, "dc2a", "pods");
    }

    public LabRun Run { get; }

    public CniPlugins Plugins { get; } = new();

    public CniRuntime Br1 { get; }

    public CniRuntime Br2 { get; }

    public CniRuntime Dc1 { get; }

    public CniRuntime Dc2 { get; }

    /// <summary>The test's own programs, and the containers' namespaces the runtime plugs.</summary>
    public NetworkNamespaces Programs { get; } = new();

    public int Nodes => 5;

    public string ActiveNode(string router) => router + "a";

    /// <summary>A fresh network namespace for one container: its name, and its path as a runtime passes it in CNI_NETNS.</summary>
    public (string Name, string Path) FreshContainer(string name)
    {
        var ns = $"fab-cnm{name}{NetworkNamespaces.Suffix}";
        Programs.AddNamespace(ns);
        return (ns, $"/var/run/netns/{ns}");
    }

    public void Dispose()
    {
        Programs.Dispose();
        Run.Dispose();
        Plugins.Dispose();
    }
}

/// <summary>
/// Containers that move between routers by the CNI plugin's detach and attach, as a runtime that migrates them runs it
/// (docs/mobility.md "A client moves by the CNI plugin"): CNI DEL at the router they leave, then CNI ADD at the one they
/// reach, into the same network namespace (its sockets kept), with the same name, tenant or service, and address
/// (<c>IP</c> in CNI_ARGS); the plugin gives the container's new link the new router's gateway as its default route.
/// </summary>
[Collection(LabCollection.Name)]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class LabCniMobilityTests(CniMobilityLab lab, ITestOutputHelper output) : IClassFixture<CniMobilityLab>
{
    /// <summary>An instance of mobile, whose committed instance is at far, out of reach: for br1 it is hosted only through the registry.</summary>
    private const string Mob1 = "IgnoreUnknown=1;IP=10.10.6.10;FABRIC_SERVICE=mobile;FABRIC_NAME=mob1";

    private readonly LabRun _run = lab.Run;

    [Fact]
    public void InteractiveStream_WhileAClientMovesFromBr1ToBr2ByCniDelAndAdd_LosesNoLine_NeverReset() =>
        RoamerMoves(lab, output, "roamer", "10.20.1.20/24", ("10.20.1.1", "10.20.1.254"), addFirst: false);

    /// <summary>
    /// A runtime that attaches the container at the router it goes to before it detaches it at the one it leaves (a
    /// migration that restores before it cleans up): CNI ADD at br2 (a second interface, eth1, whose default route the
    /// plugin puts in place of eth0's), then CNI DEL at br1. br2 places the client here at once and asks; br1 holds the
    /// session at its DEL and answers once the registry places the client at br2 (docs/mobility.md "A client moves by the
    /// CNI plugin").
    /// </summary>
    [Fact]
    public void InteractiveStream_WhileAClientIsAddedAtBr2BeforeItsDelAtBr1_LosesNoLine_NeverReset() =>
        RoamerMoves(lab, output, "roamera", "10.20.1.21/24", ("10.20.1.1", "10.20.1.254"), addFirst: true);

    /// <summary>An IPv6 client (<c>IP</c> an address of the IPv6 prefix both branches' pods serve) typing into shell's IPv6 address moves by DEL and ADD.</summary>
    [Fact]
    public void InteractiveStream_WhileAnIpv6ClientMovesFromBr1ToBr2ByCniDelAndAdd_LosesNoLine_NeverReset() =>
        RoamerMoves(lab, output, "roamer6", "fd00:20:1::20/64", ("fd00:20:1::1", "fd00:20:1::fe"), addFirst: false, shell: "fd00:200::22");

    /// <summary>
    /// Client <paramref name="client"/> of engineering, attached at br1 with <paramref name="address"/> (asked for with
    /// <c>IP</c>) via the first of <paramref name="gateways"/>, types into shell at <paramref name="shell"/> and moves to br2
    /// (the second gateway) by CNI DEL at br1 then ADD at br2, or the ADD first (<paramref name="addFirst"/>); the stream goes
    /// on (<see cref="ClientMove"/>) and br1's end of the old link is gone. The client is detached at br2 at the end.
    /// </summary>
    internal static void RoamerMoves(
        CniMobilityLab lab, ITestOutputHelper output, string client, string address, (string Br1, string Br2) gateways, bool addFirst, string shell = "10.200.0.22")
    {
        var args = $"IgnoreUnknown=1;IP={address.Split('/')[0]};FABRIC_TENANT=engineering;FABRIC_NAME={client}";
        var (name, netns) = lab.FreshContainer(client);
        var id = client + NetworkNamespaces.Suffix;
        var atBr1 = Added(lab.Br1, id, netns, args, address, gateways.Br1);
        var atBr2 = (JsonObject?)null;
        var br2Interface = addFirst ? "eth1" : "eth0";

        ClientMove.InteractiveStreamGoesOn(lab, output, name, () =>
        {
            if (addFirst)
            {
                atBr2 = Added(lab.Br2, id, netns, args, address, gateways.Br2, br2Interface);
            }

            var deleted = lab.Br1.Delete(id, netns, "eth0", args, atBr1);
            Assert.True(deleted.All(o => o.Succeeded), string.Join("\n", deleted));
            atBr2 ??= Added(lab.Br2, id, netns, args, address, gateways.Br2, br2Interface);
        }, addFirst ? "CNI ADD at br2, CNI DEL at br1" : "CNI DEL at br1, CNI ADD at br2", shell);

        Assert.False(ExternalCommand.InNamespace(lab.Run.NamespaceOf("br1a"), "ip", "link", "show", "dev", client).Succeeded, "br1's end of the link is gone");
        var detached = lab.Br2.Delete(id, netns, br2Interface, args, atBr2);
        Assert.True(detached.All(o => o.Succeeded), string.Join("\n", detached));
    }

    [Fact]
    public void LongTransferToAnInstance_WhileItMovesFromDc1ToDc2ByCniDelAndAdd_CompletesWithEveryByteIntact()
    {
        var (name, netns) = lab.FreshContainer("m");
        var id = "mob1" + NetworkNamespaces.Suffix;
        var atDc1 = Added(lab.Dc1, id, netns, Mob1, "10.10.6.10/24", "10.10.6.1");

        InstanceMove.LongTransferCompletes(_run, lab.Programs, output, name, () =>
        {
            var deleted = lab.Dc1.Delete(id, netns, "eth0", Mob1, atDc1);
            Assert.True(deleted.All(o => o.Succeeded), string.Join("\n", deleted));
            Added(lab.Dc2, id, netns, Mob1, "10.10.6.10/24", "10.10.6.254");
        }, "CNI DEL at dc1, CNI ADD at dc2");

        Assert.False(ExternalCommand.InNamespace(_run.NamespaceOf("dc1a"), "ip", "link", "show", "dev", "mob1").Succeeded, "dc1's end of the link is gone");
    }

    /// <summary>CNI ADD of <paramref name="ifname"/> through <paramref name="runtime"/>: it must succeed and give the container <paramref name="address"/> via <paramref name="gateway"/>; returns the list's result.</summary>
    internal static JsonObject Added(CniRuntime runtime, string id, string netns, string args, string address, string gateway, string ifname = "eth0")
    {
        var added = runtime.Add(id, netns, ifname, args);
        Assert.True(added.All(o => o.Succeeded), string.Join("\n", added));
        var result = added[^1].Json!;
        Assert.Equal(address, result["ips"]![0]!["address"]!.GetValue<string>());
        Assert.Equal(gateway, result["ips"]![0]!["gateway"]!.GetValue<string>());
        return result;
    }
}

/// <summary>
/// The CNI-mobility lab with two packet workers at the routers a client's move involves (br1, br2 and dc1, the shell's
/// router: <c>dataplane { workers = 2 }</c> added to each in the document the lab starts from; docs/dataplane.md
/// "Workers"), so a moved session's two directions must each reach the worker that owns it.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class CniMobilityWorkersLab : IDisposable
{
    public CniMobilityLab Lab { get; } = new("cnw", WithTwoWorkers(Repository.Read("hocon/lab-cni-mobility.conf"), "br1", "br2", "dc1"));

    public void Dispose() => Lab.Dispose();

    /// <summary><paramref name="topology"/> with <c>dataplane { workers = 2 }</c> in each of <paramref name="routers"/>' blocks.</summary>
    internal static string WithTwoWorkers(string topology, params string[] routers)
    {
        foreach (var router in routers)
        {
            var nodes = $"      nodes {{ {router}a {{";
            Assert.Contains(nodes, topology, StringComparison.Ordinal);
            topology = topology.Replace(nodes, "      dataplane { workers = 2 }\n" + nodes, StringComparison.Ordinal);
        }

        return topology;
    }
}

/// <summary>A client's move by CNI DEL and ADD between routers of two workers each, to a shell at a router of two workers.</summary>
[Collection(LabCollection.Name)]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class LabCniMobilityWorkersTests(CniMobilityWorkersLab workers, ITestOutputHelper output) : IClassFixture<CniMobilityWorkersLab>
{
    [Fact]
    public void InteractiveStream_WhileAClientMovesByCniDelAndAdd_BetweenRoutersOfTwoWorkers_LosesNoLine_NeverReset()
    {
        var lab = workers.Lab;
        foreach (var node in new[] { "br1a", "br2a", "dc1a" })
        {
            Assert.Equal(2, lab.Run.Counters(node).GetProperty("workers").GetInt32());
        }

        var handedOff = new[] { "br1a", "br2a", "dc1a" }.ToDictionary(n => n, n => lab.Run.Counters(n).GetProperty("handed_off").GetInt64());
        LabCniMobilityTests.RoamerMoves(lab, output, "roamerw", "10.20.1.20/24", ("10.20.1.1", "10.20.1.254"), addFirst: false);
        output.WriteLine("packets handed to another worker during the test: " + string.Join(", ", handedOff.Select(
            h => $"{h.Key} {lab.Run.Counters(h.Key).GetProperty("handed_off").GetInt64() - h.Value}")));
    }
}
