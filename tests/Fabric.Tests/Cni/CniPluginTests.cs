using System.Text.Json.Nodes;
using Fabric.Cni.Admin;
using Fabric.Cni.Plugin;
using Fabric.Cni.Spec;

namespace Fabric.Tests.Cni;

/// <summary>The plugin's handling of the specification over a router and links that only record what they are asked.</summary>
public sealed class CniPluginTests : IDisposable
{
    private const string Config = """{"cniVersion":"1.1.0","name":"fabric","type":"fabric-cni","adminSocket":"/run/fabric/br1a.sock"}""";

    private static readonly Attachment Prepared = new("abc", "eth0", "eng3", "hosts", "10.20.1.2", 24, "10.20.1.1", "engineering", null, 1500);

    private sealed class Router : IRouterDesk
    {
        public List<AdminRequest> Asked { get; } = [];

        public Func<AdminRequest, AdminReply> Answer { get; set; } = _ => new AdminReply(true);

        public AdminReply Ask(AdminRequest request)
        {
            Asked.Add(request);
            return Answer(request);
        }
    }

    private sealed class Links : IContainerLinks
    {
        public List<string> Done { get; } = [];

        public (string RouterMac, string ContainerMac) Create(Attachment attachment, string netns)
        {
            Done.Add($"create {attachment.Name} {netns}");
            return ("02:00:00:00:00:01", "02:00:00:00:00:02");
        }

        public void Remove(string? routerEnd, string? netns, string interfaceName) => Done.Add($"remove {routerEnd} {netns} {interfaceName}");

        public void Check(Attachment attachment, string netns) => Done.Add($"check {attachment.Name}");
    }

    private readonly Router _router = new();
    private readonly Links _links = new();
    private readonly string _netns = Path.GetTempFileName();

    private (int Exit, string Output) Run(string command, string config = Config, string args = "", string? netns = null)
    {
        var environment = new Dictionary<string, string?>
        {
            ["CNI_COMMAND"] = command, ["CNI_CONTAINERID"] = "abc", ["CNI_NETNS"] = netns ?? _netns, ["CNI_IFNAME"] = "eth0", ["CNI_ARGS"] = args,
        };
        var output = new StringWriter();
        var exit = new CniPlugin(_ => _router, _links).Run(name => environment.GetValueOrDefault(name), new StringReader(config), output);
        return (exit, output.ToString());
    }

    public void Dispose() => File.Delete(_netns);

    private static JsonObject Json(string text) => JsonNode.Parse(text)!.AsObject();

    [Fact]
    public void Version_PrintsTheSupportedVersions_WithoutAsking()
    {
        var (exit, output) = Run("VERSION", """{"cniVersion":"1.1.0"}""");

        Assert.Equal(0, exit);
        Assert.Equal("""{"cniVersion":"1.1.0","supportedVersions":["0.3.0","0.3.1","0.4.0","1.0.0","1.1.0"]}""", output);
        Assert.Empty(_router.Asked);
    }

    [Theory]
    [InlineData("BOGUS", Config, 4)]
    [InlineData("ADD", "not json", 6)]
    [InlineData("ADD", """{"cniVersion":"9.9.9","name":"fabric","type":"fabric-cni","adminSocket":"/s"}""", 1)]
    [InlineData("ADD", """{"cniVersion":"1.1.0","name":"fabric","type":"fabric-cni"}""", 7)]
    [InlineData("ADD", """{"cniVersion":"1.1.0","name":"fabric","type":"fabric-cni","adminSocket":"/s","mtu":"big"}""", 7)]
    [InlineData("GC", """{"cniVersion":"1.0.0","name":"fabric","type":"fabric-cni","adminSocket":"/s"}""", 1)]
    public void BadInput_IsTheSpecificationsErrorJson_WithItsCode(string command, string config, int code)
    {
        var (exit, output) = Run(command, config);

        Assert.Equal(1, exit);
        var error = Json(output);
        Assert.Equal(code, error["code"]!.GetValue<int>());
        Assert.False(string.IsNullOrEmpty(error["msg"]!.GetValue<string>()));
        Assert.NotNull(error["cniVersion"]);
        Assert.Empty(_links.Done);
    }

