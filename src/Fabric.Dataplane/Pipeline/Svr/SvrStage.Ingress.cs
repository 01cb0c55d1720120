using Fabric.Dataplane.Forwarding;
using Fabric.Dataplane.Sessions;
using Fabric.Dataplane.Svr;
using Fabric.Dataplane.Svr.Security;
using Fabric.Dataplane.Wire;

namespace Fabric.Dataplane.Pipeline;

// The ingress side of an established session: every forward packet checks that the session's peer path is usable
// (and within its service's path quality) and moves the session to another path (or back home) as the service's
// resiliency allows. New ingress sessions are opened by SessionOpening with PeerRoute.Ingress; which path both take:
// Svr/PeerPathChoice.
public static partial class SvrStage
{
    /// <summary>
    /// Keeps a forward packet of an ingress session on a live peer path of the quality its service requires. A service
    /// with <c>failover</c> or <c>revertible-failover</c> resiliency moves the session (<see cref="PeerPathChoice.MoveTarget"/>)
    /// off a path that is down, or that breaks the service's path quality, to another (to the same peer router first,
    /// else to another router hosting the service): new waypoint ports, and metadata again so the egress takes the new
    /// tuple for the same session. Under <c>revertible-failover</c> with ordered path choice a session away from its home
    /// path (the first in configuration order the service takes and that may signal it) goes back once that path is up and within quality
    /// again (after its hold-down). A service without failover keeps its path; its packets are dropped
    /// (<see cref="DropReason.PeerPathDown"/>) while the path is down. Sessions move when their next forward packet
    /// comes, so an idle session costs nothing; a packet whose path is healthy only reads the path's state.
    /// </summary>
    public static Verdict FollowPath(ref PacketContext context, ref SessionState state, ForwardingSnapshot snapshot, WorkerResources resources)
    {
        var current = PathOfPool(snapshot.PeerPaths, state.WaypointPool);
        var usable = current is not null && current.Health.IsUsable;
        var services = snapshot.Services;
        if ((uint)state.Service >= (uint)services.Length)
        {
            return usable ? Verdict.Continue : context.Fail(DropReason.PeerPathDown);
        }

        var entry = services[state.Service];
        var resiliency = entry.Policy.Resiliency;
        if (resiliency == Model.SessionResiliency.None)
        {
            return usable ? Verdict.Continue : context.Fail(DropReason.PeerPathDown);
        }

        if (usable && resiliency != Model.SessionResiliency.RevertibleFailover && current!.Health.Admits(entry.QualityBound, context.Now))
        {
            return Verdict.Continue;
        }

        var next = PeerPathChoice.MoveTarget(entry, current, resiliency == Model.SessionResiliency.RevertibleFailover, context.Now, snapshot.Runtimes.PeerKeys, out var slot);
        if (next is null)
        {
            return usable ? Verdict.Continue : context.Fail(DropReason.PeerPathDown);
        }

        // Not onto a path that may not signal the session yet (it would be dropped there, its pair here given back).
        var refused = RefusesToSignal(snapshot, entry, next) ? DropReason.NoPeerKeys : MoveTo(resources, context.Session, ref state, next, snapshot, SlotToGive(entry, next, slot));
        // Refused (no keys yet to signal it there, no free pair there, its tuple held): a session whose path still carries
        // it stays there, and tries again with its next forward packet; one whose path is down is dropped for why it did not move.
        return refused == DropReason.None || usable ? Verdict.Continue : context.Fail(refused);
    }

