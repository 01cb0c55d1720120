using Fabric.Dataplane.Forwarding;
using Fabric.Dataplane.Sessions;

namespace Fabric.Dataplane.Pipeline;

// The transit side: metadata that names another destination router opens a session carried on to it
// (SessionOpening with PeerRoute.Onward); on the way back the packet is sealed for the peer it came from, and an old
// egress's redirect (reverse metadata naming a router) is relayed to the ingress with the router it names (RelayRedirect),
// this one included when the instance moved here (the ingress then re-signals the session to this router as its egress).
public static partial class SvrStage
{
    /// <summary>
    /// The transit slow path: forward metadata names a destination router other than this one (TLV 17) for a service
    /// the tenant may reach (access was checked with the tenant from the metadata, as an egress does). The session is
    /// carried on to that router on a second waypoint tuple of our own: its forward key is the tuple the packet came
    /// on, its reverse key the tuple the destination answers on. Packets are rewritten from one tuple to the other and
    /// the metadata they come with is relayed (<see cref="WriteBlock"/>), sealed per hop with that hop's keys.
    /// </summary>
    private static Verdict OpenOnward(ref PacketContext context, ServiceEntry entry, ForwardingSnapshot snapshot, WorkerResources resources)
    {
        ref readonly var metadata = ref context.Metadata;
        if (metadata.OnwardPath < 0)
        {
            // No path to the destination router is up (or it is no peer of ours).
            return context.Fail(DropReason.NoRoute);
        }

        var path = snapshot.PeerPaths[metadata.OnwardPath];
        return SessionOpening.Open(ref context, entry, snapshot, resources, PeerRoute.Onward(path, metadata.SessionId, metadata.ForwardContext.Protocol, metadata.ForwardContext.IsIpv6));
    }

    /// <summary>
    /// At a transit: reverse metadata naming a destination router (TLV 17) is the old egress's redirect (the session's
    /// instance moved to that router, <see cref="Redirect"/>), relayed to the ingress on the session's reverse leg as any
    /// reverse metadata is (rewritten onto the upstream tuple, its block written again with the router named,
    /// <see cref="WriteBlock"/>, and sealed with the upstream peer's keys), so the ingress follows it as it follows one from
    /// a neighbour (<see cref="FollowRedirect"/>). It is checked first, as any metadata: it must carry the instance's tuple
    /// (reverse context) and the session's id and name a router of the document (else
    /// <see cref="DropReason.MetadataMismatch"/>). A redirect naming the router the session came from (the instance moved to
    /// the client's own router) is relayed too: that router, the ingress, makes the session local when it hosts the pinned
    /// instance (<see cref="MakeLocal"/>) and changes nothing otherwise, so the redirect goes no further. One naming this
    /// router (the instance moved to the transit itself) is relayed naming this router when this router's snapshot hosts
    /// the pinned instance among the session's service's instances: the ingress, whose path leads here, then re-signals the
    /// session to this router as its destination on new waypoint ports (<see cref="FollowRedirect"/>), and this router opens
    /// it as an egress on that instance from the metadata (<see cref="Accept"/>); the old egress, which gets nothing more,
    /// returns nothing more, so nothing loops. When this router does not host the instance (it has not applied the commit
    /// that moved it here yet, or the instance went elsewhere since) the redirect is dropped as
    /// <see cref="DropReason.InstanceArriving"/>: relayed, the ingress would move the session here to no instance; TCP
    /// sends the packet again and the old egress redirects it again. The packet it carries is the client's forward packet
    /// turned round, not the far end's: it moves neither the session's TCP state nor its sequence numbers nor its idle
    /// time, and is not charged to its rates (the ingress charges it when it sends it on). The transit's session is left to
    /// idle: a later redirect of the old egress (for a packet that reached it before the ingress moved) comes on the same
    /// tuple and is relayed the same way, and once the ingress moved nothing else reaches it. Allocation-free; runs only
    /// for such metadata.
    /// </summary>
    internal static Verdict RelayRedirect(ref PacketContext context, in SessionState state, ForwardingSnapshot snapshot, WorkerResources resources)
    {
        ref readonly var metadata = ref context.Metadata;
        if (context.IsIcmpError || !metadata.HasReverseContext || metadata.SessionId != state.SessionId
            || (!metadata.NamesThisRouter && (uint)metadata.DestinationRouter >= (uint)snapshot.RouterNames.Length))
        {
            return context.Fail(DropReason.MetadataMismatch);
        }

        if (metadata.NamesThisRouter && InstanceAnswering(snapshot, state, metadata.ReverseContext) < 0)
        {
            return context.Fail(DropReason.InstanceArriving);
        }

        resources.Counters.RedirectsRelayed++;
        context.EgressPort = state.ReversePort;
        return Verdict.Forward;
    }

    /// <summary>The index in <paramref name="paths"/> of the first usable path to the router named (UTF-8), or −1.</summary>
    private static int UsablePathTo(PeerPath[] paths, ReadOnlySpan<byte> router)
    {
        for (var i = 0; i < paths.Length; i++)
        {
            if (paths[i].Health.IsUsable && router.SequenceEqual(paths[i].PeerRouterUtf8))
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>
    /// The keys a packet leaving to a peer is sealed with: the session's peer's, except at a transit on the way back,
    /// where the packet goes to the peer the session came from (found by its waypoint address).
    /// </summary>
    private static int KeysToward(in SessionState state, SessionTable<SessionState> sessions, int handle, bool forward, ForwardingSnapshot snapshot) =>
        state.Svr == SvrRole.Transit && !forward && snapshot.TryFindPeer(sessions.ForwardKey(handle).Source, sessions.ForwardKey(handle).IsIpv6, out var upstream)
            ? upstream.KeysId
            : state.PeerKeys;
}