    [Fact]
    public void Add_WithoutNetns_IsCode4()
    {
        var environment = new Dictionary<string, string?> { ["CNI_COMMAND"] = "ADD", ["CNI_CONTAINERID"] = "abc", ["CNI_IFNAME"] = "eth0" };
        var output = new StringWriter();

        var exit = new CniPlugin(_ => _router, _links).Run(name => environment.GetValueOrDefault(name), new StringReader(Config), output);

        Assert.Equal(1, exit);
        Assert.Equal(4, Json(output.ToString())["code"]!.GetValue<int>());
        Assert.Contains("CNI_NETNS", output.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Add_PreparesMakesTheLinkAttaches_AndPrintsTheResult()
    {
        _router.Answer = r => new AdminReply(true) { Attachment = Prepared };

        var (exit, output) = Run("ADD", args: "IgnoreUnknown=1;FABRIC_TENANT=engineering;FABRIC_NAME=eng3");

        Assert.Equal(0, exit);
        Assert.Equal(["prepare", "attach"], _router.Asked.Select(r => r.Op));
        Assert.Equal(("eng3", "engineering", null), (_router.Asked[0].Name, _router.Asked[0].Tenant, _router.Asked[0].Service));
        Assert.Equal([$"create eng3 {_netns}"], _links.Done);
        var result = Json(output);
        Assert.Equal("1.1.0", result["cniVersion"]!.GetValue<string>());
        Assert.Equal("10.20.1.2/24", result["ips"]![0]!["address"]!.GetValue<string>());
        Assert.Equal(1, result["ips"]![0]!["interface"]!.GetValue<int>());
        Assert.Equal(_netns, result["interfaces"]![1]!["sandbox"]!.GetValue<string>());
        Assert.Equal("0.0.0.0/0", result["routes"]![0]!["dst"]!.GetValue<string>());
    }

    [Theory]
    [InlineData("1.1.0", null)]
    [InlineData("0.4.0", "6")]
    public void Add_AnIpv6Attachment_PrintsItsAddressAndAnIpv6DefaultRoute(string version, string? ipVersion)
    {
        _router.Answer = r => new AdminReply(true) { Attachment = Prepared with { Address = "fd00:20:1::77", PrefixLength = 64, Gateway = "fd00:20:1::1" } };

        var (exit, output) = Run("ADD", Config.Replace("1.1.0", version, StringComparison.Ordinal), args: "FABRIC_TENANT=engineering;FABRIC_NAME=eng3;IP=fd00:20:1::77");

        Assert.Equal(0, exit);
        Assert.Equal("fd00:20:1::77", _router.Asked[0].Address);
        var result = Json(output);
        Assert.Equal(("fd00:20:1::77/64", "fd00:20:1::1"), (result["ips"]![0]!["address"]!.GetValue<string>(), result["ips"]![0]!["gateway"]!.GetValue<string>()));
        Assert.Equal(ipVersion, result["ips"]![0]!["version"]?.GetValue<string>());
        Assert.Equal(("::/0", "fd00:20:1::1"), (result["routes"]![0]!["dst"]!.GetValue<string>(), result["routes"]![0]!["gw"]!.GetValue<string>()));
    }

    [Fact]
    public void Add_WithAnIpArgument_AsksTheRouterForThatAddress_WithoutAnyAsksForNone()
    {
        _router.Answer = r => new AdminReply(true) { Attachment = Prepared };

        Run("ADD", args: "FABRIC_TENANT=engineering;FABRIC_NAME=eng3;IP=10.20.1.77/24");
        Run("ADD", args: "FABRIC_TENANT=engineering;FABRIC_NAME=eng3");

        Assert.Equal(["10.20.1.77", null], _router.Asked.Where(r => r.Op == "prepare").Select(r => r.Address));
    }

    [Fact]
    public void Add_LabelsStandForArguments_AndAnOldVersionGetsIpVersions()
    {
        _router.Answer = r => new AdminReply(true) { Attachment = Prepared };
        var config = """{"cniVersion":"0.4.0","name":"fabric","type":"fabric-cni","adminSocket":"/s","args":{"cni":{"labels":[{"key":"fabric.service","value":"web"}]}}}""";

        var (exit, output) = Run("ADD", config);

        Assert.Equal(0, exit);
        Assert.Equal("web", _router.Asked[0].Service);
        Assert.Equal("cabc", _router.Asked[0].Name);
        Assert.Equal("4", Json(output)["ips"]![0]!["version"]!.GetValue<string>());
    }

    [Fact]
    public void Add_RouterRefusesTheAttach_TheLinkIsRemoved_AndItsCodeAndMessageAreKept()
    {
        _router.Answer = r => r.Op == "prepare" ? new AdminReply(true) { Attachment = Prepared } : AdminReply.Refused(CniErrorCode.RouterRefused, "unknown tenant \"x\"");

        var (exit, output) = Run("ADD");

        Assert.Equal(1, exit);
        Assert.Equal(100, Json(output)["code"]!.GetValue<int>());
        Assert.Equal("unknown tenant \"x\"", Json(output)["msg"]!.GetValue<string>());
        Assert.Equal([$"create eng3 {_netns}", $"remove eng3 {_netns} eth0"], _links.Done);
    }

    [Fact]
    public void Add_NetnsMissing_IsCode3_NothingAsked()
    {
        var (exit, output) = Run("ADD", netns: "/nonexistent/netns");

        Assert.Equal(1, exit);
        Assert.Equal(3, Json(output)["code"]!.GetValue<int>());
        Assert.Empty(_router.Asked);
    }

    [Fact]
    public void Del_Twice_SucceedsBothTimes_AndWithTheRouterGone()
    {
        var detached = 0;
        _router.Answer = r => new AdminReply(true) { Attachment = detached++ == 0 ? Prepared : null };

        Assert.Equal((0, ""), Run("DEL"));
        Assert.Equal((0, ""), Run("DEL"));
        _router.Answer = _ => throw new CniException(CniErrorCode.RouterUnreachable, "gone");
        Assert.Equal((0, ""), Run("DEL", netns: "/nonexistent/netns"));

        Assert.Equal([$"remove eng3 {_netns} eth0", $"remove  {_netns} eth0", "remove  /nonexistent/netns eth0"], _links.Done);
    }

    [Fact]
    public void Check_UnknownAttachment_IsCode3_AKnownOneIsChecked_AgainstPrevResult()
    {
        _router.Answer = _ => new AdminReply(true) { Attachments = [] };
        Assert.Equal(3, Json(Run("CHECK").Output)["code"]!.GetValue<int>());

        _router.Answer = _ => new AdminReply(true) { Attachments = [Prepared] };
        var previous = CniPlugin.Result("1.1.0", Prepared, _netns, "m1", "m2");
        var config = Json(Config);
        config["prevResult"] = previous;
        Assert.Equal((0, ""), Run("CHECK", config.ToJsonString()));
        Assert.Equal(["check eng3"], _links.Done);

        previous["ips"]![0]!["address"] = "10.20.1.99/24";
        config["prevResult"] = previous.DeepClone();
        Assert.Equal(1, Run("CHECK", config.ToJsonString()).Exit);
    }

    [Fact]
    public void Gc_DetachesWhatTheValidAttachmentsDoNotList()
    {
        var other = Prepared with { ContainerId = "gone", Name = "eng4" };
        _router.Answer = r => new AdminReply(true) { Attachments = r.Op == "list" ? [Prepared, other] : null };
        var config = Json(Config);
        config["cni.dev/valid-attachments"] = new JsonArray(new JsonObject { ["containerID"] = "abc", ["ifname"] = "eth0" });

        var (exit, _) = Run("GC", config.ToJsonString());

        Assert.Equal(0, exit);
        var detach = Assert.Single(_router.Asked, r => r.Op == "detach");
        Assert.Equal("gone", detach.ContainerId);
        Assert.Equal(["remove eng4  eth0"], _links.Done);
    }

    [Fact]
    public void Status_RouterUnreachable_IsCode50()
    {
        Assert.Equal((0, ""), Run("STATUS"));
        _router.Answer = _ => throw new CniException(CniErrorCode.RouterUnreachable, "gone");

        Assert.Equal(50, Json(Run("STATUS").Output)["code"]!.GetValue<int>());
    }

    [Fact]
    public void CniArgs_WithoutEquals_IsCode4()
    {
        var (exit, output) = Run("ADD", args: "FABRIC_TENANT");

        Assert.Equal(1, exit);
        Assert.Equal(4, Json(output)["code"]!.GetValue<int>());
    }
}
