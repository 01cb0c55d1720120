using System.Buffers.Binary;
using Fabric.Dataplane.Forwarding;
using Fabric.Dataplane.LoadBalancing;
using Fabric.Dataplane.Sessions;
using Fabric.Dataplane.Svr;
using Fabric.Dataplane.Svr.Security;
using Fabric.Dataplane.Wire;

namespace Fabric.Dataplane.Pipeline;

// The metadata handshake: Observe moves it on with every packet of a session, Signal inserts metadata (or a bare
// block) where it asks for it, WriteBlock writes the forward or reverse block (a transit relays what it received),
// and Announce sends the metadata ahead of a UDP datagram too big to carry it.
public static partial class SvrStage
{
    /// <summary>
    /// Whether the next TCP or UDP packet of the session in this direction, not a SYN, leaves to the peer with
    /// metadata (what <see cref="Observe"/> and then <see cref="Rewrite"/> will decide). Reads only.
    /// </summary>
    public static bool NextPacketCarriesMetadata(in SessionState state, bool forward, long now, long quietTicks)
    {
        // A transit adds no metadata of its own: it relays what the packet came with (a cookie the caller sees).
        var leavesToPeer = (state.Svr == SvrRole.Ingress) == forward;
        if (state.Svr is SvrRole.None or SvrRole.Transit || !leavesToPeer)
        {
            return false;
        }

        return state.SendMetadata
            || (state.Svr == SvrRole.Ingress && state.Unanswered + 1 >= ResignalAfterUnanswered && now - state.ReverseSeenAt >= quietTicks);
    }

    /// <summary>Moves the session's handshake on with the packet in hand (fast path, every packet of an SVR session).</summary>
    public static void Observe(ref SessionState state, ref PacketContext context, ForwardingSnapshot snapshot, long quietTicks)
    {
        if (context.IsIcmpError)
        {
            return;
        }

        var forward = context.Direction == SessionDirection.Forward;
        if (state.Svr == SvrRole.Transit)
        {
            // A transit keeps no handshake: it relays the metadata each packet comes with (see Signal).
            return;
        }

        if (state.Svr == SvrRole.Ingress)
        {
            if (!forward)
            {
                state.Unanswered = 0;
                state.ReverseSeenAt = context.Now;
                if (context.Metadata.Present)
                {
                    state.SendMetadata = false;
                    TakeFeedback(state, ref context, snapshot);
                }
            }
            else if (++state.Unanswered >= ResignalAfterUnanswered)
            {
                state.Unanswered = ResignalAfterUnanswered;
                state.SendMetadata |= context.Now - state.ReverseSeenAt >= quietTicks;
            }
        }
        else if (forward)
        {
            // Metadata asks for reverse metadata; a forward packet without it ends the handshake, except the one
            // packet an announcement went ahead of (the egress counts it in Unanswered, unused on its side).
            if (context.Metadata.Present)
            {
                state.SendMetadata = true;
                state.Unanswered = context.Metadata.Announcement ? (byte)1 : (byte)0;
            }
            else if (state.Unanswered > 0)
            {
                state.Unanswered--;
            }
            else
            {
                state.SendMetadata = false;
            }
        }
        else
        {
            // A reverse packet leaves toward the peer: it answers the ingress, no acknowledgement is due.
            state.ReverseSeenAt = context.Now;
        }
    }

    /// <summary>
    /// At the egress: whether the packet in hand, forward metadata of a UDP session (not an announcement), finds the
    /// reverse direction quiet for <paramref name="quietTicks"/> (nothing left toward the peer, an acknowledgement
    /// included): a one-way flow, whose ingress would put metadata on every packet for want of an answer. The egress
    /// then answers with <see cref="Acknowledge"/>. TCP always answers; ICMP always carries metadata. Sessions of either
    /// family over waypoints of either family are acknowledged alike.
    /// </summary>
    public static bool AcknowledgementDue(in SessionState state, ref PacketContext context, long quietTicks) =>
        state.Svr == SvrRole.Egress && context.ToWaypoint && context.Direction == SessionDirection.Forward && !context.IsIcmpError
        && state.OriginalProtocol == IpProtocol.Udp && context.Metadata.Present && !context.Metadata.Announcement
        && context.Now - state.ReverseSeenAt >= quietTicks;

