using System.Buffers.Binary;
using Fabric.Dataplane.Forwarding;
using Fabric.Dataplane.Sessions;
using Fabric.Dataplane.Wire;

namespace Fabric.Dataplane.Pipeline;

// An instance that moves to another router while sibling instances of its service stay here (docs/mobility.md "An
// instance moves"). The ingress cannot see it (its router still hosts the service); the old egress can:
//
//   old egress, binding a snapshot that places the instance at router R:  Egress ─► FormerEgress (LeaveInstance)
//   old egress, each forward packet of a former egress:  not delivered; turned round and returned as a redirect
//       (Redirect): the packet on the session's waypoint tuple reversed, with reverse metadata carrying the instance's
//       tuple (reverse context, TLV 4/5), the session id and R (destination router, TLV 17); a bare segment or datagram
//       with the keepalive control when the packet cannot come back
//   transit between them, the redirect on the session's reverse leg:  relayed to the ingress with the router it names
//       (RelayRedirect), rewritten and sealed as any reverse metadata; one naming the transit only when it hosts the instance
//   ingress, a reverse packet whose metadata names another router:  FollowRedirect: the session moves to R (MoveTo, the
//       move FollowHosting makes), pinned to the instance (InstancePins); a returned packet is rebuilt as the client
//       sent it (Return) and run again by the worker, so it leaves for R with the session's metadata; R the router its path
//       leads to (a transit of the session, CrossesAsTransit): new waypoint ports to R as the destination
//   ingress, forward metadata while it re-signals:  the pin as reverse context (WriteBlock)
//   new egress R, Accept:  InstanceRoute.Egress puts the session on the instance the pin names when R hosts it
public static partial class SvrStage
{
    /// <summary>
    /// Whether egress session <paramref name="state"/> (its instance answers with <paramref name="reverse"/>) should
    /// become a former egress under <paramref name="next"/>: an SVR egress, not closed, whose instance's address the
    /// snapshot places at another router (the peer the session came from included: the instance moved to the client's own
    /// router, which makes the session local there, <see cref="MakeLocal"/>). <paramref name="router"/> is that router.
    /// </summary>
    internal static bool InstanceMovedAway(ForwardingSnapshot next, in SessionState state, in SessionKey reverse, in TcpTracker tcp, out string router)
    {
        router = "";
        if (state.Svr != SvrRole.Egress || tcp.IsClosed
            || !next.RouterOfContainer.TryGetValue(new ClientAddress(reverse.Source, reverse.IsIpv6), out var placed)
            || placed == next.Router)
        {
            return false;
        }

        router = placed;
        return true;
    }

    /// <summary>
    /// Whether former egress <paramref name="state"/> has nowhere to redirect to under <paramref name="next"/>: its
    /// instance is placed nowhere (it is gone), or here again but not among its service's instances here. Such a session
    /// ends (without a reset: nothing here answers for it).
    /// </summary>
    internal static bool FormerEgressEnds(ForwardingSnapshot next, in SessionState state, in SessionKey reverse) =>
        state.Svr == SvrRole.FormerEgress
        && (!next.RouterOfContainer.TryGetValue(new ClientAddress(reverse.Source, reverse.IsIpv6), out var placed)
            || (placed == next.Router && InstanceAnswering(next, state, reverse) < 0));

    /// <summary>
    /// A former egress whose instance <paramref name="next"/> places here again, among its service's instances (a later
    /// commit moved it back), is an egress again on that instance: the ingress's packets on the old tuple reach it as
    /// before, and its re-signal from where the session went is adopted (<see cref="TryAdoptMoved"/>). It counts on that
    /// instance under the service's runtime in force (<see cref="MoveToRuntimeInForce"/>: the commit that moved the instance
    /// back replaced the runtime that admitted it). Returns whether it returned. Runs when the worker binds a snapshot;
    /// allocates nothing.
    /// </summary>
    internal static bool ReturnToInstance(ForwardingSnapshot next, ref SessionState state, in SessionKey reverse)
    {
        var instance = state.Svr == SvrRole.FormerEgress ? InstanceAnswering(next, state, reverse) : -1;
        if (instance < 0)
        {
            return false;
        }

        var entry = next.Services[state.Service];
        state.Svr = SvrRole.Egress;
        state.ForwardPort = (short)entry.Instances[instance].EgressPort;
        MoveToRuntimeInForce(next, entry, ref state, instance);
        return true;
    }

