using System.Buffers.Binary;

namespace Fabric.Dataplane.Wire;

/// <summary>ICMP message types (RFC 792) a router sends, answers or translates.</summary>
public static class Icmpv4Type
{
    public const byte EchoReply = 0;
    public const byte DestinationUnreachable = 3;
    public const byte Redirect = 5;
    public const byte EchoRequest = 8;
    public const byte TimeExceeded = 11;
    public const byte ParameterProblem = 12;
}

/// <summary>ICMP codes (RFC 792, RFC 1812) for <see cref="Icmpv4Type.DestinationUnreachable"/> and <see cref="Icmpv4Type.TimeExceeded"/>.</summary>
public static class Icmpv4Code
{
    public const byte NetUnreachable = 0;
    public const byte HostUnreachable = 1;
    public const byte ProtocolUnreachable = 2;
    public const byte PortUnreachable = 3;

    /// <summary>Fragmentation needed and DF set; the message carries the next-hop MTU (RFC 1191).</summary>
    public const byte FragmentationNeeded = 4;

    public const byte AdministrativelyProhibited = 13;
    public const byte TtlExceededInTransit = 0;
    public const byte FragmentReassemblyTimeExceeded = 1;
}

/// <summary>
/// A view over an ICMP message (RFC 792) given as the whole IP payload. <see cref="TryCreate(Span{byte}, out Icmpv4Packet, out WireError)"/>
/// requires the 8-octet header; afterwards no member throws. The rest-of-header accessors read the same four
/// octets under the names each type gives them.
/// </summary>
public readonly ref struct Icmpv4Packet
{
    public const int TypeOffset = 0;
    public const int CodeOffset = 1;
    public const int ChecksumOffset = 2;
    public const int RestOfHeaderOffset = 4;
    public const int IdentifierOffset = 4;
    public const int SequenceNumberOffset = 6;
    public const int NextHopMtuOffset = 6;
    public const int HeaderLength = 8;

    private readonly Span<byte> _bytes;

    private Icmpv4Packet(Span<byte> bytes) => _bytes = bytes;

    public static bool TryCreate(Span<byte> bytes, out Icmpv4Packet packet) => TryCreate(bytes, out packet, out _);

    /// <summary>
    /// A view over bytes <see cref="TryCreate(Span{byte}, out Icmpv4Packet, out WireError)"/> already accepted (the packet
    /// path's parse stage checked them): none of its checks run again. Over any other bytes a member may throw.
    /// </summary>
    public static Icmpv4Packet FromValidated(Span<byte> bytes) => new(bytes);

    /// <summary>Accepts a message of at least 8 octets; the checksum is checked separately (<see cref="IsChecksumValid"/>).</summary>
    public static bool TryCreate(Span<byte> bytes, out Icmpv4Packet packet, out WireError error)
    {
        packet = bytes.Length < HeaderLength ? default : new Icmpv4Packet(bytes);
        error = bytes.Length < HeaderLength ? WireError.Truncated : WireError.None;
        return error == WireError.None;
    }

    public Span<byte> Bytes => _bytes;

    /// <summary>See <see cref="Icmpv4Type"/>.</summary>
    public byte Type => _bytes[TypeOffset];

    /// <summary>See <see cref="Icmpv4Code"/>.</summary>
    public byte Code => _bytes[CodeOffset];

    public ushort Checksum
    {
        get => BinaryPrimitives.ReadUInt16BigEndian(_bytes.Slice(ChecksumOffset, 2));
        set => BinaryPrimitives.WriteUInt16BigEndian(_bytes.Slice(ChecksumOffset, 2), value);
    }

    public uint RestOfHeader => BinaryPrimitives.ReadUInt32BigEndian(_bytes.Slice(RestOfHeaderOffset, 4));

    /// <summary>The echo identifier (echo request and reply).</summary>
    public ushort Identifier
    {
        get => BinaryPrimitives.ReadUInt16BigEndian(_bytes.Slice(IdentifierOffset, 2));
        set => BinaryPrimitives.WriteUInt16BigEndian(_bytes.Slice(IdentifierOffset, 2), value);
    }

    /// <summary>The echo sequence number (echo request and reply).</summary>
    public ushort SequenceNumber => BinaryPrimitives.ReadUInt16BigEndian(_bytes.Slice(SequenceNumberOffset, 2));

    /// <summary>The next-hop MTU of a fragmentation-needed message (RFC 1191); 0 from routers predating it.</summary>
    public ushort NextHopMtu => BinaryPrimitives.ReadUInt16BigEndian(_bytes.Slice(NextHopMtuOffset, 2));

    /// <summary>True for error messages, which quote the start of the packet that caused them.</summary>
    public bool IsError => Type is Icmpv4Type.DestinationUnreachable or Icmpv4Type.Redirect or Icmpv4Type.TimeExceeded or Icmpv4Type.ParameterProblem;

    /// <summary>The octets after the 8-octet header: echo data, or the quoted packet of an error.</summary>
    public Span<byte> Body => _bytes[HeaderLength..];

    public bool IsChecksumValid => Wire.Checksum.Compute(_bytes) == 0;

    /// <summary>Recomputes the checksum over the whole message.</summary>
    public void UpdateChecksum()
    {
        Checksum = 0;
        Checksum = Wire.Checksum.Compute(_bytes);
    }

    /// <summary>Writes the echo identifier and updates the checksum incrementally.</summary>
    public void RewriteIdentifier(ushort identifier)
    {
        Checksum = Wire.Checksum.Update16(Checksum, Identifier, identifier);
        Identifier = identifier;
    }

    /// <summary>
    /// For an error message, a view over the quoted packet (header whole, payload possibly cut short; see
    /// <see cref="Ipv4Packet.TryCreateQuoted"/>). Writes through it change this message, whose checksum is then the caller's.
    /// </summary>
    public bool TryGetOriginalPacket(out Ipv4Packet original)
    {
        original = default;
        return IsError && Ipv4Packet.TryCreateQuoted(Body, out original, out _);
    }
}