    /// <summary>
    /// The egress's handshake acknowledgement for a one-way flow: a reverse datagram on the session's waypoint tuple whose
    /// payload is only the reverse metadata with the keepalive control and "disable forward metadata" (TLV 18), sealed
    /// like any metadata when the path has keys. The ingress takes it as it takes any reverse metadata (it stops
    /// signalling, takes the load feedback) and delivers nothing. Sent at most once per quiet interval per session; a
    /// datagram that cannot be sent leaves the packet in hand alone (the ingress keeps signalling, the next one is due later).
    /// </summary>
    public static void Acknowledge(ref PacketContext context, ref SessionState state, WorkerResources resources, ForwardingSnapshot snapshot)
    {
        state.ReverseSeenAt = context.Now;
        var sessions = resources.Sessions;
        var waypoint = sessions.ForwardKey(context.Session);
        var port = state.ReversePort;
        ControlMessages.UdpDatagramOfOurOwn(
            resources.Scratch, resources.Ports[port].Mac, default, waypoint.IsIpv6, waypoint.Destination, waypoint.Source, waypoint.DestinationPort, waypoint.SourcePort, []);
        var keys = snapshot.Runtimes.PeerKeys[KeysToward(state, sessions, context.Session, forward: false, snapshot)];
        var sent = SendMetadataOnly(
            ref context, state, resources, snapshot, forward: false, port, waypoint.Source, waypoint.IsIpv6 ? Ipv6Packet.HeaderLength : Ipv4Packet.MinHeaderLength, keys.HasKeys ? keys.SecurityId : 0, acknowledge: true);
        if (sent == DropReason.None)
        {
            resources.Counters.MetadataAcknowledgements++;
        }
    }

    /// <summary>
    /// Load feedback: reverse metadata names the service's active sessions at the egress (TLV 13). Those include the
    /// sessions this router sent there, which its own load already counts, so the rest is recorded as the others'
    /// (<see cref="InstanceLoad.ReportRemoteLoad"/>) for the egress's slot; the next picks use it.
    /// </summary>
    private static void TakeFeedback(in SessionState state, ref PacketContext context, ForwardingSnapshot snapshot)
    {
        var load = snapshot.Runtimes[state.Runtime].Load;
        if (context.Metadata.HasSessionsInService && (uint)state.Instance < (uint)load.Count)
        {
            load.ReportRemoteLoad(state.Instance, context.Metadata.SessionsInService - load.LocalSessions(state.Instance));
        }
    }

    /// <summary>
    /// True when the packet in hand is an announcement (metadata with the keepalive control and no payload, see
    /// <see cref="Announce"/>): it moves the handshake on and is not delivered.
    /// </summary>
    public static bool IsAnnouncement(ref PacketContext context) =>
        context.Metadata.Present && context.Metadata.Announcement
        && context.IpLength - (context.TransportOffset - context.NetworkOffset) == UdpDatagram.HeaderLength;

