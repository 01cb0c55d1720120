using System.Buffers.Binary;

namespace Fabric.Dataplane.Svr;

/// <summary>
/// A view over an SVR metadata block, the bytes inserted right after a TCP or UDP header:
/// <code>
///  0               8        9..10          10..12
///  cookie (8 B)    ver(4b) | header len(12b) | payload len(16b)
///  header TLVs (header length - 12 octets, never encrypted)
///  payload TLVs (payload length octets, may be encrypted)
/// </code>
/// A TLV is type u16, length u16 (of the value), value; everything big-endian.
/// <see cref="TryCreate(Span{byte}, out MetadataBlock, out MetadataError)"/> checks the cookie, the version, both
/// lengths against the buffer and that the TLVs of each section tile it exactly, every known type in its own
/// section; afterwards no member throws. When the header section carries
/// <see cref="MetadataTlvType.PayloadEncrypted"/> the payload section is ciphertext and is not walked: whoever
/// decrypts it checks the plaintext with <see cref="ValidatePayloadTlvs"/>.
/// </summary>
public readonly ref struct MetadataBlock
{
    /// <summary>The SVR metadata cookie, read as a big-endian u64.</summary>
    public const ulong Cookie = 0x4C48DBC6DDF6670C;

    public const int CookieOffset = 0;
    public const int VersionAndLengthsOffset = 8;

    /// <summary>The cookie and the version/lengths word; the smallest header length.</summary>
    public const int BaseLength = 12;

    /// <summary>
    /// The length of a bare block (header length 12, payload length 0), sent before an original payload that
    /// itself starts with the cookie so the receiver strips exactly one block.
    /// </summary>
    public const int BareLength = BaseLength;

    public const int Version1 = 1;

    /// <summary>The largest header length the 12-bit field holds.</summary>
    public const int MaxHeaderLength = 0x0FFF;

    /// <summary>The largest payload length the 16-bit field holds.</summary>
    public const int MaxPayloadLength = 0xFFFF;

    /// <summary>The type and length fields in front of each TLV value.</summary>
    public const int TlvHeaderLength = 4;

    private readonly Span<byte> _bytes;

    private MetadataBlock(Span<byte> bytes) => _bytes = bytes;

    /// <summary>
    /// Accepts a block at the start of <paramref name="bytes"/>; octets after <see cref="TotalLength"/> (the
    /// original L4 payload) are outside the view. A TLV that crosses its section's end is blamed on the section
    /// length (<see cref="MetadataError.BadHeaderLength"/>, <see cref="MetadataError.LengthMismatch"/>) when it
    /// fits in the buffer, and on itself (<see cref="MetadataError.BadTlv"/>) when it does not.
    /// </summary>
    public static bool TryCreate(Span<byte> bytes, out MetadataBlock block, out MetadataError error)
    {
        block = default;
        error = Validate(bytes, out var totalLength);
        if (error != MetadataError.None)
        {
            return false;
        }

        block = new MetadataBlock(bytes[..totalLength]);
        return true;
    }

    /// <inheritdoc cref="TryCreate(Span{byte}, out MetadataBlock, out MetadataError)"/>
    public static bool TryCreate(Span<byte> bytes, out MetadataBlock block) => TryCreate(bytes, out block, out _);

    /// <summary>True when <paramref name="bytes"/> begins with the 8-octet cookie: an L4 payload that may carry a block.</summary>
    public static bool StartsWithCookie(ReadOnlySpan<byte> bytes) =>
        bytes.Length >= sizeof(ulong) && BinaryPrimitives.ReadUInt64BigEndian(bytes) == Cookie;

    /// <summary>Writes a bare block (header length 12, payload length 0) and returns true, or false when <paramref name="destination"/> is shorter than <see cref="BareLength"/>.</summary>
    public static bool TryWriteBare(Span<byte> destination)
    {
        if (destination.Length < BareLength)
        {
            return false;
        }

        WriteBase(destination, BaseLength, 0);
        return true;
    }

    /// <summary>
    /// Checks that a decrypted payload section is a whole run of TLVs, each known type a payload type:
    /// <see cref="MetadataError.None"/> or <see cref="MetadataError.BadTlv"/>.
    /// </summary>
    public static MetadataError ValidatePayloadTlvs(ReadOnlySpan<byte> payloadTlvs) =>
        WalkSection(payloadTlvs, payloadTlvs.Length, MetadataSection.Payload, MetadataError.LengthMismatch, out _);

    /// <summary>The block: base, header TLVs and payload TLVs; not the L4 payload after it.</summary>
    public Span<byte> Bytes => _bytes;

    public int Version => _bytes[VersionAndLengthsOffset] >> 4;

    /// <summary>The header length field: the 12-octet base plus the header TLVs.</summary>
    public int HeaderLength => BinaryPrimitives.ReadUInt16BigEndian(_bytes[VersionAndLengthsOffset..]) & MaxHeaderLength;

    /// <summary>The payload length field: the payload TLVs only.</summary>
    public int PayloadLength => BinaryPrimitives.ReadUInt16BigEndian(_bytes[(VersionAndLengthsOffset + 2)..]);

    /// <summary>The octets the block occupies: header length plus payload length.</summary>
    public int TotalLength => _bytes.Length;

    /// <summary>True for a bare block: no TLVs in either section.</summary>
    public bool IsBare => _bytes.Length == BareLength;

    public Span<byte> HeaderTlvs => _bytes[BaseLength..HeaderLength];

    /// <summary>The payload section; ciphertext when <see cref="IsPayloadEncrypted"/>.</summary>
    public Span<byte> PayloadTlvs => _bytes[HeaderLength..];

    /// <summary>True when the header section carries the <see cref="MetadataTlvType.PayloadEncrypted"/> flag.</summary>
    public bool IsPayloadEncrypted => TryFindHeaderTlv(MetadataTlvType.PayloadEncrypted, out _);

    public MetadataTlvEnumerator EnumerateHeaderTlvs() => new(HeaderTlvs);

    /// <summary>The payload TLVs; meaningless (and possibly cut short) while <see cref="IsPayloadEncrypted"/>.</summary>
    public MetadataTlvEnumerator EnumeratePayloadTlvs() => new(PayloadTlvs);

    /// <summary>Finds the first header TLV of <paramref name="type"/>.</summary>
    public bool TryFindHeaderTlv(MetadataTlvType type, out ReadOnlySpan<byte> value) => TryFind(HeaderTlvs, type, out value);

    /// <summary>Finds the first payload TLV of <paramref name="type"/>; false while <see cref="IsPayloadEncrypted"/>.</summary>
    public bool TryFindPayloadTlv(MetadataTlvType type, out ReadOnlySpan<byte> value)
    {
        value = default;
        return !IsPayloadEncrypted && TryFind(PayloadTlvs, type, out value);
    }

    /// <summary>Writes the cookie and the version/lengths word.</summary>
    internal static void WriteBase(Span<byte> destination, int headerLength, int payloadLength)
    {
        BinaryPrimitives.WriteUInt64BigEndian(destination[CookieOffset..], Cookie);
        BinaryPrimitives.WriteUInt16BigEndian(destination[VersionAndLengthsOffset..], (ushort)((Version1 << 12) | headerLength));
        BinaryPrimitives.WriteUInt16BigEndian(destination[(VersionAndLengthsOffset + 2)..], (ushort)payloadLength);
    }

    private static bool TryFind(ReadOnlySpan<byte> section, MetadataTlvType type, out ReadOnlySpan<byte> value)
    {
        foreach (var tlv in new MetadataTlvEnumerator(section))
        {
            if (tlv.Type == type)
            {
                value = tlv.Value;
                return true;
            }
        }

        value = default;
        return false;
    }

    private static MetadataError Validate(ReadOnlySpan<byte> bytes, out int totalLength)
    {
        totalLength = 0;
        if (bytes.Length < BaseLength)
        {
            return MetadataError.Truncated;
        }

        if (!StartsWithCookie(bytes))
        {
            return MetadataError.BadCookie;
        }

        var word = BinaryPrimitives.ReadUInt16BigEndian(bytes[VersionAndLengthsOffset..]);
        if (word >> 12 != Version1)
        {
            return MetadataError.BadVersion;
        }

        var headerLength = word & MaxHeaderLength;
        if (headerLength < BaseLength)
        {
            return MetadataError.BadHeaderLength;
        }

        totalLength = headerLength + BinaryPrimitives.ReadUInt16BigEndian(bytes[(VersionAndLengthsOffset + 2)..]);
        if (totalLength > bytes.Length)
        {
            return MetadataError.Truncated;
        }

        var error = WalkSection(bytes[BaseLength..], headerLength - BaseLength, MetadataSection.Header, MetadataError.BadHeaderLength, out var encrypted);
        if (error == MetadataError.None && !encrypted)
        {
            error = WalkSection(bytes[headerLength..], totalLength - headerLength, MetadataSection.Payload, MetadataError.LengthMismatch, out _);
        }

        return error;
    }

    /// <summary>
    /// Walks the TLVs of the section at the start of <paramref name="region"/> (which runs on to the buffer's
    /// end). A TLV crossing the section's end yields <paramref name="sectionLengthError"/> when it fits in the
    /// region and <see cref="MetadataError.BadTlv"/> otherwise. Each step advances at least 4 octets.
    /// </summary>
    private static MetadataError WalkSection(
        ReadOnlySpan<byte> region, int sectionLength, MetadataSection section, MetadataError sectionLengthError, out bool payloadEncrypted)
    {
        payloadEncrypted = false;
        var at = 0;
        while (at < sectionLength)
        {
            if (at + TlvHeaderLength > region.Length)
            {
                return MetadataError.BadTlv;
            }

            var type = (MetadataTlvType)BinaryPrimitives.ReadUInt16BigEndian(region[at..]);
            var end = at + TlvHeaderLength + BinaryPrimitives.ReadUInt16BigEndian(region[(at + 2)..]);
            if (end > sectionLength)
            {
                return end <= region.Length ? sectionLengthError : MetadataError.BadTlv;
            }

            var home = MetadataTlvTypes.SectionOf(type);
            if (home != MetadataSection.Unknown && home != section)
            {
                return MetadataError.BadTlv;
            }

            payloadEncrypted |= type == MetadataTlvType.PayloadEncrypted;
            at = end;
        }

        return MetadataError.None;
    }
}

