using Fabric.Cni.Admin;
using Fabric.Cni.Router;
using Fabric.Cni.Spec;
using Fabric.Config;
using Fabric.Model;
using Fabric.Tests.Support;

namespace Fabric.Tests.Cni;

/// <summary>A router's attachments over the default lab's document (br1 has the host-based network hosts, 10.20.1.0/24).</summary>
public sealed class AttachmentDeskTests : IDisposable
{
    private sealed class Host(FabricConfig committed) : IAttachmentHost
    {
        public string RouterName => "br1";

        public FabricConfig Committed { get; set; } = committed;

        public List<string> Done { get; } = [];

        public HashSet<string> Missing { get; } = [];

        public IReadOnlyList<AttachedWorkload> Compiled { get; private set; } = [];

        public void Plug(string device)
        {
            if (Missing.Contains(device))
            {
                throw new InvalidOperationException($"no device {device}");
            }

            Done.Add("plug " + device);
        }

        public void Unplug(string device) => Done.Add("unplug " + device);

        public void Recompile(IReadOnlyList<AttachedWorkload> workloads) => Compiled = workloads;
    }

    private readonly string _state = Directory.CreateTempSubdirectory("fabric-attachments-").FullName;
    private readonly Host _host = new(FabricConfigLoader.Load(Repository.Read("hocon/lab.conf")).Config!);

    public void Dispose() => Directory.Delete(_state, recursive: true);

    private static AdminRequest Prepare(string id, string name, string? tenant = null, string? service = null) =>
        new("prepare") { ContainerId = id, InterfaceName = "eth0", Name = name, Tenant = tenant, Service = service };

    private static Attachment Attach(AttachmentDesk desk, string id, string name, string? tenant = null, string? service = null)
    {
        var prepared = desk.Handle(Prepare(id, name, tenant, service));
        Assert.True(prepared.Ok, prepared.Message);
        var attached = desk.Handle(new AdminRequest("attach") { Attachment = prepared.Attachment });
        Assert.True(attached.Ok, attached.Message);
        return attached.Attachment!;
    }

    [Fact]
    public void Prepare_ChoosesTheFirstFreeAddress_InTheOnlyHostBasedNetwork_AndKeepsNothing()
    {
        var desk = new AttachmentDesk(_host, _state);

        var reply = desk.Handle(Prepare("a", "eng3", tenant: "engineering"));

        Assert.True(reply.Ok, reply.Message);
        Assert.Equal(("hosts", "10.20.1.2", 24, "10.20.1.1", 1500), (reply.Attachment!.Network, reply.Attachment.Address, reply.Attachment.PrefixLength, reply.Attachment.Gateway, reply.Attachment.Mtu));
        Assert.Empty(desk.Attachments);
        Assert.Empty(_host.Done);
    }