    /// <summary>
    /// Inserts metadata (forward from the ingress, reverse from the egress) when the handshake asks for it, or a
    /// bare block before a payload that starts with the cookie. With keys the header section names the epoch
    /// (<paramref name="securityId"/>, TLV 16) the packet is sealed with. Returns the octets inserted, or −1 on a drop.
    /// </summary>
    private static int Signal(ref PacketContext context, ref SessionState state, WorkerResources resources, ForwardingSnapshot snapshot, bool forward, Span<byte> ip, uint securityId)
    {
        var syn = state.OriginalProtocol == IpProtocol.Tcp && (context.TcpFlags & (byte)(TcpFlags.Syn | TcpFlags.Ack)) == (byte)TcpFlags.Syn;
        var transit = state.Svr == SvrRole.Transit;
        var signal = transit ? context.Metadata.Present : state.SendMetadata || syn || IsEcho(state.OriginalProtocol);
        var block = resources.MetadataScratch.AsSpan();
        var length = 0;
        if (signal)
        {
            if (!WriteBlock(state, resources, snapshot, ref context, forward, securityId, announce: transit && context.Metadata.Announcement, acknowledge: false, block, out length))
            {
                context.Fail(DropReason.MetadataMismatch);
                return -1;
            }

            var trailer = securityId != 0 || state.Sealed ? PacketSealer.TrailerLength : 0;
            if (!transit && state.OriginalProtocol == IpProtocol.Udp && context.IpLength + length + trailer > resources.Ports[context.EgressPort].Mtu)
            {
                // Too big to carry its metadata as well: the metadata goes ahead alone, the datagram follows without.
                if (!Announce(ref context, state, resources, snapshot, forward, ip, securityId))
                {
                    return -1;
                }

                signal = false;
            }
        }

        if (!signal)
        {
            var payloadAt = context.TransportOffset - context.NetworkOffset + TransportHeaderLength(ip, context.TransportOffset - context.NetworkOffset);
            if (!MetadataInsertion.NeedsBareBlock(ip[payloadAt..context.IpLength]))
            {
                return 0;
            }

            MetadataBlock.TryWriteBare(block);
            length = MetadataBlock.BareLength;
        }

        if (!TransportChecksumValid(ip[..context.IpLength]))
        {
            // Inserting recomputes the checksum: a damaged packet must not leave whole.
            context.Fail(DropReason.BadChecksum);
            return -1;
        }

        if (!MetadataInsertion.TryInsert(ip, context.IpLength, block[..length], out var grown))
        {
            context.Fail(DropReason.TooBig);
            return -1;
        }

        context.IpLength = grown;
        return length;
    }

    /// <summary>
    /// Writes the session's metadata block: forward (context, session id, tenant, service, source router, and the
    /// destination router through a transit) or reverse (context, session id, sessions in service); with
    /// <paramref name="announce"/> also the keepalive control, which marks a packet that carries nothing but the
    /// metadata, and with <paramref name="acknowledge"/> "disable forward metadata" (TLV 18). A transit relays: the contexts and the sessions in service are those the packet in hand came with.
    /// </summary>
    private static bool WriteBlock(
        in SessionState state, WorkerResources resources, ForwardingSnapshot snapshot, ref PacketContext context, bool forward, uint securityId, bool announce, bool acknowledge, Span<byte> block, out int length)
    {
        var sessions = resources.Sessions;
        var handle = context.Session;
        ref readonly var received = ref context.Metadata;
        var relay = state.Svr == SvrRole.Transit;
        var writer = new MetadataWriter(block);
        writer.BeginHeader();
        if (securityId != 0)
        {
            writer.AddU32(MetadataTlvType.SecurityId, securityId);
        }

        writer.BeginPayload();
        Span<byte> id = stackalloc byte[16];
        BinaryPrimitives.WriteUInt64BigEndian(id, 0);
        BinaryPrimitives.WriteUInt64BigEndian(id[8..], state.SessionId);
        var written = forward
            ? (relay
                  ? received.HasForwardContext && AddContext(ref writer, received.ForwardContext, reverse: false)
                  : AddContext(ref writer, sessions.ForwardKey(handle), reverse: false))
              && writer.AddTlv(MetadataTlvType.SessionId, id)
              && writer.AddTlv(MetadataTlvType.Tenant, snapshot.TenantsUtf8[state.Tenant])
              && writer.AddTlv(MetadataTlvType.Service, snapshot.ServicesUtf8[state.Service])
              && writer.AddTlv(MetadataTlvType.SourceRouter, snapshot.RouterUtf8)
              && AddDestinationRouter(ref writer, state, snapshot)
              && AddInstancePin(ref writer, state, resources, handle, received, relay)
            : (relay
                  ? !received.HasReverseContext || AddContext(ref writer, received.ReverseContext, reverse: true)
                  : AddContext(ref writer, sessions.ReverseKey(handle), reverse: true))
              && writer.AddTlv(MetadataTlvType.SessionId, id)
              && AddRedirect(ref writer, state, sessions.ReverseKey(handle), snapshot, received, relay)
              && (relay
                  ? !received.HasSessionsInService || writer.AddU64(MetadataTlvType.SessionsInService, (ulong)received.SessionsInService)
                  : writer.AddU64(MetadataTlvType.SessionsInService, (ulong)snapshot.Runtimes[state.Runtime].Admission.Active));
        if (written && announce)
        {
            written = writer.AddU8(MetadataTlvType.Control, (byte)MetadataControl.Keepalive);
        }

        if (written && acknowledge)
        {
            written = writer.AddFlag(MetadataTlvType.DisableForwardMetadata);
        }

        length = 0;
        return written && writer.Finish(out length);
    }