    /// <summary>
    /// Workload mobility (docs/mobility.md): an ingress session whose path no longer leads to a router
    /// hosting its service (the instance moved to another router, by a commit or by the CNI plugin's detach and attach)
    /// moves to a path to a router that hosts the service now: one that did not host it under <paramref name="before"/>
    /// (the service's entry in the snapshot the session was bound to: where the instance went), else as
    /// <see cref="PeerPathChoice.ForNewSession"/> picks it. A session whose path leads to a router hosting the service
    /// through a transit moves too when the router it goes to (its destination) no longer hosts the service and the transit
    /// does now (<see cref="TransitHostingInstead"/>: the instance moved to the transit): to the one new host, else to the
    /// transit, as its destination (the slot in force given to <see cref="MoveTo"/>, so its forward metadata names that
    /// router), whether or not the old destination is up to redirect it. When several routers newly host the
    /// service and the session's path is usable, it stays: the old egress knows where its instance went and redirects it there
    /// (<see cref="Redirect"/>); through a transit, that path is usable whether or not the old egress is up, so with it down
    /// such a session stays until it ends. New waypoint ports, and metadata again on its next forward
    /// packet, so the new egress adopts it mid-flow with the
    /// same session id and original tuple. Whatever the service's resiliency: a workload that moves is no failure. A
    /// session whose service has no host beyond a peer now stays where it is (a later snapshot looks again), and a TCP
    /// session that closed stays to linger out. Runs on the
    /// worker's thread when it first runs a new snapshot (<see cref="SessionRebinding"/>), never per packet; allocates
    /// nothing. Returns whether the session moved.
    /// </summary>
    internal static bool FollowHosting(ServiceEntry? before, ForwardingSnapshot snapshot, WorkerResources resources, int handle, ref SessionState state, long now)
    {
        if (state.Svr != SvrRole.Ingress || (uint)state.Service >= (uint)snapshot.Services.Length || resources.Sessions.Tcp(handle).IsClosed)
        {
            return false;
        }

        var entry = snapshot.Services[state.Service];
        var current = PathOfPool(snapshot.PeerPaths, state.WaypointPool);
        if (entry.PeerPaths.Length == 0)
        {
            return false;
        }

        var transit = -1;
        if (current is not null && entry.SlotOf(current) >= 0)
        {
            transit = TransitHostingInstead(before, entry, state, current, snapshot.Runtimes[state.Runtime]);
            if (transit < 0)
            {
                return false;
            }
        }

        var newHost = PathToNewHost(entry, before, out var severalNewHosts, out var newHostSlot);
        if (severalNewHosts && current is not null && current.Health.IsUsable)
        {
            // Which of them the instance went to only the old egress knows: the session stays until its redirect names it.
            return false;
        }

        if (transit >= 0)
        {
            // The session went through its path's router to one that no longer hosts the service, and that router hosts it
            // now: it goes to the one new host (where the instance went), else to that router, as its destination, counted
            // on its slot of the entry in force, which its forward metadata names (as FollowRedirect does for a redirect
            // naming a transit of the session, CrossesAsTransit).
            var slot = newHost is null ? transit : newHostSlot;
            var path = newHost ?? UsablePathTo(entry, transit);
            return path is not null && MoveTo(resources, handle, ref state, path, snapshot, slot) == DropReason.None;
        }

        if (newHost is not null)
        {
            // A new host behind a transit is named by its slot, so the forward metadata names it as the destination through
            // the transit (AddDestinationRouter); one the path leads to directly is the path's own slot (MoveTo's −1).
            var throughTransit = newHost.PeerRouter != entry.PeerRouters[newHostSlot];
            return MoveTo(resources, handle, ref state, newHost, snapshot, throughTransit ? newHostSlot : -1) == DropReason.None;
        }

        var next = PeerPathChoice.ForNewSession(entry, slot: -1, now, snapshot.Runtimes.PeerKeys, out var chosenSlot);
        return next is not null && MoveTo(resources, handle, ref state, next, snapshot, SlotToGive(entry, next, chosenSlot)) == DropReason.None;
    }

    /// <summary>
    /// For ingress session <paramref name="state"/>, whose <paramref name="current"/> path leads to a router hosting its
    /// service under <paramref name="entry"/> (the entry in force): the slot in <paramref name="entry"/> of that path's
    /// router when the session goes through it as a transit to a destination router that no longer hosts the service
    /// while the path's router does (the instance moved to a transit of the session, or the destination stopped hosting
    /// it); −1 otherwise. The destination is the router the session counts on under <paramref name="before"/> (the entry
    /// the session was bound to): read by the session's slot where <paramref name="admittedBy"/>, the runtime that admitted
    /// it, numbers its slots as that entry's runtime (<see cref="ServiceRuntime.NumbersSlotsAs"/>: an earlier commit changed
    /// the policy or the tenants only); one admitted over other slots (an earlier commit changed the instances) gives −1.
    /// </summary>
    private static int TransitHostingInstead(ServiceEntry? before, ServiceEntry entry, in SessionState state, PeerPath current, ServiceRuntime admittedBy)
    {
        if (before is null || !before.Runtime.NumbersSlotsAs(admittedBy) || (uint)state.Instance >= (uint)before.PeerRouters.Length)
        {
            return -1;
        }

        var destination = before.PeerRouters[state.Instance];
        return destination == current.PeerRouter || Array.IndexOf(entry.PeerRouters, destination) >= 0
            ? -1
            : Array.IndexOf(entry.PeerRouters, current.PeerRouter);
    }

