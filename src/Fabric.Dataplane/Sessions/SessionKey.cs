using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Fabric.Dataplane.Sessions;

/// <summary>
/// One direction of a session: the address family and the 5-tuple a packet carries. IPv4 addresses are stored as
/// a <see cref="UInt128"/> holding the host-order address in the low 32 bits; IPv6 addresses as the host-order
/// 128-bit value. The family is part of the key: an IPv6 packet from <c>::10.20.1.10</c> never finds the session
/// of the IPv4 flow from <c>10.20.1.10</c>, whose addresses have the same 128-bit value. For ICMP echo both
/// ports hold the echo identifier.
/// </summary>
/// <remarks>
/// Packed to 4-byte alignment so that the key takes 40 bytes instead of 48 (38 bytes of fields); a session
/// stores two keys.
/// </remarks>
[StructLayout(LayoutKind.Sequential, Pack = 4)]
public readonly record struct SessionKey(
    UInt128 Source, UInt128 Destination, ushort SourcePort, ushort DestinationPort, byte Protocol, bool IsIpv6)
{
    private const ulong Secret0 = 0xA0761D6478BD642F;
    private const ulong Secret1 = 0xE7037ED1A0B428DB;
    private const ulong Secret2 = 0x8EBC6AF09C88C6E3;
    private const ulong Secret3 = 0x589965CC75374CC3;
    private const ulong Secret4 = 0x1D8E4E27C47D124F;

    /// <summary>An IPv4 key (addresses in host order).</summary>
    public static SessionKey V4(uint source, uint destination, ushort sourcePort, ushort destinationPort, byte protocol) =>
        new(source, destination, sourcePort, destinationPort, protocol, IsIpv6: false);

    /// <summary>An IPv6 key (addresses in host order).</summary>
    public static SessionKey V6(UInt128 source, UInt128 destination, ushort sourcePort, ushort destinationPort, byte protocol) =>
        new(source, destination, sourcePort, destinationPort, protocol, IsIpv6: true);

    /// <summary>The key of the other direction: source and destination swapped, protocol and family kept.</summary>
    public SessionKey Reversed() => new(Destination, Source, DestinationPort, SourcePort, Protocol, IsIpv6);

    /// <summary>
    /// A 64-bit hash of every field, mixed with <paramref name="seed"/> (three 64×64→128 multiply-folds).
    /// Equal keys hash equal under the same seed. A secret seed makes collisions hard to craft without it; the
    /// mix is not a keyed cryptographic function.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong Hash(ulong seed)
    {
        var ports = ((ulong)SourcePort << 24) | ((ulong)DestinationPort << 8) | Protocol | (IsIpv6 ? 1UL << 40 : 0);
        var source = Fold((ulong)Source ^ seed ^ Secret0, (ulong)(Source >> 64) ^ Secret1);
        var destination = Fold((ulong)Destination ^ Secret2, (ulong)(Destination >> 64) ^ seed ^ Secret3);
        return Fold(source + ports, destination ^ Secret4);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Fold(ulong a, ulong b)
    {
        var high = Math.BigMul(a, b, out var low);
        return high ^ low;
    }
}
