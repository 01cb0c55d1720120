using Fabric.Dataplane.Forwarding;
using Fabric.Dataplane.Wire;

namespace Fabric.Dataplane.Pipeline.Workers;

/// <summary>
/// Which of a router's workers owns a session, derived from what a packet carries in either direction
/// (docs/dataplane.md "Workers"). Ports the router allocates itself (waypoint pairs) name their owner: a pair
/// (even port p, odd port p + 1) belongs to worker (p / 2) mod N, so a packet to either port of the pair finds the
/// owner without a lookup. Pure functions; thread-safe.
/// </summary>
public static class WorkerOwnership
{
    /// <summary>The worker that owns the waypoint pair <paramref name="port"/> belongs to (either port of the pair).</summary>
    public static int OwnerOfWaypoint(ushort port, int workers) => workers <= 1 ? 0 : port / 2 % workers;

    /// <summary>
    /// The first even port of a pair worker <paramref name="owner"/> owns at or after <paramref name="evenPort"/>
    /// (itself when it already is one), so an allocator that walks its range pair by pair steps to the owner's next.
    /// </summary>
    public static int NextPairOwnedBy(int evenPort, int owner, int workers)
    {
        if (workers <= 1)
        {
            return evenPort;
        }

        var pair = evenPort / 2;
        var steps = ((owner - pair % workers) + workers) % workers;
        return (pair + steps) * 2;
    }

    /// <summary>
    /// The worker that takes a session made elsewhere (another router gave it up for a client that moved here: docs/mobility.md
    /// "A client moves"), spread over the workers by a seeded hash of its client's tuple <paramref name="forward"/>. Which
    /// worker the kernel gives that client's packets to is its own seeded flow hash, which user space cannot compute; so the
    /// taker publishes <paramref name="forward"/> in the owner directory and allocates the session's waypoint pair from its
    /// own lane, and <see cref="OwnerOf"/> steers the packets of both directions to it. Equal tuples name one worker, so a
    /// record given twice (by both nodes of an HA pair) meets its first copy there and is refused.
    /// </summary>
    public static int OwnerOfArrival(in Sessions.SessionKey forward, ulong seed, int workers) =>
        workers <= 1 ? 0 : (int)(forward.Hash(seed) % (ulong)workers);

    /// <summary>
    /// The worker that owns the session of the parsed packet in hand, as the worker that received it decides: itself when
    /// its shard holds the key; the publisher when the owner directory names one (a reverse tuple the router did not
    /// choose, the client's tuple of a session taken from elsewhere, or the new waypoint tuple of an egress session adopted
    /// after a move); for a packet to one of the router's waypoints, the worker holding the egress session its metadata
    /// names when it has moved here from another waypoint tuple (<see cref="SvrStage.HolderOfMovedSession"/>), else the
    /// worker its destination port names (its own pair, or the port a peer chose, which names one worker for every packet
    /// of that direction); for an ICMP error about a packet of a waypoint session, the worker that waypoint's port names;
    /// else itself (a new session opens here).
    /// </summary>
    internal static int OwnerOf(ref PacketContext context, ForwardingSnapshot snapshot, WorkerResources resources)
    {
        var self = resources.Shard.Index;
        if (resources.Lookups.TryFind(context.Lookup, context.Key, out _, out _))
        {
            return self;
        }

        if (resources.Shard.Owners is not { } owners)
        {
            return self;
        }

        if (owners.TryFindOwner(context.Key, out var owner) && owner < resources.Shard.Count)
        {
            return owner;
        }

        if (!context.ToWaypoint)
        {
            // An ICMP error about a packet of a waypoint session (its key seen from the error's direction: to our waypoint)
            // belongs where that waypoint's packets go. The error's own header, which the kernel hashed, names no session.
            return context.IsIcmpError && context.Key.Protocol is IpProtocol.Tcp or IpProtocol.Udp
                && snapshot.Ports[context.IngressPort].IsWaypoint(context.Key.Destination, context.Key.IsIpv6, context.Key.DestinationPort)
                ? OwnerOfWaypoint(context.Key.DestinationPort, resources.Shard.Count)
                : self;
        }

        return SvrStage.HolderOfMovedSession(context.Frame.Slice(context.NetworkOffset, context.IpLength), snapshot, owners) is var holder && holder >= 0 && holder < resources.Shard.Count
            ? holder
            : OwnerOfWaypoint(context.Key.DestinationPort, resources.Shard.Count);
    }
}
