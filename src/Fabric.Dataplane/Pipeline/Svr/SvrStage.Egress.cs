using Fabric.Dataplane.Forwarding;
using Fabric.Dataplane.Sessions;
using Fabric.Dataplane.Svr;
using Fabric.Dataplane.Wire;

namespace Fabric.Dataplane.Pipeline;

// The egress side: a waypoint packet with no session is accepted only with metadata (tenant from the metadata,
// access policy again, the session opened by SessionOpening with InstanceRoute.Egress), or it adopts the session it
// names when that session moved from another path or another peer router. A session whose waypoint tuple the peer
// hands to a new session (it ended the old one: evicted or expired there) gives way to it once the packet
// that claims so is verified (Supersedes, GiveWay).
public static partial class SvrStage
{
    /// <summary>
    /// Whether the packet in hand claims to open a new session on the waypoint tuple of session <paramref name="handle"/>
    /// (forward metadata with another session id): the peer ended the old session and reuses its waypoint pair. Reads
    /// only: the claim is not verified yet, so the old session stays until <see cref="Accept"/> has verified the packet
    /// (<see cref="GiveWay"/>); a forged claim is dropped and the session goes on.
    /// </summary>
    public static bool Supersedes(ref PacketContext context, WorkerResources resources, int handle, SessionDirection direction)
    {
        ref readonly var state = ref resources.Sessions.Payload(handle);
        return direction == SessionDirection.Forward && state.Svr is (SvrRole.Egress or SvrRole.FormerEgress or SvrRole.Transit)
            && context.Metadata.Present && context.Metadata.HasForwardContext && context.Metadata.SessionId != state.SessionId;
    }

    /// <summary>Removes session <paramref name="handle"/>, which a verified packet superseded, and gives back what it held.</summary>
    private static void GiveWay(ForwardingSnapshot snapshot, WorkerResources resources, int handle)
    {
        var state = resources.Sessions.Payload(handle);
        resources.RemoveSession(handle);
        SessionOpening.Ended(snapshot, resources, state);
        resources.Counters.SessionsSuperseded++;
    }

    /// <summary>
    /// The egress slow path: a waypoint packet with no session. Only metadata with a forward context makes one;
    /// the tenant comes from the metadata and the access policy is enforced again with it. The session's
    /// forward key is the waypoint tuple, its reverse key what the instance answers with.
    /// </summary>
    /// <param name="superseded">The session on the packet's tuple that the packet supersedes (<see cref="Supersedes"/>),
    /// removed once the packet is verified; −1 when there is none.</param>
    public static Verdict Accept(ref PacketContext context, ForwardingSnapshot snapshot, WorkerResources resources, int superseded)
    {
        ref readonly var metadata = ref context.Metadata;
        if (metadata.Present && !metadata.HasForwardContext && (metadata.RoutedOnward || metadata.NamesThisRouter) && metadata.HasReverseContext)
        {
            // A redirect on the tuple its session left: the ingress already followed an earlier one (docs/mobility.md).
            return FollowLateRedirect(ref context, snapshot, resources);
        }

        if (!metadata.Present || !metadata.HasForwardContext)
        {
            return context.Fail(DropReason.WaypointNoSession);
        }

        var original = metadata.ForwardContext;
        var carried = PeerPath.TransportFor(original.Protocol);
        if (carried != context.Key.Protocol || !metadata.TenantNamed || !PeerPath.Carries(original.Protocol, original.IsIpv6))
        {
            return context.Fail(DropReason.MetadataMismatch);
        }

        // Verify before anything in the metadata is believed. Whether the session is encrypted follows from its
        // service: the one the named tenant reaches at the original destination. The tenant is not verified yet, but
        // it is associated data, so a forged one fails the tag; a tenant that reaches nothing there falls back to the
        // most specific service at the destination (and is refused once verified).
        var claimed = metadata.Tenant >= 0 ? snapshot.FibByTenant[metadata.Tenant].Match(original.IsIpv6, original.Destination, original.Protocol, original.DestinationPort) : -1;
        var named = claimed >= 0 ? claimed : snapshot.AllServices.Match(original.IsIpv6, original.Destination, original.Protocol, original.DestinationPort);
        var encrypted = named >= 0 && snapshot.Services[named].Policy.Encryption == Model.EncryptionMode.Required;
        if (Unseal(ref context, resources, snapshot, encrypted) != Verdict.Continue)
        {
            return Verdict.Drop;
        }

        if (superseded >= 0)
        {
            // Verified: the peer did end the old session and reuses its waypoints, whether or not the new one is let in.
            GiveWay(snapshot, resources, superseded);
        }

        var tenant = metadata.Tenant;
        if (tenant < 0)
        {
            return context.Fail(DropReason.NoTenant);
        }

        context.Tenant = tenant;
        var service = snapshot.FibByTenant[tenant].Match(original.IsIpv6, original.Destination, original.Protocol, original.DestinationPort);
        if (service < 0)
        {
            context.Service = snapshot.AllServices.Match(original.IsIpv6, original.Destination, original.Protocol, original.DestinationPort);
            return context.Fail(context.Service < 0 ? DropReason.NoService : DropReason.AccessDenied);
        }

        context.Service = service;
        if (metadata.ServiceNamed && metadata.Service != service)
        {
            return context.Fail(DropReason.MetadataMismatch);
        }

        var entry = snapshot.Services[service];
        if (metadata.RoutedOnward)
        {
            return OpenOnward(ref context, entry, snapshot, resources);
        }

        if (TryAdoptMoved(ref context, entry, original, snapshot, resources))
        {
            return Verdict.Continue;
        }

        // Reverse context in forward metadata pins the instance: the session followed its instance here (a redirect).
        return SessionOpening.Open(
            ref context, entry, snapshot, resources,
            InstanceRoute.Egress(original, encrypted, metadata.PeerKeys, metadata.SessionId, metadata.HasReverseContext, metadata.ReverseContext));
    }

