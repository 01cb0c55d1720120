using Fabric.Dataplane.Forwarding;
using Fabric.Dataplane.Sessions;
using Fabric.Dataplane.Svr;

namespace Fabric.Dataplane.Pipeline;

// A local session whose instance moves to another router (docs/mobility.md "A local session's instance moves away"), the
// way back of SvrStage.InstanceArrives.cs:
//
//   before:  eng1 ─► br1 (local session, NAT 10.200.0.90:7000 ⇄ 10.10.1.40:7000) ─► mob1 on br1's own network
//   commit:  mob1 br1 → dc1 (same address)
//   after:   eng1 ─► br1 (ingress, same session) ══ new waypoints br1↔dc1, metadata + pin ══► dc1 (egress, the pin honoured) ─► mob1
//
//   ingress, binding a snapshot that places the instance of a local session at router R:  MakeRemote: the session becomes
//       an SVR ingress session on a path to R, keeping its forward key, TCP state, counters and (when it has one) session
//       id; its reverse key becomes a waypoint tuple; metadata on its next forward packets, pinned to the instance
//   new egress R, Accept:  opens the session mid-flow on the pinned instance, rewriting to the tuple the instance saw
//       before (its address and port, the client's address and port): the instance sees one connection
public static partial class SvrStage
{
    /// <summary>
    /// Whether local session <paramref name="state"/> (its instance answers with <paramref name="reverse"/>) lost its
    /// instance to another router under <paramref name="next"/>: a local session, not closed, whose instance's address the
    /// snapshot places at another router and which is no instance of its service here. <paramref name="router"/> is that
    /// router. <paramref name="service"/> is the session's service as an index of <paramref name="next"/>.
    /// </summary>
    internal static bool LocalInstanceMovedAway(ForwardingSnapshot next, in SessionState state, int service, in SessionKey reverse, in TcpTracker tcp, out string router)
    {
        router = "";
        if (state.Svr != SvrRole.None || tcp.IsClosed
            || !next.RouterOfContainer.TryGetValue(new ClientAddress(reverse.Source, reverse.IsIpv6), out var placed)
            || placed == next.Router)
        {
            return false;
        }

        var rebound = state;
        rebound.Service = (short)service;
        if (InstanceAnswering(next, rebound, reverse) >= 0)
        {
            return false;
        }

        router = placed;
        return true;
    }

    /// <summary>
    /// Turns local session <paramref name="handle"/>, whose instance <paramref name="next"/> places at
    /// <paramref name="router"/> (<see cref="LocalInstanceMovedAway"/>), into an <b>SVR ingress session</b> to that router,
    /// without a reset and without a new session: the same forward key (the client's tuple), TCP state, counters, tenant
    /// and service; the session id it has (a session once made local keeps the one it crossed the fabric with, so the old
    /// egress's copy is adopted again), else a new one. It takes a usable path to the router, its own or the service's
    /// through a transit (<see cref="PathToPlaced"/>), and new waypoint ports there; its reverse key becomes that waypoint
    /// tuple, and metadata goes on its next forward packets (the original tuple, tenant, service, session id) with the
    /// instance's tuple, which was its reverse key, as its <b>pin</b> (<see cref="InstancePins"/>): the new egress opens
    /// the session on that instance (not a sibling), rewriting to the same tuple this router rewrote to, so the instance
    /// sees the connection it had. Its admission moves to the service's runtime in force (taken as an existing session,
    /// as an HA replica is: limits do not apply; the old runtime released), its instance's load is given back and it
    /// counts against the router's slot when the service's entry names it. On a router of several workers the instance's
    /// tuple the local session published in the owner directory is withdrawn; the instance's answers now come on a
    /// waypoint pair of this worker's lane. Counted in <see cref="WorkerCounters.SessionsMadeRemote"/> and as moved onto the
    /// path. False, and nothing changed, when there is no usable path, no keys an encrypted service or the path requires,
    /// no waypoint pair, or a path that cannot carry the session. Runs when the worker binds a snapshot
    /// (<see cref="SessionRebinding"/>); allocates nothing.
    /// </summary>
    internal static bool MakeRemote(ForwardingSnapshot next, WorkerResources resources, int handle, ref SessionState state, string router, long now)
    {
        if (state.Svr != SvrRole.None || (uint)state.Service >= (uint)next.Services.Length)
        {
            return false;
        }

        var sessions = resources.Sessions;
        var client = sessions.ForwardKey(handle);
        var entry = next.Services[state.Service];
        var path = PathToPlaced(entry, next, router, out var slot);
        if (path is null)
        {
            return false;
        }

        if (RefusesToSignal(next, entry, path))
        {
            return false;
        }

        var instance = sessions.ReverseKey(handle);
        if (TakeWaypoints(resources, handle, path, client.Protocol, client.IsIpv6, out var localPort, out var peerPort) != DropReason.None)
        {
            return false;
        }

        resources.SessionMadeRemote(instance);
        MoveToRuntimeInForce(next, entry, ref state, slot);
        state.Svr = SvrRole.Ingress;
        state.ReverseSeenAt = now;
        state.OriginalProtocol = client.Protocol;
        state.IsIpv6 = client.IsIpv6;
        RecordWaypoints(ref state, path, localPort, peerPort);
        state.Sealed = entry.Policy.Encryption == Model.EncryptionMode.Required;
        if (state.SessionId == 0)
        {
            state.SessionId = (uint)resources.NextRandom() | 1;
        }

        resources.InstancePins.Pin(handle, state.SessionId, instance);
        path.Health.SessionMovedFrom(null);
        resources.Counters.SessionsMadeRemote++;
        return true;
    }

    /// <summary>
    /// The usable path a session of <paramref name="entry"/> takes to <paramref name="router"/>: one of the service's to
    /// that router's slot (directly, or through a transit, whose forward metadata then names the router), else one of this
    /// router's own to it (the service's entry names no peer routers while a sibling instance stays here). Null when there
    /// is none. <paramref name="slot"/>: the router's slot in the entry, −1 when it names none.
    /// </summary>
    private static PeerPath? PathToPlaced(ServiceEntry entry, ForwardingSnapshot snapshot, string router, out int slot)
    {
        slot = Array.IndexOf(entry.PeerRouters, router);
        if (slot >= 0 && UsablePathTo(entry, slot) is { } toSlot)
        {
            return toSlot;
        }

        foreach (var path in snapshot.PeerPaths)
        {
            if (path.PeerRouter == router && path.Health.IsUsable)
            {
                return path;
            }
        }

        return null;
    }
}
