using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;

namespace Fabric.Dataplane.Wire;

/// <summary>
/// A view over an IPv6 packet (RFC 8200) with its extension headers walked.
/// <see cref="TryCreate(Span{byte}, out Ipv6Packet, out WireError)"/> checks version and payload length, then walks
/// hop-by-hop (only first), routing, fragment, destination options and authentication headers to the upper-layer
/// protocol, checking that each lies within the packet; afterwards no member throws. Addresses are
/// <see cref="UInt128"/>s with the first wire octet most significant.
/// </summary>
public readonly ref struct Ipv6Packet
{
    public const int VersionClassAndFlowOffset = 0;
    public const int PayloadLengthOffset = 4;
    public const int NextHeaderOffset = 6;
    public const int HopLimitOffset = 7;
    public const int SourceOffset = 8;
    public const int DestinationOffset = 24;
    public const int HeaderLength = 40;
    public const int Version6 = 6;

    /// <summary>The length of a fragment header (RFC 8200 §4.5).</summary>
    public const int FragmentHeaderLength = 8;

    private const int FragmentOffsetAndFlagsField = 2;
    private const int FragmentIdentificationField = 4;

    private readonly Span<byte> _bytes;
    private readonly int _upperLayerOffset;
    private readonly int _fragmentHeaderOffset;
    private readonly byte _upperLayerProtocol;

    private Ipv6Packet(Span<byte> bytes, int upperLayerOffset, byte upperLayerProtocol, int fragmentHeaderOffset)
    {
        _bytes = bytes;
        _upperLayerOffset = upperLayerOffset;
        _upperLayerProtocol = upperLayerProtocol;
        _fragmentHeaderOffset = fragmentHeaderOffset;
    }

    /// <summary>
    /// Accepts a whole packet: version 6, the payload length within the buffer, and well-formed extension
    /// headers within the payload. The view ends at the payload length (octets after it are outside it).
    /// </summary>
    public static bool TryCreate(Span<byte> bytes, out Ipv6Packet packet) => TryCreate(bytes, out packet, out _);

    /// <inheritdoc cref="TryCreate(Span{byte}, out Ipv6Packet)"/>
    public static bool TryCreate(Span<byte> bytes, out Ipv6Packet packet, out WireError error) =>
        TryCreate(bytes, quoted: false, out packet, out error);

    /// <summary>
    /// Accepts a packet quoted in an ICMPv6 error, whose payload may be cut short: the payload length may exceed
    /// the buffer, but the extension headers up to the upper layer must be present.
    /// </summary>
    public static bool TryCreateQuoted(Span<byte> bytes, out Ipv6Packet packet, out WireError error) =>
        TryCreate(bytes, quoted: true, out packet, out error);

    /// <summary>
    /// A view over bytes <see cref="TryCreate(Span{byte}, out Ipv6Packet, out WireError)"/> already accepted and whose payload length and extension headers have not changed since (the packet path's parse
    /// stage checked them): none of its checks run again (the extension headers are walked to find the upper layer). Over any other bytes a member may throw.
    /// </summary>
    public static Ipv6Packet FromValidated(Span<byte> bytes) => FromValidated(bytes, quoted: false);

    /// <summary>
    /// A view over bytes <see cref="TryCreateQuoted"/> already accepted and whose payload length and extension headers have not changed since (the packet path's parse
    /// stage checked them): none of its checks run again (the extension headers are walked to find the upper layer). Over any other bytes a member may throw.
    /// </summary>
    public static Ipv6Packet FromValidatedQuoted(Span<byte> bytes) => FromValidated(bytes, quoted: true);

    public Span<byte> Bytes => _bytes;

    public int Version => _bytes[VersionClassAndFlowOffset] >> 4;

    public byte TrafficClass => (byte)(BinaryPrimitives.ReadUInt16BigEndian(_bytes) >> 4);

    /// <summary>The 20-bit flow label.</summary>
    public uint FlowLabel => BinaryPrimitives.ReadUInt32BigEndian(_bytes) & 0x000F_FFFF;

    /// <summary>The length after the fixed header, extension headers included, as declared.</summary>
    public ushort PayloadLength => BinaryPrimitives.ReadUInt16BigEndian(_bytes.Slice(PayloadLengthOffset, 2));

    /// <summary>The next-header field of the fixed header: the first extension header or the upper layer.</summary>
    public byte NextHeader => _bytes[NextHeaderOffset];

    public byte HopLimit
    {
        get => _bytes[HopLimitOffset];
        set => _bytes[HopLimitOffset] = value;
    }

    /// <summary>IPv6 has no header checksum: rewriting an address changes only upper-layer checksums, which are the caller's.</summary>
    public UInt128 Source
    {
        get => BinaryPrimitives.ReadUInt128BigEndian(_bytes.Slice(SourceOffset, 16));
        set => BinaryPrimitives.WriteUInt128BigEndian(_bytes.Slice(SourceOffset, 16), value);
    }

    public UInt128 Destination
    {
        get => BinaryPrimitives.ReadUInt128BigEndian(_bytes.Slice(DestinationOffset, 16));
        set => BinaryPrimitives.WriteUInt128BigEndian(_bytes.Slice(DestinationOffset, 16), value);
    }

    /// <summary>Everything after the fixed header, up to the payload length.</summary>
    public Span<byte> Payload => _bytes[HeaderLength..];

    /// <summary>
    /// The protocol after the last extension header walked (<see cref="IpProtocol"/>); for a fragment with a
    /// non-zero offset, the fragment header's next header.
    /// </summary>
    public byte UpperLayerProtocol => _upperLayerProtocol;

    /// <summary>The offset from the start of the packet where the upper layer (or a non-first fragment's data) begins.</summary>
    public int UpperLayerOffset => _upperLayerOffset;

    public Span<byte> UpperLayer => _bytes[_upperLayerOffset..];

    /// <summary>True when a fragment header is present (RFC 8200 §4.5), including an atomic fragment.</summary>
    public bool IsFragment => _fragmentHeaderOffset != 0;

    /// <summary>The fragment offset in units of 8 octets; 0 without a fragment header.</summary>
    public ushort FragmentOffset => (ushort)(FragmentOffsetAndFlags >> 3);

    public bool MoreFragments => (FragmentOffsetAndFlags & 1) != 0;

    public uint FragmentIdentification =>
        IsFragment ? BinaryPrimitives.ReadUInt32BigEndian(_bytes.Slice(_fragmentHeaderOffset + FragmentIdentificationField, 4)) : 0;

    /// <summary>True unless this is a fragment with a non-zero offset, which carries no upper-layer header.</summary>
    public bool HasUpperLayerHeader => FragmentOffset == 0;

    private ushort FragmentOffsetAndFlags =>
        IsFragment ? BinaryPrimitives.ReadUInt16BigEndian(_bytes.Slice(_fragmentHeaderOffset + FragmentOffsetAndFlagsField, 2)) : (ushort)0;

    /// <summary>Decrements the hop limit when it is above 1; returns false, changing nothing, otherwise.</summary>
    public bool TryDecrementHopLimit()
    {
        if (HopLimit <= 1)
        {
            return false;
        }

        HopLimit--;
        return true;
    }

    /// <summary>The partial sum of the pseudo-header for the upper layer's checksum, over the octets present.</summary>
    public ulong PseudoHeaderSum() => Checksum.PseudoHeaderIpv6(Source, Destination, _upperLayerProtocol, _bytes.Length - _upperLayerOffset);

    private static bool TryCreate(Span<byte> bytes, bool quoted, out Ipv6Packet packet, out WireError error)
    {
        packet = default;
        if (bytes.Length < HeaderLength)
        {
            error = WireError.Truncated;
            return false;
        }

        if (bytes[VersionClassAndFlowOffset] >> 4 != Version6)
        {
            error = WireError.BadVersion;
            return false;
        }

        var length = HeaderLength + BinaryPrimitives.ReadUInt16BigEndian(bytes[PayloadLengthOffset..]);
        if (length > bytes.Length && !quoted)
        {
            error = WireError.Truncated;
            return false;
        }

        bytes = bytes[..Math.Min(length, bytes.Length)];
        error = WalkExtensionHeaders(bytes, out var upperLayerOffset, out var upperLayerProtocol, out var fragmentHeaderOffset);
        if (error != WireError.None)
        {
            return false;
        }

        packet = new Ipv6Packet(bytes, upperLayerOffset, upperLayerProtocol, fragmentHeaderOffset);
        return true;
    }

    private static Ipv6Packet FromValidated(Span<byte> bytes, bool quoted)
    {
        var length = HeaderLength + BinaryPrimitives.ReadUInt16BigEndian(bytes[PayloadLengthOffset..]);
        bytes = bytes[..(quoted ? Math.Min(length, bytes.Length) : length)];
        var walked = WalkExtensionHeaders(bytes, out var upperLayerOffset, out var upperLayerProtocol, out var fragmentHeaderOffset);
        Debug.Assert(walked == WireError.None, "FromValidated is only for bytes TryCreate accepted");
        return new Ipv6Packet(bytes, upperLayerOffset, upperLayerProtocol, fragmentHeaderOffset);
    }

    /// <summary>Walks the extension headers; each advances at least 8 octets, so the walk ends.</summary>
    private static WireError WalkExtensionHeaders(ReadOnlySpan<byte> bytes, out int upperLayerOffset, out byte protocol, out int fragmentHeaderOffset)
    {
        protocol = bytes[NextHeaderOffset];
        upperLayerOffset = HeaderLength;
        fragmentHeaderOffset = 0;
        while (true)
        {
            int length;
            switch (protocol)
            {
                case IpProtocol.HopByHopOptions when upperLayerOffset != HeaderLength:
                    return WireError.BadExtensionHeader;
                case IpProtocol.HopByHopOptions or IpProtocol.Ipv6Routing or IpProtocol.Ipv6DestinationOptions:
                    if (upperLayerOffset + 2 > bytes.Length)
                    {
                        return WireError.Truncated;
                    }

                    length = (bytes[upperLayerOffset + 1] + 1) * 8;
                    break;
                case IpProtocol.AuthenticationHeader:
                    if (upperLayerOffset + 2 > bytes.Length)
                    {
                        return WireError.Truncated;
                    }

                    length = (bytes[upperLayerOffset + 1] + 2) * 4;
                    break;
                case IpProtocol.Ipv6Fragment when fragmentHeaderOffset != 0:
                    return WireError.BadExtensionHeader;
                case IpProtocol.Ipv6Fragment:
                    length = FragmentHeaderLength;
                    fragmentHeaderOffset = upperLayerOffset;
                    break;
                default:
                    return WireError.None;
            }

            if (upperLayerOffset + length > bytes.Length)
            {
                return WireError.Truncated;
            }

            protocol = bytes[upperLayerOffset];
            upperLayerOffset += length;
            if (fragmentHeaderOffset != 0
                && BinaryPrimitives.ReadUInt16BigEndian(bytes[(fragmentHeaderOffset + FragmentOffsetAndFlagsField)..]) >> 3 != 0)
            {
                // A later fragment holds data only: what follows its fragment header is not a header.
                return WireError.None;
            }
        }
    }
}

