using System.Buffers.Binary;
using Fabric.Dataplane.Forwarding;
using Fabric.Dataplane.Sessions;
using Fabric.Dataplane.Svr;
using Fabric.Dataplane.Wire;

namespace Fabric.Dataplane.Pipeline;

// ICMP errors about a packet of an SVR session, carried to the other side of the session as a NAT carries them
// (RFC 5508): ICMPv4 between IPv4 tuples, ICMPv6 between IPv6 tuples, and translated between the two (RFC 7915 §4.2,
// §5.2) where the session's endpoints and its waypoints are of different families. An error about a ping quotes an echo
// message on the endpoints' side and the UDP waypoint packet carrying it between the routers: it is rebuilt, as one
// that changes family is (RebuildError). Every translation works in place in the packet's buffer; nothing allocates.
public static partial class SvrStage
{
    /// <summary>
    /// Carries an ICMP error about a packet of an SVR session on, as a NAT would (RFC 5508), to the other side of the
    /// session: the outer header goes from <paramref name="target"/>'s source to its destination, and the packet it
    /// quotes (which travelled the other way) is given the tuple that packet had on this side. So an error from
    /// beyond the egress (or by the egress) about a client's packet crosses to the ingress as an error about the
    /// waypoint packet, and the ingress turns an error about a waypoint packet (from the egress, or from a router
    /// between the two) into one from the service address about the client's own packet. Where the two sides are of
    /// different families the error changes family with its quoted packet (<see cref="RebuildError"/>). An error about a
    /// ping is rebuilt the same way, whatever the families: its quoted echo message (of the session's own family on every
    /// side, its identifier the session's) is given the UDP header of the waypoint tuple on the way to the peer and loses
    /// it on the way to its endpoint, which gets its own echo request (or reply) quoted as it sent it. On the way to the
    /// client a fragmentation-needed or packet-too-big MTU is lowered by what SVR adds to each packet of the session
    /// (never below the family's minimum MTU). Not carried (<see cref="DropReason.IcmpErrorNotCarried"/>): ICMPv6 error
    /// types other than the four of RFC 4443; what RFC 7915 has no translation for (or one this router does not make: a
    /// parameter problem's pointer), and for a ping, a parameter problem or redirect in any family; an error about a ping's
    /// waypoint packet that quotes its metadata (one from a router between the two: the message behind the block may be
    /// sealed). A quoted packet that does not read, or too short to hold the ports (a ping's echo header, after the UDP
    /// header it crossed in), drops the error as <see cref="DropReason.Malformed"/>.
    /// </summary>
    private static Verdict TranslateError(ref PacketContext context, in SessionState state, WorkerResources resources, ForwardingSnapshot snapshot, bool leavesToPeer, in SessionKey target)
    {
        var growth = leavesToPeer ? 0 : GrowthToPeer(snapshot, state);
        // An error about a session's packet is never unsealed or stripped: its outer headers are as the parse stage
        // checked them (the quoted packet is checked here).
        var ip = context.Room[context.NetworkOffset..];
        DropReason translated;
        if (context.IsIpv6 == target.IsIpv6 && !IsEchoCrossing(context.Key.Protocol, target.Protocol))
        {
            translated = target.IsIpv6
                ? ErrorIpv6(ip[..context.IpLength], target, leavesToPeer, growth)
                : ErrorIpv4(ip[..context.IpLength], target, leavesToPeer, growth);
        }
        else
        {
            var length = RebuildError(ip, context.IpLength, context.IsIpv6, context.Key.Protocol, target, leavesToPeer, growth, out translated);
            if (translated == DropReason.None)
            {
                BinaryPrimitives.WriteUInt16BigEndian(context.Room[(context.NetworkOffset - 2)..], target.IsIpv6 ? EtherType.Ipv6 : EtherType.Ipv4);
                context.IsIpv6 = target.IsIpv6;
                context.TransportOffset = context.NetworkOffset + (target.IsIpv6 ? Ipv6Packet.HeaderLength : Ipv4Packet.MinHeaderLength);
                context.IpLength = length;
            }
        }

        if (translated != DropReason.None)
        {
            return context.Fail(translated);
        }

        context.Frame = context.Room[..(context.NetworkOffset + context.IpLength)];
        return context.IpLength > resources.Ports[context.EgressPort].Mtu ? context.Fail(DropReason.TooBig) : Verdict.Forward;
    }

