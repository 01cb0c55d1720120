namespace Fabric.Dataplane.Pipeline;

/// <summary>Packet counts of one worker. One writer; readers may lag a little.</summary>
public sealed class WorkerCounters
{
    public long Received;
    public long Forwarded;
    public long Dropped;
    public long Generated;
    public long SessionsCreated;
    public long SessionsExpired;

    /// <summary>Half-open sessions removed, oldest first, to make room for a new session (table full, tenant share or waypoints used up).</summary>
    public long SessionsEvicted;

    /// <summary>Egress and transit sessions removed because the peer opened a new session on their waypoint tuple (it had ended them).</summary>
    public long SessionsSuperseded;

    /// <summary>Live sessions a committed configuration no longer allows, ended when the worker took it (see <see cref="SessionRebinding"/>).</summary>
    public long SessionsRevoked;

    /// <summary>SVR sessions moved to another peer path (ingress) or that took a moved session's new path (egress).</summary>
    public long SessionsMoved;

    /// <summary>Metadata sent ahead alone because the datagram was too big to carry it.</summary>
    public long MetadataAnnouncements;

    /// <summary>ICMP errors the router sent (time exceeded, unreachable, fragmentation needed, packet too big).</summary>
    public long IcmpErrorsSent;

    /// <summary>ICMP errors not sent because the rate limit was reached.</summary>
    public long IcmpErrorsSuppressed;

    /// <summary>Super-packets that went through whole (each also counts as the packets it stands for).</summary>
    public long SuperPackets;

    /// <summary>Super-packets cut into packets before the pipeline, because their session needed per-packet work.</summary>
    public long SuperPacketsCut;

    /// <summary>Frames received while the node was the standby of an HA pair (neither answered nor forwarded).</summary>
    public long StandbyIgnored;

    /// <summary>Times this node became the active node of its HA pair.</summary>
    public long Takeovers;

    /// <summary>Gratuitous ARPs and unsolicited neighbour advertisements sent for the router's addresses.</summary>
    public long Announcements;

    /// <summary>Session records exported to the HA partner.</summary>
    public long SessionsReplicatedOut;

    /// <summary>Session records from the HA partner installed here (added or updated).</summary>
    public long SessionsReplicatedIn;

    /// <summary>Partner records refused: made under another configuration version than the running one.</summary>
    public long ReplicasRefusedVersion;

    /// <summary>Partner records refused: they name a service, port, path or waypoint pair this snapshot does not have free.</summary>
    public long ReplicasRefusedShape;

    /// <summary>Partner records refused: the session table is full.</summary>
    public long ReplicasRefusedTableFull;
}