    /// <summary>
    /// Names the destination router (TLV 17) in an ingress's forward metadata when the session's path leads to a transit
    /// peer rather than to the router hosting the instance (the session's slot in <see cref="ServiceEntry.PeerRouters"/>).
    /// </summary>
    private static bool AddDestinationRouter(ref MetadataWriter writer, in SessionState state, ForwardingSnapshot snapshot)
    {
        if (state.Svr != SvrRole.Ingress || (uint)state.Service >= (uint)snapshot.Services.Length)
        {
            return true;
        }

        var entry = snapshot.Services[state.Service];
        if ((entry.Runtime.Id != state.Runtime && !entry.Runtime.NumbersSlotsAs(snapshot.Runtimes[state.Runtime]))
            || (uint)state.Instance >= (uint)entry.PeerRouters.Length)
        {
            return true;
        }

        var path = PathOfPool(snapshot.PeerPaths, state.WaypointPool);
        return path is null || path.PeerRouter == entry.PeerRouters[state.Instance]
            || writer.AddTlv(MetadataTlvType.DestinationRouter, entry.PeerRoutersUtf8[state.Instance]);
    }

    /// <summary>
    /// Forward metadata of an ingress session pinned to an instance (<see cref="InstancePins"/>) carries the pin as its
    /// reverse context (TLV 4/5: the instance's tuple as it answers), which the new egress honours where it hosts that
    /// instance; a transit relays the reverse context its packet came with. Nothing for any other session.
    /// </summary>
    private static bool AddInstancePin(ref MetadataWriter writer, in SessionState state, WorkerResources resources, int handle, in ReceivedMetadata received, bool relay)
    {
        if (relay)
        {
            return !received.HasReverseContext || AddContext(ref writer, received.ReverseContext, reverse: true);
        }

        return state.Svr != SvrRole.Ingress || !resources.InstancePins.TryGet(handle, state.SessionId, out var pin)
            || AddContext(ref writer, pin, reverse: true);
    }

    /// <summary>
    /// Reverse metadata of a former egress (<see cref="SvrRole.FormerEgress"/>) names the router its instance moved to as
    /// the session's destination router (TLV 17): a redirect, which the ingress follows (<see cref="FollowRedirect"/>). The
    /// router comes from the snapshot's placement of the instance's address (a dictionary look-up, for a redirect only).
    /// A transit relays the router a redirect it received names (<see cref="RelayRedirect"/> checked it is one of the
    /// document's), this router's own name when the redirect names it (the instance moved to the transit).
    /// </summary>
    private static bool AddRedirect(ref MetadataWriter writer, in SessionState state, in SessionKey instance, ForwardingSnapshot snapshot, in ReceivedMetadata received, bool relay)
    {
        if (relay)
        {
            if (received.NamesThisRouter)
            {
                return writer.AddTlv(MetadataTlvType.DestinationRouter, snapshot.RouterUtf8);
            }

            return !received.RoutedOnward
                || ((uint)received.DestinationRouter < (uint)snapshot.RouterNamesUtf8.Length
                    && writer.AddTlv(MetadataTlvType.DestinationRouter, snapshot.RouterNamesUtf8[received.DestinationRouter]));
        }

        return state.Svr != SvrRole.FormerEgress
            || (snapshot.RouterOfContainer.TryGetValue(new ClientAddress(instance.Source, instance.IsIpv6), out var router)
                && writer.AddString(MetadataTlvType.DestinationRouter, router));
    }

