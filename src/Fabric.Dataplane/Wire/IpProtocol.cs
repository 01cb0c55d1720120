namespace Fabric.Dataplane.Wire;

/// <summary>
/// IP protocol numbers (IANA "Assigned Internet Protocol Numbers"), used both as the IPv4 protocol field
/// and as IPv6 next-header values (specification constants).
/// </summary>
public static class IpProtocol
{
    /// <summary>IPv6 hop-by-hop options header (RFC 8200); only valid directly after the IPv6 header.</summary>
    public const byte HopByHopOptions = 0;

    public const byte Icmp = 1;
    public const byte Tcp = 6;
    public const byte Udp = 17;

    /// <summary>IPv6 routing header (RFC 8200).</summary>
    public const byte Ipv6Routing = 43;

    /// <summary>IPv6 fragment header (RFC 8200).</summary>
    public const byte Ipv6Fragment = 44;

    /// <summary>Encapsulating security payload (RFC 4303); its content is opaque to routers.</summary>
    public const byte EncapsulatingSecurityPayload = 50;

    /// <summary>Authentication header (RFC 4302); its length counts 4-octet units minus 2.</summary>
    public const byte AuthenticationHeader = 51;

    public const byte Icmpv6 = 58;

    /// <summary>IPv6 "no next header" (RFC 8200): nothing follows.</summary>
    public const byte Ipv6NoNextHeader = 59;

    /// <summary>IPv6 destination options header (RFC 8200).</summary>
    public const byte Ipv6DestinationOptions = 60;
}