    /// <summary>The smallest MTU an IPv4 link may have (RFC 791): a lowered MTU never goes below it.</summary>
    private const int MinimumIpv4Mtu = 68;

    /// <summary>The smallest MTU an IPv6 link may have (RFC 8200 §5): a lowered MTU never goes below it.</summary>
    private const int MinimumIpv6Mtu = 1280;

    /// <summary>The most octets an ICMPv4 error should take, its IP header included (RFC 1812 §4.3.2.3).</summary>
    private const int Icmpv4ErrorLimit = 576;

    /// <summary>The most octets an ICMPv6 error may take, its IP header included (RFC 4443 §2.4 (c)).</summary>
    private const int Icmpv6ErrorLimit = 1280;

    /// <summary>How much longer an IPv6 header is than a bare IPv4 one: what a packet gains (or loses) changing family.</summary>
    private const int FamilyHeaderGrowth = Ipv6Packet.HeaderLength - Ipv4Packet.MinHeaderLength;

    /// <summary>Where the pointer of an ICMPv6 parameter problem points for an unknown protocol: the next-header field (RFC 7915 §4.2).</summary>
    private const uint NextHeaderPointer = Ipv6Packet.NextHeaderOffset;

    /// <summary>An ICMPv4 error between IPv4 tuples, translated in place (same length).</summary>
    private static DropReason ErrorIpv4(Span<byte> packet, in SessionKey target, bool leavesToPeer, int growth)
    {
        var outer = Ipv4Packet.FromValidated(packet);
        var icmp = outer.Payload;
        if (!Ipv4Packet.TryCreateQuoted(icmp[Icmpv4Packet.HeaderLength..], out var quoted, out _) || quoted.Payload.Length < 4)
        {
            return DropReason.Malformed;
        }

        outer.RewriteSource((uint)target.Source);
        outer.RewriteDestination((uint)target.Destination);
        quoted.Source = (uint)target.Destination;
        quoted.Destination = (uint)target.Source;
        quoted.UpdateHeaderChecksum();
        WriteQuotedPorts(quoted.Payload, target);
        if (!leavesToPeer && icmp[0] == Icmpv4Type.DestinationUnreachable && icmp[1] == Icmpv4Code.FragmentationNeeded)
        {
            var mtu = BinaryPrimitives.ReadUInt16BigEndian(icmp[Icmpv4Packet.NextHopMtuOffset..]);
            BinaryPrimitives.WriteUInt16BigEndian(icmp[Icmpv4Packet.NextHopMtuOffset..], (ushort)Math.Max(MinimumIpv4Mtu, mtu - growth));
        }

        Icmpv4Packet.FromValidated(icmp).UpdateChecksum();
        return DropReason.None;
    }

    /// <summary>
    /// An ICMPv6 error between IPv6 tuples, translated in place (same length; the extension headers of the outer and
    /// the quoted packet kept), its checksum computed again over the new pseudo-header.
    /// </summary>
    private static DropReason ErrorIpv6(Span<byte> packet, in SessionKey target, bool leavesToPeer, int growth)
    {
        var outer = Ipv6Packet.FromValidated(packet);
        var icmp = outer.UpperLayer;
        var type = icmp[Icmpv6Packet.TypeOffset];
        if (type is not (Icmpv6Type.DestinationUnreachable or Icmpv6Type.PacketTooBig or Icmpv6Type.TimeExceeded or Icmpv6Type.ParameterProblem))
        {
            return DropReason.IcmpErrorNotCarried;
        }

        if (!Ipv6Packet.TryCreateQuoted(icmp[Icmpv6Packet.HeaderLength..], out var quoted, out _) || !quoted.HasUpperLayerHeader || quoted.UpperLayer.Length < 4)
        {
            return DropReason.Malformed;
        }

        outer.Source = target.Source;
        outer.Destination = target.Destination;
        quoted.Source = target.Destination;
        quoted.Destination = target.Source;
        WriteQuotedPorts(quoted.UpperLayer, target);
        if (!leavesToPeer && type == Icmpv6Type.PacketTooBig)
        {
            var mtu = BinaryPrimitives.ReadUInt32BigEndian(icmp[Icmpv6Packet.MtuOffset..]);
            BinaryPrimitives.WriteUInt32BigEndian(icmp[Icmpv6Packet.MtuOffset..], (uint)Math.Max(MinimumIpv6Mtu, (long)mtu - growth));
        }

        Icmpv6Packet.FromValidated(icmp).UpdateChecksum(outer.PseudoHeaderSum());
        return DropReason.None;
    }