    /// <summary>Adds the forward or reverse context of the key's family (TLV 2 or 4 for IPv4, 3 or 5 for IPv6).</summary>
    private static bool AddContext(ref MetadataWriter writer, in SessionKey key, bool reverse) => (reverse, key.IsIpv6) switch
    {
        (true, true) => writer.AddReverseContextV6(key.Source, key.Destination, key.SourcePort, key.DestinationPort, key.Protocol),
        (false, true) => writer.AddForwardContextV6(key.Source, key.Destination, key.SourcePort, key.DestinationPort, key.Protocol),
        (true, false) => writer.AddReverseContextV4((uint)key.Source, (uint)key.Destination, key.SourcePort, key.DestinationPort, key.Protocol),
        (false, false) => writer.AddForwardContextV4((uint)key.Source, (uint)key.Destination, key.SourcePort, key.DestinationPort, key.Protocol),
    };

    /// <summary>
    /// Sends the session's metadata ahead of a UDP datagram too big to carry it: a datagram on the same waypoint
    /// tuple whose payload is only the block (with the keepalive control), sealed like any metadata when the path
    /// has keys. The receiver takes the metadata and delivers nothing; the datagram follows without metadata.
    /// </summary>
    private static bool Announce(ref PacketContext context, in SessionState state, WorkerResources resources, ForwardingSnapshot snapshot, bool forward, Span<byte> ip, uint securityId)
    {
        var sessions = resources.Sessions;
        var nextHop = forward ? sessions.ReverseKey(context.Session).Source : sessions.ForwardKey(context.Session).Source;
        var announcement = resources.Scratch.AsSpan(EthernetFrame.UntaggedHeaderLength);
        var headerLength = context.TransportOffset - context.NetworkOffset;
        var bareLength = headerLength + UdpDatagram.HeaderLength;
        ip[..bareLength].CopyTo(announcement);
        BinaryPrimitives.WriteUInt16BigEndian(announcement[(headerLength + UdpDatagram.LengthOffset)..], UdpDatagram.HeaderLength);
        if (context.IsIpv6)
        {
            BinaryPrimitives.WriteUInt16BigEndian(announcement[Ipv6Packet.PayloadLengthOffset..], (ushort)(bareLength - Ipv6Packet.HeaderLength));
            if (!Ipv6Packet.TryCreate(announcement[..bareLength], out var v6) || !UdpDatagram.TryCreate(v6.UpperLayer, out var udp))
            {
                context.Fail(DropReason.Malformed);
                return false;
            }

            udp.UpdateChecksum(v6.PseudoHeaderSum());
        }
        else
        {
            BinaryPrimitives.WriteUInt16BigEndian(announcement[Ipv4Packet.TotalLengthOffset..], (ushort)bareLength);
            if (!Ipv4Packet.TryCreate(announcement[..bareLength], out var v4) || !UdpDatagram.TryCreate(v4.Payload, out var udp))
            {
                context.Fail(DropReason.Malformed);
                return false;
            }

            v4.UpdateHeaderChecksum();
            udp.UpdateChecksum(v4.PseudoHeaderSum());
        }

        var sent = SendMetadataOnly(ref context, state, resources, snapshot, forward, context.EgressPort, nextHop, headerLength, securityId, acknowledge: false);
        if (sent != DropReason.None)
        {
            context.Fail(sent);
            return false;
        }

        resources.Counters.MetadataAnnouncements++;
        return true;
    }

