using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace Fabric.Dataplane.Wire;

/// <summary>
/// A view over a UDP datagram (RFC 768) given as the whole IP payload.
/// <see cref="TryCreate(Span{byte}, out UdpDatagram, out WireError)"/> requires the length field to equal the
/// buffer; afterwards no member throws. Checksum members take the partial sum of the IP pseudo-header
/// (<see cref="Ipv4Packet.PseudoHeaderSum"/>, <see cref="Ipv6Packet.PseudoHeaderSum"/>).
/// </summary>
public readonly ref struct UdpDatagram
{
    public const int SourcePortOffset = 0;
    public const int DestinationPortOffset = 2;
    public const int LengthOffset = 4;
    public const int ChecksumOffset = 6;
    public const int HeaderLength = 8;

    private readonly Span<byte> _bytes;

    private UdpDatagram(Span<byte> bytes) => _bytes = bytes;

    /// <summary>Accepts a whole datagram: at least 8 octets and a length field equal to the buffer length.</summary>
    public static bool TryCreate(Span<byte> bytes, out UdpDatagram datagram) => TryCreate(bytes, out datagram, out _);

    /// <inheritdoc cref="TryCreate(Span{byte}, out UdpDatagram)"/>
    public static bool TryCreate(Span<byte> bytes, out UdpDatagram datagram, out WireError error)
    {
        datagram = default;
        if (bytes.Length < HeaderLength)
        {
            error = WireError.Truncated;
            return false;
        }

        var length = BinaryPrimitives.ReadUInt16BigEndian(bytes[LengthOffset..]);
        error = length > bytes.Length ? WireError.Truncated
            : length != bytes.Length ? WireError.LengthMismatch
            : WireError.None;
        if (error != WireError.None)
        {
            return false;
        }

        datagram = new UdpDatagram(bytes);
        return true;
    }

    /// <summary>
    /// Accepts the start of a datagram quoted in an ICMP error: only the 8-octet header must be present and
    /// the length field is not checked against the buffer.
    /// </summary>
    public static bool TryCreateQuoted(Span<byte> bytes, out UdpDatagram datagram)
    {
        datagram = bytes.Length < HeaderLength ? default : new UdpDatagram(bytes);
        return bytes.Length >= HeaderLength;
    }

    /// <summary>
    /// A view over bytes <see cref="TryCreate(Span{byte}, out UdpDatagram, out WireError)"/> already accepted and whose length field have not changed since (the packet path's parse
    /// stage checked them): none of its checks run again. Over any other bytes a member may throw.
    /// </summary>
    public static UdpDatagram FromValidated(Span<byte> bytes) => new(bytes);

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

    public ushort Length => BinaryPrimitives.ReadUInt16BigEndian(_bytes.Slice(LengthOffset, 2));

    /// <summary>The checksum field; 0 means "no checksum", which only IPv4 permits.</summary>
    public ushort Checksum
    {
        get => BinaryPrimitives.ReadUInt16BigEndian(_bytes.Slice(ChecksumOffset, 2));
        set => BinaryPrimitives.WriteUInt16BigEndian(_bytes.Slice(ChecksumOffset, 2), value);
    }

    public bool HasChecksum => Checksum != 0;

    public Span<byte> Payload => _bytes[HeaderLength..];

    /// <summary>True when the checksum field is present and covers the pseudo-header and the datagram.</summary>
    public bool IsChecksumValid(ulong pseudoHeaderSum) =>
        HasChecksum && Wire.Checksum.Finish(Wire.Checksum.Add(pseudoHeaderSum, _bytes)) == 0;

    /// <summary>Recomputes the checksum; a computed 0 is written as 0xFFFF (RFC 768).</summary>
    public void UpdateChecksum(ulong pseudoHeaderSum)
    {
        Checksum = 0;
        Checksum = ComputeChecksum(pseudoHeaderSum, _bytes);
    }

    /// <summary>
    /// The checksum of a datagram whose checksum field holds 0, given its pseudo-header's partial sum: never 0 (a
    /// computed 0 is sent as all ones, RFC 768, since 0 means "no checksum").
    /// </summary>
    public static ushort ComputeChecksum(ulong pseudoHeaderSum, ReadOnlySpan<byte> datagram) =>
        NonZero(Wire.Checksum.Finish(Wire.Checksum.Add(pseudoHeaderSum, datagram)));

    /// <summary>Writes the source port and updates a present checksum incrementally.</summary>
    public void RewriteSourcePort(ushort port)
    {
        AdjustChecksum(SourcePort, port);
        SourcePort = port;
    }

    /// <summary>Writes the destination port and updates a present checksum incrementally.</summary>
    public void RewriteDestinationPort(ushort port)
    {
        AdjustChecksum(DestinationPort, port);
        DestinationPort = port;
    }

    /// <summary>
    /// A NAT rewrite in one checksum update: writes the destination port (<paramref name="destination"/>) or the source port and
    /// updates a present checksum for it and for a pseudo-header change of <paramref name="pseudoHeaderDelta"/> (what
    /// <see cref="Ipv4Packet.RewriteDestination"/> returns, or a <see cref="Wire.Checksum.Delta128"/>), folded once. The same
    /// checksum as <see cref="AdjustChecksumForAddress(uint, uint)"/> followed by <see cref="RewriteDestinationPort"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Translate(ulong pseudoHeaderDelta, bool destination, ushort port)
    {
        pseudoHeaderDelta += Wire.Checksum.Rewrite16(_bytes.Slice(destination ? DestinationPortOffset : SourcePortOffset, 2), port);
        if (HasChecksum)
        {
            Checksum = NonZero(Wire.Checksum.Apply(Checksum, pseudoHeaderDelta));
        }
    }

    /// <summary>Updates a present checksum for an IPv4 pseudo-header address rewritten from <paramref name="oldAddress"/> to <paramref name="newAddress"/>.</summary>
    public void AdjustChecksumForAddress(uint oldAddress, uint newAddress)
    {
        if (HasChecksum)
        {
            Checksum = NonZero(Wire.Checksum.Update32(Checksum, oldAddress, newAddress));
        }
    }

    /// <summary>Updates the checksum for an IPv6 pseudo-header address rewritten from <paramref name="oldAddress"/> to <paramref name="newAddress"/>.</summary>
    public void AdjustChecksumForAddress(UInt128 oldAddress, UInt128 newAddress)
    {
        if (HasChecksum)
        {
            Checksum = NonZero(Wire.Checksum.Update128(Checksum, oldAddress, newAddress));
        }
    }

    private void AdjustChecksum(ushort oldValue, ushort newValue)
    {
        if (HasChecksum)
        {
            Checksum = NonZero(Wire.Checksum.Update16(Checksum, oldValue, newValue));
        }
    }

    private static ushort NonZero(ushort checksum) => checksum == 0 ? (ushort)0xFFFF : checksum;
}

