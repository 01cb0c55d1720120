using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace Fabric.Dataplane.Wire;

/// <summary>
/// Conversions between the packet path's addresses (IPv4 as a host-order <see cref="uint"/>, IPv6 as a
/// <see cref="UInt128"/> with the first wire octet most significant) and <see cref="IPAddress"/>. For parsed
/// header types, configuration and tests: these allocate.
/// </summary>
public static class IpAddressConversions
{
    public static IPAddress ToIPAddress(uint ipv4)
    {
        Span<byte> bytes = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, ipv4);
        return new IPAddress(bytes);
    }

    public static IPAddress ToIPAddress(UInt128 ipv6)
    {
        Span<byte> bytes = stackalloc byte[16];
        BinaryPrimitives.WriteUInt128BigEndian(bytes, ipv6);
        return new IPAddress(bytes);
    }

    /// <summary>Throws <see cref="ArgumentException"/> unless <paramref name="address"/> is IPv4.</summary>
    public static uint ToIpv4(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        Span<byte> bytes = stackalloc byte[4];
        if (address.AddressFamily != AddressFamily.InterNetwork || !address.TryWriteBytes(bytes, out _))
        {
            throw new ArgumentException($"{address} is not an IPv4 address.", nameof(address));
        }

        return BinaryPrimitives.ReadUInt32BigEndian(bytes);
    }

    /// <summary>Throws <see cref="ArgumentException"/> unless <paramref name="address"/> is IPv6.</summary>
    public static UInt128 ToIpv6(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        Span<byte> bytes = stackalloc byte[16];
        if (address.AddressFamily != AddressFamily.InterNetworkV6 || !address.TryWriteBytes(bytes, out _))
        {
            throw new ArgumentException($"{address} is not an IPv6 address.", nameof(address));
        }

        return BinaryPrimitives.ReadUInt128BigEndian(bytes);
    }

    public static uint ParseIpv4(string text) => ToIpv4(IPAddress.Parse(text));

    public static UInt128 ParseIpv6(string text) => ToIpv6(IPAddress.Parse(text));
}