    /// <summary>
    /// Writes the ICMP error of <paramref name="ipLength"/> octets at the start of <paramref name="ip"/> (ICMPv6 when
    /// <paramref name="fromIpv6"/>, else ICMPv4) anew as an error of <paramref name="target"/>'s family to
    /// <paramref name="target"/>: a bare outer header, the type, code and rest of header of that family
    /// (<see cref="TryErrorFor"/>), and the quoted packet (which travelled against <paramref name="target"/>) with a bare
    /// header of that family, the tuple it had on this side, the length, traffic class and hop limit it had (options and
    /// extension headers dropped), and as much of its transport part as an error of that family may hold (1 280 octets in
    /// all for ICMPv6, 576 for ICMPv4). Where the quoted packet is a ping's on one side and its waypoint packet on the
    /// other (<paramref name="quotedProtocol"/>, the protocol it was quoted with, against <paramref name="target"/>'s), the
    /// ICMP message it quotes moves as it is, given the waypoint ports in a UDP header in front of it (checksummed when the
    /// whole datagram is quoted) or taken out of the UDP header it crossed in; one delivered to its endpoint as ICMPv6 whole
    /// gets its checksum summed again over the pseudo-header of its tuple there (an ICMPv6 echo is summed over the
    /// addresses of the side it was on, and neither router knows both sides': the egress never learns the service
    /// address; a message quoted in part keeps the checksum it came with, which none can verify). Returns the new IP
    /// length, with <paramref name="reason"/> <see cref="DropReason.None"/>; or why it is dropped: not carried, a quoted packet that does not read or holds
    /// neither its ports nor, for a ping, its echo header (<see cref="DropReason.Malformed"/>), a waypoint packet quoted
    /// with its metadata (not carried: the message behind the block may be sealed), or a buffer too small.
    /// </summary>
    private static int RebuildError(Span<byte> ip, int ipLength, bool fromIpv6, byte quotedProtocol, in SessionKey target, bool leavesToPeer, int growth, out DropReason reason)
    {
        // Everything is read before anything is written: the new headers may be longer or shorter than the old ones, and
        // the quoted payload moves to follow them.
        byte type, code, trafficClass, hopLimit, quotedClass, quotedHopLimit;
        uint rest;
        int quotedUpperFrom, present, quotedUpperLength;
        // ICMPv4 and ICMPv6 share the header's layout: type, code, then four octets of rest.
        var error = ip[(fromIpv6 ? Ipv6Packet.FromValidated(ip[..ipLength]).UpperLayerOffset : Ipv4Packet.FromValidated(ip[..ipLength]).HeaderLength)..ipLength];
        (type, code, rest) = (error[Icmpv4Packet.TypeOffset], error[Icmpv4Packet.CodeOffset], BinaryPrimitives.ReadUInt32BigEndian(error[Icmpv4Packet.RestOfHeaderOffset..]));
        if (!TryErrorFor(fromIpv6, target.IsIpv6, ref type, ref code, ref rest, leavesToPeer, growth))
        {
            reason = DropReason.IcmpErrorNotCarried;
            return 0;
        }

        if (fromIpv6)
        {
            var outer = Ipv6Packet.FromValidated(ip[..ipLength]);
            var icmp = outer.UpperLayer;
            if (!Ipv6Packet.TryCreateQuoted(icmp[Icmpv6Packet.HeaderLength..], out var quoted, out _) || !quoted.HasUpperLayerHeader)
            {
                reason = DropReason.Malformed;
                return 0;
            }

            (trafficClass, hopLimit, quotedClass, quotedHopLimit) = (outer.TrafficClass, outer.HopLimit, quoted.TrafficClass, quoted.HopLimit);
            present = quoted.UpperLayer.Length;
            quotedUpperLength = Ipv6Packet.HeaderLength + quoted.PayloadLength - quoted.UpperLayerOffset;
            quotedUpperFrom = outer.UpperLayerOffset + Icmpv6Packet.HeaderLength + quoted.UpperLayerOffset;
        }
        else
        {
            var outer = Ipv4Packet.FromValidated(ip[..ipLength]);
            var icmp = outer.Payload;
            if (!Ipv4Packet.TryCreateQuoted(icmp[Icmpv4Packet.HeaderLength..], out var quoted, out _) || quoted.TotalLength < quoted.HeaderLength)
            {
                reason = DropReason.Malformed;
                return 0;
            }

            (trafficClass, hopLimit, quotedClass, quotedHopLimit) = (ip[Ipv4Packet.TypeOfServiceOffset], outer.Ttl, quoted.Bytes[Ipv4Packet.TypeOfServiceOffset], quoted.Ttl);
            present = quoted.Payload.Length;
            quotedUpperLength = quoted.TotalLength - quoted.HeaderLength;
            quotedUpperFrom = outer.HeaderLength + Icmpv4Packet.HeaderLength + quoted.HeaderLength;
        }

        // A ping's message gains the UDP header it crosses in on the way to the peer, and loses it on the way to its endpoint.
        var wrap = IsEcho(quotedProtocol) && target.Protocol == IpProtocol.Udp;
        var unwrap = quotedProtocol == IpProtocol.Udp && IsEcho(target.Protocol);
        var removed = unwrap ? UdpDatagram.HeaderLength : 0;
        var added = wrap ? UdpDatagram.HeaderLength : 0;
        if (present < removed + (wrap || unwrap ? Icmpv4Packet.HeaderLength : 4))
        {
            reason = DropReason.Malformed;
            return 0;
        }

        if (unwrap && MetadataBlock.StartsWithCookie(ip.Slice(quotedUpperFrom + removed, present - removed)))
        {
            reason = DropReason.IcmpErrorNotCarried;
            return 0;
        }

        var headerLength = target.IsIpv6 ? Ipv6Packet.HeaderLength : Ipv4Packet.MinHeaderLength;
        var icmpAt = headerLength;
        var quotedAt = icmpAt + Icmpv6Packet.HeaderLength;
        var quotedUpperAt = quotedAt + headerLength;
        var messageAt = quotedUpperAt + added;
        var kept = Math.Min(present - removed, (target.IsIpv6 ? Icmpv6ErrorLimit : Icmpv4ErrorLimit) - messageAt);
        if (messageAt + kept > ip.Length)
        {
            reason = DropReason.TooBig;
            return 0;
        }

        var whole = present == quotedUpperLength && kept == present - removed;
        var newQuotedUpperLength = Math.Clamp(quotedUpperLength - removed + added, 0, ushort.MaxValue - Ipv4Packet.MinHeaderLength);

        ip.Slice(quotedUpperFrom + removed, kept).CopyTo(ip[messageAt..]);
        var quotedKey = target.Reversed();
        var quotedUpper = ip.Slice(quotedUpperAt, added + kept);
        if (wrap)
        {
            WriteQuotedPorts(quotedUpper, target);
            BinaryPrimitives.WriteUInt16BigEndian(quotedUpper[UdpDatagram.LengthOffset..], (ushort)newQuotedUpperLength);
            BinaryPrimitives.WriteUInt16BigEndian(quotedUpper[UdpDatagram.ChecksumOffset..], 0);
            if (whole)
            {
                var sum = Checksum.Finish(Checksum.Add(ControlMessages.PseudoHeaderSum(quotedKey, quotedUpper.Length), quotedUpper));
                BinaryPrimitives.WriteUInt16BigEndian(quotedUpper[UdpDatagram.ChecksumOffset..], sum == 0 ? ushort.MaxValue : sum);
            }
        }
        else if (unwrap)
        {
            // The echo identifier is the session's on every side (both its ports): the message keeps it.
            if (whole && target.Protocol == IpProtocol.Icmpv6)
            {
                Icmpv6Packet.FromValidated(quotedUpper).UpdateChecksum(ControlMessages.PseudoHeaderSum(quotedKey, quotedUpper.Length));
            }
        }
        else
        {
            WriteQuotedPorts(quotedUpper, target);
        }

        WriteIpHeader(ip[quotedAt..], quotedKey, quotedClass, quotedHopLimit, newQuotedUpperLength);
        var length = messageAt + kept;
        var message = ip[icmpAt..length];
        message[Icmpv4Packet.TypeOffset] = type;
        message[Icmpv4Packet.CodeOffset] = code;
        BinaryPrimitives.WriteUInt32BigEndian(message[Icmpv4Packet.RestOfHeaderOffset..], rest);
        var outerKey = target with { Protocol = target.IsIpv6 ? IpProtocol.Icmpv6 : IpProtocol.Icmp };
        WriteIpHeader(ip, outerKey, trafficClass, hopLimit, message.Length);
        if (target.IsIpv6)
        {
            Icmpv6Packet.FromValidated(message).UpdateChecksum(ControlMessages.PseudoHeaderSum(outerKey, message.Length));
        }
        else
        {
            Icmpv4Packet.FromValidated(message).UpdateChecksum();
        }

        reason = DropReason.None;
        return length;
    }