/// <summary>The fields of the fixed IPv6 header, for building and inspecting packets off the packet path.</summary>
public readonly record struct Ipv6Header(
    byte TrafficClass,
    uint FlowLabel,
    ushort PayloadLength,
    byte NextHeader,
    byte HopLimit,
    IPAddress Source,
    IPAddress Destination)
{
    public static int EmitLength => Ipv6Packet.HeaderLength;

    /// <summary>Parses the fixed 40-octet header alone; extension headers and the payload length are not checked.</summary>
    public static bool TryParse(ReadOnlySpan<byte> bytes, out Ipv6Header header)
    {
        header = default;
        if (bytes.Length < Ipv6Packet.HeaderLength || bytes[0] >> 4 != Ipv6Packet.Version6)
        {
            return false;
        }

        var first = BinaryPrimitives.ReadUInt32BigEndian(bytes);
        header = new Ipv6Header(
            (byte)(first >> 20),
            first & 0x000F_FFFF,
            BinaryPrimitives.ReadUInt16BigEndian(bytes[Ipv6Packet.PayloadLengthOffset..]),
            bytes[Ipv6Packet.NextHeaderOffset],
            bytes[Ipv6Packet.HopLimitOffset],
            IpAddressConversions.ToIPAddress(BinaryPrimitives.ReadUInt128BigEndian(bytes[Ipv6Packet.SourceOffset..])),
            IpAddressConversions.ToIPAddress(BinaryPrimitives.ReadUInt128BigEndian(bytes[Ipv6Packet.DestinationOffset..])));
        return true;
    }

    /// <summary>Writes the fixed header and returns its length; throws if the flow label exceeds 20 bits, an address is not IPv6, or the destination is short.</summary>
    public int Emit(Span<byte> destination)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, EmitLength, nameof(destination));
        EmitGuard.AtMost(FlowLabel, 0x000F_FFFF);
        BinaryPrimitives.WriteUInt32BigEndian(destination, ((uint)Ipv6Packet.Version6 << 28) | ((uint)TrafficClass << 20) | FlowLabel);
        BinaryPrimitives.WriteUInt16BigEndian(destination[Ipv6Packet.PayloadLengthOffset..], PayloadLength);
        destination[Ipv6Packet.NextHeaderOffset] = NextHeader;
        destination[Ipv6Packet.HopLimitOffset] = HopLimit;
        BinaryPrimitives.WriteUInt128BigEndian(destination[Ipv6Packet.SourceOffset..], IpAddressConversions.ToIpv6(Source));
        BinaryPrimitives.WriteUInt128BigEndian(destination[Ipv6Packet.DestinationOffset..], IpAddressConversions.ToIpv6(Destination));
        return EmitLength;
    }
}
