using System.Buffers.Binary;
using System.Net;
using System.Runtime.CompilerServices;

namespace Fabric.Dataplane.Wire;

/// <summary>
/// A view over an IPv4 packet (RFC 791). <see cref="TryCreate(Span{byte}, out Ipv4Packet, out WireError)"/>
/// checks version, header length and total length against the buffer and trims link-layer padding; afterwards
/// no member throws. Addresses are host-order <see cref="uint"/>s. Setters write the field only; the members
/// named for a router action (<see cref="TryDecrementTtl"/>, <see cref="RewriteSource"/>, ...) keep the header
/// checksum correct.
/// </summary>
public readonly ref struct Ipv4Packet
{
    public const int VersionAndHeaderLengthOffset = 0;
    public const int TypeOfServiceOffset = 1;
    public const int TotalLengthOffset = 2;
    public const int IdentificationOffset = 4;
    public const int FlagsAndFragmentOffsetOffset = 6;
    public const int TtlOffset = 8;
    public const int ProtocolOffset = 9;
    public const int HeaderChecksumOffset = 10;
    public const int SourceOffset = 12;
    public const int DestinationOffset = 16;
    public const int OptionsOffset = 20;

    /// <summary>The header length without options; IHL 5.</summary>
    public const int MinHeaderLength = 20;

    /// <summary>The header length with the most options; IHL 15.</summary>
    public const int MaxHeaderLength = 60;

    public const int Version4 = 4;

    internal const ushort ReservedFlag = 0x8000;
    internal const ushort DontFragmentFlag = 0x4000;
    internal const ushort MoreFragmentsFlag = 0x2000;
    internal const ushort FragmentOffsetMask = 0x1FFF;

    private readonly Span<byte> _bytes;

    private Ipv4Packet(Span<byte> bytes) => _bytes = bytes;

    /// <summary>
    /// Accepts a whole packet: version 4, IHL at least 5, header and total length within the buffer and the
    /// total length covering the header. The view ends at the total length; octets after it (Ethernet padding)
    /// are outside it.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool TryCreate(Span<byte> bytes, out Ipv4Packet packet) => TryCreate(bytes, out packet, out _);

    /// <inheritdoc cref="TryCreate(Span{byte}, out Ipv4Packet)"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool TryCreate(Span<byte> bytes, out Ipv4Packet packet, out WireError error)
    {
        packet = default;
        error = ValidateHeader(bytes, out var totalLength);
        if (error == WireError.None && totalLength > bytes.Length)
        {
            error = WireError.Truncated;
        }

        if (error != WireError.None)
        {
            return false;
        }

        packet = new Ipv4Packet(bytes[..totalLength]);
        return true;
    }

    /// <summary>
    /// Accepts a packet quoted in an ICMP error, whose payload may be cut short: the header checks of
    /// <see cref="TryCreate(Span{byte}, out Ipv4Packet, out WireError)"/> apply, but the total length may exceed
    /// the buffer. <see cref="TotalLength"/> then reports the original length while <see cref="Payload"/> holds
    /// the octets present.
    /// </summary>
    public static bool TryCreateQuoted(Span<byte> bytes, out Ipv4Packet packet, out WireError error)
    {
        packet = default;
        error = ValidateHeader(bytes, out var totalLength);
        if (error != WireError.None)
        {
            return false;
        }

        packet = new Ipv4Packet(bytes[..Math.Min(totalLength, bytes.Length)]);
        return true;
    }

    /// <summary>
    /// A view over bytes <see cref="TryCreate(Span{byte}, out Ipv4Packet, out WireError)"/> already accepted and whose header length and total length have not changed since (the packet path's parse
    /// stage checked them): none of its checks run again. Over any other bytes a member may throw.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Ipv4Packet FromValidated(Span<byte> bytes) => new(bytes[..BinaryPrimitives.ReadUInt16BigEndian(bytes[TotalLengthOffset..])]);

    /// <summary>
    /// A view over bytes <see cref="TryCreateQuoted"/> already accepted and whose header length and total length have not changed since (the packet path's parse
    /// stage checked them): none of its checks run again. Over any other bytes a member may throw.
    /// </summary>
    public static Ipv4Packet FromValidatedQuoted(Span<byte> bytes) =>
        new(bytes[..Math.Min(BinaryPrimitives.ReadUInt16BigEndian(bytes[TotalLengthOffset..]), bytes.Length)]);

    /// <summary>The packet: header and payload, up to the total length (or the buffer end for a quoted packet).</summary>
    public Span<byte> Bytes => _bytes;

    public int Version => _bytes[VersionAndHeaderLengthOffset] >> 4;

    /// <summary>The header length in octets (IHL × 4), between 20 and 60.</summary>
    public int HeaderLength => (_bytes[VersionAndHeaderLengthOffset] & 0x0F) * 4;

    /// <summary>Differentiated services code point (6 bits).</summary>
    public byte Dscp => (byte)(_bytes[TypeOfServiceOffset] >> 2);

    /// <summary>Explicit congestion notification (2 bits).</summary>
    public byte Ecn => (byte)(_bytes[TypeOfServiceOffset] & 0x03);

    public ushort TotalLength => BinaryPrimitives.ReadUInt16BigEndian(_bytes.Slice(TotalLengthOffset, 2));

    public ushort Identification => BinaryPrimitives.ReadUInt16BigEndian(_bytes.Slice(IdentificationOffset, 2));

    public bool DontFragment => (FlagsAndFragmentOffset & DontFragmentFlag) != 0;

    public bool MoreFragments => (FlagsAndFragmentOffset & MoreFragmentsFlag) != 0;

    /// <summary>The fragment offset in units of 8 octets, as on the wire.</summary>
    public ushort FragmentOffset => (ushort)(FlagsAndFragmentOffset & FragmentOffsetMask);

    /// <summary>True for every fragment of a fragmented packet: more fragments follow, or the offset is not zero.</summary>
    public bool IsFragment => (FlagsAndFragmentOffset & (MoreFragmentsFlag | FragmentOffsetMask)) != 0;

    public byte Ttl
    {
        get => _bytes[TtlOffset];
        set => _bytes[TtlOffset] = value;
    }

    /// <summary>See <see cref="IpProtocol"/>.</summary>
    public byte Protocol => _bytes[ProtocolOffset];

    public ushort HeaderChecksum
    {
        get => BinaryPrimitives.ReadUInt16BigEndian(_bytes.Slice(HeaderChecksumOffset, 2));
        set => BinaryPrimitives.WriteUInt16BigEndian(_bytes.Slice(HeaderChecksumOffset, 2), value);
    }

    public uint Source
    {
        get => BinaryPrimitives.ReadUInt32BigEndian(_bytes.Slice(SourceOffset, 4));
        set => BinaryPrimitives.WriteUInt32BigEndian(_bytes.Slice(SourceOffset, 4), value);
    }

    public uint Destination
    {
        get => BinaryPrimitives.ReadUInt32BigEndian(_bytes.Slice(DestinationOffset, 4));
        set => BinaryPrimitives.WriteUInt32BigEndian(_bytes.Slice(DestinationOffset, 4), value);
    }

    public Span<byte> Header => _bytes[..HeaderLength];

    public Span<byte> Options => _bytes[OptionsOffset..HeaderLength];

    /// <summary>The octets after the header up to the total length (fewer for a quoted packet).</summary>
    public Span<byte> Payload => _bytes[HeaderLength..];

    /// <summary>The length the upper layer's pseudo-header carries: total length minus header length.</summary>
    public int PayloadLength => TotalLength - HeaderLength;

    public bool IsHeaderChecksumValid =>
        (HeaderLength == MinHeaderLength ? Checksum.ComputeIpv4BaseHeader(_bytes) : Checksum.Compute(Header)) == 0;

    private ushort FlagsAndFragmentOffset => BinaryPrimitives.ReadUInt16BigEndian(_bytes.Slice(FlagsAndFragmentOffsetOffset, 2));

    /// <summary>Recomputes the header checksum from the whole header.</summary>
    public void UpdateHeaderChecksum()
    {
        HeaderChecksum = 0;
        HeaderChecksum = Checksum.Compute(Header);
    }

    /// <summary>
    /// Decrements the TTL and updates the header checksum incrementally, when the TTL is above 1. Returns false,
    /// changing nothing, when the packet must not be forwarded (TTL 0 or 1: answer with time exceeded).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryDecrementTtl()
    {
        var ttl = Ttl;
        if (ttl <= 1)
        {
            return false;
        }

        // TTL and protocol share one 16-bit word; protocol is unchanged, so the word drops by 0x0100.
        Ttl = (byte)(ttl - 1);
        HeaderChecksum = Checksum.UpdateForTtlDecrement(HeaderChecksum);
        return true;
    }

    /// <summary>
    /// Writes the source address and updates the header checksum incrementally; transport checksums are the caller's:
    /// returns the rewrite's <see cref="Checksum.Delta32"/>, which a pseudo-header's checksum takes too.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong RewriteSource(uint address)
    {
        var delta = Checksum.Delta32(Source, address);
        HeaderChecksum = Checksum.Apply(HeaderChecksum, delta);
        Source = address;
        return delta;
    }

    /// <summary>As <see cref="RewriteSource"/> for the destination address.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong RewriteDestination(uint address)
    {
        var delta = Checksum.Delta32(Destination, address);
        HeaderChecksum = Checksum.Apply(HeaderChecksum, delta);
        Destination = address;
        return delta;
    }

    /// <summary>The partial sum of this packet's pseudo-header for its upper-layer checksum.</summary>
    public ulong PseudoHeaderSum() => Checksum.PseudoHeaderIpv4(Source, Destination, Protocol, PayloadLength);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static WireError ValidateHeader(ReadOnlySpan<byte> bytes, out int totalLength)
    {
        totalLength = 0;
        if (bytes.Length < MinHeaderLength)
        {
            return WireError.Truncated;
        }

        if (bytes[VersionAndHeaderLengthOffset] >> 4 != Version4)
        {
            return WireError.BadVersion;
        }

        var headerLength = (bytes[VersionAndHeaderLengthOffset] & 0x0F) * 4;
        if (headerLength < MinHeaderLength)
        {
            return WireError.BadHeaderLength;
        }

        if (headerLength > bytes.Length)
        {
            return WireError.Truncated;
        }

        totalLength = BinaryPrimitives.ReadUInt16BigEndian(bytes[TotalLengthOffset..]);
        return totalLength < headerLength ? WireError.LengthMismatch : WireError.None;
    }
}

