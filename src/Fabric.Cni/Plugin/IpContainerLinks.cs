using System.Diagnostics;
using System.Text.Json.Nodes;
using Fabric.Cni.Admin;
using Fabric.Cni.Spec;

namespace Fabric.Cni.Plugin;

/// <summary>
/// <see cref="IContainerLinks"/> with iproute2's <c>ip</c> (and util-linux's <c>nsenter</c> to act inside the container's
/// namespace, which a runtime names by path). The plugin runs in the router's network namespace: the router's end of the
/// veth stays there, up, with no address and IPv6 off, as the router's host-based devices are. The container's end gets
/// the attachment's one address, of either family, and a default route of that family via the gateway, preferred to any it
/// had (<see cref="PreferredDefault"/>): a container attached at a second router before it is detached at the first (a
/// runtime that moves it) is reached through the router it goes to, and one whose move is given up (the new attachment
/// deleted) falls back on the route it had, which the kernel kept.
/// </summary>
public sealed class IpContainerLinks : IContainerLinks
{
    public (string RouterMac, string ContainerMac) Create(Attachment attachment, string netns)
    {
        ArgumentNullException.ThrowIfNull(attachment);
        var name = attachment.Name;
        var inside = attachment.InterfaceName;
        Run("ip", "link", "add", "name", name, "mtu", Text(attachment.Mtu), "type", "veth", "peer", "name", inside, "mtu", Text(attachment.Mtu), "netns", netns);
        try
        {
            var ipv6 = $"/proc/sys/net/ipv6/conf/{name}/disable_ipv6";
            if (File.Exists(ipv6))
            {
                File.WriteAllText(ipv6, "1");
            }

            Run("ip", "link", "set", "dev", name, "up");
            // IPv6: no duplicate address detection, on the link-local address either (the link has two ends, and the address
            // is usable at once: one that moved here is in use by its sockets). IPv4: IPv6 off, so the container sends no
            // solicitations the router would count as drops without a tenant.
            var (family, ipv6Setting, nodad) = attachment.IsIpv6
                ? ("-6", $"echo 0 > /proc/sys/net/ipv6/conf/{inside}/accept_dad", new[] { "nodad" })
                : ("-4", $"echo 1 > /proc/sys/net/ipv6/conf/{inside}/disable_ipv6 || true", Array.Empty<string>());
            Run("nsenter", $"--net={netns}", "sh", "-c", ipv6Setting);
            Run("nsenter", [$"--net={netns}", "ip", "address", "add", $"{attachment.Address}/{attachment.PrefixLength}", "dev", inside, .. nodad]);
            Run("nsenter", $"--net={netns}", "ip", "link", "set", "dev", inside, "up");
            PreferredDefault(netns, family, attachment.Gateway, inside);

            return (Mac(Run("ip", "-j", "link", "show", "dev", name)), Mac(Run("nsenter", $"--net={netns}", "ip", "-j", "link", "show", "dev", inside)));
        }
        catch
        {
            Try("ip", "link", "del", "dev", name);
            throw;
        }
    }

    public void Remove(string? routerEnd, string? netns, string interfaceName)
    {
        if (routerEnd is not null && Try("ip", "link", "show", "dev", routerEnd))
        {
            Run("ip", "link", "del", "dev", routerEnd);
            return;
        }

        if (netns is not null && File.Exists(netns) && Try("nsenter", $"--net={netns}", "ip", "link", "show", "dev", interfaceName))
        {
            Run("nsenter", $"--net={netns}", "ip", "link", "del", "dev", interfaceName);
        }
    }

    public void Check(Attachment attachment, string netns)
    {
        ArgumentNullException.ThrowIfNull(attachment);
        if (!File.Exists(netns))
        {
            throw new CniException(CniErrorCode.ContainerUnknown, $"the container's network namespace {netns} does not exist");
        }

        var shown = JsonNode.Parse(Run("nsenter", $"--net={netns}", "ip", "-j", "address", "show", "dev", attachment.InterfaceName)) as JsonArray;
        var link = shown?.FirstOrDefault()?.AsObject();
        var addresses = link?["addr_info"]?.AsArray().Select(a => $"{a?["local"]}/{a?["prefixlen"]}").ToList() ?? [];
        if (!addresses.Contains($"{attachment.Address}/{attachment.PrefixLength}"))
        {
            throw new CniException(CniErrorCode.RouterRefused, $"{attachment.InterfaceName} in {netns} has not the address {attachment.Address}/{attachment.PrefixLength} (it has {string.Join(", ", addresses)})");
        }

        if (!Try("ip", "link", "show", "dev", attachment.Name))
        {
            throw new CniException(CniErrorCode.RouterRefused, $"the router's end {attachment.Name} of the container's link is gone");
        }
    }

    /// <summary>
    /// Makes the default route of <paramref name="family"/> (<c>-4</c> or <c>-6</c>) via <paramref name="gateway"/> the one
    /// the container uses, keeping the ones it had: with none, at <see cref="DefaultRouteMetric"/>; else one metric below the
    /// lowest it has (the kernel prefers the lowest), so the others take over when this link goes. A default at metric 0
    /// (another tool's) cannot be undercut and is replaced, as before.
    /// </summary>
    private static void PreferredDefault(string netns, string family, string gateway, string inside)
    {
        var metrics = (JsonNode.Parse(Run("nsenter", $"--net={netns}", "ip", "-j", family, "route", "show", "default")) as JsonArray ?? [])
            .Select(r => r?["metric"]?.GetValue<int>() ?? 0)
            .ToList();
        if (metrics.Count == 0 || metrics.Min() > 0)
        {
            var metric = metrics.Count == 0 ? DefaultRouteMetric : metrics.Min() - 1;
            Run("nsenter", $"--net={netns}", "ip", family, "route", "add", "default", "via", gateway, "dev", inside, "metric", Text(metric));
        }
        else
        {
            Run("nsenter", $"--net={netns}", "ip", family, "route", "replace", "default", "via", gateway, "dev", inside);
        }
    }

    /// <summary>The metric of a container's first default route (IPv6's default for routes added by hand); each later attachment's is one less.</summary>
    public const int DefaultRouteMetric = 1024;

    private static string Mac(string json) => (JsonNode.Parse(json) as JsonArray)?.FirstOrDefault()?["address"]?.GetValue<string>() ?? "";

    private static string Text(int value) => value.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Runs a command that must succeed and returns its output; throws <see cref="CniException"/> (code 102) with what it printed.</summary>
    private static string Run(string file, params string[] arguments)
    {
        var (ok, output, error) = Execute(file, arguments);
        return ok ? output : throw new CniException(CniErrorCode.LinkFailed, $"{file} {string.Join(' ', arguments)} failed", error.Trim());
    }

    private static bool Try(string file, params string[] arguments) => Execute(file, arguments).Ok;

    private static (bool Ok, string Output, string Error) Execute(string file, string[] arguments)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        try
        {
            using var process = Process.Start(start) ?? throw new CniException(CniErrorCode.LinkFailed, $"{file} did not start");
            var error = process.StandardError.ReadToEndAsync();
            var output = process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            return (process.ExitCode == 0, output, error.Result);
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new CniException(CniErrorCode.LinkFailed, $"{file} cannot run (install iproute2 and util-linux)", e.Message);
        }
    }
}
