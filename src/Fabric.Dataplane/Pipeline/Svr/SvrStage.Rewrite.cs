using System.Buffers.Binary;
using Fabric.Dataplane.Forwarding;
using Fabric.Dataplane.Sessions;
using Fabric.Dataplane.Svr;
using Fabric.Dataplane.Svr.Security;
using Fabric.Dataplane.Wire;

namespace Fabric.Dataplane.Pipeline;

// Rewriting a packet of an SVR session to the other side's tuple at egress: addresses and ports with incremental
// checksums, ICMP to UDP and back (ICMP errors: SvrStage.Errors.cs), the MSS of a SYN clamped, and what SVR adds to
// each packet (GrowthToPeer, MaxOverhead) for the MTU checks.
public static partial class SvrStage
{
    /// <summary>
    /// Rewrites a packet of an SVR session to the tuple of its other side (the waypoint tuple on the way to the
    /// peer, the original tuple on the way out of the fabric), converting ICMP to UDP and back, and inserts
    /// metadata where the handshake asks for it. False (with a reason) when the packet cannot be sent.
    /// </summary>
    public static Verdict Rewrite(ref PacketContext context, WorkerResources resources, ForwardingSnapshot snapshot)
    {
        var sessions = resources.Sessions;
        var handle = context.Session;
        ref var state = ref sessions.Payload(handle);
        var forward = context.Direction == SessionDirection.Forward;
        var target = forward ? sessions.ReverseKey(handle).Reversed() : sessions.ForwardKey(handle).Reversed();
        var ip = context.Room[context.NetworkOffset..];
        if (context.IsIcmpError)
        {
            return TranslateError(ref context, state, resources, snapshot, leavesToPeer: (state.Svr == SvrRole.Ingress) == forward, target);
        }

        var current = context.Key.Protocol;
        int rewritten;
        if (IsEchoCrossing(current, target.Protocol) && (target.IsIpv6 || context.IsIpv6))
        {
            // A ping of or over IPv6 (SvrStage.Echo.cs).
            var crossed = CrossEcho(ref context, ip, target, forward);
            if (crossed != DropReason.None)
            {
                return context.Fail(crossed);
            }

            rewritten = context.IpLength;
        }
        else if (target.IsIpv6 != context.IsIpv6)
        {
            // The session's endpoints and its waypoints are of different families (SvrStage.Family.cs).
            var changed = ChangeFamily(ref context, ip, target);
            if (changed != DropReason.None)
            {
                return context.Fail(changed);
            }

            rewritten = context.IpLength;
        }
        else if (current == IpProtocol.Icmp && target.Protocol == IpProtocol.Udp)
        {
            if (context.IpLength + UdpDatagram.HeaderLength > ip.Length)
            {
                return context.Fail(DropReason.TooBig);
            }

            rewritten = IcmpToUdp(ip, context.IpLength, target);
        }
        else if (current == IpProtocol.Udp && target.Protocol == IpProtocol.Icmp)
        {
            rewritten = UdpToIcmp(ip, context.IpLength, target);
        }
        else
        {
            rewritten = Retarget(ip[..context.IpLength], current, target) ? context.IpLength : -1;
        }

        if (rewritten < 0)
        {
            // The packet's lengths may have changed since it was parsed (metadata and trailer stripped), so each view
            // of it here is checked again; one that does not read drops the packet.
            return context.Fail(DropReason.Malformed);
        }

        context.IpLength = rewritten;

        var leavesToPeer = state.Svr == SvrRole.Transit || (state.Svr == SvrRole.Ingress) == forward;
        if (leavesToPeer)
        {
            var keys = snapshot.Runtimes.PeerKeys[KeysToward(state, sessions, handle, forward, snapshot)];
            if (state.Sealed && !keys.HasKeys)
            {
                // Fail closed: keys went away under an encrypted session; nothing leaves in clear.
                return context.Fail(DropReason.NoPeerKeys);
            }

            if (state.OriginalProtocol == IpProtocol.Tcp && (context.TcpFlags & (byte)TcpFlags.Syn) != 0)
            {
                ClampMss(ref context, ref state, resources, snapshot, ip);
            }

            var blockLength = Signal(ref context, ref state, resources, snapshot, forward, ip, keys.HasKeys ? keys.SecurityId : 0);
            if (blockLength < 0)
            {
                return Verdict.Drop;
            }

            if (state.Sealed && context.IsSuperPacket && blockLength == 0)
            {
                // Sealed per segment once cut, as it leaves (SealSegment): each segment its own sequence and trailer.
                context.SegmentKeys = keys;
            }
            else if (state.Sealed || (blockLength > MetadataBlock.BareLength && keys.HasKeys))
            {
                var verdict = Seal(ref context, resources, keys, ip, blockLength, state.Sealed);
                if (verdict != Verdict.Continue)
                {
                    return verdict;
                }
            }
        }

        context.Frame = context.Room[..(context.NetworkOffset + context.IpLength)];
        var leaving = context.LargestPacketLength + (context.SegmentKeys is null ? 0 : PacketSealer.TrailerLength);
        return leaving > resources.Ports[context.EgressPort].Mtu ? context.Fail(DropReason.TooBig) : Verdict.Forward;
    }