    /// <summary>
    /// The egress side of a move: metadata on a new waypoint tuple names a session this router already carries
    /// (same original tuple, same session id), from another path of the same peer router (a path failover, an instance
    /// that moved back) or from another peer router (its client moved there, docs/mobility.md "A client moves"). The
    /// session keeps its instance and TCP state and takes the new tuple, so the endpoints notice nothing. On a router of
    /// several workers the packet reaches the worker holding the session (<see cref="HolderOfMovedSession"/>), which
    /// publishes the new tuple when its port names another worker (<see cref="WorkerResources.ForwardRekeyed"/>).
    /// </summary>
    private static bool TryAdoptMoved(ref PacketContext context, ServiceEntry entry, in SessionKey original, ForwardingSnapshot snapshot, WorkerResources resources)
    {
        var sessions = resources.Sessions;
        for (var i = 0; i < entry.Instances.Length; i++)
        {
            if (!TryInstanceReverseKey(entry.Instances[i], original, out var reverse)
                || !sessions.TryFind(reverse, out var handle, out var direction) || direction != SessionDirection.Reverse)
            {
                continue;
            }

            ref var state = ref sessions.Payload(handle);
            var previous = sessions.ForwardKey(handle);
            if (state.Svr != SvrRole.Egress || state.SessionId != context.Metadata.SessionId
                || !snapshot.TryFindPeer(context.Key.Source, context.Key.IsIpv6, out _)
                || !sessions.TryRekey(handle, SessionDirection.Forward, context.Key))
            {
                return false;
            }

            resources.ForwardRekeyed(handle, previous);
            state.ReversePort = (short)context.IngressPort;
            state.PeerKeys = (short)context.Metadata.PeerKeys;
            state.SendMetadata = true;
            resources.Counters.SessionsMoved++;
            context.Session = handle;
            context.Direction = SessionDirection.Forward;
            return true;
        }

        return false;
    }

    /// <summary>
    /// The worker holding the SVR egress session that the waypoint packet <paramref name="ip"/>, which no session of the
    /// receiving worker's shard nor the directory knows by its tuple, names by its metadata (tenant, service and original
    /// tuple): a session adopted or to be adopted on a new tuple after a move (<see cref="TryAdoptMoved"/>) stays on the
    /// worker that opened it, whatever worker the new waypoint port names. Found in the workers' directory by the reverse
    /// key the session published (what its instance answers with), the one <see cref="TryAdoptMoved"/> looks up. −1 when
    /// the packet carries no forward metadata, metadata that does not read (the worker that takes the packet then runs
    /// <see cref="Receive"/>, which drops and counts it once), or names no session held here.
    /// A peek: it reads the block into a copy of its own and changes neither the packet nor the packet's context, so the
    /// worker that takes the packet reads it as any other (against the snapshot that worker runs, which may be newer).
    /// It reads the metadata unverified, without checking its sender: it only chooses the worker, which verifies the packet
    /// as any other (a forged block costs a hand-off). Allocation-free; runs only for a waypoint packet of no known session.
    /// </summary>
    internal static int HolderOfMovedSession(Span<byte> ip, ForwardingSnapshot snapshot, Workers.OwnerDirectory owners)
    {
        var metadata = default(ReceivedMetadata);
        if (!MetadataInsertion.TryLocate(ip, ip.Length, out var block, out _) || block.IsBare
            || ReadMetadata(block, snapshot, ref metadata) != DropReason.None
            || !metadata.HasForwardContext || metadata.RoutedOnward || !metadata.TenantNamed
            || (uint)metadata.Tenant >= (uint)snapshot.FibByTenant.Length)
        {
            return -1;
        }

        var original = metadata.ForwardContext;
        var service = snapshot.FibByTenant[metadata.Tenant].Match(original.IsIpv6, original.Destination, original.Protocol, original.DestinationPort);
        if (service < 0)
        {
            return -1;
        }

        var instances = snapshot.Services[service].Instances;
        for (var i = 0; i < instances.Length; i++)
        {
            if (TryInstanceReverseKey(instances[i], original, out var reverse) && owners.TryFindOwner(reverse, out var owner))
            {
                return owner;
            }
        }

        return -1;
    }

    /// <summary>
    /// The reverse key of a session on <paramref name="instance"/> (an SVR egress, or a local session) whose client's
    /// original tuple is <paramref name="original"/>: what the instance answers with (its address and port, to the
    /// client's); false when the instance has no address of the tuple's family for that destination.
    /// </summary>
    private static bool TryInstanceReverseKey(LocalInstance instance, in SessionKey original, out SessionKey reverse)
    {
        if (!instance.TryAddressFor(original.IsIpv6, original.Destination, out var address))
        {
            reverse = default;
            return false;
        }

        var port = IsEcho(original.Protocol) || instance.Port == 0 ? original.DestinationPort : instance.Port;
        reverse = new SessionKey(address, original.Source, port, original.SourcePort, original.Protocol, original.IsIpv6);
        return true;
    }
}
