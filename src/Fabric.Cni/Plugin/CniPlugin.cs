using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Fabric.Cni.Admin;
using Fabric.Cni.Spec;

namespace Fabric.Cni.Plugin;

/// <summary>
/// <c>fabric cni</c>: one CNI command, read as the specification has a runtime pass it (the environment and the network
/// configuration on standard input), answered on standard output with the exit code. ADD asks the local router node to
/// choose an address and validate the container's name, tenant and service, makes the veth, then has the router plug it
/// in and register it; DEL withdraws it (and ends its sessions), and succeeds when there is nothing to delete; CHECK
/// compares the container's link and the router's registration; GC detaches what the runtime no longer lists; STATUS says
/// whether the router answers. Errors are the specification's JSON. Not thread-safe: one command per process.
/// </summary>
public sealed partial class CniPlugin(Func<string, IRouterDesk> routerAt, IContainerLinks links)
{
    /// <summary>CNI_ARGS keys and labels the plugin reads (other keys are ignored).</summary>
    public const string NameKey = "FABRIC_NAME";

    public const string TenantKey = "FABRIC_TENANT";

    public const string ServiceKey = "FABRIC_SERVICE";

    /// <summary>
    /// The CNI_ARGS key a runtime asks for the container's address with (the key the reference plugins' static and
    /// host-local IPAM read), IPv4 or IPv6: a container that moves between routers keeps its address, and so its sessions.
    /// </summary>
    public const string AddressKey = "IP";

    /// <summary>The labels (<c>args.cni.labels</c>, <c>runtimeConfig.labels</c>) that stand for the arguments above.</summary>
    public const string NameLabel = "fabric.name";

    public const string TenantLabel = "fabric.tenant";