    /// <summary>
    /// The type, code and rest of header an ICMP error (ICMPv6 when <paramref name="fromIpv6"/>) takes as an error of the
    /// other family (<see cref="TryIcmpv6For"/>, <see cref="TryIcmpv4For"/>) or, rebuilt in its own family, as it was:
    /// destination unreachable and time exceeded, and packet too big, its MTU (or a fragmentation-needed's) lowered on the
    /// way to the client (<paramref name="leavesToPeer"/> false) by <paramref name="growth"/>, never below the family's
    /// minimum. False for what it has none for here; in its own family, a parameter problem (its pointer would follow
    /// the rebuilt header) and a redirect or any other error type.
    /// </summary>
    private static bool TryErrorFor(bool fromIpv6, bool toIpv6, ref byte type, ref byte code, ref uint rest, bool leavesToPeer, int growth)
    {
        if (fromIpv6 != toIpv6)
        {
            var mapped = toIpv6
                ? TryIcmpv6For(type, code, (ushort)rest, leavesToPeer, growth, out var type6, out var code6, out var rest6)
                : TryIcmpv4For(type, code, rest, leavesToPeer, growth, out type6, out code6, out rest6);
            (type, code, rest) = (type6, code6, rest6);
            return mapped;
        }

        if (toIpv6)
        {
            if (type == Icmpv6Type.PacketTooBig && !leavesToPeer)
            {
                rest = (uint)Math.Max(MinimumIpv6Mtu, (long)rest - growth);
            }

            return type is Icmpv6Type.DestinationUnreachable or Icmpv6Type.PacketTooBig or Icmpv6Type.TimeExceeded;
        }

        if (type == Icmpv4Type.DestinationUnreachable && code == Icmpv4Code.FragmentationNeeded && !leavesToPeer)
        {
            rest = (rest & 0xFFFF_0000) | (ushort)Math.Max(MinimumIpv4Mtu, (int)(rest & 0xFFFF) - growth);
        }

        return type is Icmpv4Type.DestinationUnreachable or Icmpv4Type.TimeExceeded;
    }

