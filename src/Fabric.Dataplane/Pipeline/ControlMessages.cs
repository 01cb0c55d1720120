using System.Buffers.Binary;
using Fabric.Dataplane.Sessions;
using Fabric.Dataplane.Wire;

namespace Fabric.Dataplane.Pipeline;

/// <summary>
/// Builds the packets the router sends of its own into a caller's buffer, without allocating:
/// ARP requests, neighbour solicitations and advertisements, ICMP errors quoting a packet, and TCP
/// resets. Each returns the frame's length.
/// </summary>
public static class ControlMessages
{
    private const int EthernetLength = EthernetFrame.UntaggedHeaderLength;
    private const byte DefaultTtl = 64;

    /// <summary>The most of an offending packet an ICMPv4 error quotes (RFC 1812 allows up to 576 bytes in all).</summary>
    private const int Icmpv4QuoteLimit = 576 - 20 - 8;

    /// <summary>An ICMPv6 error may fill the IPv6 minimum MTU (RFC 4443 §2.4).</summary>
    private const int Icmpv6QuoteLimit = 1280 - 40 - 8;

    public static int ArpRequest(Span<byte> frame, MacAddress ourMac, uint ourAddress, uint asked)
    {
        WriteEthernet(frame, MacAddress.Broadcast, ourMac, EtherType.Arp);
        var arp = frame[EthernetLength..];
        BinaryPrimitives.WriteUInt16BigEndian(arp, 1);
        BinaryPrimitives.WriteUInt16BigEndian(arp[2..], EtherType.Ipv4);
        arp[4] = 6;
        arp[5] = 4;
        BinaryPrimitives.WriteUInt16BigEndian(arp[6..], ArpOperation.Request);
        ourMac.Write(arp[8..]);
        BinaryPrimitives.WriteUInt32BigEndian(arp[14..], ourAddress);
        MacAddress.Zero.Write(arp[18..]);
        BinaryPrimitives.WriteUInt32BigEndian(arp[24..], asked);
        return EthernetLength + ArpPacket.Length;
    }

    public static int NeighborSolicitation(Span<byte> frame, MacAddress ourMac, UInt128 ourAddress, UInt128 asked)
    {
        var solicitedNode = new UInt128(0xff02_0000_0000_0000, 0x0000_0001_ff00_0000 | (ulong)(asked & 0xff_ffff));
        var mac = new MacAddress(0x3333_0000_0000 | (ulong)(solicitedNode & 0xffff_ffff));
        return Neighbor(frame, Icmpv6Type.NeighborSolicitation, ourMac, mac, ourAddress, solicitedNode, asked, NeighborDiscoveryOption.SourceLinkLayerAddress, 0);
    }

    public static int NeighborAdvertisement(Span<byte> frame, MacAddress ourMac, MacAddress destinationMac, UInt128 ourAddress, UInt128 destination, bool solicited)
    {
        // Router and override flags always; solicited when answering a unicast solicitation.
        var flags = (byte)(0x80 | 0x20 | (solicited ? 0x40 : 0));
        return Neighbor(frame, Icmpv6Type.NeighborAdvertisement, ourMac, destinationMac, ourAddress, destination, ourAddress, NeighborDiscoveryOption.TargetLinkLayerAddress, flags);
    }

    private static int Neighbor(
        Span<byte> frame, byte type, MacAddress ourMac, MacAddress destinationMac, UInt128 source, UInt128 destination, UInt128 target, byte option, byte flags)
    {
        const int icmpLength = 32;
        WriteEthernet(frame, destinationMac, ourMac, EtherType.Ipv6);
        var ip = frame[EthernetLength..];
        WriteIpv6(ip, icmpLength, IpProtocol.Icmpv6, 255, source, destination);
        var icmp = ip[Ipv6Packet.HeaderLength..];
        icmp[..icmpLength].Clear();
        icmp[0] = type;
        icmp[4] = flags;
        BinaryPrimitives.WriteUInt128BigEndian(icmp[8..], target);
        icmp[24] = option;
        icmp[25] = 1;
        ourMac.Write(icmp[26..]);
        Finish6(icmp[..icmpLength], source, destination, IpProtocol.Icmpv6, 2);
        return EthernetLength + Ipv6Packet.HeaderLength + icmpLength;
    }

