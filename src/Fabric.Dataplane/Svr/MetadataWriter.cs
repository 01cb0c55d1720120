using System.Buffers.Binary;
using System.Text;

namespace Fabric.Dataplane.Svr;

/// <summary>
/// Writes a metadata block into a span without allocating: <see cref="BeginHeader"/>, header TLVs,
/// <see cref="BeginPayload"/>, payload TLVs, <see cref="Finish"/>. Every step returns false, writing nothing,
/// when it would overflow the span or a length field, when it comes out of order, or when a known type is added
/// to the other section (<see cref="MetadataTlvTypes.SectionOf"/>); the steps before it stay valid.
/// </summary>
public ref struct MetadataWriter
{
    private readonly Span<byte> _destination;
    private int _position;
    private int _payloadStart;
    private MetadataSection _section;
    private bool _finished;

    public MetadataWriter(Span<byte> destination)
    {
        _destination = destination;
        _position = 0;
        _payloadStart = 0;
        _section = MetadataSection.Unknown;
        _finished = false;
    }

    /// <summary>The octets written so far.</summary>
    public readonly int Position => _position;

    /// <summary>Reserves the cookie and the version/lengths word and opens the header section; only as the first step.</summary>
    public bool BeginHeader()
    {
        if (_finished || _section != MetadataSection.Unknown || _destination.Length < MetadataBlock.BaseLength)
        {
            return false;
        }

        _position = MetadataBlock.BaseLength;
        _section = MetadataSection.Header;
        return true;
    }

    /// <summary>Closes the header section and opens the payload section.</summary>
    public bool BeginPayload()
    {
        if (_section != MetadataSection.Header)
        {
            return false;
        }

        _payloadStart = _position;
        _section = MetadataSection.Payload;
        return true;
    }

    /// <summary>
    /// Writes the cookie and the lengths and returns the block's length in <paramref name="totalLength"/>; the
    /// payload section is empty when <see cref="BeginPayload"/> was not called. The writer is done afterwards.
    /// </summary>
    public bool Finish(out int totalLength)
    {
        totalLength = 0;
        if (_section is not (MetadataSection.Header or MetadataSection.Payload))
        {
            return false;
        }

        var headerLength = _section == MetadataSection.Payload ? _payloadStart : _position;
        MetadataBlock.WriteBase(_destination, headerLength, _position - headerLength);
        totalLength = _position;
        _section = MetadataSection.Unknown;
        _finished = true;
        return true;
    }

    /// <summary>Adds a TLV with <paramref name="value"/> to the open section.</summary>
    public bool AddTlv(MetadataTlvType type, scoped ReadOnlySpan<byte> value)
    {
        if (!TryReserve(type, value.Length, out var slot))
        {
            return false;
        }

        value.CopyTo(slot);
        return true;
    }

    /// <summary>Adds a TLV with an empty value, the encoding of a flag.</summary>
    public bool AddFlag(MetadataTlvType type) => TryReserve(type, 0, out _);

    public bool AddU8(MetadataTlvType type, byte value)
    {
        if (!TryReserve(type, sizeof(byte), out var slot))
        {
            return false;
        }

        slot[0] = value;
        return true;
    }

    public bool AddU16(MetadataTlvType type, ushort value)
    {
        if (!TryReserve(type, sizeof(ushort), out var slot))
        {
            return false;
        }

        BinaryPrimitives.WriteUInt16BigEndian(slot, value);
        return true;
    }

    public bool AddU32(MetadataTlvType type, uint value)
    {
        if (!TryReserve(type, sizeof(uint), out var slot))
        {
            return false;
        }

        BinaryPrimitives.WriteUInt32BigEndian(slot, value);
        return true;
    }

    public bool AddU64(MetadataTlvType type, ulong value)
    {
        if (!TryReserve(type, sizeof(ulong), out var slot))
        {
            return false;
        }

        BinaryPrimitives.WriteUInt64BigEndian(slot, value);
        return true;
    }

    /// <summary>Adds <paramref name="value"/> encoded as UTF-8 (ASCII is a subset); false for an empty or unencodable string.</summary>
    public bool AddString(MetadataTlvType type, scoped ReadOnlySpan<char> value)
    {
        // Every char takes at least one octet, so a longer string cannot fit a TLV.
        if (value.IsEmpty || value.Length > ushort.MaxValue || !TryReserve(type, Encoding.UTF8.GetByteCount(value), out var slot))
        {
            return false;
        }

        Encoding.UTF8.GetBytes(value, slot);
        return true;
    }

    /// <summary>Adds a 16-octet UUID in network order, as <see cref="MetadataTlvType.SessionId"/> carries it.</summary>
    public bool AddGuid(MetadataTlvType type, Guid value)
    {
        if (!TryReserve(type, 16, out var slot))
        {
            return false;
        }

        value.TryWriteBytes(slot, bigEndian: true, out _);
        return true;
    }

    public bool AddForwardContextV4(uint source, uint destination, ushort sourcePort, ushort destinationPort, byte protocol) =>
        AddContextV4(MetadataTlvType.ForwardContextV4, source, destination, sourcePort, destinationPort, protocol);

    public bool AddReverseContextV4(uint source, uint destination, ushort sourcePort, ushort destinationPort, byte protocol) =>
        AddContextV4(MetadataTlvType.ReverseContextV4, source, destination, sourcePort, destinationPort, protocol);

    public bool AddForwardContextV6(UInt128 source, UInt128 destination, ushort sourcePort, ushort destinationPort, byte protocol) =>
        AddContextV6(MetadataTlvType.ForwardContextV6, source, destination, sourcePort, destinationPort, protocol);

    public bool AddReverseContextV6(UInt128 source, UInt128 destination, ushort sourcePort, ushort destinationPort, byte protocol) =>
        AddContextV6(MetadataTlvType.ReverseContextV6, source, destination, sourcePort, destinationPort, protocol);

    private bool AddContextV4(MetadataTlvType type, uint source, uint destination, ushort sourcePort, ushort destinationPort, byte protocol)
    {
        if (!TryReserve(type, MetadataContext.Ipv4Length, out var slot))
        {
            return false;
        }

        BinaryPrimitives.WriteUInt32BigEndian(slot, source);
        BinaryPrimitives.WriteUInt32BigEndian(slot[4..], destination);
        WritePortsAndProtocol(slot[8..], sourcePort, destinationPort, protocol);
        return true;
    }

    private bool AddContextV6(MetadataTlvType type, UInt128 source, UInt128 destination, ushort sourcePort, ushort destinationPort, byte protocol)
    {
        if (!TryReserve(type, MetadataContext.Ipv6Length, out var slot))
        {
            return false;
        }

        BinaryPrimitives.WriteUInt128BigEndian(slot, source);
        BinaryPrimitives.WriteUInt128BigEndian(slot[16..], destination);
        WritePortsAndProtocol(slot[32..], sourcePort, destinationPort, protocol);
        return true;
    }

    private static void WritePortsAndProtocol(Span<byte> slot, ushort sourcePort, ushort destinationPort, byte protocol)
    {
        BinaryPrimitives.WriteUInt16BigEndian(slot, sourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(slot[2..], destinationPort);
        slot[4] = protocol;
    }

    /// <summary>Writes a TLV's type and length and returns the slot for its value, when the section, span and length fields allow it.</summary>
    private bool TryReserve(MetadataTlvType type, int valueLength, out Span<byte> slot)
    {
        slot = default;
        var home = MetadataTlvTypes.SectionOf(type);
        if (_section is not (MetadataSection.Header or MetadataSection.Payload)
            || (home != MetadataSection.Unknown && home != _section)
            || valueLength > ushort.MaxValue)
        {
            return false;
        }

        var end = _position + MetadataBlock.TlvHeaderLength + valueLength;
        var sectionLimit = _section == MetadataSection.Header ? MetadataBlock.MaxHeaderLength : _payloadStart + MetadataBlock.MaxPayloadLength;
        if (end > _destination.Length || end > sectionLimit)
        {
            return false;
        }

        BinaryPrimitives.WriteUInt16BigEndian(_destination[_position..], (ushort)type);
        BinaryPrimitives.WriteUInt16BigEndian(_destination[(_position + 2)..], (ushort)valueLength);
        slot = _destination.Slice(_position + MetadataBlock.TlvHeaderLength, valueLength);
        _position = end;
        return true;
    }
}