/// <summary>The 8-octet ICMP header, for building and inspecting messages off the packet path.</summary>
public readonly record struct Icmpv4Header(byte Type, byte Code, ushort Checksum, uint RestOfHeader)
{
    public static int EmitLength => Icmpv4Packet.HeaderLength;

    public ushort Identifier => (ushort)(RestOfHeader >> 16);

    public ushort SequenceNumber => (ushort)RestOfHeader;

    public ushort NextHopMtu => (ushort)RestOfHeader;

    public static Icmpv4Header Echo(byte type, ushort identifier, ushort sequenceNumber) =>
        new(type, 0, 0, ((uint)identifier << 16) | sequenceNumber);

    public static Icmpv4Header FragmentationNeeded(ushort nextHopMtu) =>
        new(Icmpv4Type.DestinationUnreachable, Icmpv4Code.FragmentationNeeded, 0, nextHopMtu);

    public static bool TryParse(ReadOnlySpan<byte> bytes, out Icmpv4Header header)
    {
        header = default;
        if (!Icmpv4Packet.TryCreate(ReadOnlyBytes.AsViewSource(bytes), out var packet))
        {
            return false;
        }

        header = new Icmpv4Header(packet.Type, packet.Code, packet.Checksum, packet.RestOfHeader);
        return true;
    }

    /// <summary>Writes the header, checksum as given, and returns its length; throws if the destination is short.</summary>
    public int Emit(Span<byte> destination)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, EmitLength, nameof(destination));
        destination[Icmpv4Packet.TypeOffset] = Type;
        destination[Icmpv4Packet.CodeOffset] = Code;
        BinaryPrimitives.WriteUInt16BigEndian(destination[Icmpv4Packet.ChecksumOffset..], Checksum);
        BinaryPrimitives.WriteUInt32BigEndian(destination[Icmpv4Packet.RestOfHeaderOffset..], RestOfHeader);
        return EmitLength;
    }
}