/// <summary>
/// The fields of an IPv4 header, for building and inspecting packets off the packet path. The reserved flag
/// is not represented and emits as zero.
/// </summary>
public readonly record struct Ipv4Header(
    byte Dscp,
    byte Ecn,
    ushort TotalLength,
    ushort Identification,
    bool DontFragment,
    bool MoreFragments,
    ushort FragmentOffset,
    byte Ttl,
    byte Protocol,
    ushort HeaderChecksum,
    IPAddress Source,
    IPAddress Destination,
    WireBytes Options = default)
{
    public int EmitLength => Ipv4Packet.MinHeaderLength + Options.Length;

    /// <summary>Parses the header alone: the total length may exceed <paramref name="bytes"/>, as in a quoted packet.</summary>
    public static bool TryParse(ReadOnlySpan<byte> bytes, out Ipv4Header header)
    {
        header = default;
        if (!Ipv4Packet.TryCreateQuoted(ReadOnlyBytes.AsViewSource(bytes), out var packet, out _))
        {
            return false;
        }

        header = new Ipv4Header(
            packet.Dscp,
            packet.Ecn,
            packet.TotalLength,
            packet.Identification,
            packet.DontFragment,
            packet.MoreFragments,
            packet.FragmentOffset,
            packet.Ttl,
            packet.Protocol,
            packet.HeaderChecksum,
            IpAddressConversions.ToIPAddress(packet.Source),
            IpAddressConversions.ToIPAddress(packet.Destination),
            new WireBytes(packet.Options));
        return true;
    }

    /// <summary>
    /// Writes the header, checksum as given, and returns its length. Throws if a field is out of range, the
    /// options are not a multiple of 4 octets up to 40, an address is not IPv4, or the destination is short.
    /// </summary>
    public int Emit(Span<byte> destination)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, EmitLength, nameof(destination));
        EmitGuard.AtMost(Dscp, 63);
        EmitGuard.AtMost(Ecn, 3);
        EmitGuard.AtMost(FragmentOffset, Ipv4Packet.FragmentOffsetMask);
        EmitGuard.Holds(
            Options.Length % 4 == 0 && Options.Length <= Ipv4Packet.MaxHeaderLength - Ipv4Packet.MinHeaderLength,
            "IPv4 options take a multiple of 4 octets, at most 40.");

        destination[Ipv4Packet.VersionAndHeaderLengthOffset] = (byte)((Ipv4Packet.Version4 << 4) | (EmitLength / 4));
        destination[Ipv4Packet.TypeOfServiceOffset] = (byte)((Dscp << 2) | Ecn);
        BinaryPrimitives.WriteUInt16BigEndian(destination[Ipv4Packet.TotalLengthOffset..], TotalLength);
        BinaryPrimitives.WriteUInt16BigEndian(destination[Ipv4Packet.IdentificationOffset..], Identification);
        var flags = (DontFragment ? Ipv4Packet.DontFragmentFlag : 0) | (MoreFragments ? Ipv4Packet.MoreFragmentsFlag : 0) | FragmentOffset;
        BinaryPrimitives.WriteUInt16BigEndian(destination[Ipv4Packet.FlagsAndFragmentOffsetOffset..], (ushort)flags);
        destination[Ipv4Packet.TtlOffset] = Ttl;
        destination[Ipv4Packet.ProtocolOffset] = Protocol;
        BinaryPrimitives.WriteUInt16BigEndian(destination[Ipv4Packet.HeaderChecksumOffset..], HeaderChecksum);
        BinaryPrimitives.WriteUInt32BigEndian(destination[Ipv4Packet.SourceOffset..], IpAddressConversions.ToIpv4(Source));
        BinaryPrimitives.WriteUInt32BigEndian(destination[Ipv4Packet.DestinationOffset..], IpAddressConversions.ToIpv4(Destination));
        Options.Span.CopyTo(destination[Ipv4Packet.OptionsOffset..]);
        return EmitLength;
    }
}
