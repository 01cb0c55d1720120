using System.Net;
using System.Net.Sockets;
using Fabric.Dataplane.Wire;

namespace Fabric.Dataplane.Forwarding;

/// <summary>A container's (a client's) address as session keys hold it: an IPv4 address as its 32-bit value, an IPv6 one whole.</summary>
public readonly record struct ClientAddress(UInt128 Address, bool IsIpv6)
{
    public static ClientAddress Of(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        return address.AddressFamily == AddressFamily.InterNetworkV6
            ? new ClientAddress(IpAddressConversions.ToIpv6(address), IsIpv6: true)
            : new ClientAddress(IpAddressConversions.ToIpv4(address), IsIpv6: false);
    }
}
