using System.Buffers.Binary;
using Fabric.Dataplane.Sessions;
using Fabric.Dataplane.Wire;

namespace Fabric.Dataplane.Pipeline;

// A session's endpoints and its waypoints need not be of one family: an IPv6 client reaching an IPv6 service over an
// IPv4 WAN crosses as IPv4 between the waypoints (and an IPv4 session over an IPv6 WAN as IPv6). The metadata carries
// the original tuple of either family, so nothing is tunnelled: the IP header is replaced, the TCP or UDP header and
// payload move as they are, and the far router restores the original family from the session.
public static partial class SvrStage
{
    /// <summary>
    /// Replaces the IP header of the TCP or UDP packet in hand by one of <paramref name="target"/>'s family, addressed
    /// and ported to <paramref name="target"/> (the L4 checksum adjusted for the new pseudo-header, not recomputed, so a
    /// damaged packet stays damaged; a UDP/IPv4 datagram without a checksum gets one, IPv6 requires it). Kept: traffic
    /// class / type of service, hop limit / TTL. Dropped: IPv4 options, IPv6 extension headers and the flow label. An
    /// IPv4 header leaving is marked don't-fragment (the sender is IPv6: it takes a packet-too-big, never fragments). The
    /// Ethernet type, <see cref="PacketContext.IsIpv6"/>, the transport offset, the IP length and, for a super-packet
    /// going through whole, the header length its segments repeat follow (one header for the whole super-packet: the
    /// device cutting it repeats it, an IPv4 one with don't-fragment and an identification it counts up). Returns
    /// <see cref="DropReason.None"/>, or why the packet cannot cross: it does not read as a whole TCP or UDP packet
    /// (<see cref="DropReason.Malformed"/>), it is an IPv4 fragment (<see cref="DropReason.Fragment"/>), or the buffer
    /// cannot take the longer header (<see cref="DropReason.TooBig"/>).
    /// </summary>
    private static DropReason ChangeFamily(ref PacketContext context, Span<byte> ip, in SessionKey target)
    {
        var protocol = target.Protocol;
        var transportAt = context.TransportOffset - context.NetworkOffset;
        var upperLength = context.IpLength - transportAt;
        if (protocol is not (IpProtocol.Tcp or IpProtocol.Udp) || context.Key.Protocol != protocol || transportAt <= 0 || upperLength <= 0
            || context.IpLength > ip.Length)
        {
            return DropReason.Malformed;
        }

        UInt128 oldSource;
        UInt128 oldDestination;
        int headerLength;
        if (target.IsIpv6)
        {
            if (!Ipv4Packet.TryCreate(ip[..context.IpLength], out var v4) || v4.HeaderLength != transportAt)
            {
                return DropReason.Malformed;
            }

            if (v4.IsFragment)
            {
                return DropReason.Fragment;
            }

            headerLength = Ipv6Packet.HeaderLength;
            if (headerLength + upperLength > ip.Length)
            {
                return DropReason.TooBig;
            }

            oldSource = v4.Source;
            oldDestination = v4.Destination;
            var trafficClass = ip[Ipv4Packet.TypeOfServiceOffset];
            var hopLimit = v4.Ttl;
            ip.Slice(transportAt, upperLength).CopyTo(ip[headerLength..]);
            WriteIpHeader(ip, target, trafficClass, hopLimit, upperLength);
        }
        else
        {
            if (!Ipv6Packet.TryCreate(ip[..context.IpLength], out var v6) || v6.UpperLayerOffset != transportAt || v6.IsFragment)
            {
                return DropReason.Malformed;
            }

            headerLength = Ipv4Packet.MinHeaderLength;
            if (headerLength + upperLength > ushort.MaxValue)
            {
                return DropReason.TooBig;
            }

            oldSource = v6.Source;
            oldDestination = v6.Destination;
            var typeOfService = v6.TrafficClass;
            var ttl = v6.HopLimit;
            ip.Slice(transportAt, upperLength).CopyTo(ip[headerLength..]);
            WriteIpHeader(ip, target, typeOfService, ttl, upperLength);
        }

        var upper = ip.Slice(headerLength, upperLength);
        if (protocol == IpProtocol.Tcp)
        {
            if (!TcpSegment.TryCreate(upper, out var tcp))
            {
                return DropReason.Malformed;
            }

            tcp.AdjustChecksumForAddress(oldSource, target.Source);
            tcp.AdjustChecksumForAddress(oldDestination, target.Destination);
            tcp.RewriteSourcePort(target.SourcePort);
            tcp.RewriteDestinationPort(target.DestinationPort);
        }
        else
        {
            if (!UdpDatagram.TryCreate(upper, out var udp))
            {
                return DropReason.Malformed;
            }

            // A super-packet's checksum is rewritten as it leaves (SuperPacket.PrepareToLeaveWhole): nothing to sum here.
            var computeAnew = !udp.HasChecksum && target.IsIpv6 && !context.IsSuperPacket;
            udp.AdjustChecksumForAddress(oldSource, target.Source);
            udp.AdjustChecksumForAddress(oldDestination, target.Destination);
            udp.RewriteSourcePort(target.SourcePort);
            udp.RewriteDestinationPort(target.DestinationPort);
            if (computeAnew)
            {
                udp.UpdateChecksum(Checksum.PseudoHeaderIpv6(target.Source, target.Destination, protocol, upperLength));
            }
        }

        BinaryPrimitives.WriteUInt16BigEndian(context.Room[(context.NetworkOffset - 2)..], target.IsIpv6 ? EtherType.Ipv6 : EtherType.Ipv4);
        context.IsIpv6 = target.IsIpv6;
        context.TransportOffset = context.NetworkOffset + headerLength;
        context.IpLength = headerLength + upperLength;
        if (context.IsSuperPacket)
        {
            context.SegmentHeaderLength += headerLength - transportAt;
        }

        return DropReason.None;
    }

