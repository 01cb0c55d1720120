using System.Buffers.Binary;
using System.Text;
using Fabric.Dataplane.Sessions;

namespace Fabric.Dataplane.Svr;

/// <summary>
/// An original 5-tuple carried in a forward or reverse context TLV, as a session key of its family (for IPv4
/// the addresses sit in the low 32 bits, as in the session table).
/// </summary>
public readonly record struct MetadataContext(SessionKey Key)
{
    public bool IsIpv6 => Key.IsIpv6;

    /// <summary>Source, destination, source port, destination port, protocol with IPv4 addresses.</summary>
    public const int Ipv4Length = 4 + 4 + 2 + 2 + 1;

    /// <summary>As <see cref="Ipv4Length"/> with IPv6 addresses.</summary>
    public const int Ipv6Length = 16 + 16 + 2 + 2 + 1;

    public int ValueLength => IsIpv6 ? Ipv6Length : Ipv4Length;

    /// <summary>Reads a 13-octet (IPv4) or 37-octet (IPv6) context value; false for any other length.</summary>
    public static bool TryParse(ReadOnlySpan<byte> value, out MetadataContext context)
    {
        context = default;
        var ipv6 = value.Length == Ipv6Length;
        if (!ipv6 && value.Length != Ipv4Length)
        {
            return false;
        }

        var addressLength = ipv6 ? 16 : 4;
        var source = ipv6 ? BinaryPrimitives.ReadUInt128BigEndian(value) : BinaryPrimitives.ReadUInt32BigEndian(value);
        var destination = ipv6 ? BinaryPrimitives.ReadUInt128BigEndian(value[addressLength..]) : BinaryPrimitives.ReadUInt32BigEndian(value[addressLength..]);
        var ports = value[(2 * addressLength)..];
        context = new MetadataContext(
            new SessionKey(source, destination, BinaryPrimitives.ReadUInt16BigEndian(ports), BinaryPrimitives.ReadUInt16BigEndian(ports[2..]), ports[4], ipv6));
        return true;
    }
}

/// <summary>The value of the <see cref="MetadataTlvType.FragmentInfo"/> TLV.</summary>
public readonly record struct MetadataFragmentInfo(uint ExtendedId, ushort OriginalId, ushort FlagsAndOffset, ushort LargestFragment)
{
    public const int Length = 10;

    public static MetadataFragmentInfo Read(ReadOnlySpan<byte> value) => new(
        BinaryPrimitives.ReadUInt32BigEndian(value),
        BinaryPrimitives.ReadUInt16BigEndian(value[4..]),
        BinaryPrimitives.ReadUInt16BigEndian(value[6..]),
        BinaryPrimitives.ReadUInt16BigEndian(value[8..]));

    public void Write(Span<byte> value)
    {
        BinaryPrimitives.WriteUInt32BigEndian(value, ExtendedId);
        BinaryPrimitives.WriteUInt16BigEndian(value[4..], OriginalId);
        BinaryPrimitives.WriteUInt16BigEndian(value[6..], FlagsAndOffset);
        BinaryPrimitives.WriteUInt16BigEndian(value[8..], LargestFragment);
    }
}

/// <summary>
/// The parsed form of a metadata block, for the control side of the session path (classification of a first
/// packet, tests, tools); parsing allocates the strings. A null field or false flag is an absent TLV.
/// <see cref="MetadataTlvType.PathMetrics"/> and unknown types are skipped when parsing and never emitted.
/// </summary>
/// <remarks>
/// Emit writes the header section (fragment info, payload-encrypted flag, security policy, security id) and then
/// the payload section, each in type order. With <see cref="PayloadEncrypted"/> set, the payload section is
/// still written in clear: encrypting it is the caller's next step. Parsing a block whose payload section is
/// ciphertext yields the header fields only.
/// </remarks>
public sealed record SvrMetadata
{
    public MetadataFragmentInfo? FragmentInfo { get; init; }

    public bool PayloadEncrypted { get; init; }

    public string? SecurityPolicy { get; init; }

    public uint? SecurityId { get; init; }

    public MetadataContext? ForwardContext { get; init; }

    public MetadataContext? ReverseContext { get; init; }

    public Guid? SessionId { get; init; }

    public string? Tenant { get; init; }

    public uint? GlobalInterfaceId { get; init; }

    public string? Service { get; init; }

    public bool TcpSynCarriedAsUdp { get; init; }

    public ulong? SessionsInService { get; init; }

    public string? SourceRouter { get; init; }

    public string? DestinationRouter { get; init; }