    /// <summary>
    /// The first usable path of <paramref name="entry"/> to a router that hosts the service and did not under
    /// <paramref name="before"/>; null when none. <paramref name="several"/>: more than one router newly hosts it (told by
    /// the hosting routers' slots, not the paths' peers: two new hosts behind one transit are several).
    /// <paramref name="slot"/>: the slot in <paramref name="entry"/> of the router that path leads to; −1 when none.
    /// </summary>
    private static PeerPath? PathToNewHost(ServiceEntry entry, ServiceEntry? before, out bool several, out int slot)
    {
        several = false;
        slot = -1;
        if (before is null)
        {
            return null;
        }

        PeerPath? first = null;
        for (var i = 0; i < entry.PeerPaths.Length; i++)
        {
            var path = entry.PeerPaths[i];
            var router = entry.PeerRouters[entry.PeerPathSlots[i]];
            if (!path.Health.IsUsable || Array.IndexOf(before.PeerRouters, router) >= 0)
            {
                continue;
            }

            if (first is null)
            {
                first = path;
                slot = entry.PeerPathSlots[i];
            }
            else if (entry.PeerPathSlots[i] != slot)
            {
                // Another hosting router, not another path to the same one (two paths, or one through a transit and one direct).
                several = true;
            }
        }

        return first;
    }

    /// <summary>
    /// Puts ingress session <paramref name="handle"/> on <paramref name="path"/>: new waypoint ports there, the old ones
    /// given back, metadata again. <paramref name="slot"/>: the hosting router (its slot in the service's entry in force)
    /// the session goes to, given by a redirect or by <see cref="FollowHosting"/>: a router behind a transit (perhaps the one the session already crosses: the
    /// same path, new ports), or the transit itself as the destination (the instance moved there); the session then counts
    /// against the service's runtime in force, whichever admitted it. −1: the one the path leads to, counted only when the
    /// runtime in force numbers its slots as the one that admitted the session (<see cref="ServiceRuntime.NumbersSlotsAs"/>). Returns
    /// <see cref="DropReason.None"/>, or why it stays where it was (a path that does not carry the session's protocol and
    /// family: <see cref="DropReason.NoRoute"/>; no pair free there: <see cref="DropReason.WaypointsExhausted"/>). A path
    /// without keys yet is taken: the session waits there for them (a workload's move is made once, per commit).
    /// </summary>
    private static DropReason MoveTo(WorkerResources resources, int handle, ref SessionState state, PeerPath path, ForwardingSnapshot snapshot, int slot = -1)
    {
        var taken = TakeWaypoints(resources, handle, path, state.OriginalProtocol, state.IsIpv6, out var localPort, out var peerPort);
        if (taken != DropReason.None)
        {
            return taken;
        }

        snapshot.Runtimes.Waypoints[state.WaypointPool].Release(state.LocalWaypointPort, state.PeerWaypointPort);
        var entry = snapshot.Services[state.Service];
        var inForce = entry.Runtime.Id == state.Runtime;
        var router = slot >= 0 ? slot : entry.Runtime.NumbersSlotsAs(snapshot.Runtimes[state.Runtime]) ? entry.SlotOf(path) : -1;
        if (router >= 0 && (router != state.Instance || !inForce))
        {
            // The session now counts against the router it moved to, under the runtime in force. Admitted under a runtime
            // a later commit replaced over other slots, it moves only with a slot given: the slot is the runtime in force's,
            // and the forward metadata names the router through the transit by it (AddDestinationRouter).
            MoveToRuntimeInForce(snapshot, entry, ref state, router);
        }

        var previousPool = state.WaypointPool;
        RecordWaypoints(ref state, path, localPort, peerPort);
        path.Health.SessionMovedFrom(snapshot.Runtimes.PathHealth[previousPool]);
        resources.Counters.SessionsMoved++;
        return DropReason.None;
    }

