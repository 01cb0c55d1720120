using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace Fabric.Dataplane.Wire;

/// <summary>TCP header flags (RFC 9293, RFC 3168).</summary>
[Flags]
public enum TcpFlags : byte
{
    None = 0,
    Fin = 0x01,
    Syn = 0x02,
    Rst = 0x04,
    Psh = 0x08,
    Ack = 0x10,
    Urg = 0x20,
    Ece = 0x40,
    Cwr = 0x80,
}

/// <summary>TCP option kinds (IANA "TCP Option Kind Numbers").</summary>
public static class TcpOptionKind
{
    public const byte EndOfOptionList = 0;
    public const byte NoOperation = 1;
    public const byte MaximumSegmentSize = 2;
    public const byte WindowScale = 3;
    public const byte SackPermitted = 4;
    public const byte Sack = 5;
    public const byte Timestamps = 8;
}

/// <summary>
/// A view over a TCP segment (RFC 9293) given as the whole IP payload.
/// <see cref="TryCreate(Span{byte}, out TcpSegment, out WireError)"/> checks the data offset against the buffer;
/// afterwards no member throws, including the option walks, which stop at a malformed option. Checksum members
/// take the partial sum of the IP pseudo-header (<see cref="Ipv4Packet.PseudoHeaderSum"/>,
/// <see cref="Ipv6Packet.PseudoHeaderSum"/>); the members named for a router action keep the checksum correct.
/// </summary>
public readonly ref struct TcpSegment
{
    public const int SourcePortOffset = 0;
    public const int DestinationPortOffset = 2;
    public const int SequenceNumberOffset = 4;
    public const int AcknowledgmentNumberOffset = 8;
    public const int DataOffsetOffset = 12;
    public const int FlagsOffset = 13;
    public const int WindowOffset = 14;
    public const int ChecksumOffset = 16;
    public const int UrgentPointerOffset = 18;
    public const int OptionsOffset = 20;
    public const int MinHeaderLength = 20;
    public const int MaxHeaderLength = 60;

    /// <summary>The length of a maximum segment size option: kind, length, 16-bit value.</summary>
    public const int MaximumSegmentSizeOptionLength = 4;

    private readonly Span<byte> _bytes;

    private TcpSegment(Span<byte> bytes) => _bytes = bytes;

    /// <summary>Accepts a segment whose data offset is at least 5 and whose header lies within the buffer.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool TryCreate(Span<byte> bytes, out TcpSegment segment) => TryCreate(bytes, out segment, out _);

    /// <inheritdoc cref="TryCreate(Span{byte}, out TcpSegment)"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool TryCreate(Span<byte> bytes, out TcpSegment segment, out WireError error)
    {
        segment = default;
        if (bytes.Length < MinHeaderLength)
        {
            error = WireError.Truncated;
            return false;
        }

        var headerLength = (bytes[DataOffsetOffset] >> 4) * 4;
        error = headerLength < MinHeaderLength ? WireError.BadHeaderLength
            : headerLength > bytes.Length ? WireError.Truncated
            : WireError.None;
        if (error != WireError.None)
        {
            return false;
        }

        segment = new TcpSegment(bytes);
        return true;
    }

    /// <summary>
    /// A view over bytes <see cref="TryCreate(Span{byte}, out TcpSegment, out WireError)"/> already accepted and whose data offset have not changed since (the packet path's parse
    /// stage checked them): none of its checks run again. Over any other bytes a member may throw.
    /// </summary>
    public static TcpSegment FromValidated(Span<byte> bytes) => new(bytes);

    public Span<byte> Bytes => _bytes;

    public ushort SourcePort
    {
        get => BinaryPrimitives.ReadUInt16BigEndian(_bytes.Slice(SourcePortOffset, 2));
        set => BinaryPrimitives.WriteUInt16BigEndian(_bytes.Slice(SourcePortOffset, 2), value);
    }

    public ushort DestinationPort
    {
        get => BinaryPrimitives.ReadUInt16BigEndian(_bytes.Slice(DestinationPortOffset, 2));
        set => BinaryPrimitives.WriteUInt16BigEndian(_bytes.Slice(DestinationPortOffset, 2), value);
    }

    public uint SequenceNumber
    {
        get => BinaryPrimitives.ReadUInt32BigEndian(_bytes.Slice(SequenceNumberOffset, 4));
        set => BinaryPrimitives.WriteUInt32BigEndian(_bytes.Slice(SequenceNumberOffset, 4), value);
    }

    public uint AcknowledgmentNumber
    {
        get => BinaryPrimitives.ReadUInt32BigEndian(_bytes.Slice(AcknowledgmentNumberOffset, 4));
        set => BinaryPrimitives.WriteUInt32BigEndian(_bytes.Slice(AcknowledgmentNumberOffset, 4), value);
    }

    /// <summary>The header length in octets (data offset × 4), between 20 and 60.</summary>
    public int HeaderLength => (_bytes[DataOffsetOffset] >> 4) * 4;

    public TcpFlags Flags
    {
        get => (TcpFlags)_bytes[FlagsOffset];
        set => _bytes[FlagsOffset] = (byte)value;
    }

    public ushort Window
    {
        get => BinaryPrimitives.ReadUInt16BigEndian(_bytes.Slice(WindowOffset, 2));
        set => BinaryPrimitives.WriteUInt16BigEndian(_bytes.Slice(WindowOffset, 2), value);
    }

    public ushort Checksum
    {
        get => BinaryPrimitives.ReadUInt16BigEndian(_bytes.Slice(ChecksumOffset, 2));
        set => BinaryPrimitives.WriteUInt16BigEndian(_bytes.Slice(ChecksumOffset, 2), value);
    }

    public ushort UrgentPointer => BinaryPrimitives.ReadUInt16BigEndian(_bytes.Slice(UrgentPointerOffset, 2));

    public Span<byte> Options => _bytes[OptionsOffset..HeaderLength];

    public Span<byte> Payload => _bytes[HeaderLength..];

    public bool IsChecksumValid(ulong pseudoHeaderSum) => Wire.Checksum.Finish(Wire.Checksum.Add(pseudoHeaderSum, _bytes)) == 0;

    /// <summary>Recomputes the checksum over the pseudo-header and the whole segment.</summary>
    public void UpdateChecksum(ulong pseudoHeaderSum)
    {
        Checksum = 0;
        Checksum = Wire.Checksum.Finish(Wire.Checksum.Add(pseudoHeaderSum, _bytes));
    }

    /// <summary>
    /// Finds the first option of <paramref name="kind"/> (not <see cref="TcpOptionKind.EndOfOptionList"/> or
    /// <see cref="TcpOptionKind.NoOperation"/>) before the end of the option list; <paramref name="option"/>
    /// spans its kind, length and data. Returns false if absent or if a malformed option comes first.
    /// </summary>
    public bool TryFindOption(byte kind, out Span<byte> option)
    {
        var at = FindOption(kind);
        option = at < 0 ? default : _bytes.Slice(at, _bytes[at + 1]);
        return at >= 0;
    }

    /// <summary>Reads the maximum segment size option, if present and 4 octets long.</summary>
    public bool TryGetMaximumSegmentSize(out ushort maximumSegmentSize)
    {
        var at = FindMaximumSegmentSizeOption();
        maximumSegmentSize = at < 0 ? (ushort)0 : BinaryPrimitives.ReadUInt16BigEndian(_bytes.Slice(at + 2, 2));
        return at >= 0;
    }

    /// <summary>
    /// Lowers the maximum segment size option to <paramref name="maximum"/> when it is larger, updating the
    /// checksum incrementally. Returns true when the segment changed.
    /// </summary>
    public bool TryClampMaximumSegmentSize(ushort maximum)
    {
        var at = FindMaximumSegmentSizeOption();
        if (at < 0)
        {
            return false;
        }

        var valueAt = at + 2;
        var current = BinaryPrimitives.ReadUInt16BigEndian(_bytes.Slice(valueAt, 2));
        if (current <= maximum)
        {
            return false;
        }

        // A value at an odd offset straddles two checksum words: it counts with its octets swapped.
        var odd = (valueAt & 1) != 0;
        Checksum = Wire.Checksum.Update16(
            Checksum,
            odd ? BinaryPrimitives.ReverseEndianness(current) : current,
            odd ? BinaryPrimitives.ReverseEndianness(maximum) : maximum);
        BinaryPrimitives.WriteUInt16BigEndian(_bytes.Slice(valueAt, 2), maximum);
        return true;
    }

    /// <summary>Writes the source port and updates the checksum incrementally.</summary>
    public void RewriteSourcePort(ushort port)
    {
        Checksum = Wire.Checksum.Update16(Checksum, SourcePort, port);
        SourcePort = port;
    }

    /// <summary>Writes the destination port and updates the checksum incrementally.</summary>
    public void RewriteDestinationPort(ushort port)
    {
        Checksum = Wire.Checksum.Update16(Checksum, DestinationPort, port);
        DestinationPort = port;
    }

    /// <summary>
    /// A NAT rewrite in one checksum update: writes the destination port (<paramref name="destination"/>) or the source port and
    /// updates the checksum for it and for a pseudo-header change of <paramref name="pseudoHeaderDelta"/> (what
    /// <see cref="Ipv4Packet.RewriteDestination"/> returns, or a <see cref="Wire.Checksum.Delta128"/>), folded once. The same
    /// checksum as <see cref="AdjustChecksumForAddress(uint, uint)"/> followed by <see cref="RewriteDestinationPort"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Translate(ulong pseudoHeaderDelta, bool destination, ushort port)
    {
        pseudoHeaderDelta += Wire.Checksum.Rewrite16(_bytes.Slice(destination ? DestinationPortOffset : SourcePortOffset, 2), port);
        Checksum = Wire.Checksum.Apply(Checksum, pseudoHeaderDelta);
    }

    /// <summary>Updates the checksum for an IPv4 pseudo-header address rewritten from <paramref name="oldAddress"/> to <paramref name="newAddress"/>.</summary>
    public void AdjustChecksumForAddress(uint oldAddress, uint newAddress) =>
        Checksum = Wire.Checksum.Update32(Checksum, oldAddress, newAddress);

    /// <summary>Updates the checksum for an IPv6 pseudo-header address rewritten from <paramref name="oldAddress"/> to <paramref name="newAddress"/>.</summary>
    public void AdjustChecksumForAddress(UInt128 oldAddress, UInt128 newAddress) =>
        Checksum = Wire.Checksum.Update128(Checksum, oldAddress, newAddress);

    private int FindMaximumSegmentSizeOption()
    {
        var at = FindOption(TcpOptionKind.MaximumSegmentSize);
        return at >= 0 && _bytes[at + 1] == MaximumSegmentSizeOptionLength ? at : -1;
    }

    /// <summary>The offset of the first option of <paramref name="kind"/> within the segment, or -1.</summary>
    private int FindOption(byte kind)
    {
        var end = HeaderLength;
        var at = OptionsOffset;
        while (at < end)
        {
            var current = _bytes[at];
            if (current == TcpOptionKind.EndOfOptionList)
            {
                return -1;
            }

            if (current == TcpOptionKind.NoOperation)
            {
                at++;
                continue;
            }

            if (at + 1 >= end)
            {
                return -1;
            }

            var length = _bytes[at + 1];
            if (length < 2 || at + length > end)
            {
                return -1;
            }

            if (current == kind)
            {
                return at;
            }

            at += length;
        }

        return -1;
    }
}

