using Fabric.Dataplane.Wire;

namespace Fabric.Fuzz.PacketPath;

/// <summary>
/// Input classes the harness holds back because the bug they hit is known and being fixed elsewhere: fuzzing them
/// would only find it again and again and hide what else an input reaches. Each names its issue; each goes when
/// the fix lands.
/// </summary>
public static class KnownIssues
{
    /// <summary>
    /// Issue 13, "Session keys without address family": a session key holds an IPv4 address in the low 32 bits of a
    /// 128-bit field with no family, so an IPv6 packet between IPv4-compatible addresses (<c>::a.b.c.d</c>, upper 96
    /// bits zero) finds an IPv4 session, and so does an ICMPv6 error quoting such a packet. True for such a frame.
    /// </summary>
    public static bool AddressFamilyCollision(ReadOnlySpan<byte> frame)
    {
        var copy = frame.ToArray();
        if (!EthernetFrame.TryCreate(copy, out var ethernet) || ethernet.EtherType != EtherType.Ipv6
            || !Ipv6Packet.TryCreate(ethernet.Payload, out var ip))
        {
            return false;
        }

        if (Ipv4Compatible(ip.Bytes))
        {
            return true;
        }

        // As the parse stage reads an ICMPv6 error: the flow is the quoted packet's.
        return ip.HasUpperLayerHeader
            && ip.UpperLayerProtocol == IpProtocol.Icmpv6
            && Icmpv6Packet.TryCreate(ip.UpperLayer, out var icmp)
            && icmp.IsError
            && Ipv6Packet.TryCreateQuoted(icmp.Body, out var quoted, out _)
            && Ipv4Compatible(quoted.Bytes);
    }

    private static bool Ipv4Compatible(ReadOnlySpan<byte> header) =>
        !header.Slice(Ipv6Packet.SourceOffset, 12).ContainsAnyExcept((byte)0)
        && !header.Slice(Ipv6Packet.DestinationOffset, 12).ContainsAnyExcept((byte)0);
}