    /// <summary>
    /// Takes a new waypoint pair on <paramref name="path"/> for session <paramref name="handle"/>, whose original tuple is
    /// of <paramref name="protocol"/> and of the family <paramref name="isIpv6"/> says: its reverse key becomes the pair's
    /// tuple as the peer's packets arrive on it. The caller records the ports in the session's state and gives back what
    /// the session held before. Returns <see cref="DropReason.None"/>, or why nothing changed: a path that does not carry
    /// the session (<see cref="DropReason.NoRoute"/>), no free pair, or a pair whose tuple another session holds (given
    /// back; <see cref="DropReason.WaypointsExhausted"/>). Allocates nothing.
    /// </summary>
    private static DropReason TakeWaypoints(WorkerResources resources, int handle, PeerPath path, byte protocol, bool isIpv6, out ushort localPort, out ushort peerPort)
    {
        localPort = 0;
        peerPort = 0;
        if (!PeerPath.Carries(protocol, isIpv6))
        {
            return DropReason.NoRoute;
        }

        if (!path.Waypoints.TryAllocate(out localPort, out peerPort, resources.Shard.Index))
        {
            return DropReason.WaypointsExhausted;
        }

        var transport = PeerPath.TransportFor(protocol);
        if (!resources.Sessions.TryRekey(handle, SessionDirection.Reverse, path.FromPeer(peerPort, localPort, transport)))
        {
            path.Waypoints.Release(localPort, peerPort);
            return DropReason.WaypointsExhausted;
        }

        return DropReason.None;
    }

    /// <summary>
    /// Whether a session of <paramref name="entry"/>'s service may not be signalled on <paramref name="path"/> under
    /// <paramref name="snapshot"/> (fail closed): the service requires encryption and the path has no keys yet, or the path
    /// has none and its peer would refuse unauthenticated metadata. Such a session is refused rather than sent in clear.
    /// </summary>
    internal static bool RefusesToSignal(ForwardingSnapshot snapshot, ServiceEntry entry, PeerPath path) =>
        !PeerPathChoice.MaySignal(entry, path, snapshot.Runtimes.PeerKeys);

    /// <summary>
    /// The slot to give <see cref="MoveTo"/> for a move onto <paramref name="path"/> chosen for the hosting router in
    /// <paramref name="slot"/>: −1 (MoveTo finds the path's slot itself) unless the path is a transit's listed under several
    /// routers' slots and the choice was made for another than the first.
    /// </summary>
    private static int SlotToGive(ServiceEntry entry, PeerPath path, int slot) => entry.SlotOf(path) == slot ? -1 : slot;

    /// <summary>
    /// Records in <paramref name="state"/> that its session crosses <paramref name="path"/> on the waypoint pair
    /// <paramref name="localPort"/>, <paramref name="peerPort"/> (<see cref="TakeWaypoints"/>): the path's pool, the pair,
    /// the port its forward packets leave by and the peer's keys; and that its next packets signal it again (metadata until
    /// the far router answers).
    /// </summary>
    private static void RecordWaypoints(ref SessionState state, PeerPath path, ushort localPort, ushort peerPort)
    {
        state.WaypointPool = (short)path.PoolId;
        state.LocalWaypointPort = localPort;
        state.PeerWaypointPort = peerPort;
        state.ForwardPort = (short)path.Port;
        state.PeerKeys = (short)path.KeysId;
        state.SendMetadata = true;
        state.Unanswered = 0;
    }

    /// <summary>
    /// Moves session <paramref name="state"/> to <paramref name="entry"/>'s runtime, its service's runtime in force under
    /// <paramref name="snapshot"/>, counting against <paramref name="slot"/> of its load (an instance at an egress or a
    /// local session, a hosting router's slot at an ingress; −1: none): its load is given back to
    /// the runtime that admitted it (<see cref="SessionState.Runtime"/>, at its <see cref="SessionState.Instance"/>); where
    /// a later commit replaced that runtime, the old one hands it on to the one in force (it stays one of the service's
    /// sessions for max-sessions; limits do not apply to a session that exists). Allocates nothing.
    /// </summary>
    private static void MoveToRuntimeInForce(ForwardingSnapshot snapshot, ServiceEntry entry, ref SessionState state, int slot)
    {
        var admittedBy = snapshot.Runtimes[state.Runtime];
        if (state.Instance >= 0)
        {
            admittedBy.Load.OnSessionEnd(state.Instance);
        }

        if (!ReferenceEquals(entry.Runtime, admittedBy))
        {
            admittedBy.Admission.HandOver(entry.Runtime.Admission);
            state.Runtime = entry.Runtime.Id;
        }

        if (slot >= 0)
        {
            entry.Runtime.Load.OnSessionStart(slot);
        }

        state.Instance = (short)slot;
    }
}
