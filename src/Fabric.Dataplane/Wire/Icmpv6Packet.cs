using System.Buffers.Binary;
using System.Net;

namespace Fabric.Dataplane.Wire;

/// <summary>ICMPv6 message types (RFC 4443, RFC 4861) a router sends, answers or translates.</summary>
public static class Icmpv6Type
{
    public const byte DestinationUnreachable = 1;
    public const byte PacketTooBig = 2;
    public const byte TimeExceeded = 3;
    public const byte ParameterProblem = 4;
    public const byte EchoRequest = 128;
    public const byte EchoReply = 129;
    public const byte RouterSolicitation = 133;
    public const byte RouterAdvertisement = 134;
    public const byte NeighborSolicitation = 135;
    public const byte NeighborAdvertisement = 136;
}

/// <summary>ICMPv6 codes (RFC 4443 §3) of the error types a router translates to and from ICMPv4 (RFC 7915).</summary>
public static class Icmpv6Code
{
    /// <summary><see cref="Icmpv6Type.DestinationUnreachable"/>: no route to destination.</summary>
    public const byte NoRoute = 0;

    /// <summary><see cref="Icmpv6Type.DestinationUnreachable"/>: communication administratively prohibited.</summary>
    public const byte AdministrativelyProhibited = 1;

    /// <summary><see cref="Icmpv6Type.DestinationUnreachable"/>: beyond the scope of the source address.</summary>
    public const byte BeyondScope = 2;

    /// <summary><see cref="Icmpv6Type.DestinationUnreachable"/>: address unreachable.</summary>
    public const byte AddressUnreachable = 3;

    /// <summary><see cref="Icmpv6Type.DestinationUnreachable"/>: port unreachable.</summary>
    public const byte PortUnreachable = 4;

    /// <summary><see cref="Icmpv6Type.ParameterProblem"/>: unrecognized next header; the pointer names the field.</summary>
    public const byte UnrecognizedNextHeader = 1;
}

/// <summary>Neighbour discovery option types (RFC 4861 §4.6).</summary>
public static class NeighborDiscoveryOption
{
    public const byte SourceLinkLayerAddress = 1;
    public const byte TargetLinkLayerAddress = 2;

    /// <summary>Option lengths count units of 8 octets.</summary>
    public const int LengthUnit = 8;
}

