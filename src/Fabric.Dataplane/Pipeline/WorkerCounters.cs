namespace Fabric.Dataplane.Pipeline;

/// <summary>Packet counts of one worker (<see cref="Sum"/> adds a router's workers up). One writer; readers may lag a little.</summary>
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

    /// <summary>TCP resets sent to the ends of sessions the fabric ended (revoked, or on an instance that failed its health check), by the class <c>SessionResets</c>; each also counts in <see cref="Generated"/> once sent.</summary>
    public long SessionResets;

    /// <summary>
    /// SVR sessions moved to another peer path (ingress) or that took a moved session's new path (egress); a moved client's
    /// sessions given up or held for the router it went to, and taken from the router it left. Each move counts once: a
    /// held session resumed here (its client moved back) was counted when it was held.
    /// </summary>
    public long SessionsMoved;

    /// <summary>
    /// Egress: forward packets of sessions whose instance moved to another router (<see cref="SvrRole.FormerEgress"/>),
    /// each answered with a redirect naming that router instead of being delivered.
    /// </summary>
    public long RedirectsSent;

    /// <summary>
    /// Egress: redirects that could not return the forward packet they answer (too big for the path with the redirect's
    /// metadata, an announcement, or an ICMP session's): that packet is lost, and the sender sends it again (TCP) or not.
    /// Counted in <see cref="RedirectsSent"/> too.
    /// </summary>
    public long RedirectsWithoutPacket;

    /// <summary>
    /// Transit: redirects of an old egress relayed to the session's ingress (reverse metadata naming the router its instance
    /// moved to, with the forward packet it returns or bare).
    /// </summary>
    public long RedirectsRelayed;

    /// <summary>Ingress: redirects taken, each moving its session to the router it names (counted in <see cref="SessionsMoved"/> too).</summary>
    public long RedirectsFollowed;

    /// <summary>Ingress: forward packets a redirect returned, sent again on the session's new path (to the router the redirect names).</summary>
    public long RedirectedPacketsResent;

    /// <summary>
    /// Ingress: redirects not followed: no usable path to the router named, no waypoint pair there, or this router named
    /// for an instance its snapshot does not host here (or without a pin). The session stays where it was.
    /// </summary>
    public long RedirectsRefused;

    /// <summary>
    /// Ingress: SVR ingress sessions made local sessions, without a reset, because a redirect said their instance moved to
    /// this router (<see cref="SvrStage.FollowRedirect"/>, docs/mobility.md "An instance moves to the client's router").
    /// </summary>
    public long SessionsMadeLocal;

    /// <summary>
    /// Ingress: local sessions made SVR ingress sessions, without a reset, because the configuration bound placed their
    /// instance at another router (<see cref="SvrStage.MakeRemote"/>, docs/mobility.md "A local session's instance moves away").
    /// </summary>
    public long SessionsMadeRemote;

    /// <summary>Egress: sessions opened from metadata that pins an instance (reverse context), put on that instance.</summary>
    public long InstancePinsHonoured;

    /// <summary>Egress: sessions opened from metadata that pins an instance this router does not host, balanced as any other.</summary>
    public long InstancePinsUnmatched;

    /// <summary>Metadata sent ahead alone because the datagram was too big to carry it.</summary>
    public long MetadataAnnouncements;

    /// <summary>Handshake acknowledgements an egress sent for a session whose reverse direction was quiet (a one-way flow).</summary>
    public long MetadataAcknowledgements;

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

    /// <summary>
    /// Frames this worker received for a session another worker of the router owns and handed to it (counted in the
    /// owner's <see cref="Received"/>, not here).
    /// </summary>
    public long HandedOff;

    /// <summary>
    /// The counters of several workers added up, each field read atomically (a sum is exact per counter, not one instant
    /// across counters). Allocates: for the control plane.
    /// </summary>
    public static WorkerCounters Sum(IEnumerable<WorkerCounters> workers)
    {
        ArgumentNullException.ThrowIfNull(workers);
        var sum = new WorkerCounters();
        foreach (var w in workers)
        {
            sum.Received += Interlocked.Read(ref w.Received);
            sum.Forwarded += Interlocked.Read(ref w.Forwarded);
            sum.Dropped += Interlocked.Read(ref w.Dropped);
            sum.Generated += Interlocked.Read(ref w.Generated);
            sum.SessionsCreated += Interlocked.Read(ref w.SessionsCreated);
            sum.SessionsExpired += Interlocked.Read(ref w.SessionsExpired);
            sum.SessionsEvicted += Interlocked.Read(ref w.SessionsEvicted);
            sum.SessionsSuperseded += Interlocked.Read(ref w.SessionsSuperseded);
            sum.SessionsRevoked += Interlocked.Read(ref w.SessionsRevoked);
            sum.SessionResets += Interlocked.Read(ref w.SessionResets);
            sum.SessionsMoved += Interlocked.Read(ref w.SessionsMoved);
            sum.RedirectsSent += Interlocked.Read(ref w.RedirectsSent);
            sum.RedirectsWithoutPacket += Interlocked.Read(ref w.RedirectsWithoutPacket);
            sum.RedirectsRelayed += Interlocked.Read(ref w.RedirectsRelayed);
            sum.RedirectsFollowed += Interlocked.Read(ref w.RedirectsFollowed);
            sum.RedirectedPacketsResent += Interlocked.Read(ref w.RedirectedPacketsResent);
            sum.RedirectsRefused += Interlocked.Read(ref w.RedirectsRefused);
            sum.SessionsMadeLocal += Interlocked.Read(ref w.SessionsMadeLocal);
            sum.SessionsMadeRemote += Interlocked.Read(ref w.SessionsMadeRemote);
            sum.InstancePinsHonoured += Interlocked.Read(ref w.InstancePinsHonoured);
            sum.InstancePinsUnmatched += Interlocked.Read(ref w.InstancePinsUnmatched);
            sum.MetadataAnnouncements += Interlocked.Read(ref w.MetadataAnnouncements);
            sum.MetadataAcknowledgements += Interlocked.Read(ref w.MetadataAcknowledgements);
            sum.IcmpErrorsSent += Interlocked.Read(ref w.IcmpErrorsSent);
            sum.IcmpErrorsSuppressed += Interlocked.Read(ref w.IcmpErrorsSuppressed);
            sum.SuperPackets += Interlocked.Read(ref w.SuperPackets);
            sum.SuperPacketsCut += Interlocked.Read(ref w.SuperPacketsCut);
            sum.StandbyIgnored += Interlocked.Read(ref w.StandbyIgnored);
            sum.Takeovers += Interlocked.Read(ref w.Takeovers);
            sum.Announcements += Interlocked.Read(ref w.Announcements);
            sum.SessionsReplicatedOut += Interlocked.Read(ref w.SessionsReplicatedOut);
            sum.SessionsReplicatedIn += Interlocked.Read(ref w.SessionsReplicatedIn);
            sum.ReplicasRefusedVersion += Interlocked.Read(ref w.ReplicasRefusedVersion);
            sum.ReplicasRefusedShape += Interlocked.Read(ref w.ReplicasRefusedShape);
            sum.ReplicasRefusedTableFull += Interlocked.Read(ref w.ReplicasRefusedTableFull);
            sum.HandedOff += Interlocked.Read(ref w.HandedOff);
        }

        return sum;
    }
}
