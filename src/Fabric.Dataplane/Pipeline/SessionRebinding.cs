using Fabric.Dataplane.Forwarding;

namespace Fabric.Dataplane.Pipeline;

/// <summary>
/// What a worker does when it first runs a snapshot other than the one its sessions were bound to. A session keeps its
/// tenant and service as indexes of a snapshot, and a commit that adds or removes a tenant or service renumbers them:
/// left alone, a session of db would be counted, policed and timed as whatever service took db's index. Each live
/// session is rebound by name (its tenant's name in the previous snapshot, its service's from the runtime that admitted
/// it) and checked against the new snapshot. It ends at once, counted as <see cref="DropReason.Revoked"/> under its
/// tenant and service, when the new snapshot no longer allows it:
/// <list type="bullet">
/// <item>its tenant or its service is gone;</item>
/// <item>the access policy no longer lets the tenant reach the service;</item>
/// <item>where this router chose the service (a local session or an SVR ingress), the destination the client addressed no
/// longer matches that service in the tenant's view (its addresses, protocols or ports changed, or a more specific
/// service the tenant may reach took it);</item>
/// <item>an SVR session that is not sealed, of a service that now requires encryption;</item>
/// <item>a port it leaves by (either way) lost its device: a container detached (its port unplugged, or the document no
/// longer lists the host-based container the port was named after).</item>
/// </list>
/// A session that stays and is an SVR ingress whose service no longer lives beyond its path, or no longer at the router it
/// goes to through a transit that hosts the service now (its instance moved to another router), moves to a router hosting
/// the service now (<see cref="SvrStage.FollowHosting"/>, docs/mobility.md).
/// An SVR egress whose instance the new snapshot places at another router (it moved, whether or not sibling instances
/// of its service stay here) neither ends nor stays an egress: it becomes a former egress, which answers its ingress's
/// next forward packet with a redirect to that router (<see cref="SvrStage.LeaveInstance"/>), whatever port towards the
/// instance it lost; a former egress is an egress again once its instance is placed here again among its service's
/// instances (<see cref="SvrStage.ReturnToInstance"/>), and ends (without a reset) once it is placed nowhere.
/// An SVR ingress session the new snapshot still allows whose client the new document lists under another router (the
/// client moved) neither ends nor stays: it is taken out of the table without a reset and held as a record for that
/// router to fetch (<see cref="SvrStage.HoldForNewRouter"/>, docs/mobility.md "A client moves"), even where its client's
/// port lost its device with the move; so is one whose client the new document lists nowhere and whose port towards the
/// client lost its device (a container detached here, which another router may attach next).
/// A local session the new snapshot still allows whose instance it places at another router (the instance moved away,
/// keeping its address) becomes an SVR ingress session to that router, pinned to the instance
/// (<see cref="SvrStage.MakeRemote"/>, docs/mobility.md "A local session's instance moves away"), whatever port towards
/// the instance it lost; one that cannot (no usable path there) is checked as any other session.
/// A TCP session that ends is reset towards each end attached to this router (<see cref="SessionResets"/>); any
/// other session is removed. Every router of a fabric runs the same check on the same version, so each end of an SVR
/// session ends its part; an ended session's next packet meets the slow path like any new flow (and the policy's
/// transport-state enforcement).
/// Allocates nothing but the records of moved clients' sessions; runs on the worker's thread, between batches, over the
/// whole table (65 536 slots take well under a millisecond).
/// </summary>
public static class SessionRebinding
{
    /// <summary>Rebinds every live session of <paramref name="resources"/> from <paramref name="previous"/> to <paramref name="next"/>; returns how many ended.</summary>
    public static int Run(ForwardingSnapshot previous, ForwardingSnapshot next, WorkerResources resources, long now)
    {
        ArgumentNullException.ThrowIfNull(previous);
        ArgumentNullException.ThrowIfNull(next);
        ArgumentNullException.ThrowIfNull(resources);
        var sessions = resources.Sessions;
        var revoked = 0;
        for (var handle = 0; handle < sessions.Capacity; handle++)
        {
            if (!sessions.IsLive(handle))
            {
                continue;
            }

            ref var state = ref sessions.Payload(handle);
            var forward = sessions.ForwardKey(handle);
            var tenant = (uint)state.Tenant < (uint)previous.Tenants.Length ? next.TenantIndex(previous.Tenants[state.Tenant]) : -1;
            var service = next.ServiceIndex(next.Runtimes[state.Runtime].Service);
            var allowed = Allows(next, in state, forward, tenant, service);
            if (allowed && (SvrStage.ClientMovedAway(next, in state, forward, resources.Sessions.Tcp(handle))
                || ClientDetached(previous, next, in state, forward, resources.Sessions.Tcp(handle))))
            {
                Rebind(resources, ref state, tenant, service);
                SvrStage.HoldForNewRouter(previous, next, resources, handle, now);
                continue;
            }

            if (allowed && SvrStage.InstanceMovedAway(next, in state, sessions.ReverseKey(handle), resources.Sessions.Tcp(handle), out _)
                && KeepsPort(previous, next, state.ReversePort))
            {
                Rebind(resources, ref state, tenant, service);
                SvrStage.LeaveInstance(next, ref state);
                continue;
            }

            if (allowed && state.Svr == SvrRole.FormerEgress && !SvrStage.FormerEgressEnds(next, in state, sessions.ReverseKey(handle))
                && KeepsPort(previous, next, state.ReversePort))
            {
                Rebind(resources, ref state, tenant, service);
                SvrStage.ReturnToInstance(next, ref state, sessions.ReverseKey(handle));
                continue;
            }

            if (allowed && SvrStage.LocalInstanceMovedAway(next, in state, service, sessions.ReverseKey(handle), resources.Sessions.Tcp(handle), out var placed)
                && KeepsPort(previous, next, state.ReversePort))
            {
                // Rebound first: MakeRemote reads the service as an index of next. One it refuses goes on below already
                // rebound, so if it is revoked its closed event names it by next's indexes, as the flows view reads them.
                Rebind(resources, ref state, tenant, service);
                if (SvrStage.MakeRemote(next, resources, handle, ref state, placed, now))
                {
                    continue;
                }
            }

            if (allowed && state.Svr != SvrRole.FormerEgress && KeepsPort(previous, next, state.ForwardPort) && KeepsPort(previous, next, state.ReversePort))
            {
                var hostedBefore = (uint)state.Service < (uint)previous.Services.Length ? previous.Services[state.Service] : null;
                Rebind(resources, ref state, tenant, service);
                SvrStage.FollowHosting(hostedBefore, next, resources, handle, ref state, now);
                continue;
            }

            SessionOpening.EndLive(previous, next, resources, handle, DropReason.Revoked, tenant, service, now);
            revoked++;
        }

        return revoked;
    }