    /// <summary>
    /// Whether a super-packet of the session leaving in <paramref name="forward"/>'s direction may go through whole and
    /// have each of its segments sealed once cut (<see cref="SealSegment"/>): the session is encrypted and the super-packet
    /// comes from this router's own side (its client at the ingress, its instance at the egress) and leaves to the peer.
    /// A sealed packet from a peer (a transit's both ways) is opened one by one, so such a super-packet is cut first.
    /// </summary>
    public static bool SealsEachSegment(in SessionState state, bool forward) =>
        state.Sealed && ((state.Svr == SvrRole.Ingress && forward) || (state.Svr == SvrRole.Egress && !forward));

    /// <summary>
    /// The octets a packet of the session may gain on its way to the peer once the handshake is done: the sealed
    /// trailer when the session is encrypted; for a ping, its metadata (pings always carry it) and, but at a transit
    /// (where the packet already is that datagram), the UDP header its message crosses in. A packet bigger than the
    /// path MTU less this is answered with fragmentation-needed by the egress stage.
    /// </summary>
    public static int GrowthToPeer(ForwardingSnapshot snapshot, in SessionState state) =>
        IsEcho(state.OriginalProtocol) ? (state.Svr == SvrRole.Transit ? 0 : UdpDatagram.HeaderLength) + MaxOverhead(snapshot, state)
        : state.Sealed ? PacketSealer.TrailerLength
        : 0;

    /// <summary>
    /// The octets the packet in hand of the session may gain on its way to the peer: <see cref="GrowthToPeer"/>, but for a
    /// TCP segment of an ingress session that signals (<see cref="SessionState.SendMetadata"/>, as <see cref="Observe"/>
    /// left it for this packet) the largest forward block with an instance pin (and trailer), which it carries. A session
    /// opened across the fabric has its MSS clamped for that block (<see cref="ClampMss"/>), so this changes nothing for its
    /// segments; a local session made an ingress session (<see cref="MakeRemote"/>) had its MSS agreed without it, and its
    /// full-size segments are answered with fragmentation-needed (or packet-too-big) for the room the block leaves, rather
    /// than dropped when the block is inserted, until the egress answers.
    /// </summary>
    public static int GrowthOfPacketToPeer(ForwardingSnapshot snapshot, in SessionState state) =>
        state.Svr == SvrRole.Ingress && state.SendMetadata && state.OriginalProtocol == IpProtocol.Tcp
            ? Math.Max(GrowthToPeer(snapshot, state), MaxOverhead(snapshot, state) + InstancePinLength(state))
            : GrowthToPeer(snapshot, state);

