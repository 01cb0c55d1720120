using Fabric.Dataplane.Forwarding;
using Fabric.Dataplane.Sessions;

namespace Fabric.Dataplane.Pipeline;

// The transit side: metadata that names another destination router opens a session carried on to it
// (SessionOpening with PeerRoute.Onward); on the way back the packet is sealed for the peer it came from.
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