    private static void Rebind(WorkerResources resources, ref SessionState state, int tenant, int service)
    {
        if (tenant != state.Tenant || service != state.Service)
        {
            resources.SessionRebound(state.Tenant, state.Service, tenant, service);
            state.Tenant = (short)tenant;
            state.Service = (short)service;
        }
    }

    /// <summary>
    /// Whether the session is an SVR ingress session, not closed, of a client <paramref name="previous"/> placed at this
    /// router and <paramref name="next"/> places nowhere, whose port towards the client lost its device: the container was
    /// detached here (the CNI plugin's DEL, or a document that no longer lists it) and may reappear at another router,
    /// which then fetches its sessions (<see cref="ForwardingSnapshot.DepartedContainers"/>). Such a session would end here
    /// all the same (its port is gone), so holding it ends nothing sooner; a client whose port stays (bridged) keeps its sessions.
    /// </summary>
    private static bool ClientDetached(ForwardingSnapshot previous, ForwardingSnapshot next, in SessionState state, in Sessions.SessionKey forward, in Sessions.TcpTracker tcp)
    {
        var client = new ClientAddress(forward.Source, forward.IsIpv6);
        return state.Svr == SvrRole.Ingress && !tcp.IsClosed && !next.RouterOfContainer.ContainsKey(client)
            && previous.RouterOfContainer.TryGetValue(client, out var before) && before == previous.Router
            && !KeepsPort(previous, next, state.ReversePort);
    }

    /// <summary>Whether the port still has the device it had (a port that is not one of ours, or was unused, keeps it).</summary>
    private static bool KeepsPort(ForwardingSnapshot previous, ForwardingSnapshot next, short port)
    {
        if ((uint)port >= (uint)previous.Ports.Length || (uint)port >= (uint)next.Ports.Length || previous.Ports[port].Role == PortRole.Unused)
        {
            return true;
        }

        return next.Ports[port].Role != PortRole.Unused && next.Ports[port].Device == previous.Ports[port].Device;
    }

    /// <summary>
    /// Whether <paramref name="next"/> allows a session of <paramref name="state"/>'s role and sealing, bound to
    /// <paramref name="tenant"/> and <paramref name="service"/> (indexes of <paramref name="next"/>, −1 when gone): the
    /// access policy, the destination the client addressed where this router chose the service, the encryption required.
    /// </summary>
    internal static bool Allows(ForwardingSnapshot next, in SessionState state, in Sessions.SessionKey forward, int tenant, int service)
    {
        if (tenant < 0 || service < 0 || !next.MayReach(tenant, service))
        {
            return false;
        }

        if (state.Svr is SvrRole.None or SvrRole.Ingress
            && next.FibByTenant[tenant].Match(forward.IsIpv6, forward.Destination, forward.Protocol, forward.DestinationPort) != service)
        {
            return false;
        }

        return state.Svr == SvrRole.None || state.Sealed || next.Services[service].Policy.Encryption != Model.EncryptionMode.Required;
    }
}
