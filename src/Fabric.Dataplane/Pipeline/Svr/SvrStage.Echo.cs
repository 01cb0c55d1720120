using System.Buffers.Binary;
using Fabric.Dataplane.Sessions;
using Fabric.Dataplane.Wire;

namespace Fabric.Dataplane.Pipeline;

// Pings between routers: an echo crosses between the waypoints as UDP with the whole ICMP or ICMPv6 message inside
// (docs/svr-wire.md), always with metadata. The side that receives the echo from its endpoint wraps it (the ingress the
// client's request, the egress the instance's reply); the other side unwraps it and delivers it in the session's own
// family. An IPv4 ping between IPv4 waypoints keeps its IPv4 header (SvrStage.Rewrite.cs: IcmpToUdp, UdpToIcmp); every
// other ping — an ICMPv6 echo over either family of waypoints, an IPv4 echo over IPv6 waypoints — gets a new IP header of
// the next hop's family here, as a TCP or UDP packet does when its family changes (SvrStage.Family.cs).
//
// Between the waypoints the message is as its endpoint sent it. An ICMPv6 checksum covers the IPv6 pseudo-header, so
// the side that unwraps one adjusts it (RFC 1624) from the addresses it was sent between to those it now goes between:
// the egress from the service address the client pinged to the instance's, the ingress from the instance's address
// back to the service address. Both take the addresses it was sent between from the metadata every ping packet carries
// (the forward context from the ingress, the reverse context from the egress). Nothing is recomputed: a damaged
// message stays damaged, and the instance or the client drops it as it would any other.
public static partial class SvrStage
{
    /// <summary>Whether a session of this original protocol is a ping (an ICMP or ICMPv6 echo session).</summary>
    public static bool IsEcho(byte originalProtocol) => originalProtocol is IpProtocol.Icmp or IpProtocol.Icmpv6;

    /// <summary>Whether a packet of <paramref name="current"/> protocol going out as <paramref name="target"/> is a ping wrapped in UDP or unwrapped from it.</summary>
    private static bool IsEchoCrossing(byte current, byte target) =>
        (IsEcho(current) && target == IpProtocol.Udp) || (current == IpProtocol.Udp && IsEcho(target));

