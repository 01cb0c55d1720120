using Fabric.Dataplane.Forwarding;
using Fabric.Dataplane.Sessions;
using Fabric.Dataplane.Wire;

namespace Fabric.Dataplane.Pipeline;

// An instance that moves to another router while sibling instances of its service stay here (docs/mobility.md "An
// instance moves"). The ingress cannot see it (its router still hosts the service); the old egress can:
//
//   old egress, binding a snapshot that places the instance at router R:  Egress ─► FormerEgress (LeaveInstance)
//   old egress, each forward packet of a former egress:  not delivered; answered with a redirect (Redirect): reverse
//       metadata on the session's waypoint tuple, no payload, carrying the instance's tuple (reverse context, TLV 4/5),
//       the session id, the keepalive control and R (destination router, TLV 17)
//   ingress, a reverse packet whose metadata names another router:  FollowRedirect: the session moves to R (MoveTo, the
//       move FollowHosting makes), pinned to the instance (InstancePins); the packet is consumed
//   ingress, forward metadata while it re-signals:  the pin as reverse context (WriteBlock)
//   new egress R, Accept:  InstanceRoute.Egress puts the session on the instance the pin names when R hosts it
public static partial class SvrStage
{
    /// <summary>
    /// Whether egress session <paramref name="state"/> (its instance answers with <paramref name="reverse"/>) should
    /// become a former egress under <paramref name="next"/>: an SVR egress, not closed, whose instance's address the
    /// snapshot places at another router, one that is neither this router nor the peer the session came from (an instance
    /// that moved to the client's own router is not followed). <paramref name="router"/> is that router.
    /// </summary>
    internal static bool InstanceMovedAway(ForwardingSnapshot next, in SessionState state, in SessionKey forward, in SessionKey reverse, in TcpTracker tcp, out string router)
    {
        router = "";
        if (state.Svr != SvrRole.Egress || tcp.IsClosed
            || !next.RouterOfContainer.TryGetValue(new ClientAddress(reverse.Source, reverse.IsIpv6), out var placed)
            || placed == next.Router)
        {
            return false;
        }

        if (next.TryFindPeer(forward.Source, forward.IsIpv6, out var peer) && peer.PeerRouter == placed)
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
    /// before, and its re-signal from where the session went is adopted (<see cref="TryAdoptMoved"/>). Returns whether it
    /// returned. Runs when the worker binds a snapshot; allocates nothing.
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
        if (entry.Runtime.Id == state.Runtime)
        {
            state.Instance = (short)instance;
            entry.Runtime.Load.OnSessionStart(instance);
        }

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
    /// ingress (see the drawing above; written by <see cref="WriteBlock"/>, sent by <see cref="SendMetadataOnly"/>), a bare
    /// segment (ACK, the sequence numbers the session last saw) or datagram of the session's transport on its waypoint
    /// tuple, sealed as any metadata on the path. The packet itself is consumed: the sender sends it again once its
    /// ingress moved the session (TCP retransmits; a lost datagram is lost, as on any move). Reverse packets and ICMP
    /// errors of a former egress are dropped (<see cref="DropReason.NoRoute"/>). Allocation-free; one redirect per forward
    /// packet, which stop once the ingress moved (its packets then leave on another tuple).
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
        var headerLength = waypoint.IsIpv6 ? Ipv6Packet.HeaderLength : Ipv4Packet.MinHeaderLength;
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

        var keys = snapshot.Runtimes.PeerKeys[KeysToward(state, sessions, context.Session, forward: false, snapshot)];
        var sent = SendMetadataOnly(
            ref context, state, resources, snapshot, forward: false, port, waypoint.Source, headerLength, keys.HasKeys ? keys.SecurityId : 0, acknowledge: false, transportLength);
        if (sent != DropReason.None)
        {
            return context.Fail(sent);
        }

        resources.Counters.RedirectsSent++;
        return Verdict.Consumed;
    }

    /// <summary>
    /// At the ingress: reverse metadata that names another router as the session's destination (a redirect from the old
    /// egress: the instance moved there) moves the session to a usable path to that router (<see cref="MoveTo"/>: new
    /// waypoint ports, metadata again) and pins it to the instance the redirect names (its reverse context), so the new
    /// egress puts it on that instance. Whatever the service's resiliency, as <see cref="FollowHosting"/>. A redirect to a
    /// router with no usable path, or that the session's path already leads to, is counted and changes nothing. The
    /// packet (a bare segment or datagram) is consumed. Allocation-free; runs only for a packet with such metadata.
    /// </summary>
    internal static Verdict FollowRedirect(ref PacketContext context, ref SessionState state, ForwardingSnapshot snapshot, WorkerResources resources)
    {
        ref readonly var metadata = ref context.Metadata;
        var path = (uint)metadata.OnwardPath < (uint)snapshot.PeerPaths.Length ? snapshot.PeerPaths[metadata.OnwardPath] : null;
        var current = PathOfPool(snapshot.PeerPaths, state.WaypointPool);
        if (path is null || (current is not null && current.PeerRouter == path.PeerRouter)
            || MoveTo(resources, context.Session, ref state, path, snapshot) != DropReason.None)
        {
            resources.Counters.RedirectsRefused++;
            return Verdict.Consumed;
        }

        if (metadata.HasReverseContext)
        {
            resources.InstancePins.Pin(context.Session, state.SessionId, metadata.ReverseContext);
        }

        resources.Counters.RedirectsFollowed++;
        return Verdict.Consumed;
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