/// <summary>
/// A view over an ICMPv6 message (RFC 4443, RFC 4861) given as the upper layer of an IPv6 packet.
/// <see cref="TryCreate(Span{byte}, out Icmpv6Packet, out WireError)"/> requires the 8-octet header and, for
/// neighbour solicitations and advertisements, the target address and well-formed options (no zero length, none
/// beyond the message); afterwards no member throws. Members that belong to other types read as zero.
/// </summary>
public readonly ref struct Icmpv6Packet
{
    public const int TypeOffset = 0;
    public const int CodeOffset = 1;
    public const int ChecksumOffset = 2;
    public const int RestOfHeaderOffset = 4;
    public const int IdentifierOffset = 4;
    public const int SequenceNumberOffset = 6;
    public const int MtuOffset = 4;
    public const int NeighborFlagsOffset = 4;
    public const int TargetAddressOffset = 8;
    public const int NeighborOptionsOffset = 24;
    public const int HeaderLength = 8;

    /// <summary>The length of a neighbour solicitation or advertisement without options.</summary>
    public const int NeighborMessageLength = 24;

    private const byte RouterFlag = 0x80;
    private const byte SolicitedFlag = 0x40;
    private const byte OverrideFlag = 0x20;

    private readonly Span<byte> _bytes;

    private Icmpv6Packet(Span<byte> bytes) => _bytes = bytes;

    public static bool TryCreate(Span<byte> bytes, out Icmpv6Packet packet) => TryCreate(bytes, out packet, out _);

    /// <summary>Accepts a message as described on the type; the checksum is checked separately (<see cref="IsChecksumValid"/>).</summary>
    public static bool TryCreate(Span<byte> bytes, out Icmpv6Packet packet, out WireError error)
    {
        packet = default;
        error = bytes.Length < HeaderLength ? WireError.Truncated
            : IsNeighborMessage(bytes[TypeOffset]) ? ValidateNeighborMessage(bytes)
            : WireError.None;
        if (error != WireError.None)
        {
            return false;
        }

        packet = new Icmpv6Packet(bytes);
        return true;
    }

    /// <summary>
    /// A view over bytes <see cref="TryCreate(Span{byte}, out Icmpv6Packet, out WireError)"/> already accepted (the packet
    /// path's parse stage checked them): none of its checks run again. Over any other bytes a member may throw.
    /// </summary>
    public static Icmpv6Packet FromValidated(Span<byte> bytes) => new(bytes);

    public Span<byte> Bytes => _bytes;

    /// <summary>See <see cref="Icmpv6Type"/>.</summary>
    public byte Type => _bytes[TypeOffset];

    public byte Code => _bytes[CodeOffset];

    public ushort Checksum
    {
        get => BinaryPrimitives.ReadUInt16BigEndian(_bytes.Slice(ChecksumOffset, 2));
        set => BinaryPrimitives.WriteUInt16BigEndian(_bytes.Slice(ChecksumOffset, 2), value);
    }

    public uint RestOfHeader => BinaryPrimitives.ReadUInt32BigEndian(_bytes.Slice(RestOfHeaderOffset, 4));

    /// <summary>The echo identifier (echo request and reply).</summary>
    public ushort Identifier => BinaryPrimitives.ReadUInt16BigEndian(_bytes.Slice(IdentifierOffset, 2));

    /// <summary>The echo sequence number (echo request and reply).</summary>
    public ushort SequenceNumber => BinaryPrimitives.ReadUInt16BigEndian(_bytes.Slice(SequenceNumberOffset, 2));

    /// <summary>The MTU of the next hop (packet too big).</summary>
    public uint Mtu => BinaryPrimitives.ReadUInt32BigEndian(_bytes.Slice(MtuOffset, 4));

    /// <summary>True for error messages (types below 128), which quote the start of the packet that caused them.</summary>
    public bool IsError => Type < 128;

    public bool IsNeighborSolicitation => Type == Icmpv6Type.NeighborSolicitation;

    public bool IsNeighborAdvertisement => Type == Icmpv6Type.NeighborAdvertisement;

    /// <summary>The target address of a neighbour solicitation or advertisement; 0 for other types.</summary>
    public UInt128 TargetAddress =>
        IsNeighborMessage(Type) ? BinaryPrimitives.ReadUInt128BigEndian(_bytes.Slice(TargetAddressOffset, 16)) : UInt128.Zero;

    /// <summary>The router flag of a neighbour advertisement.</summary>
    public bool IsRouter => IsNeighborAdvertisement && (_bytes[NeighborFlagsOffset] & RouterFlag) != 0;

    /// <summary>The solicited flag of a neighbour advertisement.</summary>
    public bool IsSolicited => IsNeighborAdvertisement && (_bytes[NeighborFlagsOffset] & SolicitedFlag) != 0;

    /// <summary>The override flag of a neighbour advertisement.</summary>
    public bool IsOverride => IsNeighborAdvertisement && (_bytes[NeighborFlagsOffset] & OverrideFlag) != 0;

    /// <summary>The neighbour discovery options; empty for other types.</summary>
    public Span<byte> NeighborOptions => IsNeighborMessage(Type) ? _bytes[NeighborOptionsOffset..] : [];

    /// <summary>The octets after the 8-octet header: echo data, the quoted packet of an error, or a neighbour message's body.</summary>
    public Span<byte> Body => _bytes[HeaderLength..];

    public bool IsChecksumValid(ulong pseudoHeaderSum) => Wire.Checksum.Finish(Wire.Checksum.Add(pseudoHeaderSum, _bytes)) == 0;

    /// <summary>Recomputes the checksum over the pseudo-header (<see cref="Ipv6Packet.PseudoHeaderSum"/>) and the message.</summary>
    public void UpdateChecksum(ulong pseudoHeaderSum)
    {
        Checksum = 0;
        Checksum = Wire.Checksum.Finish(Wire.Checksum.Add(pseudoHeaderSum, _bytes));
    }

    /// <summary>The Ethernet address in a source link-layer address option of a neighbour message.</summary>
    public bool TryGetSourceLinkLayerAddress(out MacAddress address) =>
        TryGetLinkLayerAddress(NeighborDiscoveryOption.SourceLinkLayerAddress, out address);

    /// <summary>The Ethernet address in a target link-layer address option of a neighbour message.</summary>
    public bool TryGetTargetLinkLayerAddress(out MacAddress address) =>
        TryGetLinkLayerAddress(NeighborDiscoveryOption.TargetLinkLayerAddress, out address);

    /// <summary>For an error message, a view over the quoted packet (see <see cref="Ipv6Packet.TryCreateQuoted"/>).</summary>
    public bool TryGetOriginalPacket(out Ipv6Packet original)
    {
        original = default;
        return IsError && Ipv6Packet.TryCreateQuoted(Body, out original, out _);
    }

    /// <summary>Finds the first option of <paramref name="optionType"/> of one unit (an Ethernet address).</summary>
    private bool TryGetLinkLayerAddress(byte optionType, out MacAddress address)
    {
        var options = NeighborOptions;
        while (options.Length >= 2)
        {
            var length = options[1] * NeighborDiscoveryOption.LengthUnit;
            if (length == 0 || length > options.Length)
            {
                break;
            }

            if (options[0] == optionType && length == NeighborDiscoveryOption.LengthUnit)
            {
                address = MacAddress.Read(options[2..]);
                return true;
            }

            options = options[length..];
        }

        address = default;
        return false;
    }

    private static bool IsNeighborMessage(byte type) =>
        type is Icmpv6Type.NeighborSolicitation or Icmpv6Type.NeighborAdvertisement;

    private static WireError ValidateNeighborMessage(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length < NeighborMessageLength)
        {
            return WireError.Truncated;
        }

        var options = bytes[NeighborOptionsOffset..];
        while (!options.IsEmpty)
        {
            if (options.Length < 2)
            {
                return WireError.Truncated;
            }

            // RFC 4861 §4.6: a zero-length option makes the whole message invalid.
            var length = options[1] * NeighborDiscoveryOption.LengthUnit;
            if (length == 0)
            {
                return WireError.BadExtensionHeader;
            }

            if (length > options.Length)
            {
                return WireError.Truncated;
            }

            options = options[length..];
        }

        return WireError.None;
    }
}