    public const string ServiceLabel = "fabric.service";

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9_-]{0,14}$")]
    private static partial Regex DeviceName();

    /// <summary>Runs the command; returns the exit code (0, or 1 with the error object written).</summary>
    public int Run(Func<string, string?> environment, TextReader input, TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(output);
        var version = CniVersions.Current;
        try
        {
            var invocation = CniInvocation.From(environment);
            var text = input.ReadToEnd();
            if (invocation.Command == "VERSION")
            {
                output.Write(new JsonObject
                {
                    ["cniVersion"] = CniVersions.Current,
                    ["supportedVersions"] = new JsonArray([.. CniVersions.Supported.Select(v => JsonValue.Create(v))]),
                }.ToJsonString());
                return 0;
            }

            var config = NetworkConfig.Parse(text);
            version = config.CniVersion;
            if (!CniVersions.Has(version, invocation.Command))
            {
                throw new CniException(CniErrorCode.IncompatibleVersion, $"{invocation.Command} does not exist in CNI {version}");
            }

            var router = routerAt(config.AdminSocket ?? throw new CniException(CniErrorCode.InvalidNetworkConfig, "the configuration has no adminSocket (the local router node's admin socket)"));
            var result = invocation.Command switch
            {
                "ADD" => Add(invocation, config, router),
                "DEL" => Delete(invocation, router),
                "CHECK" => Check(invocation, config, router),
                "GC" => Collect(config, router),
                _ => Status(router),
            };
            output.Write(result);
            return 0;
        }
        catch (CniException e)
        {
            output.Write(e.ToJson(version));
            return 1;
        }
    }

    private string Add(CniInvocation invocation, NetworkConfig config, IRouterDesk router)
    {
        var netns = invocation.Netns!;
        if (!File.Exists(netns))
        {
            throw new CniException(CniErrorCode.ContainerUnknown, $"the container's network namespace {netns} does not exist");
        }

        var prepared = Expect(router.Ask(new AdminRequest("prepare")
        {
            ContainerId = invocation.ContainerId, InterfaceName = invocation.InterfaceName, Name = NameOf(invocation, config),
            Network = config.Network, Tenant = Argument(invocation, config, TenantKey, TenantLabel),
            Service = Argument(invocation, config, ServiceKey, ServiceLabel), Mtu = config.Mtu,
            Address = invocation.Arguments.TryGetValue(AddressKey, out var address) && address.Length > 0 ? address.Split('/')[0] : null,
        })).Attachment!;
        var (routerMac, containerMac) = links.Create(prepared, netns);
        try
        {
            Expect(router.Ask(new AdminRequest("attach") { Attachment = prepared }));
        }
        catch (CniException)
        {
            links.Remove(prepared.Name, netns, prepared.InterfaceName);
            throw;
        }

        return Result(config.CniVersion, prepared, netns, routerMac, containerMac).ToJsonString();
    }

    private string Delete(CniInvocation invocation, IRouterDesk router)
    {
        Attachment? attachment = null;
        try
        {
            attachment = Expect(router.Ask(new AdminRequest("detach") { ContainerId = invocation.ContainerId, InterfaceName = invocation.InterfaceName })).Attachment;
        }
        catch (CniException e) when (e.Code == CniErrorCode.RouterUnreachable)
        {
            // No router to withdraw it from: its link goes all the same, and a router that starts again drops an attachment whose device is gone.
        }

        links.Remove(attachment?.Name, invocation.Netns, invocation.InterfaceName!);
        return "";
    }

    private string Check(CniInvocation invocation, NetworkConfig config, IRouterDesk router)
    {
        var attachment = Expect(router.Ask(new AdminRequest("list"))).Attachments?.FirstOrDefault(a => a.Is(invocation.ContainerId!, invocation.InterfaceName!))
            ?? throw new CniException(CniErrorCode.ContainerUnknown, $"the router has no attachment of container {invocation.ContainerId} interface {invocation.InterfaceName}");
        if (config.PrevResult is { } previous)
        {
            var addresses = previous["ips"]?.AsArray().Select(ip => ip?["address"]?.GetValue<string>()).ToList() ?? [];
            if (!addresses.Contains($"{attachment.Address}/{attachment.PrefixLength}"))
            {
                throw new CniException(CniErrorCode.RouterRefused, $"prevResult does not hold the attachment's address {attachment.Address}/{attachment.PrefixLength}");
            }
        }

        links.Check(attachment, invocation.Netns!);
        return "";
    }

    /// <summary>GC: detaches every attachment of this configuration's network that the runtime's valid attachments do not list.</summary>
    private string Collect(NetworkConfig config, IRouterDesk router)
    {
        var valid = config.ValidAttachments ?? [];
        foreach (var attachment in Expect(router.Ask(new AdminRequest("list"))).Attachments ?? [])
        {
            if ((config.Network is null || attachment.Network == config.Network) && !valid.Any(v => attachment.Is(v.ContainerId, v.InterfaceName)))
            {
                Expect(router.Ask(new AdminRequest("detach") { ContainerId = attachment.ContainerId, InterfaceName = attachment.InterfaceName }));
                links.Remove(attachment.Name, null, attachment.InterfaceName);
            }
        }

        return "";
    }

    private static string Status(IRouterDesk router)
    {
        try
        {
            Expect(router.Ask(new AdminRequest("status")));
            return "";
        }
        catch (CniException e) when (e.Code == CniErrorCode.RouterUnreachable)
        {
            throw new CniException(CniErrorCode.PluginNotAvailable, e.Message, e.Details);
        }
    }

    /// <summary>The specification's ADD result: the router's end, the container's interface (in its sandbox), its address and default route.</summary>
    public static JsonObject Result(string cniVersion, Attachment attachment, string netns, string routerMac, string containerMac)
    {
        ArgumentNullException.ThrowIfNull(attachment);
        var ipv6 = attachment.IsIpv6;
        var ip = new JsonObject { ["address"] = $"{attachment.Address}/{attachment.PrefixLength}", ["gateway"] = attachment.Gateway, ["interface"] = 1 };
        if (Version.Parse(cniVersion) < new Version(1, 0, 0))
        {
            ip["version"] = ipv6 ? "6" : "4";
        }

        return new JsonObject
        {
            ["cniVersion"] = cniVersion,
            ["interfaces"] = new JsonArray(
                new JsonObject { ["name"] = attachment.Name, ["mac"] = routerMac, ["mtu"] = attachment.Mtu },
                new JsonObject { ["name"] = attachment.InterfaceName, ["mac"] = containerMac, ["mtu"] = attachment.Mtu, ["sandbox"] = netns }),
            ["ips"] = new JsonArray(ip),
            ["routes"] = new JsonArray(new JsonObject { ["dst"] = ipv6 ? "::/0" : "0.0.0.0/0", ["gw"] = attachment.Gateway }),
            ["dns"] = new JsonObject(),
        };
    }

    /// <summary>
    /// The container's name in the fabric (also its router-side device's, so at most 15 characters): <c>FABRIC_NAME</c> or
    /// the <c>fabric.name</c> label, else Kubernetes' <c>K8S_POD_NAME</c> when it fits, else <c>c</c> and the container id's
    /// first 12 characters.
    /// </summary>
    public static string NameOf(CniInvocation invocation, NetworkConfig config)
    {
        ArgumentNullException.ThrowIfNull(invocation);
        if (Argument(invocation, config, NameKey, NameLabel) is { } given)
        {
            return DeviceName().IsMatch(given)
                ? given
                : throw new CniException(CniErrorCode.InvalidEnvironment, $"{NameKey} \"{given}\" is not a name of 1-15 letters, digits, '-' or '_' (it names the router's device)");
        }

        if (invocation.Arguments.TryGetValue("K8S_POD_NAME", out var pod) && DeviceName().IsMatch(pod))
        {
            return pod;
        }

        var id = new string([.. invocation.ContainerId!.Where(char.IsAsciiLetterOrDigit).Take(12)]);
        return "c" + id.ToLowerInvariant();
    }

    private static string? Argument(CniInvocation invocation, NetworkConfig config, string key, string label) =>
        invocation.Arguments.TryGetValue(key, out var value) && value.Length > 0 ? value
        : config.Labels.TryGetValue(label, out var labelled) && labelled.Length > 0 ? labelled
        : null;

    /// <summary>The reply when the router said ok; its refusal as the CNI error it carries otherwise.</summary>
    private static AdminReply Expect(AdminReply reply) =>
        reply.Ok ? reply : throw new CniException(reply.Code == 0 ? CniErrorCode.RouterRefused : (CniErrorCode)reply.Code, reply.Message ?? "the router refused");
}
