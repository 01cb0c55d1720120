using Fabric.Dataplane.Forwarding;
using Fabric.Dataplane.Sessions;

namespace Fabric.Dataplane.Pipeline;

// An instance that moves to the router its client's session enters the fabric at (docs/mobility.md "An instance moves
// to the client's router"):
//
//   before:  eng1 ─► br1 (ingress) ══ waypoints br1↔dc1, session id S ══► dc1 (egress) ─► mob1
//   after:   eng1 ─► br1 (local session, NAT to mob1) ─► mob1, now on br1's own network
//
//   old egress, binding a snapshot that places the instance at the session's ingress:  Egress ─► FormerEgress, as for
//       any other router (LeaveInstance); its redirect names the ingress itself (TLV 17) and pins the instance (TLV 4/5)
//   ingress, a redirect naming this router:  MakeLocal: the session becomes a local session to the pinned instance,
//       keeping its forward key, TCP state, counters and session id; its reverse key becomes the instance's tuple; the
//       waypoint pair, the path's count and the hosting router's load slot are given back; the returned packet runs again
//   ingress, a later redirect on the tuple given back:  the local session found by its pin, the packet run again
//   old egress:  no more packets come; its former egress ends at its idle timeout
public static partial class SvrStage
{
    /// <summary>
    /// At the ingress: a redirect (reverse metadata of the old egress) that names this router as where the session's
    /// instance went, and pins the instance (its reverse context: the instance's tuple as it answers). When this router's
    /// snapshot hosts that instance among the session's service's instances, the SVR ingress session becomes a <b>local
    /// session</b> to it, without a reset and without a new session: the same forward key (the client's tuple), TCP state,
    /// counters and session id; the reverse key re-keyed to the instance's tuple, so the NAT of each direction is the one a
    /// local session to that instance has; forward packets leave by the instance's port. What the ingress session held is
    /// given back: its waypoint pair (to its path's pool), its place on the path (counted moved off,
    /// <see cref="Svr.PeerPathHealth.SessionMovedOff"/>), the hosting router's load slot and its admission, which move to
    /// the service's runtime in force (admitted as an existing session, as a replica is: limits do not apply) and its
    /// instance's load. On a router of several workers the instance's tuple is published in the owner directory as a
    /// local session's is (<see cref="WorkerResources.SessionMadeLocal"/>). The session stays pinned
    /// (<see cref="InstancePins"/>) so a later redirect of the same move finds it (<see cref="FollowLateRedirect"/>).
    /// Then the packet the redirect returned is rebuilt as the client sent it and run again: it reaches the instance here.
    /// Counted in <see cref="WorkerCounters.SessionsMadeLocal"/>; a redirect naming this router for an instance this
    /// snapshot does not host (this router has not bound the move yet, or the instance went elsewhere since), or without a
    /// pin, changes nothing and is counted in <see cref="WorkerCounters.RedirectsRefused"/> (its packet is lost; TCP sends
    /// it again, and the old egress redirects again). The packet in hand is consumed. Allocation-free; runs only for such
    /// a redirect.
    /// </summary>
    private static Verdict MakeLocal(ref PacketContext context, ref SessionState state, ForwardingSnapshot snapshot, WorkerResources resources)
    {
        ref readonly var metadata = ref context.Metadata;
        var handle = context.Session;
        var sessions = resources.Sessions;
        var client = sessions.ForwardKey(handle);
        if (!metadata.HasReverseContext || (uint)state.Service >= (uint)snapshot.Services.Length
            || !TryLocalInstance(snapshot.Services[state.Service], client, metadata.ReverseContext, out var instance, out var reverse))
        {
            resources.Counters.RedirectsRefused++;
            return Verdict.Consumed;
        }

        if (!sessions.TryRekey(handle, SessionDirection.Reverse, reverse))
        {
            // The instance's tuple is another session's (the client opened one to it here already): this one stays.
            resources.Counters.RedirectsRefused++;
            return Verdict.Consumed;
        }

        snapshot.Runtimes.Waypoints[state.WaypointPool].Release(state.LocalWaypointPort, state.PeerWaypointPort);
        snapshot.Runtimes.PathHealth[state.WaypointPool].SessionMovedOff();
        var entry = snapshot.Services[state.Service];
        MoveToRuntimeInForce(snapshot, entry, ref state, instance);
        state.ForwardPort = (short)entry.Instances[instance].EgressPort;
        state.Svr = SvrRole.None;
        state.SendMetadata = false;
        state.Unanswered = 0;
        state.WaypointPool = -1;
        state.LocalWaypointPort = 0;
        state.PeerWaypointPort = 0;
        state.PeerKeys = 0;
        state.Sealed = false;
        resources.SessionMadeLocal(handle);
        resources.InstancePins.Pin(handle, state.SessionId, reverse);
        resources.Counters.SessionsMadeLocal++;
        if (!metadata.Announcement)
        {
            Return(ref context, state, resources);
        }

        return Verdict.Consumed;
    }

    /// <summary>
    /// The instance of <paramref name="entry"/> on this router that <paramref name="pin"/> names for the client's tuple
    /// <paramref name="client"/> (<see cref="PinnedInstance"/>), and the reverse key a local session to it has
    /// (<see cref="TryInstanceReverseKey"/>); false when none here is it.
    /// </summary>
    private static bool TryLocalInstance(ServiceEntry entry, in SessionKey client, in SessionKey pin, out int instance, out SessionKey reverse)
    {
        reverse = default;
        instance = PinnedInstance(entry, client, pin);
        return instance >= 0 && TryInstanceReverseKey(entry.Instances[instance], client, out reverse);
    }

    /// <summary>
    /// A late redirect naming this router (the old egress returned several packets before it saw the session leave), found
    /// by its pin: whether session <paramref name="state"/> is the local session such a redirect made of the session it
    /// names (<see cref="MakeLocal"/>: the same session id, its reverse key the pinned instance's tuple).
    /// </summary>
    private static bool MadeLocalBy(in SessionState state, in ReceivedMetadata metadata, in SessionKey reverse) =>
        state.Svr == SvrRole.None && metadata.NamesThisRouter && state.SessionId == metadata.SessionId && reverse == metadata.ReverseContext;
}