/// <summary>One TLV of a metadata section: its type and a view of its value.</summary>
public readonly ref struct MetadataTlv
{
    public MetadataTlv(MetadataTlvType type, ReadOnlySpan<byte> value)
    {
        Type = type;
        Value = value;
    }

    public MetadataTlvType Type { get; }

    public ReadOnlySpan<byte> Value { get; }

    public void Deconstruct(out MetadataTlvType type, out ReadOnlySpan<byte> value)
    {
        type = Type;
        value = Value;
    }
}

/// <summary>
/// Enumerates the TLVs of one metadata section without allocating (<c>foreach (var (type, value) in ...)</c>).
/// Over bytes that <see cref="MetadataBlock.TryCreate(Span{byte}, out MetadataBlock, out MetadataError)"/> has
/// not checked it stops quietly at the first TLV that does not fit; it never throws.
/// </summary>
public ref struct MetadataTlvEnumerator
{
    private ReadOnlySpan<byte> _rest;

    public MetadataTlvEnumerator(ReadOnlySpan<byte> section)
    {
        _rest = section;
        Current = default;
    }

    public MetadataTlv Current { get; private set; }

    public readonly MetadataTlvEnumerator GetEnumerator() => this;

    public bool MoveNext()
    {
        if (_rest.Length < MetadataBlock.TlvHeaderLength)
        {
            return false;
        }

        var end = MetadataBlock.TlvHeaderLength + BinaryPrimitives.ReadUInt16BigEndian(_rest[2..]);
        if (end > _rest.Length)
        {
            _rest = default;
            return false;
        }

        Current = new MetadataTlv((MetadataTlvType)BinaryPrimitives.ReadUInt16BigEndian(_rest), _rest[MetadataBlock.TlvHeaderLength..end]);
        _rest = _rest[end..];
        return true;
    }
}