    /// <summary>
    /// An ICMPv4 error (time exceeded, unreachable, fragmentation needed) from <paramref name="routerAddress"/>
    /// back to the sender of <paramref name="offending"/> (an IPv4 packet), quoting as much of it as allowed.
    /// </summary>
    public static int Icmpv4Error(
        Span<byte> frame, MacAddress ourMac, MacAddress senderMac, uint routerAddress, ReadOnlySpan<byte> offending, byte type, byte code, ushort nextHopMtu = 0)
    {
        var sender = BinaryPrimitives.ReadUInt32BigEndian(offending[12..]);
        var quote = Math.Min(offending.Length, Icmpv4QuoteLimit);
        var icmpLength = Icmpv4Packet.HeaderLength + quote;
        WriteEthernet(frame, senderMac, ourMac, EtherType.Ipv4);
        var ip = frame[EthernetLength..];
        WriteIpv4(ip, icmpLength, IpProtocol.Icmp, routerAddress, sender);
        var icmp = ip[Ipv4Packet.MinHeaderLength..];
        icmp[0] = type;
        icmp[1] = code;
        BinaryPrimitives.WriteUInt32BigEndian(icmp[4..], nextHopMtu);
        offending[..quote].CopyTo(icmp[Icmpv4Packet.HeaderLength..]);
        BinaryPrimitives.WriteUInt16BigEndian(icmp[2..], 0);
        BinaryPrimitives.WriteUInt16BigEndian(icmp[2..], Checksum.Compute(icmp[..icmpLength]));
        return EthernetLength + Ipv4Packet.MinHeaderLength + icmpLength;
    }

    /// <summary>An ICMPv6 error (time exceeded, unreachable, packet too big) back to the sender of <paramref name="offending"/>.</summary>
    public static int Icmpv6Error(
        Span<byte> frame, MacAddress ourMac, MacAddress senderMac, UInt128 routerAddress, ReadOnlySpan<byte> offending, byte type, byte code, uint mtu = 0)
    {
        var sender = BinaryPrimitives.ReadUInt128BigEndian(offending[8..]);
        var quote = Math.Min(offending.Length, Icmpv6QuoteLimit);
        var icmpLength = Icmpv6Packet.HeaderLength + quote;
        WriteEthernet(frame, senderMac, ourMac, EtherType.Ipv6);
        var ip = frame[EthernetLength..];
        WriteIpv6(ip, icmpLength, IpProtocol.Icmpv6, DefaultTtl, routerAddress, sender);
        var icmp = ip[Ipv6Packet.HeaderLength..];
        icmp[0] = type;
        icmp[1] = code;
        BinaryPrimitives.WriteUInt32BigEndian(icmp[4..], mtu);
        offending[..quote].CopyTo(icmp[Icmpv6Packet.HeaderLength..]);
        Finish6(icmp[..icmpLength], routerAddress, sender, IpProtocol.Icmpv6, 2);
        return EthernetLength + Ipv6Packet.HeaderLength + icmpLength;
    }

    /// <summary>
    /// A TCP reset answering <paramref name="offending"/> (a TCP segment in an IPv4 or IPv6 packet), as
    /// RFC 9293 §3.10.7.1 says: ACK-less reset with the segment's acknowledgment as sequence, or
    /// a reset acknowledging the segment when it carried no ACK.
    /// </summary>
    public static int TcpReset(Span<byte> frame, MacAddress ourMac, MacAddress senderMac, bool isIpv6, ReadOnlySpan<byte> offendingIp, int transportOffset, int segmentLength)
    {
        var segment = offendingIp[transportOffset..(transportOffset + segmentLength)];
        var flags = (TcpFlags)segment[13];
        var dataLength = segmentLength - ((segment[12] >> 4) * 4);
        var sequence = BinaryPrimitives.ReadUInt32BigEndian(segment[4..]);
        var acknowledgment = BinaryPrimitives.ReadUInt32BigEndian(segment[8..]);
        var sender = isIpv6 ? BinaryPrimitives.ReadUInt128BigEndian(offendingIp[8..]) : BinaryPrimitives.ReadUInt32BigEndian(offendingIp[12..]);
        var receiver = isIpv6 ? BinaryPrimitives.ReadUInt128BigEndian(offendingIp[24..]) : BinaryPrimitives.ReadUInt32BigEndian(offendingIp[16..]);
        var reply = new SessionKey(
            receiver, sender, BinaryPrimitives.ReadUInt16BigEndian(segment[2..]), BinaryPrimitives.ReadUInt16BigEndian(segment), IpProtocol.Tcp, isIpv6);
        if ((flags & TcpFlags.Ack) != 0)
        {
            return TcpReset(frame, ourMac, senderMac, reply, acknowledgment, acknowledgment: 0, acknowledges: false);
        }

        var consumed = dataLength + ((flags & TcpFlags.Syn) != 0 ? 1 : 0) + ((flags & TcpFlags.Fin) != 0 ? 1 : 0);
        return TcpReset(frame, ourMac, senderMac, reply, sequence: 0, sequence + (uint)consumed, acknowledges: true);
    }