    /// <summary>
    /// How many octets shorter the IP header of a packet of the session gets on its way to the next hop when it changes
    /// family (<see cref="ChangeFamily"/>): an IPv6 header (with its extension headers) replaced by an IPv4 one, or,
    /// negative, an IPv4 header (with its options) replaced by an IPv6 one; 0 when the family stays.
    /// </summary>
    public static int HeaderShrink(ref PacketContext context, in SessionKey nextHop) =>
        context.IsIpv6 == nextHop.IsIpv6 ? 0
        : context.TransportOffset - context.NetworkOffset - (nextHop.IsIpv6 ? Ipv6Packet.HeaderLength : Ipv4Packet.MinHeaderLength);

    /// <summary>
    /// Writes a bare IP header of <paramref name="target"/>'s family at the start of <paramref name="ip"/>: its protocol,
    /// addresses, the given traffic class (type of service) and hop limit (TTL), and <paramref name="upperLength"/> octets
    /// after it (which need not all be in <paramref name="ip"/>: the header of a packet an ICMP error quotes states the
    /// length the packet had); an IPv4 one with don't-fragment, identification 0 and its header checksum.
    /// </summary>
    private static void WriteIpHeader(Span<byte> ip, in SessionKey target, byte trafficClass, byte hopLimit, int upperLength)
    {
        if (target.IsIpv6)
        {
            BinaryPrimitives.WriteUInt32BigEndian(ip, (uint)((Ipv6Packet.Version6 << 28) | (trafficClass << 20)));
            BinaryPrimitives.WriteUInt16BigEndian(ip[Ipv6Packet.PayloadLengthOffset..], (ushort)upperLength);
            ip[Ipv6Packet.NextHeaderOffset] = target.Protocol;
            ip[Ipv6Packet.HopLimitOffset] = hopLimit;
            BinaryPrimitives.WriteUInt128BigEndian(ip[Ipv6Packet.SourceOffset..], target.Source);
            BinaryPrimitives.WriteUInt128BigEndian(ip[Ipv6Packet.DestinationOffset..], target.Destination);
            return;
        }

        ip[Ipv4Packet.VersionAndHeaderLengthOffset] = (Ipv4Packet.Version4 << 4) | (Ipv4Packet.MinHeaderLength / 4);
        ip[Ipv4Packet.TypeOfServiceOffset] = trafficClass;
        BinaryPrimitives.WriteUInt16BigEndian(ip[Ipv4Packet.TotalLengthOffset..], (ushort)(Ipv4Packet.MinHeaderLength + upperLength));
        BinaryPrimitives.WriteUInt16BigEndian(ip[Ipv4Packet.IdentificationOffset..], 0);
        BinaryPrimitives.WriteUInt16BigEndian(ip[Ipv4Packet.FlagsAndFragmentOffsetOffset..], Ipv4Packet.DontFragmentFlag);
        ip[Ipv4Packet.TtlOffset] = hopLimit;
        ip[Ipv4Packet.ProtocolOffset] = target.Protocol;
        BinaryPrimitives.WriteUInt32BigEndian(ip[Ipv4Packet.SourceOffset..], (uint)target.Source);
        BinaryPrimitives.WriteUInt32BigEndian(ip[Ipv4Packet.DestinationOffset..], (uint)target.Destination);
        Ipv4Packet.FromValidatedQuoted(ip).UpdateHeaderChecksum();
    }
}