    public bool DisableForwardMetadata { get; init; }

    public MetadataControl? Control { get; init; }

    /// <summary>Seconds.</summary>
    public uint? RemainingSessionTime { get; init; }

    public byte? SessionHealthCheck { get; init; }

    /// <summary>
    /// Reads every known TLV of a checked block. Unknown types are skipped; a known type twice is
    /// <see cref="MetadataError.DuplicateTlv"/>, a wrong value length <see cref="MetadataError.BadValueLength"/>,
    /// an empty or invalid UTF-8 string <see cref="MetadataError.BadValueLength"/> or <see cref="MetadataError.BadTlv"/>.
    /// </summary>
    public static bool TryParse(MetadataBlock block, out SvrMetadata metadata, out MetadataError error) =>
        TryParse(block.HeaderTlvs, block.IsPayloadEncrypted ? default : block.PayloadTlvs, out metadata, out error);

    /// <summary>
    /// As <see cref="TryParse(MetadataBlock, out SvrMetadata, out MetadataError)"/> over two sections given
    /// apart, such as a header section and a decrypted payload section; a section that is not a whole run of
    /// TLVs, or a known type in the other section, is <see cref="MetadataError.BadTlv"/>.
    /// </summary>
    public static bool TryParse(ReadOnlySpan<byte> headerTlvs, ReadOnlySpan<byte> payloadTlvs, out SvrMetadata metadata, out MetadataError error)
    {
        var fields = MetadataFields.Read(headerTlvs, payloadTlvs);
        error = fields.FormatError;
        if (error != MetadataError.None)
        {
            metadata = new SvrMetadata();
            return false;
        }

        metadata = new SvrMetadata
        {
            FragmentInfo = fields.HasFragmentInfo ? fields.FragmentInfo : null,
            PayloadEncrypted = fields.PayloadEncrypted,
            SecurityPolicy = Text(fields.HasSecurityPolicy, fields.SecurityPolicy),
            SecurityId = fields.HasSecurityId ? fields.SecurityId : null,
            ForwardContext = fields.HasForwardContext ? fields.ForwardContext : null,
            ReverseContext = fields.HasReverseContext ? fields.ReverseContext : null,
            SessionId = fields.HasSessionId ? new Guid(fields.SessionId, bigEndian: true) : null,
            Tenant = Text(fields.HasTenant, fields.Tenant),
            GlobalInterfaceId = fields.HasGlobalInterfaceId ? fields.GlobalInterfaceId : null,
            Service = Text(fields.HasService, fields.Service),
            TcpSynCarriedAsUdp = fields.TcpSynCarriedAsUdp,
            SessionsInService = fields.HasSessionsInService ? fields.SessionsInService : null,
            SourceRouter = Text(fields.HasSourceRouter, fields.SourceRouter),
            DestinationRouter = Text(fields.HasDestinationRouter, fields.DestinationRouter),
            DisableForwardMetadata = fields.DisableForwardMetadata,
            Control = fields.HasControl ? fields.Control : null,
            RemainingSessionTime = fields.HasRemainingSessionTime ? fields.RemainingSessionTime : null,
            SessionHealthCheck = fields.HasSessionHealthCheck ? fields.SessionHealthCheck : null,
        };
        return true;
    }

    /// <summary>The octets <see cref="Emit"/> writes.</summary>
    public int EmitLength
    {
        get
        {
            var length = MetadataBlock.BaseLength;
            length += FragmentInfo is null ? 0 : MetadataBlock.TlvHeaderLength + MetadataFragmentInfo.Length;
            length += PayloadEncrypted ? MetadataBlock.TlvHeaderLength : 0;
            length += StringTlvLength(SecurityPolicy) + U32TlvLength(SecurityId);
            length += ForwardContext is { } forward ? MetadataBlock.TlvHeaderLength + forward.ValueLength : 0;
            length += ReverseContext is { } reverse ? MetadataBlock.TlvHeaderLength + reverse.ValueLength : 0;
            length += SessionId is null ? 0 : MetadataBlock.TlvHeaderLength + 16;
            length += StringTlvLength(Tenant) + U32TlvLength(GlobalInterfaceId) + StringTlvLength(Service);
            length += TcpSynCarriedAsUdp ? MetadataBlock.TlvHeaderLength : 0;
            length += SessionsInService is null ? 0 : MetadataBlock.TlvHeaderLength + 8;
            length += StringTlvLength(SourceRouter) + StringTlvLength(DestinationRouter);
            length += DisableForwardMetadata ? MetadataBlock.TlvHeaderLength : 0;
            length += Control is null ? 0 : MetadataBlock.TlvHeaderLength + 1;
            length += U32TlvLength(RemainingSessionTime);
            length += SessionHealthCheck is null ? 0 : MetadataBlock.TlvHeaderLength + 1;
            return length;
        }
    }

