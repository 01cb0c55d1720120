using Fabric.Dataplane.Forwarding;
using Fabric.Dataplane.Sessions;
using Fabric.Dataplane.Wire;

namespace Fabric.Dataplane.Pipeline;

// The ingress side of an established session: every forward packet checks that the session's peer path is usable
// and moves the session to another path (or back home) as the service's resiliency allows. New ingress sessions are
// opened by SessionOpening with PeerRoute.Ingress, which takes its path from PathToward.
public static partial class SvrStage
{
    /// <summary>
    /// Keeps a forward packet of an ingress session on a live peer path. While the session's path is down, a
    /// service with <c>failover</c> or <c>revertible-failover</c> resiliency moves the session to another live
    /// path (to the same peer router first, else to another router hosting the service): new waypoint ports, and
    /// metadata again so the egress takes the new tuple for the same session. Under <c>revertible-failover</c> a
    /// session away from its home path (the service's preferred one, first in configuration order) goes back once
    /// that path is up again (after its hold-down). A service
    /// without failover keeps its path; its packets are dropped (<see cref="DropReason.PeerPathDown"/>) while the
    /// path is down. Sessions move when their next forward packet comes, so an idle session costs nothing.
    /// </summary>
    public static Verdict FollowPath(ref PacketContext context, ref SessionState state, ForwardingSnapshot snapshot, WorkerResources resources)
    {
        var current = PathOfPool(snapshot.PeerPaths, state.WaypointPool);
        var services = snapshot.Services;
        var resiliency = (uint)state.Service < (uint)services.Length ? services[state.Service].Policy.Resiliency : Model.SessionResiliency.None;
        if (current is not null && current.Health.IsUsable)
        {
            if (resiliency != Model.SessionResiliency.RevertibleFailover)
            {
                return Verdict.Continue;
            }

            // Home is the service's preferred path (the first in configuration order).
            var home = services[state.Service].PeerPaths;
            return home.Length > 0 && home[0].PoolId != state.WaypointPool && home[0].Health.IsUsable
                ? Move(ref context, ref state, home[0], snapshot, resources)
                : Verdict.Continue;
        }

        if (resiliency == Model.SessionResiliency.None || (uint)state.Service >= (uint)services.Length)
        {
            return context.Fail(DropReason.PeerPathDown);
        }

        var next = FirstUsable(services[state.Service].PeerPaths, current?.PeerRouter);
        return next is null ? context.Fail(DropReason.PeerPathDown) : Move(ref context, ref state, next, snapshot, resources);
    }

    /// <summary>The first usable path, one to <paramref name="preferRouter"/> before any other; null when none is up.</summary>
    private static PeerPath? FirstUsable(PeerPath[] paths, string? preferRouter)
    {
        PeerPath? found = null;
        for (var i = 0; i < paths.Length; i++)
        {
            var path = paths[i];
            if (!path.Health.IsUsable)
            {
                continue;
            }

            if (preferRouter is null || path.PeerRouter == preferRouter)
            {
                return path;
            }

            found ??= path;
        }

        return found;
    }

    /// <summary>The first usable path that leads to the hosting router in <paramref name="slot"/> (directly or through a transit), or null.</summary>
    private static PeerPath? FirstUsableTo(ServiceEntry entry, int slot)
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

    /// <summary>The path a new ingress session to the hosting router in <paramref name="slot"/> takes: its first usable one, else any usable one; null when none is up.</summary>
    internal static PeerPath? PathToward(ServiceEntry entry, int slot) => FirstUsableTo(entry, slot) ?? FirstUsable(entry.PeerPaths, preferRouter: null);

    /// <summary>Puts an ingress session on <paramref name="path"/>: new waypoint ports there, the old ones given back, metadata again.</summary>
    private static Verdict Move(ref PacketContext context, ref SessionState state, PeerPath path, ForwardingSnapshot snapshot, WorkerResources resources)
    {
        if (!path.Waypoints.TryAllocate(out var localPort, out var peerPort, resources.Shard.Index))
        {
            return context.Fail(DropReason.WaypointsExhausted);
        }

        var transport = state.OriginalProtocol == IpProtocol.Tcp ? IpProtocol.Tcp : IpProtocol.Udp;
        if (!resources.Sessions.TryRekey(context.Session, SessionDirection.Reverse, SessionKey.V4(path.PeerAddress, path.LocalAddress, peerPort, localPort, transport)))
        {
            path.Waypoints.Release(localPort, peerPort);
            return context.Fail(DropReason.WaypointsExhausted);
        }

        snapshot.Runtimes.Waypoints[state.WaypointPool].Release(state.LocalWaypointPort, state.PeerWaypointPort);
        var entry = snapshot.Services[state.Service];
        if (entry.Runtime.Id == state.Runtime && entry.SlotOf(path) is var router and >= 0 && router != state.Instance)
        {
            // The session now counts against the router it moved to.
            if (state.Instance >= 0)
            {
                entry.Runtime.Load.OnSessionEnd(state.Instance);
            }

            entry.Runtime.Load.OnSessionStart(router);
            state.Instance = (short)router;
        }

        state.WaypointPool = (short)path.PoolId;
        state.LocalWaypointPort = localPort;
        state.PeerWaypointPort = peerPort;
        state.ForwardPort = (short)path.Port;
        state.PeerKeys = (short)path.KeysId;
        state.SendMetadata = true;
        state.Unanswered = 0;
        resources.Counters.SessionsMoved++;
        return Verdict.Continue;
    }
}
