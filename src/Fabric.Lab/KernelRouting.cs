using Fabric.Model;

namespace Fabric.Lab;

/// <summary>
/// The baseline wiring for <c>fabric bench lab</c>: a router namespace forwarding with the kernel instead
/// of Fabric. Its devices get the router's addresses (gateways as /32 plus a host route per container,
/// since host-based containers share one gateway address over several devices), IP forwarding is on,
/// reverse-path filtering off, and every other router's container networks are routed via that
/// router's address on a shared neighborhood. No sessions, policy or NAT: service virtual addresses
/// are not reachable this way, container addresses are. Thread-safe: stateless.
/// </summary>
public static class KernelRouting
{
    public static void Configure(FabricConfig config, Model.Router router, string ns)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(router);
        NetworkNamespace.SetKernelSetting(ns, "net/ipv4/ip_forward", "1");
        NetworkNamespace.SetKernelSetting(ns, "net/ipv4/conf/all/rp_filter", "0");
        NetworkNamespace.SetKernelSetting(ns, "net/ipv4/conf/default/rp_filter", "0");
        foreach (var iface in router.Interfaces)
        {
            foreach (var address in iface.Addresses.Where(a => a.IsIPv4))
            {
                NetworkNamespace.AddAddress(ns, iface.Device, address.ToString());
            }
        }

        foreach (var network in router.Networks)
        {
            foreach (var gateway in network.Gateways.Where(g => g.IsIPv4))
            {
                var devices = network.Model == NetworkModel.Bridged ? [network.Device] : network.Containers.Select(c => c.Name).ToArray();
                foreach (var device in devices)
                {
                    NetworkNamespace.AddAddress(ns, device, $"{gateway.Address}/32");
                }
            }

            foreach (var container in network.Containers)
            {
                foreach (var address in container.Addresses.Where(a => a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork))
                {
                    Ip(ns, "route", "add", $"{address}/32", "dev", network.Model == NetworkModel.Bridged ? network.Device : container.Name);
                }
            }
        }

        foreach (var peer in config.Routers.Where(r => r.Name != router.Name))
        {
            var via = PeerAddress(router, peer);
            if (via is null)
            {
                continue;
            }

            foreach (var gateway in peer.Networks.SelectMany(n => n.Gateways).Where(g => g.IsIPv4))
            {
                Ip(ns, "route", "add", gateway.Network.ToString(), "via", via);
            }
        }
    }

    /// <summary>The VXLAN network identifier and UDP port of the overlay <see cref="AddOverlay"/> builds (Linux's IANA default port).</summary>
    public const int OverlayVni = 42;

    public const int OverlayPort = 4789;

    /// <summary>
    /// Turns kernel-forwarding routers (after <see cref="Configure"/>) into an overlay, as Flannel's or Calico's VXLAN
    /// backends do: each router namespace gets a VXLAN device on its WAN address with every other router as a flood
    /// destination, an overlay address (192.168.250.N/24 for the N-th router) and routes to the other routers' container
    /// networks through the overlay instead of the WAN. The overlay device's MTU is the WAN's less the 50 octets of
    /// encapsulation; containers learn it by path MTU discovery. Routers without an IPv4 WAN address are skipped.
    /// </summary>
    public static void AddOverlay(FabricConfig config, Func<Model.Router, string> namespaceOf)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(namespaceOf);
        var routers = config.Routers.ToList();
        string Overlay(Model.Router r) => $"192.168.250.{routers.IndexOf(r) + 1}";
        foreach (var router in routers)
        {
            var wan = router.Interfaces.FirstOrDefault(i => i.Addresses.Any(a => a.IsIPv4));
            if (wan is null)
            {
                continue;
            }

            var ns = namespaceOf(router);
            var local = wan.Addresses.First(a => a.IsIPv4).Address.ToString();
            Ip(ns, "link", "add", "name", "vxlan0", "type", "vxlan", "id", OverlayVni.ToString(System.Globalization.CultureInfo.InvariantCulture),
                "local", local, "dstport", OverlayPort.ToString(System.Globalization.CultureInfo.InvariantCulture), "dev", wan.Device);
            foreach (var peer in routers.Where(r => r != router))
            {
                if (PeerAddress(router, peer) is { } underlay)
                {
                    NetworkNamespace.Check("bridge", ["-n", ns, "fdb", "append", "00:00:00:00:00:00", "dev", "vxlan0", "dst", underlay]);
                }
            }

            Ip(ns, "address", "add", $"{Overlay(router)}/24", "dev", "vxlan0");
            Ip(ns, "link", "set", "dev", "vxlan0", "up");
            foreach (var peer in routers.Where(r => r != router && PeerAddress(router, r) is not null))
            {
                foreach (var gateway in peer.Networks.SelectMany(n => n.Gateways).Where(g => g.IsIPv4))
                {
                    Ip(ns, "route", "replace", gateway.Network.ToString(), "via", Overlay(peer));
                }
            }
        }
    }

    /// <summary>The peer's IPv4 address on an interface that shares a neighborhood with one of the router's, or null.</summary>
    private static string? PeerAddress(Model.Router router, Model.Router peer)
    {
        var ours = router.Interfaces.SelectMany(i => i.Neighborhoods).ToHashSet(StringComparer.Ordinal);
        return peer.Interfaces.Where(i => i.Neighborhoods.Any(ours.Contains))
            .SelectMany(i => i.Addresses).Where(a => a.IsIPv4).Select(a => a.Address.ToString()).FirstOrDefault();
    }

    private static void Ip(string ns, params string[] arguments) => NetworkNamespace.Check("ip", ["-n", ns, .. arguments]);
}