    [Fact]
    public void Prepare_AnAddressAskedFor_IsTheAttachments_TakenGatewayOrOffNetwork_Refused()
    {
        var desk = new AttachmentDesk(_host, _state);

        var reply = desk.Handle(Prepare("a", "eng3", tenant: "engineering") with { Address = "10.20.1.77" });

        Assert.True(reply.Ok, reply.Message);
        Assert.Equal("10.20.1.77", reply.Attachment!.Address);
        foreach (var (asked, says) in new[] { ("10.20.1.10", "10.20.1.10"), ("10.20.1.1", "not a container address"), ("10.30.1.5", "not a container address"), ("fd00::5", "not a container address"), ("fe80::5%2", "not an IPv4 or IPv6 address"), ("eng3", "not an IPv4 or IPv6 address") })
        {
            var refused = desk.Handle(Prepare("a", "eng3", tenant: "engineering") with { Address = asked });
            Assert.False(refused.Ok);
            Assert.Equal((int)CniErrorCode.RouterRefused, refused.Code);
            Assert.Contains(says, refused.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Prepare_AnIpv6AddressAskedFor_InTheNetworksIpv6Prefix_IsTheAttachments_WithTheIpv6Gateway()
    {
        // lab-ipv6.conf: br1's hosts serves 10.20.1.0/24 and fd00:20:1::/64; eng1 holds fd00:20:1::10.
        _host.Committed = FabricConfigLoader.Load(Repository.Read("hocon/lab-ipv6.conf")).Config!;
        var desk = new AttachmentDesk(_host, _state);

        var reply = desk.Handle(Prepare("a", "eng3", tenant: "engineering") with { Address = "fd00:20:1::77" });

        Assert.True(reply.Ok, reply.Message);
        Assert.Equal(("hosts", "fd00:20:1::77", 64, "fd00:20:1::1"), (reply.Attachment!.Network, reply.Attachment.Address, reply.Attachment.PrefixLength, reply.Attachment.Gateway));
        var attached = desk.Handle(new AdminRequest("attach") { Attachment = reply.Attachment });
        Assert.True(attached.Ok, attached.Message);
        Assert.Equal(System.Net.IPAddress.Parse("fd00:20:1::77"), Assert.Single(_host.Compiled).Address);
        foreach (var (asked, says) in new[] { ("fd00:20:1::10", "fd00:20:1::10"), ("fd00:20:1::1", "not a container address"), ("fd00:99::5", "not a container address") })
        {
            var refused = desk.Handle(Prepare("b", "eng4", tenant: "engineering") with { Address = asked });
            Assert.False(refused.Ok);
            Assert.Contains(says, refused.Message, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("enginering", null, "unknown tenant \"enginering\"")]
    [InlineData(null, "webb", "unknown service \"webb\"")]
    public void Prepare_UnknownTenantOrService_IsRefusedWithCode100_SayingWhich(string? tenant, string? service, string says)
    {
        var reply = new AttachmentDesk(_host, _state).Handle(Prepare("a", "x1", tenant, service));

        Assert.False(reply.Ok);
        Assert.Equal((int)CniErrorCode.RouterRefused, reply.Code);
        Assert.Contains(says, reply.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Prepare_ANameTheDocumentUses_IsRefused()
    {
        var reply = new AttachmentDesk(_host, _state).Handle(Prepare("a", "eng1", tenant: "engineering"));

        Assert.False(reply.Ok);
        Assert.Contains("already has a container named \"eng1\"", reply.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Attach_PlugsRecompilesAndKeeps_TheNextGetsTheNextAddress_ARestartRestoresBoth()
    {
        var desk = new AttachmentDesk(_host, _state);
        Attach(desk, "a", "eng3", tenant: "engineering");
        var second = Attach(desk, "b", "web3", service: "web");

        Assert.Equal("10.20.1.3", second.Address);
        Assert.Equal(["plug eng3", "plug web3"], _host.Done);
        Assert.Equal(["eng3", "web3"], _host.Compiled.Select(w => w.Name));
        Assert.Equal("web", _host.Compiled[1].Service);

        var restarted = new AttachmentDesk(new Host(_host.Committed), _state);
        Assert.Empty(restarted.Restore());
        Assert.Equal(desk.Attachments, restarted.Attachments);
    }

    [Fact]
    public void Restore_DropsAnAttachmentWhoseDeviceIsGone_SayingSo()
    {
        var desk = new AttachmentDesk(_host, _state);
        Attach(desk, "a", "eng3", tenant: "engineering");
        var host = new Host(_host.Committed);
        host.Missing.Add("eng3");

        var dropped = new AttachmentDesk(host, _state).Restore();

        Assert.Contains("attachment eng3 dropped: no device eng3", Assert.Single(dropped), StringComparison.Ordinal);
        Assert.Empty(new AttachmentDesk(_host, _state).Attachments);
    }

    [Fact]
    public void Detach_Twice_UnplugsOnce_BothSucceed()
    {
        var desk = new AttachmentDesk(_host, _state);
        Attach(desk, "a", "eng3", tenant: "engineering");

        var first = desk.Handle(new AdminRequest("detach") { ContainerId = "a", InterfaceName = "eth0" });
        var second = desk.Handle(new AdminRequest("detach") { ContainerId = "a", InterfaceName = "eth0" });

        Assert.True(first.Ok && second.Ok);
        Assert.Equal("eng3", first.Attachment!.Name);
        Assert.Null(second.Attachment);
        Assert.Equal(["plug eng3", "unplug eng3"], _host.Done);
        Assert.Empty(_host.Compiled);
    }

    [Fact]
    public void Attach_SameContainerTwice_IsRefused()
    {
        var desk = new AttachmentDesk(_host, _state);
        Attach(desk, "a", "eng3", tenant: "engineering");

        var again = desk.Handle(Prepare("a", "eng4", tenant: "engineering"));

        Assert.False(again.Ok);
        Assert.Contains("attached already", again.Message, StringComparison.Ordinal);
    }
}
