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
    {
        Run = LabRun.Started("cnm", Repository.Read("hocon/lab-cni-mobility.conf"));
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
    private const string Roamer = "IgnoreUnknown=1;IP=10.20.1.20;FABRIC_TENANT=engineering;FABRIC_NAME=roamer";

    /// <summary>An instance of mobile, whose committed instance is at far, out of reach: for br1 it is hosted only through the registry.</summary>
    private const string Mob1 = "IgnoreUnknown=1;IP=10.10.6.10;FABRIC_SERVICE=mobile;FABRIC_NAME=mob1";

    private readonly LabRun _run = lab.Run;

    [Fact]
    public void InteractiveStream_WhileAClientMovesFromBr1ToBr2ByCniDelAndAdd_LosesNoLine_NeverReset()
    {
        var (name, netns) = lab.FreshContainer("r");
        var id = "roamer" + NetworkNamespaces.Suffix;
        var atBr1 = Added(lab.Br1, id, netns, Roamer, "10.20.1.20/24", "10.20.1.1");

        ClientMove.InteractiveStreamGoesOn(lab, output, name, () =>
        {
            var deleted = lab.Br1.Delete(id, netns, "eth0", Roamer, atBr1);
            Assert.True(deleted.All(o => o.Succeeded), string.Join("\n", deleted));
            Added(lab.Br2, id, netns, Roamer, "10.20.1.20/24", "10.20.1.254");
        }, "CNI DEL at br1, CNI ADD at br2");

        Assert.False(ExternalCommand.InNamespace(_run.NamespaceOf("br1a"), "ip", "link", "show", "dev", "roamer").Succeeded, "br1's end of the link is gone");
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

    /// <summary>CNI ADD through <paramref name="runtime"/>: it must succeed and give the container <paramref name="address"/> via <paramref name="gateway"/>; returns the list's result.</summary>
    private static JsonObject Added(CniRuntime runtime, string id, string netns, string args, string address, string gateway)
    {
        var added = runtime.Add(id, netns, "eth0", args);
        Assert.True(added.All(o => o.Succeeded), string.Join("\n", added));
        var result = added[^1].Json!;
        Assert.Equal(address, result["ips"]![0]!["address"]!.GetValue<string>());
        Assert.Equal(gateway, result["ips"]![0]!["gateway"]!.GetValue<string>());
        return result;
    }
}