    /// <summary>
    /// Writes the block and returns its length. Throws if <paramref name="destination"/> is shorter than
    /// <see cref="EmitLength"/>, a string is empty, an IPv4 context holds an address above 32 bits, or a section
    /// outgrows its length field.
    /// </summary>
    public int Emit(Span<byte> destination)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, EmitLength, nameof(destination));
        var writer = new MetadataWriter(destination);
        Require(writer.BeginHeader());
        if (FragmentInfo is { } fragment)
        {
            Span<byte> value = stackalloc byte[MetadataFragmentInfo.Length];
            fragment.Write(value);
            Require(writer.AddTlv(MetadataTlvType.FragmentInfo, value));
        }

        Require(!PayloadEncrypted || writer.AddFlag(MetadataTlvType.PayloadEncrypted));
        Require(SecurityPolicy is null || writer.AddString(MetadataTlvType.SecurityPolicy, SecurityPolicy));
        Require(SecurityId is not { } securityId || writer.AddU32(MetadataTlvType.SecurityId, securityId));
        Require(writer.BeginPayload());
        Require(ForwardContext is not { } forward || AddContext(ref writer, forward, reverse: false));
        Require(ReverseContext is not { } reverse || AddContext(ref writer, reverse, reverse: true));
        Require(SessionId is not { } sessionId || writer.AddGuid(MetadataTlvType.SessionId, sessionId));
        Require(Tenant is null || writer.AddString(MetadataTlvType.Tenant, Tenant));
        Require(GlobalInterfaceId is not { } interfaceId || writer.AddU32(MetadataTlvType.GlobalInterfaceId, interfaceId));
        Require(Service is null || writer.AddString(MetadataTlvType.Service, Service));
        Require(!TcpSynCarriedAsUdp || writer.AddFlag(MetadataTlvType.TcpSynCarriedAsUdp));
        Require(SessionsInService is not { } sessions || writer.AddU64(MetadataTlvType.SessionsInService, sessions));
        Require(SourceRouter is null || writer.AddString(MetadataTlvType.SourceRouter, SourceRouter));
        Require(DestinationRouter is null || writer.AddString(MetadataTlvType.DestinationRouter, DestinationRouter));
        Require(!DisableForwardMetadata || writer.AddFlag(MetadataTlvType.DisableForwardMetadata));
        Require(Control is not { } control || writer.AddU8(MetadataTlvType.Control, (byte)control));
        Require(RemainingSessionTime is not { } remaining || writer.AddU32(MetadataTlvType.RemainingSessionTime, remaining));
        Require(SessionHealthCheck is not { } health || writer.AddU8(MetadataTlvType.SessionHealthCheck, health));
        Require(writer.Finish(out var length));
        return length;
    }

    private static bool AddContext(ref MetadataWriter writer, MetadataContext context, bool reverse)
    {
        var key = context.Key;
        if (context.IsIpv6)
        {
            return reverse
                ? writer.AddReverseContextV6(key.Source, key.Destination, key.SourcePort, key.DestinationPort, key.Protocol)
                : writer.AddForwardContextV6(key.Source, key.Destination, key.SourcePort, key.DestinationPort, key.Protocol);
        }

        if (key.Source > uint.MaxValue || key.Destination > uint.MaxValue)
        {
            throw new InvalidOperationException("An IPv4 metadata context holds an address above 32 bits.");
        }

        return reverse
            ? writer.AddReverseContextV4((uint)key.Source, (uint)key.Destination, key.SourcePort, key.DestinationPort, key.Protocol)
            : writer.AddForwardContextV4((uint)key.Source, (uint)key.Destination, key.SourcePort, key.DestinationPort, key.Protocol);
    }

    private static void Require(bool written)
    {
        if (!written)
        {
            throw new InvalidOperationException("The metadata does not fit the SVR block format (empty string or a section above its length field).");
        }
    }

    private static int StringTlvLength(string? value) => value is null ? 0 : MetadataBlock.TlvHeaderLength + Encoding.UTF8.GetByteCount(value);

    private static int U32TlvLength(uint? value) => value is null ? 0 : MetadataBlock.TlvHeaderLength + sizeof(uint);

    private static string? Text(bool present, ReadOnlySpan<byte> utf8) => present ? Encoding.UTF8.GetString(utf8) : null;
}
