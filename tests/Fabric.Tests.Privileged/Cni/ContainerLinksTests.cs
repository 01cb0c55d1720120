using Fabric.Cni.Admin;
using Fabric.Cni.Plugin;
using Fabric.Router;
using Fabric.Tests.Support;

namespace Fabric.Tests.Cni;

/// <summary>
/// The plugin's container links (<see cref="IpContainerLinks"/>, real veths and a real namespace): a container attached at a
/// second router goes out through it, and when that attachment is deleted (a runtime that gives up a move) it goes out
/// through the first again. Runs as root, as CI does.
/// </summary>
public sealed class ContainerLinksTests : IDisposable
{
    private static readonly string Suffix = NetworkNamespaces.Suffix;
    private static readonly string Namespace = $"cl-{Suffix}";
    private readonly NetworkNamespaces _namespaces = new();
    private readonly IpContainerLinks _links = new();
    private readonly List<Attachment> _created = [];

    public ContainerLinksTests() => _namespaces.AddNamespace(Namespace);

    /// <summary>
    /// Deletes the router ends first: a namespace's devices go with it only when the kernel gets round to it, and a router
    /// end still there would make the next case's veth of the same name fail to be created.
    /// </summary>
    public void Dispose()
    {
        foreach (var attachment in _created)
        {
            _links.Remove(attachment.Name, null, attachment.InterfaceName);
        }

        _namespaces.Dispose();
    }

    [Theory]
    [InlineData("10.77.1.20", 24, "10.77.1.1", "10.77.1.254", "10.9.9.9")]
    [InlineData("fd77::20", 64, "fd77::1", "fd77::fe", "fd99::9")]
    public void SecondAttachment_IsPreferred_AndWhenDeletedTheFirstOneCarriesTheContainerAgain(
        string address, int prefixLength, string firstGateway, string secondGateway, string faraway)
    {
        var netns = $"/run/netns/{Namespace}";
        var family = address.Contains(':', StringComparison.Ordinal) ? 6 : 4;
        var first = new Attachment("c1", "eth0", $"cl{family}a{Suffix}", "pods", address, prefixLength, firstGateway, null, null, 1500);
        var second = first with { InterfaceName = "eth1", Name = $"cl{family}b{Suffix}", Gateway = secondGateway };

        Create(first, netns);
        Assert.Contains($"via {firstGateway} dev eth0", Route(faraway));

        Create(second, netns);
        Assert.Contains($"via {secondGateway} dev eth1", Route(faraway));

        _links.Remove(second.Name, netns, second.InterfaceName);
        Assert.Contains($"via {firstGateway} dev eth0", Route(faraway));
    }

    private void Create(Attachment attachment, string netns)
    {
        _created.Add(attachment);
        _links.Create(attachment, netns);
    }

    private static string Route(string destination)
    {
        var shown = ExternalCommand.InNamespace(Namespace, "ip", "route", "get", destination);
        return shown.Succeeded ? shown.Output : $"no route: {shown.Error}";
    }
}