    /// <summary>
    /// The most octets SVR may add to one packet of the session between the routers: the largest metadata block
    /// either side writes (the forward block: SecurityId, forward context, session id, tenant, service, source router
    /// and, through a transit, destination router, each router name as long as the longest; the context of the session's
    /// family) plus the sealed trailer. Not the instance pin (<see cref="InstancePinLength"/>), which only the MSS clamp
    /// reserves.
    /// </summary>
    public static int MaxOverhead(ForwardingSnapshot snapshot, in SessionState state) =>
        MetadataBlock.BaseLength
        + (MetadataBlock.TlvHeaderLength * 7) + sizeof(uint) + (state.IsIpv6 ? MetadataContext.Ipv6Length : MetadataContext.Ipv4Length) + 16
        + snapshot.TenantsUtf8[state.Tenant].Length + snapshot.ServicesUtf8[state.Service].Length + (2 * snapshot.LongestRouterNameUtf8)
        + PacketSealer.TrailerLength;

    /// <summary>
    /// The octets the instance pin adds to a forward block (a reverse context of the session's family, docs/mobility.md):
    /// a TCP session's MSS keeps room for it, since a re-signalled segment cannot be cut; a UDP datagram too big for it is
    /// announced (<see cref="Announce"/>) like any other, and an ICMP echo is not given room (its largest size after a move
    /// may be refused as too big).
    /// </summary>
    public static int InstancePinLength(in SessionState state) =>
        MetadataBlock.TlvHeaderLength + (state.IsIpv6 ? MetadataContext.Ipv6Length : MetadataContext.Ipv4Length);

    /// <summary>
    /// Lowers the MSS option of a SYN (or SYN-ACK) leaving to the peer so that a full-size segment still fits the
    /// egress MTU when it carries metadata (an instance pin included) and a trailer (a re-signalled or encrypted segment
    /// is never too big).
    /// </summary>
    private static void ClampMss(ref PacketContext context, ref SessionState state, WorkerResources resources, ForwardingSnapshot snapshot, Span<byte> ip)
    {
        var transportAt = context.TransportOffset - context.NetworkOffset;
        var mss = resources.Ports[context.EgressPort].Mtu - transportAt - TcpSegment.MinHeaderLength - MaxOverhead(snapshot, state) - InstancePinLength(state);
        if (mss > 0 && TcpSegment.TryCreate(ip[transportAt..context.IpLength], out var tcp))
        {
            tcp.TryClampMaximumSegmentSize((ushort)mss);
        }
    }

    /// <summary>
    /// Rewrites addresses and ports of a TCP or UDP packet in place (IPv4, or IPv6 with its extension headers kept:
    /// the session and its waypoints of one family), with incremental checksums; false, when the packet does not read as one.
    /// </summary>
    private static bool Retarget(Span<byte> ip, byte protocol, in SessionKey target)
    {
        UInt128 oldSource, oldDestination;
        Span<byte> upper;
        if (target.IsIpv6)
        {
            if (!Ipv6Packet.TryCreate(ip, out var v6))
            {
                return false;
            }

            oldSource = v6.Source;
            oldDestination = v6.Destination;
            v6.Source = target.Source;
            v6.Destination = target.Destination;
            upper = v6.UpperLayer;
        }
        else
        {
            if (!Ipv4Packet.TryCreate(ip, out var v4))
            {
                return false;
            }

            oldSource = v4.Source;
            oldDestination = v4.Destination;
            v4.RewriteSource((uint)target.Source);
            v4.RewriteDestination((uint)target.Destination);
            upper = v4.Payload;
        }

        if (protocol == IpProtocol.Tcp)
        {
            if (!TcpSegment.TryCreate(upper, out var tcp))
            {
                return false;
            }

            if (target.IsIpv6)
            {
                tcp.AdjustChecksumForAddress(oldSource, target.Source);
                tcp.AdjustChecksumForAddress(oldDestination, target.Destination);
            }
            else
            {
                tcp.AdjustChecksumForAddress((uint)oldSource, (uint)target.Source);
                tcp.AdjustChecksumForAddress((uint)oldDestination, (uint)target.Destination);
            }

            tcp.RewriteSourcePort(target.SourcePort);
            tcp.RewriteDestinationPort(target.DestinationPort);
        }
        else if (protocol == IpProtocol.Udp)
        {
            if (!UdpDatagram.TryCreate(upper, out var udp))
            {
                return false;
            }

            if (target.IsIpv6)
            {
                udp.AdjustChecksumForAddress(oldSource, target.Source);
                udp.AdjustChecksumForAddress(oldDestination, target.Destination);
            }
            else
            {
                udp.AdjustChecksumForAddress((uint)oldSource, (uint)target.Source);
                udp.AdjustChecksumForAddress((uint)oldDestination, (uint)target.Destination);
            }

            udp.RewriteSourcePort(target.SourcePort);
            udp.RewriteDestinationPort(target.DestinationPort);
        }

        return true;
    }