    /// <summary>The index of the instance of the session's service here that answers with <paramref name="reverse"/>'s source address and port, or −1.</summary>
    private static int InstanceAnswering(ForwardingSnapshot next, in SessionState state, in SessionKey reverse)
    {
        if ((uint)state.Service >= (uint)next.Services.Length)
        {
            return -1;
        }

        var instances = next.Services[state.Service].Instances;
        for (var i = 0; i < instances.Length; i++)
        {
            var instance = instances[i];
            if (instance.TryAddress(reverse.IsIpv6, out var address) && address == reverse.Source && (instance.Port == 0 || instance.Port == reverse.SourcePort))
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>
    /// Turns egress session <paramref name="state"/> into a former egress (<see cref="SvrRole.FormerEgress"/>): its instance
    /// left, so it no longer counts towards the instance's load here; it keeps its admission, keys and waypoint tuple until
    /// it ends (idle, or superseded by a new session on its tuple), answering each forward packet with a redirect. Runs
    /// when the worker binds a snapshot (<see cref="SessionRebinding"/>); allocates nothing.
    /// </summary>
    internal static void LeaveInstance(ForwardingSnapshot next, ref SessionState state)
    {
        if (state.Instance >= 0)
        {
            next.Runtimes[state.Runtime].Load.OnSessionEnd(state.Instance);
            state.Instance = -1;
        }

        state.Svr = SvrRole.FormerEgress;
    }

    /// <summary>
    /// At a former egress: answers the forward packet in hand, which reaches nothing here, with a redirect towards the
    /// ingress (see the drawing above; written by <see cref="WriteBlock"/>, sent by <see cref="SendMetadataOnly"/>) that
    /// <b>returns the packet</b>: the same IP packet (TCP header, options and payload, or UDP payload, a ping's echo request
    /// included, as it came and was unsealed) turned round onto the session's waypoint tuple reversed, the redirect's metadata inserted after its
    /// transport header, without the keepalive control (which marks a block that carries nothing), sealed as any metadata
    /// on the path. The ingress sends the packet again to where the session went (<see cref="FollowRedirect"/>), so no
    /// forward packet is lost to the move. When the packet cannot come back (too big for the port's MTU with the block, an
    /// announcement that carries nothing, or a session that changes transport between the routers other than a ping) the
    /// redirect is a bare segment (ACK, the sequence numbers the session last saw) or datagram of the session's transport
    /// with the keepalive control, and the packet is lost (<see cref="WorkerCounters.RedirectsWithoutPacket"/>): TCP
    /// retransmits, a datagram is gone. Reverse packets and ICMP errors of a former egress are dropped
    /// (<see cref="DropReason.NoRoute"/>). Allocation-free; one redirect per forward packet, which stop once the ingress
    /// moved (its packets then leave on another tuple).
    /// </summary>
    internal static Verdict Redirect(ref PacketContext context, ref SessionState state, WorkerResources resources, ForwardingSnapshot snapshot)
    {
        if (context.Direction != SessionDirection.Forward || context.IsIcmpError || !context.ToWaypoint)
        {
            return context.Fail(DropReason.NoRoute);
        }

        var sessions = resources.Sessions;
        var waypoint = sessions.ForwardKey(context.Session);
        var port = state.ReversePort;
        var keys = snapshot.Runtimes.PeerKeys[KeysToward(state, sessions, context.Session, forward: false, snapshot)];
        var securityId = keys.HasKeys ? keys.SecurityId : 0;
        if (CanReturn(ref context, waypoint, sessions.ReverseKey(context.Session).Protocol)
            && !context.IsSuperPacket && context.IpLength <= resources.Scratch.Length - EthernetFrame.UntaggedHeaderLength)
        {
            var headerLength = context.TransportOffset - context.NetworkOffset;
            var ip = resources.Scratch.AsSpan(EthernetFrame.UntaggedHeaderLength);
            context.Frame.Slice(context.NetworkOffset, context.IpLength).CopyTo(ip);
            TurnRound(ip, headerLength, waypoint.IsIpv6);
            var returned = SendMetadataOnly(
                ref context, state, resources, snapshot, forward: false, port, waypoint.Source, headerLength, securityId, acknowledge: false,
                transportLength: context.IpLength - headerLength, carriesPacket: true);
            if (returned == DropReason.None)
            {
                resources.Counters.RedirectsSent++;
                return Verdict.Consumed;
            }

            if (returned != DropReason.TooBig)
            {
                return context.Fail(returned);
            }
        }

        var bareHeaderLength = waypoint.IsIpv6 ? Ipv6Packet.HeaderLength : Ipv4Packet.MinHeaderLength;
        int transportLength;
        if (waypoint.Protocol == IpProtocol.Tcp)
        {
            ControlMessages.TcpSegmentOfOurOwn(
                resources.Scratch, resources.Ports[port].Mac, default, waypoint.Reversed(), state.ReverseNextSequence, state.ForwardNextSequence, TcpFlags.Ack);
            transportLength = TcpSegment.MinHeaderLength;
        }
        else
        {
            ControlMessages.UdpDatagramOfOurOwn(
                resources.Scratch, resources.Ports[port].Mac, default, waypoint.IsIpv6, waypoint.Destination, waypoint.Source, waypoint.DestinationPort, waypoint.SourcePort, []);
            transportLength = UdpDatagram.HeaderLength;
        }

        var sent = SendMetadataOnly(
            ref context, state, resources, snapshot, forward: false, port, waypoint.Source, bareHeaderLength, securityId, acknowledge: false, transportLength);
        if (sent != DropReason.None)
        {
            return context.Fail(sent);
        }

        resources.Counters.RedirectsSent++;
        resources.Counters.RedirectsWithoutPacket++;
        return Verdict.Consumed;
    }

    /// <summary>
    /// Whether a former egress's redirect may return the forward packet in hand: a TCP or UDP session that crosses between
    /// the routers in its own transport (<paramref name="waypoint"/>'s protocol is the original <paramref name="original"/>)
    /// or a ping, which crosses as UDP (<see cref="IsEcho"/>: the UDP payload is the echo request as the client sent it),
    /// and a packet that carries something for the instance (not an announcement, whose block was all it had).
    /// </summary>
    private static bool CanReturn(ref PacketContext context, in SessionKey waypoint, byte original) =>
        (waypoint.Protocol == original ? original is IpProtocol.Tcp or IpProtocol.Udp : IsEcho(original) && waypoint.Protocol == IpProtocol.Udp)
        && !(context.Metadata.Present && context.Metadata.Announcement);

    /// <summary>
    /// Turns an IP packet (header of <paramref name="headerLength"/> octets, then TCP or UDP) round in place: source and
    /// destination addresses swapped, and source and destination ports. Both swaps leave every checksum as it was.
    /// </summary>
    private static void TurnRound(Span<byte> ip, int headerLength, bool isIpv6)
    {
        var addresses = isIpv6 ? ip.Slice(Ipv6Packet.SourceOffset, 32) : ip.Slice(Ipv4Packet.SourceOffset, 8);
        var half = addresses.Length / 2;
        Span<byte> source = stackalloc byte[16];
        addresses[..half].CopyTo(source);
        addresses[half..].CopyTo(addresses);
        source[..half].CopyTo(addresses[half..]);
        var ports = ip.Slice(headerLength, 4);
        var sourcePort = BinaryPrimitives.ReadUInt16BigEndian(ports);
        BinaryPrimitives.WriteUInt16BigEndian(ports, BinaryPrimitives.ReadUInt16BigEndian(ports[2..]));
        BinaryPrimitives.WriteUInt16BigEndian(ports[2..], sourcePort);
    }

    /// <summary>
    /// At the ingress: reverse metadata that names another router as the session's destination (a redirect from the old
    /// egress, or relayed by a transit, <see cref="RelayRedirect"/>: the instance moved there) moves the session to a
    /// usable path to that router, its own or through a transit (<see cref="RedirectTarget"/>; <see cref="MoveTo"/>: new
    /// waypoint ports, metadata again, naming that router as the destination through a transit) and pins it to the instance
    /// the redirect names (its reverse context), so the new egress puts it on that instance. Whatever the service's
    /// resiliency, as <see cref="FollowHosting"/>. A redirect to a router with no usable path is counted and changes
    /// nothing; one to the router the session already goes to (<see cref="LeadsTo"/>: a later redirect, sent before the old
    /// egress saw the session leave) moves nothing again. One naming the router the session's path leads to names a transit
    /// of the session (<see cref="CrossesAsTransit"/>: the instance moved to the transit, which relayed the redirect): the
    /// session moves to new waypoint ports to that router as its destination, counted on its slot of the entry in force,
    /// so its forward metadata names no router beyond it and the transit opens it as an egress on the pinned instance. A
    /// redirect to a router the entry in force does not name as hosting the service, a transit or a neighbour (this router
    /// has not bound the move), is refused, unless the entry names no peer router at all. A redirect without the keepalive
    /// control returns the forward
    /// packet it answers (<see cref="Redirect"/>): once the session is on a path to the router named, that packet is
    /// rebuilt as the client sent it (<see cref="Return"/>) for the worker to run again, so it leaves on the new path with
    /// the session's metadata. A redirect that names this router (the instance moved to the client's own router) makes the
    /// session local instead (<see cref="MakeLocal"/>). The packet in hand is consumed. Allocation-free; runs only for a
    /// packet with such metadata.
    /// </summary>
    internal static Verdict FollowRedirect(ref PacketContext context, ref SessionState state, ForwardingSnapshot snapshot, WorkerResources resources)
    {
        ref readonly var metadata = ref context.Metadata;
        if (metadata.SessionId != state.SessionId)
        {
            // Another session's redirect on this one's tuple (its waypoint pair given back and taken again while the old
            // egress still redirected its former holder's packets): it moves nothing and its packet is not this client's.
            return context.Fail(DropReason.MetadataMismatch);
        }

        if (metadata.NamesThisRouter)
        {
            // The instance moved here, to the client's own router: the session becomes local (SvrStage.InstanceArrives.cs).
            return state.Svr == SvrRole.Ingress ? MakeLocal(ref context, ref state, snapshot, resources) : ReturnToLocal(ref context, state, resources);
        }

        var router = RedirectedRouter(metadata, snapshot);
        var path = RedirectTarget(metadata, router, state, snapshot, out var slot);
        if (path is null)
        {
            resources.Counters.RedirectsRefused++;
            return Verdict.Consumed;
        }

        // A redirect on the session's own tuple naming the router its path leads to names a transit of the session: an egress
        // never names itself, so the instance moved to that transit, which relayed the redirect (RelayRedirect). The session
        // then goes there as its destination, counted on that router's slot of the entry in force (its forward metadata then
        // names no router beyond it), which needs the entry to name that router as hosting the service. So does a redirect
        // to a neighbour: this router has not bound the move where its entry names other routers as hosting the service but
        // not that one (the routers apply a commit one by one), and a session moved there would keep its old router's slot,
        // which its forward metadata names as the destination (AddDestinationRouter): the neighbour would carry it on to the
        // old egress as a transit. Refused, the old egress redirects the client's next packet again, followed once this
        // router bound the move (or the session moved to the new router by FollowHosting when it did).
        var toTransit = CrossesAsTransit(state, snapshot, router!);
        if (slot < 0 && (toTransit || NamesPeerRouters(state, snapshot)))
        {
            resources.Counters.RedirectsRefused++;
            return Verdict.Consumed;
        }

        if (toTransit || !LeadsTo(state, snapshot, router!))
        {
            if (MoveTo(resources, context.Session, ref state, path, snapshot, toTransit || path.PeerRouter != router ? slot : -1) != DropReason.None)
            {
                resources.Counters.RedirectsRefused++;
                return Verdict.Consumed;
            }

            if (metadata.HasReverseContext)
            {
                resources.InstancePins.Pin(context.Session, state.SessionId, metadata.ReverseContext);
            }

            resources.Counters.RedirectsFollowed++;
        }

        if (!metadata.Announcement)
        {
            Return(ref context, state, resources);
        }

        return Verdict.Consumed;
    }

    /// <summary>
    /// At the ingress: a redirect that arrives on a waypoint tuple no session holds (the old egress returned several
    /// forward packets before it saw the session leave; an earlier redirect moved it and gave its tuple back). The session
    /// is found by its pin (<see cref="InstancePins.TryFindPinned"/>: the redirect's session id and reverse context); when it
    /// is an ingress session already on a path to the router the redirect names (or the local session a redirect naming
    /// this router made of it), the redirect is verified as any packet of the session (<see cref="Unseal"/>) and its
    /// returned packet sent on (<see cref="Return"/>), moving nothing again. Anything else is dropped as
    /// <see cref="DropReason.WaypointNoSession"/>, as before.
    /// </summary>
    private static Verdict FollowLateRedirect(ref PacketContext context, ForwardingSnapshot snapshot, WorkerResources resources)
    {
        ref readonly var metadata = ref context.Metadata;
        var router = metadata.NamesThisRouter ? null : RedirectedRouter(metadata, snapshot);
        if ((router is null && !metadata.NamesThisRouter) || !resources.InstancePins.TryFindPinned(metadata.SessionId, metadata.ReverseContext, out var handle)
            || !resources.Sessions.IsLive(handle))
        {
            return context.Fail(DropReason.WaypointNoSession);
        }

        ref var state = ref resources.Sessions.Payload(handle);
        var followed = metadata.NamesThisRouter
            ? MadeLocalBy(state, metadata, resources.Sessions.ReverseKey(handle))
            : state.Svr == SvrRole.Ingress && state.SessionId == metadata.SessionId && LeadsTo(state, snapshot, router!);
        if (!followed)
        {
            return context.Fail(DropReason.WaypointNoSession);
        }

        context.Session = handle;
        context.Direction = SessionDirection.Reverse;
        // A session made local keeps no SVR state: the redirect is sealed as its service requires between the routers.
        var encrypted = metadata.NamesThisRouter
            ? (uint)state.Service < (uint)snapshot.Services.Length && snapshot.Services[state.Service].Policy.Encryption == Model.EncryptionMode.Required
            : state.Sealed;
        if (Unseal(ref context, resources, snapshot, encrypted) != Verdict.Continue)
        {
            return Verdict.Drop;
        }

        // The session already went where the redirect names (followed, or made local): the packet it returns is sent on.
        // Not through FollowRedirect, which would take a redirect naming the router the session now goes to directly for
        // one naming a transit of it (CrossesAsTransit) and move the session again.
        context.Tenant = state.Tenant;
        context.Service = state.Service;
        if (!metadata.Announcement)
        {
            Return(ref context, state, resources);
        }

        return Verdict.Consumed;
    }

    /// <summary>The router a redirect names as the session's destination (TLV 17), or null when this router knows of none by that name.</summary>
    private static string? RedirectedRouter(in ReceivedMetadata metadata, ForwardingSnapshot snapshot) =>
        (uint)metadata.DestinationRouter < (uint)snapshot.RouterNames.Length ? snapshot.RouterNames[metadata.DestinationRouter]
        : (uint)metadata.OnwardPath < (uint)snapshot.PeerPaths.Length ? snapshot.PeerPaths[metadata.OnwardPath].PeerRouter
        : null;

    /// <summary>
    /// The path ingress session <paramref name="state"/> follows a redirect to <paramref name="router"/> on: a usable path
    /// of this router's own to it, else a usable path of the session's service to that router through a transit (the
    /// service's entry in force names it as a hosting router, <see cref="ServiceEntry.PeerRouters"/>); null when there is
    /// none. <paramref name="slot"/>: that router's slot in the service's entry in force, −1 when it names none.
    /// </summary>
    private static PeerPath? RedirectTarget(in ReceivedMetadata metadata, string? router, in SessionState state, ForwardingSnapshot snapshot, out int slot)
    {
        slot = -1;
        if (router is null)
        {
            return null;
        }

        var entry = (uint)state.Service < (uint)snapshot.Services.Length ? snapshot.Services[state.Service] : null;
        if (entry is not null)
        {
            slot = Array.IndexOf(entry.PeerRouters, router);
        }

        if ((uint)metadata.OnwardPath < (uint)snapshot.PeerPaths.Length)
        {
            return snapshot.PeerPaths[metadata.OnwardPath];
        }

        return slot >= 0 ? UsablePathTo(entry!, slot) : null;
    }

    /// <summary>
    /// Whether the entry in force of session <paramref name="state"/>'s service names peer routers hosting it: none when
    /// this router hosts an instance of the service itself (its sessions across routers then predate that instance) or
    /// reaches no router hosting it, where a redirect is followed on a path of this router's own to the router it names.
    /// </summary>
    private static bool NamesPeerRouters(in SessionState state, ForwardingSnapshot snapshot) =>
        (uint)state.Service < (uint)snapshot.Services.Length && snapshot.Services[state.Service].PeerRouters.Length > 0;

    /// <summary>The first usable path of <paramref name="entry"/> to the hosting router at <paramref name="slot"/>, or null.</summary>
    private static PeerPath? UsablePathTo(ServiceEntry entry, int slot)
    {
        for (var i = 0; i < entry.PeerPaths.Length; i++)
        {
            if (entry.PeerPathSlots[i] == slot && entry.PeerPaths[i].Health.IsUsable)
            {
                return entry.PeerPaths[i];
            }
        }

        return null;
    }

    /// <summary>
    /// Whether ingress session <paramref name="state"/> already goes to <paramref name="router"/>: its path leads there,
    /// or through a transit to it (the session's slot in its service's entry names it, which its forward metadata then
    /// names as the destination router).
    /// </summary>
    private static bool LeadsTo(in SessionState state, ForwardingSnapshot snapshot, string router)
    {
        if (PathOfPool(snapshot.PeerPaths, state.WaypointPool) is null)
        {
            return false;
        }

        if (CrossesAsTransit(state, snapshot, router))
        {
            return true;
        }

        if ((uint)state.Service >= (uint)snapshot.Services.Length)
        {
            return false;
        }

        var entry = snapshot.Services[state.Service];
        return entry.Runtime.NumbersSlotsAs(snapshot.Runtimes[state.Runtime])
            && (uint)state.Instance < (uint)entry.PeerRouters.Length && entry.PeerRouters[state.Instance] == router;
    }

    /// <summary>
    /// Whether ingress session <paramref name="state"/>'s path leads to <paramref name="router"/>: for a redirect that came
    /// on the session's own tuple and names that router, it is a transit of the session (the old egress, behind it, never
    /// names itself), where the instance moved.
    /// </summary>
    private static bool CrossesAsTransit(in SessionState state, ForwardingSnapshot snapshot, string router) =>
        PathOfPool(snapshot.PeerPaths, state.WaypointPool) is { } current && current.PeerRouter == router;

    /// <summary>
    /// A later redirect naming this router, for a session a redirect already made local (<see cref="MakeLocal"/>): the
    /// packet it returns is run again, to the instance here. Anything else naming this router changes nothing.
    /// </summary>
    private static Verdict ReturnToLocal(ref PacketContext context, in SessionState state, WorkerResources resources)
    {
        if (state.Svr == SvrRole.None && !context.Metadata.Announcement)
        {
            Return(ref context, state, resources);
        }

        return Verdict.Consumed;
    }

    /// <summary>
    /// Rebuilds the forward packet a redirect returned (the packet in hand, its metadata stripped: the session's transport
    /// header and payload behind the waypoint tuple) as the session's client sent it: an Ethernet frame to the port
    /// towards the client, an IP header from the client to the service's address (the session's forward key), the
    /// transport header and payload with the client's ports, checksum complete; for a ping, the echo request the UDP
    /// datagram carries (as the client sent it) under an ICMP or ICMPv6 header of the client's. The worker runs it once the
    /// packet in hand is done (<see cref="WorkerResources.ReturnedScratch"/>). Nothing when the packet is not of the
    /// session's transport (TCP or UDP; UDP for a ping) or does not fit.
    /// </summary>
    private static void Return(ref PacketContext context, in SessionState state, WorkerResources resources)
    {
        var client = resources.Sessions.ForwardKey(context.Session);
        var transport = context.Frame.Slice(context.TransportOffset, context.NetworkOffset + context.IpLength - context.TransportOffset);
        if (IsEcho(client.Protocol) && context.Key.Protocol == IpProtocol.Udp && transport.Length >= UdpDatagram.HeaderLength)
        {
            transport = transport[UdpDatagram.HeaderLength..];
        }
        else if (context.Key.Protocol != client.Protocol || client.Protocol is not (IpProtocol.Tcp or IpProtocol.Udp))
        {
            return;
        }

        var length = ControlMessages.ReturnedForwardPacket(resources.ReturnedScratch, resources.Ports[state.ReversePort].Mac, client, transport);
        if (length > 0)
        {
            resources.ReturnedLength = length;
            resources.ReturnedPort = state.ReversePort;
            resources.Counters.RedirectedPacketsResent++;
        }
    }

    /// <summary>
    /// At a new egress: the index in <paramref name="entry"/>'s instances of the instance <paramref name="pin"/> names (its
    /// tuple as it answers: its address for the client's original destination, and its port), or −1 when none here is it.
    /// </summary>
    internal static int PinnedInstance(ServiceEntry entry, in SessionKey original, in SessionKey pin)
    {
        if (pin.IsIpv6 != original.IsIpv6 || pin.Destination != original.Source || pin.DestinationPort != original.SourcePort)
        {
            return -1;
        }

        for (var i = 0; i < entry.Instances.Length; i++)
        {
            var instance = entry.Instances[i];
            var port = IsEcho(original.Protocol) || instance.Port == 0 ? original.DestinationPort : instance.Port;
            if (port == pin.SourcePort && instance.TryAddressFor(original.IsIpv6, original.Destination, out var address) && address == pin.Source)
            {
                return i;
            }
        }

        return -1;
    }
}
