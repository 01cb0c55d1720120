using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Fabric.Dataplane.Wire;

/// <summary>
/// The Internet checksum (RFC 1071): the one's-complement of the one's-complement sum of big-endian 16-bit
/// words, with pseudo-headers for IPv4 (RFC 793/768) and IPv6 (RFC 8200 §8.1), and incremental update for
/// a rewritten field (RFC 1624, equation 3).
/// </summary>
/// <remarks>
/// A partial sum is a <see cref="ulong"/> whose value modulo 0xFFFF equals the one's-complement sum of the
/// words added so far; because 2^16, 2^32 and 2^64 are all 1 modulo 0xFFFF, 32-bit and 64-bit quantities
/// are added whole and folded once at the end. Checksum values are returned as the big-endian 16-bit field
/// reads with <see cref="BinaryPrimitives.ReadUInt16BigEndian(ReadOnlySpan{byte})"/>. All members are pure
/// and thread-safe; none allocates.
/// </remarks>
public static class Checksum
{
    /// <summary>
    /// Adds <paramref name="data"/> to a partial sum, 8 octets at a time. <paramref name="data"/> is taken to
    /// start on a 16-bit word boundary; an odd final octet is padded with zero, so only the last span of a
    /// checksummed message may have odd length.
    /// </summary>
    public static ulong Add(ulong sum, ReadOnlySpan<byte> data)
    {
        sum = (sum & 0xFFFF_FFFF) + (sum >> 32);
        ref var start = ref MemoryMarshal.GetReference(data);
        var length = (nuint)data.Length;
        nuint at = 0;

        // Each 8-octet step adds two 32-bit halves, less than 2^33, so a buffer below 2^31 octets cannot
        // overflow the 64-bit accumulator.
        for (; at + 32 <= length; at += 32)
        {
            var a = ReadBigEndian64(ref Unsafe.Add(ref start, at));
            var b = ReadBigEndian64(ref Unsafe.Add(ref start, at + 8));
            var c = ReadBigEndian64(ref Unsafe.Add(ref start, at + 16));
            var d = ReadBigEndian64(ref Unsafe.Add(ref start, at + 24));
            sum += (a >> 32) + (uint)a + (b >> 32) + (uint)b + (c >> 32) + (uint)c + (d >> 32) + (uint)d;
        }

        for (; at + 8 <= length; at += 8)
        {
            var value = ReadBigEndian64(ref Unsafe.Add(ref start, at));
            sum += (value >> 32) + (uint)value;
        }

        if (at + 4 <= length)
        {
            var value = Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref start, at));
            sum += BitConverter.IsLittleEndian ? BinaryPrimitives.ReverseEndianness(value) : value;
            at += 4;
        }

        if (at + 2 <= length)
        {
            sum += ((uint)Unsafe.Add(ref start, at) << 8) | Unsafe.Add(ref start, at + 1);
            at += 2;
        }

        if (at < length)
        {
            sum += (uint)Unsafe.Add(ref start, at) << 8;
        }

        return sum;
    }

    /// <summary>Folds a partial sum and complements it: the value to store in a checksum field.</summary>
    public static ushort Finish(ulong sum) => (ushort)~Fold(sum);

    /// <summary>The checksum of <paramref name="data"/>; 0 when <paramref name="data"/> already holds a correct checksum.</summary>
    public static ushort Compute(ReadOnlySpan<byte> data) => Finish(Add(0, data));

    /// <summary>
    /// <see cref="Compute"/> of the first 20 octets of <paramref name="header"/> (an IPv4 header without options), inline:
    /// three reads instead of the general loop. Throws when <paramref name="header"/> is shorter.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort ComputeIpv4BaseHeader(ReadOnlySpan<byte> header)
    {
        header = header[..Ipv4Packet.MinHeaderLength];
        var a = BinaryPrimitives.ReadUInt64BigEndian(header);
        var b = BinaryPrimitives.ReadUInt64BigEndian(header.Slice(8, 8));
        var c = BinaryPrimitives.ReadUInt32BigEndian(header.Slice(16, 4));
        return Finish((a >> 32) + (uint)a + (b >> 32) + (uint)b + c);
    }

    /// <summary>The partial sum of the IPv4 pseudo-header (source, destination, zero, protocol, length).</summary>
    public static ulong PseudoHeaderIpv4(uint source, uint destination, byte protocol, int upperLayerLength) =>
        (ulong)source + destination + protocol + (uint)upperLayerLength;

    /// <summary>The partial sum of the IPv6 pseudo-header (source, destination, 32-bit length, zeros, next header).</summary>
    public static ulong PseudoHeaderIpv6(UInt128 source, UInt128 destination, byte nextHeader, int upperLayerLength) =>
        Sum128(source) + Sum128(destination) + nextHeader + (uint)upperLayerLength;

    /// <summary>
    /// The checksum after one 16-bit word covered by <paramref name="checksum"/> changes from
    /// <paramref name="oldValue"/> to <paramref name="newValue"/> (RFC 1624 eqn. 3); equals a full recompute
    /// unless every covered word is zero.
    /// </summary>
    public static ushort Update16(ushort checksum, ushort oldValue, ushort newValue) => Apply(checksum, Delta16(oldValue, newValue));

    /// <summary>As <see cref="Update16"/> for a 32-bit field on a 16-bit boundary, such as an IPv4 address.</summary>
    public static ushort Update32(ushort checksum, uint oldValue, uint newValue) => Apply(checksum, Delta32(oldValue, newValue));

    /// <summary>As <see cref="Update16"/> for a 128-bit field on a 16-bit boundary, such as an IPv6 address.</summary>
    public static ushort Update128(ushort checksum, UInt128 oldValue, UInt128 newValue) => Apply(checksum, Delta128(oldValue, newValue));

    /// <summary>
    /// The change a 16-bit field's rewrite from <paramref name="oldValue"/> to <paramref name="newValue"/> makes to a
    /// checksum covering it, as a partial sum: deltas of several fields add, and <see cref="Apply"/> folds them once, with
    /// the same result as one <see cref="Update16"/> per field in turn.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Delta16(ushort oldValue, ushort newValue) => (ulong)(ushort)~oldValue + newValue;

    /// <summary>As <see cref="Delta16"/> for a 32-bit field on a 16-bit boundary, such as an IPv4 address.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Delta32(uint oldValue, uint newValue) => (ulong)~oldValue + newValue;

    /// <summary>As <see cref="Delta16"/> for a 128-bit field on a 16-bit boundary, such as an IPv6 address.</summary>
    public static ulong Delta128(UInt128 oldValue, UInt128 newValue) => Sum128(~oldValue) + Sum128(newValue);

    /// <summary>
    /// Writes <paramref name="value"/> into the big-endian 16-bit <paramref name="field"/> (on a word boundary of the message a
    /// checksum covers) and returns the rewrite's <see cref="Delta16"/>; 0, writing nothing, when the field already holds it.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Rewrite16(Span<byte> field, ushort value)
    {
        var old = BinaryPrimitives.ReadUInt16BigEndian(field);
        if (old == value)
        {
            return 0;
        }

        BinaryPrimitives.WriteUInt16BigEndian(field, value);
        return Delta16(old, value);
    }

    /// <summary>The checksum after the rewrites whose deltas (<see cref="Delta16"/>, <see cref="Delta32"/>, <see cref="Delta128"/>) add to <paramref name="delta"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort Apply(ushort checksum, ulong delta) => (ushort)~Fold((ushort)~checksum + delta);

    /// <summary>
    /// The checksum after the TTL (the high octet of its 16-bit word with the protocol) of an IPv4 header drops by one:
    /// <see cref="Update16"/> for that word without the general fold (the change is the constant −0x0100, RFC 1624 §4).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort UpdateForTtlDecrement(ushort checksum)
    {
        var sum = (uint)checksum + 0x0100;
        return (ushort)(sum + (sum >= 0xFFFF ? 1u : 0u));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong ReadBigEndian64(ref byte at)
    {
        var value = Unsafe.ReadUnaligned<ulong>(ref at);
        return BitConverter.IsLittleEndian ? BinaryPrimitives.ReverseEndianness(value) : value;
    }

    private static ulong Sum128(UInt128 value)
    {
        var upper = (ulong)(value >> 64);
        var lower = (ulong)value;
        return (upper >> 32) + (uint)upper + (lower >> 32) + (uint)lower;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ushort Fold(ulong sum)
    {
        sum = (sum & 0xFFFF_FFFF) + (sum >> 32);
        sum = (sum & 0xFFFF_FFFF) + (sum >> 32);
        sum = (sum & 0xFFFF) + (sum >> 16);
        sum = (sum & 0xFFFF) + (sum >> 16);
        return (ushort)sum;
    }
}