    /// <summary>
    /// A TCP reset of the router's own from <paramref name="flow"/>'s source to its destination (addresses, ports and
    /// family taken from it) carrying <paramref name="sequence"/>, and the ACK flag with <paramref name="acknowledgment"/>
    /// when <paramref name="acknowledges"/>.
    /// </summary>
    public static int TcpReset(
        Span<byte> frame, MacAddress ourMac, MacAddress destinationMac, in SessionKey flow, uint sequence, uint acknowledgment, bool acknowledges) =>
        TcpSegmentOfOurOwn(
            frame, ourMac, destinationMac, flow, sequence, acknowledges ? acknowledgment : 0, acknowledges ? TcpFlags.Rst | TcpFlags.Ack : TcpFlags.Rst, window: 0);

    /// <summary>
    /// A UDP datagram of the router's own between two waypoint addresses (a path monitoring probe or echo): source and
    /// destination port are both <paramref name="port"/>, the payload copied in, checksums complete.
    /// </summary>
    public static int PathProbe(
        Span<byte> frame, MacAddress ourMac, MacAddress peerMac, bool isIpv6, UInt128 source, UInt128 destination, ushort port, ReadOnlySpan<byte> payload) =>
        UdpDatagramOfOurOwn(frame, ourMac, peerMac, isIpv6, source, destination, port, port, payload);