/// <summary>The 8-octet ICMPv6 header, for building and inspecting messages off the packet path.</summary>
public readonly record struct Icmpv6Header(byte Type, byte Code, ushort Checksum, uint RestOfHeader)
{
    public static int EmitLength => Icmpv6Packet.HeaderLength;

    public static Icmpv6Header Echo(byte type, ushort identifier, ushort sequenceNumber) =>
        new(type, 0, 0, ((uint)identifier << 16) | sequenceNumber);

    public static Icmpv6Header PacketTooBig(uint mtu) => new(Icmpv6Type.PacketTooBig, 0, 0, mtu);

    /// <summary>Parses the 8-octet header alone; a neighbour message's body is not checked.</summary>
    public static bool TryParse(ReadOnlySpan<byte> bytes, out Icmpv6Header header)
    {
        header = default;
        if (bytes.Length < Icmpv6Packet.HeaderLength)
        {
            return false;
        }

        header = new Icmpv6Header(
            bytes[Icmpv6Packet.TypeOffset],
            bytes[Icmpv6Packet.CodeOffset],
            BinaryPrimitives.ReadUInt16BigEndian(bytes[Icmpv6Packet.ChecksumOffset..]),
            BinaryPrimitives.ReadUInt32BigEndian(bytes[Icmpv6Packet.RestOfHeaderOffset..]));
        return true;
    }

    /// <summary>Writes the header, checksum as given, and returns its length; throws if the destination is short.</summary>
    public int Emit(Span<byte> destination)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, EmitLength, nameof(destination));
        destination[Icmpv6Packet.TypeOffset] = Type;
        destination[Icmpv6Packet.CodeOffset] = Code;
        BinaryPrimitives.WriteUInt16BigEndian(destination[Icmpv6Packet.ChecksumOffset..], Checksum);
        BinaryPrimitives.WriteUInt32BigEndian(destination[Icmpv6Packet.RestOfHeaderOffset..], RestOfHeader);
        return EmitLength;
    }
}

