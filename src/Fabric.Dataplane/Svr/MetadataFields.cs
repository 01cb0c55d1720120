using System.Buffers.Binary;
using System.Text.Unicode;

namespace Fabric.Dataplane.Svr;

/// <summary>
/// What the TLVs of a metadata block say, read in one pass without allocating: the one reader of the TLV semantics,
/// used by the packet path (which matches names against the snapshot's) and by <see cref="SvrMetadata.TryParse(MetadataBlock, out SvrMetadata, out MetadataError)"/>
/// (which turns them into strings). Names stay UTF-8 views into the block; a field's <c>Has…</c> says the TLV was there.
/// </summary>
/// <remarks>
/// The pass gives two verdicts, each the first fault in TLV order (header section, then payload section):
/// <list type="bullet">
/// <item><see cref="FormatError"/>: whether the block follows the format to the letter: every known type once (the
/// IPv4 and IPv6 forms of a context count as one), in its own section, with the value length its type requires, names
/// non-empty valid UTF-8, each section a whole run of TLVs; unknown types and path metrics are skipped.</item>
/// <item><see cref="SessionError"/>: whether a session may be made or kept from what the block says: what the packet
/// path refuses. It checks what a session uses and lets pass what it does not (a name that is empty or not UTF-8 matches
/// no configured name; a reverse context of another length is relayed as none): a TLV type below 64 twice in the
/// payload section (<see cref="MetadataError.DuplicateTlv"/>); a forward context that is not a 13-octet IPv4 or a
/// 37-octet IPv6 one, a session id, sessions in service or control of the wrong length, or a first security id that is
/// not 4 octets (<see cref="MetadataError.BadValueLength"/>).</item>
/// </list>
/// Fields are filled from TLVs of their own section with a value of the right length (names of any length); when a
/// verdict is <see cref="MetadataError.None"/> each field comes from exactly one TLV. The security id is the first one.
/// The reverse context is the last that reads as an IPv4 context, else the last that reads at all.
/// </remarks>
public ref struct MetadataFields
{
    private ulong _formatSeen;
    private ulong _sessionSeen;
    private bool _securityIdSeen;
    private bool _reverseIsIpv4;

    public MetadataError FormatError { get; private set; }

    public MetadataError SessionError { get; private set; }

    public bool HasFragmentInfo { get; private set; }

    public MetadataFragmentInfo FragmentInfo { get; private set; }

    /// <summary>The header section carries the payload-encrypted flag (with an empty value).</summary>
    public bool PayloadEncrypted { get; private set; }

    public bool HasSecurityPolicy { get; private set; }

    public ReadOnlySpan<byte> SecurityPolicy { get; private set; }

    public bool HasSecurityId { get; private set; }

    public uint SecurityId { get; private set; }

    public bool HasForwardContext { get; private set; }

    public MetadataContext ForwardContext { get; private set; }

    /// <summary>A reverse context TLV of either family is there, whatever its value.</summary>
    public bool HasReverseContext { get; private set; }

    /// <summary>The reverse context that reads (see the remarks); default when none does.</summary>
    public MetadataContext ReverseContext { get; private set; }

    public bool HasSessionId { get; private set; }

    /// <summary>The 16-octet session id (a UUID in network order).</summary>
    public ReadOnlySpan<byte> SessionId { get; private set; }

    public bool HasTenant { get; private set; }

    public ReadOnlySpan<byte> Tenant { get; private set; }

    public bool HasGlobalInterfaceId { get; private set; }

    public uint GlobalInterfaceId { get; private set; }

    public bool HasService { get; private set; }

    public ReadOnlySpan<byte> Service { get; private set; }

    public bool TcpSynCarriedAsUdp { get; private set; }

    public bool HasSessionsInService { get; private set; }

    public ulong SessionsInService { get; private set; }

    public bool HasSourceRouter { get; private set; }

    public ReadOnlySpan<byte> SourceRouter { get; private set; }

    public bool HasDestinationRouter { get; private set; }

    public ReadOnlySpan<byte> DestinationRouter { get; private set; }

    public bool DisableForwardMetadata { get; private set; }

    public bool HasControl { get; private set; }

    public MetadataControl Control { get; private set; }

    public bool HasRemainingSessionTime { get; private set; }

    /// <summary>Seconds.</summary>
    public uint RemainingSessionTime { get; private set; }

    public bool HasSessionHealthCheck { get; private set; }

    public byte SessionHealthCheck { get; private set; }

    /// <summary>Reads a checked block; a payload section that is ciphertext (<see cref="MetadataBlock.IsPayloadEncrypted"/>) is not read.</summary>
    public static MetadataFields Read(MetadataBlock block) =>
        Read(block.HeaderTlvs, block.IsPayloadEncrypted ? default : block.PayloadTlvs);

    /// <summary>Reads two sections given apart, such as a header section and a decrypted payload section.</summary>
    public static MetadataFields Read(ReadOnlySpan<byte> headerTlvs, ReadOnlySpan<byte> payloadTlvs)
    {
        var fields = default(MetadataFields);
        fields.ReadSection(headerTlvs, MetadataSection.Header);
        fields.ReadSection(payloadTlvs, MetadataSection.Payload);
        return fields;
    }

    private void ReadSection(ReadOnlySpan<byte> section, MetadataSection which)
    {
        var consumed = 0;
        foreach (var (type, value) in new MetadataTlvEnumerator(section))
        {
            consumed += MetadataBlock.TlvHeaderLength + value.Length;
            if (which == MetadataSection.Payload && (ushort)type < 64)
            {
                var bit = 1UL << (int)type;
                if ((_sessionSeen & bit) != 0)
                {
                    Refuse(MetadataError.DuplicateTlv);
                }

                _sessionSeen |= bit;
            }

            CheckFormat(type, value, which);
            if (MetadataTlvTypes.SectionOf(type) == which)
            {
                Take(type, value);
            }
        }

        // The enumerator stops at a TLV that does not fit: the section does not tile.
        if (consumed != section.Length)
        {
            Malformed(MetadataError.BadTlv);
        }
    }

    private void CheckFormat(MetadataTlvType type, ReadOnlySpan<byte> value, MetadataSection which)
    {
        var home = MetadataTlvTypes.SectionOf(type);
        if (home == MetadataSection.Unknown || type == MetadataTlvType.PathMetrics)
        {
            return;
        }

        if (home != which)
        {
            Malformed(MetadataError.BadTlv);
            return;
        }

        // Forward (2, 3) and reverse (4, 5) contexts share one field each whatever the address family.
        var field = type switch
        {
            MetadataTlvType.ForwardContextV6 => MetadataTlvType.ForwardContextV4,
            MetadataTlvType.ReverseContextV6 => MetadataTlvType.ReverseContextV4,
            _ => type,
        };
        var bit = 1UL << (int)field;
        if ((_formatSeen & bit) != 0)
        {
            Malformed(MetadataError.DuplicateTlv);
        }

        _formatSeen |= bit;
        var expected = MetadataTlvTypes.ValueLengthOf(type);
        if (expected >= 0 ? value.Length != expected : value.IsEmpty)
        {
            Malformed(MetadataError.BadValueLength);
        }
        else if (expected < 0 && !Utf8.IsValid(value))
        {
            Malformed(MetadataError.BadTlv);
        }
    }

    private void Take(MetadataTlvType type, ReadOnlySpan<byte> value)
    {
        var fits = value.Length == MetadataTlvTypes.ValueLengthOf(type);
        switch (type)
        {
            case MetadataTlvType.FragmentInfo when fits:
                HasFragmentInfo = true;
                FragmentInfo = MetadataFragmentInfo.Read(value);
                break;
            case MetadataTlvType.PayloadEncrypted when fits:
                PayloadEncrypted = true;
                break;
            case MetadataTlvType.SecurityPolicy:
                HasSecurityPolicy = true;
                SecurityPolicy = value;
                break;
            case MetadataTlvType.SecurityId when !_securityIdSeen:
                _securityIdSeen = true;
                if (!fits)
                {
                    Refuse(MetadataError.BadValueLength);
                    break;
                }

                HasSecurityId = true;
                SecurityId = BinaryPrimitives.ReadUInt32BigEndian(value);
                break;
            case MetadataTlvType.ForwardContextV4 or MetadataTlvType.ForwardContextV6:
                if (!fits)
                {
                    Refuse(MetadataError.BadValueLength);
                    break;
                }

                TakeForwardContext(value);
                break;
            case MetadataTlvType.ReverseContextV4 or MetadataTlvType.ReverseContextV6:
                HasReverseContext = true;
                if (MetadataContext.TryParse(value, out var reverse) && (!reverse.IsIpv6 || !_reverseIsIpv4))
                {
                    ReverseContext = reverse;
                    _reverseIsIpv4 = !reverse.IsIpv6;
                }

                break;
            case MetadataTlvType.SessionId:
                if (!fits)
                {
                    Refuse(MetadataError.BadValueLength);
                    break;
                }

                HasSessionId = true;
                SessionId = value;
                break;
            case MetadataTlvType.Tenant:
                HasTenant = true;
                Tenant = value;
                break;
            case MetadataTlvType.GlobalInterfaceId when fits:
                HasGlobalInterfaceId = true;
                GlobalInterfaceId = BinaryPrimitives.ReadUInt32BigEndian(value);
                break;
            case MetadataTlvType.Service:
                HasService = true;
                Service = value;
                break;
            case MetadataTlvType.TcpSynCarriedAsUdp when fits:
                TcpSynCarriedAsUdp = true;
                break;
            case MetadataTlvType.SessionsInService:
                if (!fits)
                {
                    Refuse(MetadataError.BadValueLength);
                    break;
                }

                HasSessionsInService = true;
                SessionsInService = BinaryPrimitives.ReadUInt64BigEndian(value);
                break;
            case MetadataTlvType.SourceRouter:
                HasSourceRouter = true;
                SourceRouter = value;
                break;
            case MetadataTlvType.DestinationRouter:
                HasDestinationRouter = true;
                DestinationRouter = value;
                break;
            case MetadataTlvType.DisableForwardMetadata when fits:
                DisableForwardMetadata = true;
                break;
            case MetadataTlvType.Control:
                if (!fits)
                {
                    Refuse(MetadataError.BadValueLength);
                    break;
                }

                HasControl = true;
                Control = (MetadataControl)value[0];
                break;
            case MetadataTlvType.RemainingSessionTime when fits:
                HasRemainingSessionTime = true;
                RemainingSessionTime = BinaryPrimitives.ReadUInt32BigEndian(value);
                break;
            case MetadataTlvType.SessionHealthCheck when fits:
                HasSessionHealthCheck = true;
                SessionHealthCheck = value[0];
                break;
        }
    }

    private void TakeForwardContext(ReadOnlySpan<byte> value)
    {
        if (MetadataContext.TryParse(value, out var context))
        {
            HasForwardContext = true;
            ForwardContext = context;
        }
    }

    /// <summary>Records a departure from the format (the first one counts).</summary>
    private void Malformed(MetadataError error)
    {
        if (FormatError == MetadataError.None)
        {
            FormatError = error;
        }
    }

    /// <summary>Records what keeps a session from being made or kept (the first one counts).</summary>
    private void Refuse(MetadataError error)
    {
        if (SessionError == MetadataError.None)
        {
            SessionError = error;
        }
    }
}
