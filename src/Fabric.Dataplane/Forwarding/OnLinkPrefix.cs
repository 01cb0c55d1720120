using Fabric.Dataplane.Wire;
using Fabric.Model.Addressing;

namespace Fabric.Dataplane.Forwarding;

/// <summary>
/// A prefix on a port's link: the network of one of the router's addresses there (a gateway such as
/// <c>10.20.1.1/24</c> or an interface address). A host inside it is a neighbour on that port; the router learns
/// where such a host is from the frames it sends, and from no other frames but ARP and neighbour discovery.
/// Addresses in the form of <see cref="Sessions.SessionKey"/> (IPv4 in the low 32 bits, with the family).
/// </summary>
public readonly record struct OnLinkPrefix(UInt128 Network, UInt128 Mask, bool IsIpv6)
{
    /// <summary>The network of <paramref name="prefix"/> (host bits cleared).</summary>
    public static OnLinkPrefix From(IpPrefix prefix)
    {
        var bits = prefix.IsIPv4 ? 32 : 128;
        var all = prefix.IsIPv4 ? (UInt128)uint.MaxValue : UInt128.MaxValue;
        var mask = prefix.Length == 0 ? UInt128.Zero : all & (all << (bits - prefix.Length));
        var address = prefix.IsIPv4 ? IpAddressConversions.ToIpv4(prefix.Address) : IpAddressConversions.ToIpv6(prefix.Address);
        return new OnLinkPrefix(address & mask, mask, !prefix.IsIPv4);
    }

    public bool Contains(UInt128 address, bool isIpv6) => isIpv6 == IsIpv6 && (address & Mask) == Network;
}