    /// <summary>
    /// Sends the datagram (or, for a redirect of a TCP session, the bare segment) of the router's own in
    /// <see cref="WorkerResources.Scratch"/> (Ethernet, then an IPv4 or IPv6 header of <paramref name="headerLength"/> and a
    /// UDP or TCP header of <paramref name="transportLength"/> octets on a waypoint tuple of the session, no payload,
    /// checksums complete) with the session's metadata as its payload (<see cref="WriteBlock"/> with the keepalive control), sealed
    /// when <paramref name="securityId"/> names an epoch or the session is encrypted, out of <paramref name="port"/> to
    /// <paramref name="nextHop"/> (held while its MAC is asked for). The one way an announcement or an acknowledgement
    /// leaves (and a redirect, <see cref="Redirect"/>): <see cref="DropReason.None"/>, or why it could not. With
    /// <paramref name="carriesPacket"/> (a redirect that returns a packet) <paramref name="transportLength"/> counts the
    /// transport header and its payload, the block goes between them without the keepalive control, and a packet that
    /// would not fit the port's MTU is not sent (<see cref="DropReason.TooBig"/>).
    /// </summary>
    private static DropReason SendMetadataOnly(
        ref PacketContext context, in SessionState state, WorkerResources resources, ForwardingSnapshot snapshot, bool forward, int port, UInt128 nextHop, int headerLength, uint securityId, bool acknowledge,
        int transportLength = UdpDatagram.HeaderLength, bool carriesPacket = false)
    {
        var frame = resources.Scratch.AsSpan();
        var datagram = frame[EthernetFrame.UntaggedHeaderLength..];
        var bareLength = headerLength + transportLength;
        var block = resources.MetadataScratch.AsSpan();
        if (!WriteBlock(state, resources, snapshot, ref context, forward, securityId, announce: !carriesPacket, acknowledge, block, out var length)
            || !MetadataInsertion.TryInsert(datagram, bareLength, block[..length], out var grown))
        {
            return carriesPacket ? DropReason.TooBig : DropReason.MetadataMismatch;
        }

        if (carriesPacket && grown + (securityId != 0 || state.Sealed ? PacketSealer.TrailerLength : 0) > resources.Ports[port].Mtu)
        {
            return DropReason.TooBig;
        }

        var sideHeaders = new PacketHeaders
        {
            NetworkOffset = EthernetFrame.UntaggedHeaderLength,
            TransportOffset = EthernetFrame.UntaggedHeaderLength + headerLength,
            IpLength = grown,
        };
        var side = new PacketContext(frame, frame, port, context.Now, ref sideHeaders);
        var keys = snapshot.Runtimes.PeerKeys[state.PeerKeys];
        if ((securityId != 0 || state.Sealed) && Seal(ref side, resources, keys, datagram, length, state.Sealed) != Verdict.Continue)
        {
            return side.Drop;
        }

        var isIpv6 = datagram[0] >> 4 == Ipv6Packet.Version6;
        resources.Ports[port].Mac.Write(frame[EthernetFrame.SourceOffset..]);
        BinaryPrimitives.WriteUInt16BigEndian(frame[EthernetFrame.TypeOffset..], isIpv6 ? EtherType.Ipv6 : EtherType.Ipv4);
        frame = frame[..(EthernetFrame.UntaggedHeaderLength + side.IpLength)];
        if (resources.Neighbors.TryGet(port, nextHop, isIpv6, context.Now, out var mac))
        {
            mac.Write(frame);
            resources.SendOwn(port, frame);
            return DropReason.None;
        }

        // The peer's MAC is being asked for: the datagram waits, and what the session sends next waits behind it (in order).
        var held = resources.Neighbors.Hold(port, nextHop, isIpv6, frame, context.Now, out var ask);
        if (ask)
        {
            EgressStage.Resolve(resources, snapshot.Ports[port], port, isIpv6, nextHop);
        }

        return held ? DropReason.None : DropReason.NeighborUnresolved;
    }
}