    /// <summary>Wraps an ICMP message of an IPv4 ping between IPv4 waypoints in a UDP header to the target tuple (the IPv4 header kept); returns the new IP length, or −1 when the result does not read as a datagram.</summary>
    private static int IcmpToUdp(Span<byte> ip, int ipLength, in SessionKey target)
    {
        var headerLength = (ip[0] & 0x0F) * 4;
        var message = ipLength - headerLength;
        ip[headerLength..ipLength].CopyTo(ip[(headerLength + UdpDatagram.HeaderLength)..]);
        var length = ipLength + UdpDatagram.HeaderLength;
        var udp = ip[headerLength..length];
        BinaryPrimitives.WriteUInt16BigEndian(udp, target.SourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(udp[2..], target.DestinationPort);
        BinaryPrimitives.WriteUInt16BigEndian(udp[UdpDatagram.LengthOffset..], (ushort)(UdpDatagram.HeaderLength + message));
        if (!Readdress(ip, length, IpProtocol.Udp, target, out var v4) || !UdpDatagram.TryCreate(v4.Payload, out var datagram))
        {
            return -1;
        }

        datagram.UpdateChecksum(v4.PseudoHeaderSum());
        return length;
    }

    /// <summary>Unwraps the ICMP message a UDP datagram carries and addresses it to the target tuple; returns the new IP length, or −1 as <see cref="IcmpToUdp"/>.</summary>
    private static int UdpToIcmp(Span<byte> ip, int ipLength, in SessionKey target)
    {
        var headerLength = (ip[0] & 0x0F) * 4;
        ip[(headerLength + UdpDatagram.HeaderLength)..ipLength].CopyTo(ip[headerLength..]);
        var length = ipLength - UdpDatagram.HeaderLength;
        return Readdress(ip, length, IpProtocol.Icmp, target, out _) ? length : -1;
    }

    /// <summary>Gives the IPv4 header its new length, protocol and addresses, and a fresh checksum; false when it then does not read as a packet.</summary>
    private static bool Readdress(Span<byte> ip, int length, byte protocol, in SessionKey target, out Ipv4Packet packet)
    {
        BinaryPrimitives.WriteUInt16BigEndian(ip[Ipv4Packet.TotalLengthOffset..], (ushort)length);
        ip[Ipv4Packet.ProtocolOffset] = protocol;
        BinaryPrimitives.WriteUInt32BigEndian(ip[Ipv4Packet.SourceOffset..], (uint)target.Source);
        BinaryPrimitives.WriteUInt32BigEndian(ip[Ipv4Packet.DestinationOffset..], (uint)target.Destination);
        if (!Ipv4Packet.TryCreate(ip[..length], out packet))
        {
            return false;
        }

        packet.UpdateHeaderChecksum();
        return true;
    }
}