/// <summary>The fields of a TCP header, for building and inspecting segments off the packet path.</summary>
public readonly record struct TcpHeader(
    ushort SourcePort,
    ushort DestinationPort,
    uint SequenceNumber,
    uint AcknowledgmentNumber,
    TcpFlags Flags,
    ushort Window,
    ushort Checksum,
    ushort UrgentPointer,
    WireBytes Options = default)
{
    public int EmitLength => TcpSegment.MinHeaderLength + Options.Length;

    public static bool TryParse(ReadOnlySpan<byte> bytes, out TcpHeader header)
    {
        header = default;
        if (!TcpSegment.TryCreate(ReadOnlyBytes.AsViewSource(bytes), out var segment))
        {
            return false;
        }

        header = new TcpHeader(
            segment.SourcePort,
            segment.DestinationPort,
            segment.SequenceNumber,
            segment.AcknowledgmentNumber,
            segment.Flags,
            segment.Window,
            segment.Checksum,
            segment.UrgentPointer,
            new WireBytes(segment.Options));
        return true;
    }

    /// <summary>
    /// Writes the header, checksum as given, and returns its length. Throws if the options are not a multiple
    /// of 4 octets up to 40 or the destination is short.
    /// </summary>
    public int Emit(Span<byte> destination)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, EmitLength, nameof(destination));
        EmitGuard.Holds(
            Options.Length % 4 == 0 && Options.Length <= TcpSegment.MaxHeaderLength - TcpSegment.MinHeaderLength,
            "TCP options take a multiple of 4 octets, at most 40.");
        BinaryPrimitives.WriteUInt16BigEndian(destination[TcpSegment.SourcePortOffset..], SourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(destination[TcpSegment.DestinationPortOffset..], DestinationPort);
        BinaryPrimitives.WriteUInt32BigEndian(destination[TcpSegment.SequenceNumberOffset..], SequenceNumber);
        BinaryPrimitives.WriteUInt32BigEndian(destination[TcpSegment.AcknowledgmentNumberOffset..], AcknowledgmentNumber);
        destination[TcpSegment.DataOffsetOffset] = (byte)(EmitLength / 4 << 4);
        destination[TcpSegment.FlagsOffset] = (byte)Flags;
        BinaryPrimitives.WriteUInt16BigEndian(destination[TcpSegment.WindowOffset..], Window);
        BinaryPrimitives.WriteUInt16BigEndian(destination[TcpSegment.ChecksumOffset..], Checksum);
        BinaryPrimitives.WriteUInt16BigEndian(destination[TcpSegment.UrgentPointerOffset..], UrgentPointer);
        Options.Span.CopyTo(destination[TcpSegment.OptionsOffset..]);
        return EmitLength;
    }
}