    /// <summary>Writes the ports of the quoted packet (which travelled against <paramref name="target"/>) at the start of its transport header.</summary>
    private static void WriteQuotedPorts(Span<byte> transport, in SessionKey target)
    {
        BinaryPrimitives.WriteUInt16BigEndian(transport, target.DestinationPort);
        BinaryPrimitives.WriteUInt16BigEndian(transport[2..], target.SourcePort);
    }

    /// <summary>
    /// The ICMPv6 error (type, code and the four octets after the checksum) for an ICMPv4 one (RFC 7915 §4.2); false when
    /// it has none here: a parameter problem (its pointer is not mapped), a redirect, a precedence violation, a code
    /// RFC 7915 does not list. On the way to the client (<paramref name="leavesToPeer"/> false) a packet-too-big MTU is
    /// also lowered by <paramref name="growth"/>, never below 1280.
    /// </summary>
    private static bool TryIcmpv6For(byte type, byte code, ushort nextHopMtu, bool leavesToPeer, int growth, out byte type6, out byte code6, out uint rest)
    {
        rest = 0;
        type6 = Icmpv6Type.DestinationUnreachable;
        code6 = 0;
        switch (type)
        {
            case Icmpv4Type.TimeExceeded:
                type6 = Icmpv6Type.TimeExceeded;
                code6 = code;
                return code <= Icmpv4Code.FragmentReassemblyTimeExceeded;
            case Icmpv4Type.DestinationUnreachable:
                switch (code)
                {
                    // Net, host unreachable; source route failed; network, host unknown; source host isolated;
                    // network, host unreachable for the type of service.
                    case Icmpv4Code.NetUnreachable or Icmpv4Code.HostUnreachable or 5 or 6 or 7 or 8 or 11 or 12:
                        code6 = Icmpv6Code.NoRoute;
                        return true;
                    // Network, host, communication administratively prohibited; precedence cutoff.
                    case 9 or 10 or Icmpv4Code.AdministrativelyProhibited or 15:
                        code6 = Icmpv6Code.AdministrativelyProhibited;
                        return true;
                    case Icmpv4Code.PortUnreachable:
                        code6 = Icmpv6Code.PortUnreachable;
                        return true;
                    case Icmpv4Code.ProtocolUnreachable:
                        type6 = Icmpv6Type.ParameterProblem;
                        code6 = Icmpv6Code.UnrecognizedNextHeader;
                        rest = NextHeaderPointer;
                        return true;
                    case Icmpv4Code.FragmentationNeeded:
                        type6 = Icmpv6Type.PacketTooBig;
                        var mtu = nextHopMtu + FamilyHeaderGrowth;
                        rest = (uint)(leavesToPeer ? mtu : Math.Max(MinimumIpv6Mtu, mtu - growth));
                        return true;
                    default:
                        return false;
                }

            default:
                return false;
        }
    }