    /// <summary>
    /// A UDP datagram of the router's own over IPv4 or IPv6 (a path probe, or an SVR handshake acknowledgement before its
    /// metadata is inserted; addresses as <see cref="Sessions.SessionKey"/> holds them): the payload copied in, checksums complete.
    /// </summary>
    public static int UdpDatagramOfOurOwn(
        Span<byte> frame, MacAddress ourMac, MacAddress peerMac, bool isIpv6, UInt128 source, UInt128 destination, ushort sourcePort, ushort destinationPort,
        ReadOnlySpan<byte> payload)
    {
        var udpLength = UdpDatagram.HeaderLength + payload.Length;
        WriteEthernet(frame, peerMac, ourMac, isIpv6 ? EtherType.Ipv6 : EtherType.Ipv4);
        var ip = frame[EthernetLength..];
        var headerLength = isIpv6 ? Ipv6Packet.HeaderLength : Ipv4Packet.MinHeaderLength;
        if (isIpv6)
        {
            WriteIpv6(ip, udpLength, IpProtocol.Udp, DefaultTtl, source, destination);
        }
        else
        {
            WriteIpv4(ip, udpLength, IpProtocol.Udp, (uint)source, (uint)destination);
        }

        var udp = ip.Slice(headerLength, udpLength);
        BinaryPrimitives.WriteUInt16BigEndian(udp, sourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(udp[2..], destinationPort);
        BinaryPrimitives.WriteUInt16BigEndian(udp[4..], (ushort)udpLength);
        BinaryPrimitives.WriteUInt16BigEndian(udp[6..], 0);
        payload.CopyTo(udp[UdpDatagram.HeaderLength..]);
        var pseudoHeader = isIpv6
            ? Checksum.PseudoHeaderIpv6(source, destination, IpProtocol.Udp, udpLength)
            : Checksum.PseudoHeaderIpv4((uint)source, (uint)destination, IpProtocol.Udp, udpLength);
        BinaryPrimitives.WriteUInt16BigEndian(udp[UdpDatagram.ChecksumOffset..], UdpDatagram.ComputeChecksum(pseudoHeader, udp));
        return EthernetLength + headerLength + udpLength;
    }

    /// <summary>
    /// A TCP segment of the router's own without options or payload (an instance health check's SYN, or the reset that
    /// ends its half-open connection): the given sequence, acknowledgment and flags, a 64 KiB window, checksums complete.
    /// </summary>
    public static int TcpSegmentOfOurOwn(
        Span<byte> frame, MacAddress ourMac, MacAddress peerMac, uint source, uint destination, ushort sourcePort, ushort destinationPort,
        uint sequence, uint acknowledgment, TcpFlags flags)
    {
        WriteEthernet(frame, peerMac, ourMac, EtherType.Ipv4);
        var ip = frame[EthernetLength..];
        WriteIpv4(ip, TcpSegment.MinHeaderLength, IpProtocol.Tcp, source, destination);
        var tcp = ip.Slice(Ipv4Packet.MinHeaderLength, TcpSegment.MinHeaderLength);
        tcp.Clear();
        BinaryPrimitives.WriteUInt16BigEndian(tcp, sourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(tcp[2..], destinationPort);
        BinaryPrimitives.WriteUInt32BigEndian(tcp[4..], sequence);
        BinaryPrimitives.WriteUInt32BigEndian(tcp[8..], acknowledgment);
        tcp[12] = 5 << 4;
        tcp[13] = (byte)flags;
        BinaryPrimitives.WriteUInt16BigEndian(tcp[14..], ushort.MaxValue);
        var sum = Checksum.PseudoHeaderIpv4(source, destination, IpProtocol.Tcp, TcpSegment.MinHeaderLength);
        BinaryPrimitives.WriteUInt16BigEndian(tcp[16..], Checksum.Finish(Checksum.Add(sum, tcp)));
        return EthernetLength + Ipv4Packet.MinHeaderLength + TcpSegment.MinHeaderLength;
    }

    /// <summary>
    /// A TCP segment of the router's own without options or payload over IPv4 or IPv6, from <paramref name="flow"/>'s source
    /// to its destination (addresses, ports and family taken from it): the given sequence, acknowledgment, flags and window
    /// (a 64 KiB window unless told), checksums complete (an SVR redirect before its metadata is inserted, a reset).
    /// </summary>
    public static int TcpSegmentOfOurOwn(
        Span<byte> frame, MacAddress ourMac, MacAddress peerMac, in SessionKey flow, uint sequence, uint acknowledgment, TcpFlags flags,
        ushort window = ushort.MaxValue)
    {
        WriteEthernet(frame, peerMac, ourMac, flow.IsIpv6 ? EtherType.Ipv6 : EtherType.Ipv4);
        var ip = frame[EthernetLength..];
        int ipHeader;
        if (flow.IsIpv6)
        {
            WriteIpv6(ip, TcpSegment.MinHeaderLength, IpProtocol.Tcp, DefaultTtl, flow.Source, flow.Destination);
            ipHeader = Ipv6Packet.HeaderLength;
        }
        else
        {
            WriteIpv4(ip, TcpSegment.MinHeaderLength, IpProtocol.Tcp, (uint)flow.Source, (uint)flow.Destination);
            ipHeader = Ipv4Packet.MinHeaderLength;
        }

        var tcp = ip.Slice(ipHeader, TcpSegment.MinHeaderLength);
        tcp.Clear();
        BinaryPrimitives.WriteUInt16BigEndian(tcp, flow.SourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(tcp[2..], flow.DestinationPort);
        BinaryPrimitives.WriteUInt32BigEndian(tcp[4..], sequence);
        BinaryPrimitives.WriteUInt32BigEndian(tcp[8..], acknowledgment);
        tcp[12] = 5 << 4;
        tcp[13] = (byte)flags;
        BinaryPrimitives.WriteUInt16BigEndian(tcp[14..], window);
        if (flow.IsIpv6)
        {
            Finish6(tcp, flow.Source, flow.Destination, IpProtocol.Tcp, 16);
        }
        else
        {
            var sum = Checksum.PseudoHeaderIpv4((uint)flow.Source, (uint)flow.Destination, IpProtocol.Tcp, TcpSegment.MinHeaderLength);
            BinaryPrimitives.WriteUInt16BigEndian(tcp[16..], Checksum.Finish(Checksum.Add(sum, tcp)));
        }

        return EthernetLength + ipHeader + TcpSegment.MinHeaderLength;
    }

    /// <summary>
    /// A forward packet an SVR redirect returned, rebuilt as its client sent it (docs/mobility.md "The old egress redirects"): an
    /// Ethernet frame from and to <paramref name="ourMac"/> (as if received on that port; the source tells the gateway stage
    /// it is the router's own, so that no neighbour is learned from it), an IPv4 or IPv6 header from
    /// <paramref name="flow"/>'s source to its destination, then <paramref name="transport"/> (a TCP or UDP header with its
    /// options and payload, as the packet carried it between the routers) with <paramref name="flow"/>'s ports and its
    /// checksum computed again; for a ping (<paramref name="flow"/>'s protocol ICMP or ICMPv6), the echo request as the
    /// client sent it, its identifier <paramref name="flow"/>'s (which holds it as its ports) and its checksum computed
    /// again (an ICMPv6 one over the flow's pseudo-header). Returns the frame's length, or 0 when it does not fit
    /// <paramref name="frame"/> or the transport does not read as the flow's protocol (for a ping: not an echo request of
    /// the flow's ICMP version).
    /// </summary>
    public static int ReturnedForwardPacket(Span<byte> frame, MacAddress ourMac, in SessionKey flow, ReadOnlySpan<byte> transport)
    {
        var ipHeader = flow.IsIpv6 ? Ipv6Packet.HeaderLength : Ipv4Packet.MinHeaderLength;
        var least = flow.Protocol switch
        {
            IpProtocol.Tcp => TcpSegment.MinHeaderLength,
            IpProtocol.Udp => UdpDatagram.HeaderLength,
            _ => Icmpv4Packet.HeaderLength,
        };
        if (transport.Length < least || EthernetLength + ipHeader + transport.Length > frame.Length || transport.Length > ushort.MaxValue - ipHeader)
        {
            return 0;
        }

        var echo = flow.Protocol switch
        {
            IpProtocol.Icmp => Icmpv4Type.EchoRequest,
            IpProtocol.Icmpv6 => Icmpv6Type.EchoRequest,
            _ => (byte)0,
        };
        if (echo != 0 && transport[0] != echo)
        {
            return 0;
        }

        WriteEthernet(frame, ourMac, ourMac, flow.IsIpv6 ? EtherType.Ipv6 : EtherType.Ipv4);
        var ip = frame[EthernetLength..];
        if (flow.IsIpv6)
        {
            WriteIpv6(ip, transport.Length, flow.Protocol, DefaultTtl, flow.Source, flow.Destination);
        }
        else
        {
            WriteIpv4(ip, transport.Length, flow.Protocol, (uint)flow.Source, (uint)flow.Destination);
        }

        var upper = ip.Slice(ipHeader, transport.Length);
        transport.CopyTo(upper);
        if (echo != 0)
        {
            BinaryPrimitives.WriteUInt16BigEndian(upper[Icmpv4Packet.IdentifierOffset..], flow.SourcePort);
            if (flow.Protocol == IpProtocol.Icmp)
            {
                Icmpv4Packet.FromValidated(upper).UpdateChecksum();
            }
            else
            {
                Icmpv6Packet.FromValidated(upper).UpdateChecksum(PseudoHeaderSum(flow, transport.Length));
            }

            return EthernetLength + ipHeader + transport.Length;
        }

        BinaryPrimitives.WriteUInt16BigEndian(upper, flow.SourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(upper[2..], flow.DestinationPort);
        if (flow.Protocol == IpProtocol.Udp)
        {
            BinaryPrimitives.WriteUInt16BigEndian(upper[UdpDatagram.LengthOffset..], (ushort)transport.Length);
        }

        if (flow.Protocol == IpProtocol.Udp)
        {
            UdpDatagram.FromValidated(upper).UpdateChecksum(PseudoHeaderSum(flow, transport.Length));
        }
        else
        {
            TcpSegment.FromValidated(upper).UpdateChecksum(PseudoHeaderSum(flow, transport.Length));
        }

        return EthernetLength + ipHeader + transport.Length;
    }

    /// <summary>The sum of the pseudo-header of <paramref name="key"/>'s family, addresses and protocol over <paramref name="upperLength"/> octets.</summary>
    internal static ulong PseudoHeaderSum(in SessionKey key, int upperLength) => key.IsIpv6
        ? Checksum.PseudoHeaderIpv6(key.Source, key.Destination, key.Protocol, upperLength)
        : Checksum.PseudoHeaderIpv4((uint)key.Source, (uint)key.Destination, key.Protocol, upperLength);

    /// <summary>An ICMPv4 echo request of the router's own, without payload (an instance health check of a service without a TCP port).</summary>
    public static int EchoRequest(Span<byte> frame, MacAddress ourMac, MacAddress peerMac, uint source, uint destination, ushort identifier, ushort sequence)
    {
        const int icmpLength = 8;
        WriteEthernet(frame, peerMac, ourMac, EtherType.Ipv4);
        var ip = frame[EthernetLength..];
        WriteIpv4(ip, icmpLength, IpProtocol.Icmp, source, destination);
        var icmp = ip.Slice(Ipv4Packet.MinHeaderLength, icmpLength);
        icmp.Clear();
        icmp[0] = Icmpv4Type.EchoRequest;
        BinaryPrimitives.WriteUInt16BigEndian(icmp[4..], identifier);
        BinaryPrimitives.WriteUInt16BigEndian(icmp[6..], sequence);
        BinaryPrimitives.WriteUInt16BigEndian(icmp[2..], Checksum.Compute(icmp));
        return EthernetLength + Ipv4Packet.MinHeaderLength + icmpLength;
    }

    private static void WriteEthernet(Span<byte> frame, MacAddress destination, MacAddress source, ushort etherType)
    {
        destination.Write(frame);
        source.Write(frame[6..]);
        BinaryPrimitives.WriteUInt16BigEndian(frame[12..], etherType);
    }

    private static void WriteIpv4(Span<byte> ip, int payloadLength, byte protocol, uint source, uint destination)
    {
        ip[..Ipv4Packet.MinHeaderLength].Clear();
        ip[0] = 0x45;
        BinaryPrimitives.WriteUInt16BigEndian(ip[2..], (ushort)(Ipv4Packet.MinHeaderLength + payloadLength));
        ip[8] = DefaultTtl;
        ip[9] = protocol;
        BinaryPrimitives.WriteUInt32BigEndian(ip[12..], source);
        BinaryPrimitives.WriteUInt32BigEndian(ip[16..], destination);
        BinaryPrimitives.WriteUInt16BigEndian(ip[10..], Checksum.Compute(ip[..Ipv4Packet.MinHeaderLength]));
    }

    private static void WriteIpv6(Span<byte> ip, int payloadLength, byte nextHeader, byte hopLimit, UInt128 source, UInt128 destination)
    {
        BinaryPrimitives.WriteUInt32BigEndian(ip, 6u << 28);
        BinaryPrimitives.WriteUInt16BigEndian(ip[4..], (ushort)payloadLength);
        ip[6] = nextHeader;
        ip[7] = hopLimit;
        BinaryPrimitives.WriteUInt128BigEndian(ip[8..], source);
        BinaryPrimitives.WriteUInt128BigEndian(ip[24..], destination);
    }

    private static void Finish6(Span<byte> upper, UInt128 source, UInt128 destination, byte nextHeader, int checksumOffset)
    {
        BinaryPrimitives.WriteUInt16BigEndian(upper[checksumOffset..], 0);
        var sum = Checksum.PseudoHeaderIpv6(source, destination, nextHeader, upper.Length);
        BinaryPrimitives.WriteUInt16BigEndian(upper[checksumOffset..], Checksum.Finish(Checksum.Add(sum, upper)));
    }
}
