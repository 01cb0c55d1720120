namespace Fabric.Dataplane.Svr;

/// <summary>
/// The SVR metadata TLV type numbers (specification constants, as the public dissector reads the draft).
/// Each type lives in one section only; <see cref="MetadataTlvTypes.SectionOf"/> says which, and
/// docs/svr-wire.md gives the reasons.
/// </summary>
public enum MetadataTlvType : ushort
{
    /// <summary>Header section. 10 octets: extended id u32, original id u16, flags and offset u16, largest fragment u16.</summary>
    FragmentInfo = 1,

    /// <summary>Payload section. Original source, destination, source port, destination port, protocol: 13 octets.</summary>
    ForwardContextV4 = 2,

    /// <summary>Payload section. As <see cref="ForwardContextV4"/> with IPv6 addresses: 37 octets.</summary>
    ForwardContextV6 = 3,

    /// <summary>Payload section. The reverse direction's original 5-tuple: 13 octets.</summary>
    ReverseContextV4 = 4,

    /// <summary>Payload section. As <see cref="ReverseContextV4"/> with IPv6 addresses: 37 octets.</summary>
    ReverseContextV6 = 5,

    /// <summary>Payload section. 16-octet UUID in RFC 9562 (network) order.</summary>
    SessionId = 6,

    /// <summary>Payload section. UTF-8 tenant name, not empty.</summary>
    Tenant = 7,

    /// <summary>Payload section. u32.</summary>
    GlobalInterfaceId = 8,

    /// <summary>Payload section. UTF-8 service name, not empty.</summary>
    Service = 10,

    /// <summary>Header section. Flag (empty value): the payload section is ciphertext.</summary>
    PayloadEncrypted = 11,

    /// <summary>Payload section. Flag (empty value): the original was a TCP SYN carried as UDP.</summary>
    TcpSynCarriedAsUdp = 12,

    /// <summary>Payload section. u64: sessions active in the service (load feedback, reverse direction).</summary>
    SessionsInService = 13,

    /// <summary>Payload section. UTF-8 router name, not empty.</summary>
    SourceRouter = 14,

    /// <summary>Header section. UTF-8 security policy name, not empty.</summary>
    SecurityPolicy = 15,

    /// <summary>Header section. u32 key version: the receiver needs it before it can decrypt.</summary>
    SecurityId = 16,

    /// <summary>Payload section. UTF-8 router name, not empty.</summary>
    DestinationRouter = 17,

    /// <summary>Payload section. Flag (empty value): the handshake acknowledgement.</summary>
    DisableForwardMetadata = 18,

    /// <summary>Payload section. u8, see <see cref="MetadataControl"/>.</summary>
    Control = 24,

    /// <summary>Header section. 10 octets of path measurement, opaque to this layer.</summary>
    PathMetrics = 26,

    /// <summary>Payload section. u32 seconds.</summary>
    RemainingSessionTime = 42,

    /// <summary>Payload section. u8.</summary>
    SessionHealthCheck = 46,
}

/// <summary>The values of the <see cref="MetadataTlvType.Control"/> TLV (specification constants).</summary>
public enum MetadataControl : byte
{
    /// <summary>Not a control code on the wire; the default of the type.</summary>
    None = 0,
    Keepalive = 1,
    EnableMetadata = 2,
    DisableMetadata = 3,
    DeleteSession = 6,
    HealthCheck = 8,
}

/// <summary>The two sections of a metadata block.</summary>
public enum MetadataSection
{
    /// <summary>Not a known type: allowed in either section, skipped by parsers.</summary>
    Unknown = 0,

    /// <summary>Between the 12-octet base and the header length; never encrypted.</summary>
    Header,

    /// <summary>After the header section, counted by the payload length; may be encrypted.</summary>
    Payload,
}

/// <summary>Facts about <see cref="MetadataTlvType"/> values. Pure and thread-safe.</summary>
public static class MetadataTlvTypes
{
    /// <summary>The section a known type lives in, or <see cref="MetadataSection.Unknown"/> for a type this build does not know.</summary>
    public static MetadataSection SectionOf(MetadataTlvType type) => type switch
    {
        MetadataTlvType.FragmentInfo or MetadataTlvType.PayloadEncrypted or MetadataTlvType.SecurityPolicy
            or MetadataTlvType.SecurityId or MetadataTlvType.PathMetrics => MetadataSection.Header,
        MetadataTlvType.ForwardContextV4 or MetadataTlvType.ForwardContextV6 or MetadataTlvType.ReverseContextV4
            or MetadataTlvType.ReverseContextV6 or MetadataTlvType.SessionId or MetadataTlvType.Tenant
            or MetadataTlvType.GlobalInterfaceId or MetadataTlvType.Service or MetadataTlvType.TcpSynCarriedAsUdp
            or MetadataTlvType.SessionsInService or MetadataTlvType.SourceRouter or MetadataTlvType.DestinationRouter
            or MetadataTlvType.DisableForwardMetadata or MetadataTlvType.Control or MetadataTlvType.RemainingSessionTime
            or MetadataTlvType.SessionHealthCheck => MetadataSection.Payload,
        _ => MetadataSection.Unknown,
    };

    /// <summary>
    /// The value length a known fixed-size type requires; -1 for a string (any length from 1) and for an unknown type.
    /// </summary>
    public static int ValueLengthOf(MetadataTlvType type) => type switch
    {
        MetadataTlvType.FragmentInfo or MetadataTlvType.PathMetrics => 10,
        MetadataTlvType.ForwardContextV4 or MetadataTlvType.ReverseContextV4 => MetadataContext.Ipv4Length,
        MetadataTlvType.ForwardContextV6 or MetadataTlvType.ReverseContextV6 => MetadataContext.Ipv6Length,
        MetadataTlvType.SessionId => 16,
        MetadataTlvType.GlobalInterfaceId or MetadataTlvType.SecurityId or MetadataTlvType.RemainingSessionTime => 4,
        MetadataTlvType.SessionsInService => 8,
        MetadataTlvType.PayloadEncrypted or MetadataTlvType.TcpSynCarriedAsUdp or MetadataTlvType.DisableForwardMetadata => 0,
        MetadataTlvType.Control or MetadataTlvType.SessionHealthCheck => 1,
        _ => -1,
    };
}