/// <summary>The fields of a UDP header, for building and inspecting datagrams off the packet path.</summary>
public readonly record struct UdpHeader(ushort SourcePort, ushort DestinationPort, ushort Length, ushort Checksum)
{
    public static int EmitLength => UdpDatagram.HeaderLength;

    /// <summary>Parses the 8-octet header alone; the length field is not checked against <paramref name="bytes"/>.</summary>
    public static bool TryParse(ReadOnlySpan<byte> bytes, out UdpHeader header)
    {
        header = default;
        if (!UdpDatagram.TryCreateQuoted(ReadOnlyBytes.AsViewSource(bytes), out var datagram))
        {
            return false;
        }

        header = new UdpHeader(datagram.SourcePort, datagram.DestinationPort, datagram.Length, datagram.Checksum);
        return true;
    }

    /// <summary>Writes the header, checksum as given, and returns its length; throws if the destination is short.</summary>
    public int Emit(Span<byte> destination)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, EmitLength, nameof(destination));
        BinaryPrimitives.WriteUInt16BigEndian(destination[UdpDatagram.SourcePortOffset..], SourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(destination[UdpDatagram.DestinationPortOffset..], DestinationPort);
        BinaryPrimitives.WriteUInt16BigEndian(destination[UdpDatagram.LengthOffset..], Length);
        BinaryPrimitives.WriteUInt16BigEndian(destination[UdpDatagram.ChecksumOffset..], Checksum);
        return EmitLength;
    }
}