    /// <summary>
    /// The ICMPv4 error (type, code and the four octets after the checksum) for an ICMPv6 one (RFC 7915 §5.2); false when
    /// it has none here: a parameter problem other than an unrecognized next header (its pointer is not mapped), a code
    /// RFC 7915 does not list, a type other than the four errors of RFC 4443. On the way to the client
    /// (<paramref name="leavesToPeer"/> false) a fragmentation-needed MTU is also lowered by <paramref name="growth"/>,
    /// never below 68.
    /// </summary>
    private static bool TryIcmpv4For(byte type, byte code, uint mtu, bool leavesToPeer, int growth, out byte type4, out byte code4, out uint rest)
    {
        rest = 0;
        type4 = Icmpv4Type.DestinationUnreachable;
        code4 = 0;
        switch (type)
        {
            case Icmpv6Type.TimeExceeded:
                type4 = Icmpv4Type.TimeExceeded;
                code4 = code;
                return code <= Icmpv4Code.FragmentReassemblyTimeExceeded;
            case Icmpv6Type.DestinationUnreachable:
                code4 = code switch
                {
                    Icmpv6Code.NoRoute or Icmpv6Code.BeyondScope or Icmpv6Code.AddressUnreachable => Icmpv4Code.HostUnreachable,
                    Icmpv6Code.AdministrativelyProhibited => 10, // host administratively prohibited
                    Icmpv6Code.PortUnreachable => Icmpv4Code.PortUnreachable,
                    _ => byte.MaxValue,
                };
                return code4 != byte.MaxValue;
            case Icmpv6Type.ParameterProblem:
                code4 = Icmpv4Code.ProtocolUnreachable;
                return code == Icmpv6Code.UnrecognizedNextHeader;
            case Icmpv6Type.PacketTooBig:
                code4 = Icmpv4Code.FragmentationNeeded;
                var lowered = (int)Math.Min(mtu, ushort.MaxValue) - FamilyHeaderGrowth;
                var nextHopMtu = leavesToPeer ? Math.Max(0, lowered) : Math.Max(MinimumIpv4Mtu, lowered - growth);
                rest = (uint)Math.Min(nextHopMtu, ushort.MaxValue);
                return true;
            default:
                return false;
        }
    }
}
