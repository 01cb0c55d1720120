using System.Net;
using System.Text.Json;
using Fabric.Dataplane.Wire;
using Fabric.Lab;
using Fabric.Router;

namespace Fabric.Bench;

/// <summary>
/// What a frame sender on a namespace's own interface needs to reach a destination as the namespace's IP stack would:
/// the interface the route leaves by (its index and MAC) and the MAC of the next hop (the gateway, or the destination
/// itself on a connected network) from the namespace's neighbour table.
/// </summary>
public readonly record struct ClientLink(string Device, int Index, MacAddress Mac, MacAddress NextHopMac)
{
    /// <summary>
    /// Reads the route to <paramref name="destination"/> in namespace <paramref name="ns"/>, its interface, and the next
    /// hop's neighbour entry with <c>ip -j</c>. The entry must exist: send a datagram to the destination first. Throws
    /// <see cref="LabException"/> saying which step found nothing.
    /// </summary>
    public static ClientLink Resolve(string ns, IPAddress destination)
    {
        ArgumentNullException.ThrowIfNull(destination);
        using var route = Ip(ns, "route", "get", destination.ToString());
        var first = route.RootElement[0];
        var device = first.GetProperty("dev").GetString()!;
        var nextHop = first.TryGetProperty("gateway", out var gateway) ? gateway.GetString()! : destination.ToString();

        using var link = Ip(ns, "link", "show", "dev", device);
        var index = link.RootElement[0].GetProperty("ifindex").GetInt32();
        var mac = MacAddress.Parse(link.RootElement[0].GetProperty("address").GetString()!);

        using var neighbour = Ip(ns, "neigh", "show", "to", nextHop, "dev", device);
        if (neighbour.RootElement.GetArrayLength() == 0 || !neighbour.RootElement[0].TryGetProperty("lladdr", out var lladdr))
        {
            throw new LabException($"namespace {ns} has no neighbour entry for {nextHop} on {device} (nothing was sent to {destination} yet?)");
        }

        return new ClientLink(device, index, mac, MacAddress.Parse(lladdr.GetString()!));
    }

    private static JsonDocument Ip(string ns, params string[] arguments)
    {
        var result = ExternalCommand.InNamespace(ns, ["ip", "-j", .. arguments]);
        if (!result.Succeeded)
        {
            throw new LabException($"ip {string.Join(' ', arguments)} in namespace {ns} failed: {result.Error.Trim()}");
        }

        var document = JsonDocument.Parse(result.Output);
        if (document.RootElement.ValueKind != JsonValueKind.Array || (arguments[0] != "neigh" && document.RootElement.GetArrayLength() == 0))
        {
            document.Dispose();
            throw new LabException($"ip {string.Join(' ', arguments)} in namespace {ns} printed nothing");
        }

        return document;
    }
}