    /// <summary>
    /// Wraps the ICMP or ICMPv6 message in hand in a UDP header, or unwraps the one a UDP datagram carries, under a new
    /// IP header of <paramref name="target"/>'s family, addressed and ported to <paramref name="target"/> (whose protocol
    /// says which: UDP wraps). Kept: traffic class / type of service, hop limit / TTL. Dropped: IPv4 options, IPv6
    /// extension headers and the flow label. An IPv4 header leaving is marked don't-fragment (routers on the way do not
    /// fragment a ping that crossed an IPv6 path). A wrapped message gets a UDP checksum; an unwrapped ICMPv6 message has its
    /// checksum adjusted from the tuple the metadata's context names (<paramref name="forward"/>: the forward context) to
    /// <paramref name="target"/>. The Ethernet type, <see cref="PacketContext.IsIpv6"/>, the transport offset and the IP
    /// length follow. Returns <see cref="DropReason.None"/>, or why the packet cannot cross: it does not read as a whole
    /// packet of its kind (<see cref="DropReason.Malformed"/>), it is a fragment (<see cref="DropReason.Fragment"/>), the
    /// buffer cannot take it (<see cref="DropReason.TooBig"/>), or an ICMPv6 message comes without an IPv6 context of its
    /// session (<see cref="DropReason.MetadataMismatch"/>). Allocates nothing.
    /// </summary>
    private static DropReason CrossEcho(ref PacketContext context, Span<byte> ip, in SessionKey target, bool forward)
    {
        var wrap = target.Protocol == IpProtocol.Udp;
        var transportAt = context.TransportOffset - context.NetworkOffset;
        if (transportAt <= 0 || context.IpLength <= transportAt || context.IpLength > ip.Length)
        {
            return DropReason.Malformed;
        }

        byte trafficClass;
        byte hopLimit;
        if (context.IsIpv6)
        {
            if (!Ipv6Packet.TryCreate(ip[..context.IpLength], out var v6) || v6.UpperLayerOffset != transportAt || v6.IsFragment)
            {
                return DropReason.Malformed;
            }

            trafficClass = v6.TrafficClass;
            hopLimit = v6.HopLimit;
        }
        else
        {
            if (!Ipv4Packet.TryCreate(ip[..context.IpLength], out var v4) || v4.HeaderLength != transportAt)
            {
                return DropReason.Malformed;
            }

            if (v4.IsFragment)
            {
                return DropReason.Fragment;
            }

            trafficClass = ip[Ipv4Packet.TypeOfServiceOffset];
            hopLimit = v4.Ttl;
        }

        var upper = ip[transportAt..context.IpLength];
        var messageAt = transportAt;
        if (!wrap)
        {
            if (!UdpDatagram.TryCreate(upper, out _))
            {
                return DropReason.Malformed;
            }

            messageAt += UdpDatagram.HeaderLength;
        }

        var messageLength = context.IpLength - messageAt;
        if (!IsWholeMessage(ip.Slice(messageAt, messageLength), wrap ? context.Key.Protocol : target.Protocol))
        {
            return DropReason.Malformed;
        }

        SessionKey sentOn = default;
        if (!wrap && target.Protocol == IpProtocol.Icmpv6)
        {
            ref readonly var metadata = ref context.Metadata;
            sentOn = forward ? metadata.ForwardContext : metadata.ReverseContext;
            if (!(forward ? metadata.HasForwardContext : metadata.HasReverseContext) || !sentOn.IsIpv6 || sentOn.Protocol != IpProtocol.Icmpv6)
            {
                return DropReason.MetadataMismatch;
            }
        }

        var headerLength = target.IsIpv6 ? Ipv6Packet.HeaderLength : Ipv4Packet.MinHeaderLength;
        var upperLength = (wrap ? UdpDatagram.HeaderLength : 0) + messageLength;
        if (headerLength + upperLength > ip.Length || headerLength + upperLength > ushort.MaxValue)
        {
            return DropReason.TooBig;
        }

        var newMessageAt = headerLength + (wrap ? UdpDatagram.HeaderLength : 0);
        ip.Slice(messageAt, messageLength).CopyTo(ip[newMessageAt..]);
        WriteIpHeader(ip, target, trafficClass, hopLimit, upperLength);
        if (wrap)
        {
            var udp = ip.Slice(headerLength, upperLength);
            BinaryPrimitives.WriteUInt16BigEndian(udp[UdpDatagram.SourcePortOffset..], target.SourcePort);
            BinaryPrimitives.WriteUInt16BigEndian(udp[UdpDatagram.DestinationPortOffset..], target.DestinationPort);
            BinaryPrimitives.WriteUInt16BigEndian(udp[UdpDatagram.LengthOffset..], (ushort)upperLength);
            UdpDatagram.FromValidated(udp).UpdateChecksum(target.IsIpv6
                ? Checksum.PseudoHeaderIpv6(target.Source, target.Destination, IpProtocol.Udp, upperLength)
                : Checksum.PseudoHeaderIpv4((uint)target.Source, (uint)target.Destination, IpProtocol.Udp, upperLength));
        }
        else if (target.Protocol == IpProtocol.Icmpv6)
        {
            // The pseudo-header's length and next header are the same on both sides: only the addresses move.
            var message = Icmpv6Packet.FromValidated(ip.Slice(headerLength, upperLength));
            message.Checksum = Checksum.Apply(message.Checksum, Checksum.Delta128(sentOn.Source, target.Source) + Checksum.Delta128(sentOn.Destination, target.Destination));
        }

        BinaryPrimitives.WriteUInt16BigEndian(context.Room[(context.NetworkOffset - 2)..], target.IsIpv6 ? EtherType.Ipv6 : EtherType.Ipv4);
        context.IsIpv6 = target.IsIpv6;
        context.TransportOffset = context.NetworkOffset + headerLength;
        context.IpLength = headerLength + upperLength;
        return DropReason.None;
    }

    /// <summary>Whether <paramref name="message"/> reads as a whole ICMP (<paramref name="protocol"/> 1) or ICMPv6 (58) message.</summary>
    private static bool IsWholeMessage(Span<byte> message, byte protocol) => protocol switch
    {
        IpProtocol.Icmp => Icmpv4Packet.TryCreate(message, out _),
        IpProtocol.Icmpv6 => Icmpv6Packet.TryCreate(message, out _),
        _ => false,
    };
}
