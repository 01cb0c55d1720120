using Fabric.Dataplane.Policing;

namespace Fabric.Dataplane.Pipeline;

/// <summary>
/// What the pipeline keeps per session beside its keys: who and what it is, where each direction
/// leaves, its own rate limit and its counters. The NAT of each direction follows from the two keys
/// (the forward key holds what the client sent to, the reverse key what the instance answers from).
/// SVR sessions also keep their role, handshake state, waypoint pool and session id.
/// Fields are ordered so the struct packs without holes (128 bytes).
/// </summary>
public struct SessionState
{
    public short Tenant;
    public short Service;

    /// <summary>The instance the session was balanced to (index in the service's instance set).</summary>
    public short Instance;

    /// <summary>The port forward packets leave by (towards the instance).</summary>
    public short ForwardPort;

    /// <summary>The port reverse packets leave by (back towards the client): where the session came in.</summary>
    public short ReversePort;

    public bool IsIpv6;

    /// <summary>What this router is to the session on the SVR path.</summary>
    public SvrRole Svr;

    /// <summary>
    /// Ingress: put forward metadata on forward packets (until reverse metadata arrives). Egress: put reverse
    /// metadata on reverse packets (until a forward packet arrives without metadata).
    /// </summary>
    public bool SendMetadata;

    /// <summary>The protocol the endpoints use (ICMP crosses between routers as UDP).</summary>
    public byte OriginalProtocol;

    /// <summary>
    /// Ingress: forward packets since the last reverse packet (capped); at <see cref="SvrStage.ResignalAfterUnanswered"/>,
    /// once <see cref="SvrStage.ResignalAfterQuiet"/> has passed since <see cref="ReverseSeenAt"/>, metadata is sent again.
    /// </summary>
    public byte Unanswered;

    /// <summary>Every packet between the routers is encrypted (the service requires it).</summary>
    public bool Sealed;

    /// <summary>Ingress: the id of the waypoint pool the session's ports came from (see <see cref="Forwarding.WaypointPools"/>), else −1.</summary>
    public short WaypointPool;

    public ushort LocalWaypointPort;
    public ushort PeerWaypointPort;

    /// <summary>The id of the peer's keys in the keyring (SVR sessions).</summary>
    public short PeerKeys;

    /// <summary>The id of the service runtime that admitted the session (see <see cref="Forwarding.ServiceRuntimes"/>).</summary>
    public int Runtime;

    /// <summary>The SVR session id (the low 32 bits of the metadata's UUID).</summary>
    public uint SessionId;

    /// <summary>
    /// TCP: the sequence number that follows the furthest segment the client sent (its data, SYN and FIN counted), as
    /// forwarded by this router; 0 until one was seen. What the server expects next: a reset towards the server carries it.
    /// </summary>
    public uint ForwardNextSequence;

    /// <summary>TCP: as <see cref="ForwardNextSequence"/>, for the server's segments: what a reset towards the client carries.</summary>
    public uint ReverseNextSequence;

    public TokenBucket Bucket;

    /// <summary>Ingress: when the last reverse packet arrived (or the session began), in the worker's clock ticks.</summary>
    public long ReverseSeenAt;

    public long ForwardPackets;
    public long ForwardBytes;
    public long ReversePackets;
    public long ReverseBytes;
}

/// <summary>A router's part in an SVR session.</summary>
public enum SvrRole : byte
{
    /// <summary>Not an SVR session: the instance is local.</summary>
    None,

    /// <summary>The client is here; the service at a peer router: forward packets leave to its waypoint.</summary>
    Ingress,

    /// <summary>The instance is here; the session came from a peer router's waypoint.</summary>
    Egress,

    /// <summary>
    /// Neither end is here: the session came from a peer's waypoint and goes on to another peer's (the one its
    /// metadata names as destination router); metadata is relayed both ways.
    /// </summary>
    Transit,
}