/// <summary>
/// A neighbour solicitation or advertisement (RFC 4861 §4.3, §4.4) with at most one link-layer address option,
/// the form a router sends and answers, for building and inspecting messages off the packet path. The option is
/// the source link-layer address of a solicitation or the target link-layer address of an advertisement; other
/// options are not represented. The checksum emits as zero: it needs the IPv6 pseudo-header
/// (<see cref="Icmpv6Packet.UpdateChecksum"/>).
/// </summary>
public readonly record struct NeighborMessage(
    byte Type,
    IPAddress Target,
    MacAddress? LinkLayerAddress,
    bool IsRouter = false,
    bool IsSolicited = false,
    bool IsOverride = false)
{
    private const int LinkLayerOptionLength = NeighborDiscoveryOption.LengthUnit;

    public int EmitLength => Icmpv6Packet.NeighborMessageLength + (LinkLayerAddress is null ? 0 : LinkLayerOptionLength);

    public static bool TryParse(ReadOnlySpan<byte> bytes, out NeighborMessage message)
    {
        message = default;
        if (!Icmpv6Packet.TryCreate(ReadOnlyBytes.AsViewSource(bytes), out var packet)
            || !(packet.IsNeighborSolicitation || packet.IsNeighborAdvertisement))
        {
            return false;
        }

        var hasAddress = packet.IsNeighborSolicitation
            ? packet.TryGetSourceLinkLayerAddress(out var address)
            : packet.TryGetTargetLinkLayerAddress(out address);
        message = new NeighborMessage(
            packet.Type,
            IpAddressConversions.ToIPAddress(packet.TargetAddress),
            hasAddress ? address : null,
            packet.IsRouter,
            packet.IsSolicited,
            packet.IsOverride);
        return true;
    }

    /// <summary>
    /// Writes the message with a zero checksum and returns its length. Throws if the type is neither solicitation
    /// nor advertisement, a solicitation carries advertisement flags, the target is not IPv6, or the destination is short.
    /// </summary>
    public int Emit(Span<byte> destination)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, EmitLength, nameof(destination));
        var isAdvertisement = Type == Icmpv6Type.NeighborAdvertisement;
        EmitGuard.Holds(isAdvertisement || Type == Icmpv6Type.NeighborSolicitation, "A neighbour message is a solicitation or an advertisement.");
        EmitGuard.Holds(isAdvertisement || !(IsRouter || IsSolicited || IsOverride), "Only an advertisement carries router, solicited and override flags.");
        var flags = (IsRouter ? 0x80u : 0) | (IsSolicited ? 0x40u : 0) | (IsOverride ? 0x20u : 0);
        new Icmpv6Header(Type, 0, 0, flags << 24).Emit(destination);
        BinaryPrimitives.WriteUInt128BigEndian(destination[Icmpv6Packet.TargetAddressOffset..], IpAddressConversions.ToIpv6(Target));
        if (LinkLayerAddress is { } address)
        {
            var option = destination.Slice(Icmpv6Packet.NeighborOptionsOffset, LinkLayerOptionLength);
            option[0] = isAdvertisement ? NeighborDiscoveryOption.TargetLinkLayerAddress : NeighborDiscoveryOption.SourceLinkLayerAddress;
            option[1] = 1;
            address.Write(option[2..]);
        }

        return EmitLength;
    }
}
