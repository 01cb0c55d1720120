using Fabric.Dataplane.Policing;
using MessagePack;

namespace Fabric.Dataplane.Pipeline;

/// <summary>
/// What the pipeline keeps per session beside its keys: who and what it is, where each direction
/// leaves, its own rate limit and its counters. The NAT of each direction follows from the two keys
/// (the forward key holds what the client sent to, the reverse key what the instance answers from).
/// SVR sessions also keep their role, handshake state, waypoint pool and session id.
/// Fields are ordered so the struct packs without holes (104 bytes).
/// </summary>
/// <remarks>
/// This is also what a session carries to another process (the HA partner, the process started after a restart):
/// a field with a <see cref="KeyAttribute"/> travels in <see cref="Sessions.SessionRecord"/> as it is; a field that
/// only means something inside this process (an id of a runtime object, a time on this process's clock) is an
/// <see cref="IgnoreMemberAttribute"/> and is made again on arrival (<see cref="HighAvailability.SessionReplication"/>).
/// A new field needs one of the two (the serializer refuses a member with neither), and keys are never reused.
/// </remarks>
[MessagePackObject]
public struct SessionState
{
    [Key(0)]
    public short Tenant;

    [Key(1)]
    public short Service;

    /// <summary>The instance the session was balanced to (index in the service's instance set).</summary>
    [Key(2)]
    public short Instance;

    /// <summary>The port forward packets leave by (towards the instance).</summary>
    [Key(3)]
    public short ForwardPort;

    /// <summary>The port reverse packets leave by (back towards the client): where the session came in.</summary>
    [Key(4)]
    public short ReversePort;

    /// <summary>The family of the session's endpoints (its original tuple); an SVR session's waypoints may be of the other.</summary>
    [Key(5)]
    public bool IsIpv6;

    /// <summary>What this router is to the session on the SVR path.</summary>
    [Key(6)]
    public SvrRole Svr;

    /// <summary>
    /// Ingress: put forward metadata on forward packets (until reverse metadata arrives). Egress: put reverse
    /// metadata on reverse packets (until a forward packet arrives without metadata).
    /// </summary>
    [Key(7)]
    public bool SendMetadata;

    /// <summary>The protocol the endpoints use (ICMP crosses between routers as UDP).</summary>
    [Key(8)]
    public byte OriginalProtocol;

    /// <summary>
    /// Ingress: forward packets since the last reverse packet (capped); at <see cref="SvrStage.ResignalAfterUnanswered"/>,
    /// once <see cref="SvrStage.ResignalAfterQuiet"/> has passed since <see cref="ReverseSeenAt"/>, metadata is sent again.
    /// </summary>
    [Key(9)]
    public byte Unanswered;

    /// <summary>Every packet between the routers is encrypted (the service requires it).</summary>
    [Key(10)]
    public bool Sealed;

    /// <summary>Ingress: the id of the waypoint pool the session's ports came from (see <see cref="Forwarding.WaypointPools"/>), else −1.</summary>
    [IgnoreMember]
    public short WaypointPool;

    [Key(11)]
    public ushort LocalWaypointPort;

    [Key(12)]
    public ushort PeerWaypointPort;

    /// <summary>The id of the peer's keys in the keyring (SVR sessions).</summary>
    [IgnoreMember]
    public short PeerKeys;

    /// <summary>The id of the service runtime that admitted the session (see <see cref="Forwarding.ServiceRuntimes"/>).</summary>
    [IgnoreMember]
    public int Runtime;

    /// <summary>The SVR session id (the low 32 bits of the metadata's UUID).</summary>
    [Key(13)]
    public uint SessionId;

    /// <summary>
    /// TCP: the sequence number that follows the furthest segment the client sent (its data, SYN and FIN counted), as
    /// forwarded by this router; 0 until one was seen. What the server expects next: a reset towards the server carries it.
    /// </summary>
    [Key(18)]
    public uint ForwardNextSequence;

    /// <summary>TCP: as <see cref="ForwardNextSequence"/>, for the server's segments: what a reset towards the client carries.</summary>
    [Key(19)]
    public uint ReverseNextSequence;

    /// <summary>The session's own rate limit: its level, refilled at the rate of the runtime that admitted it (<see cref="Forwarding.ServiceRuntime.SessionRate"/>).</summary>
    [IgnoreMember]
    public TokenLevel Bucket;

    /// <summary>
    /// When the last reverse packet arrived (ingress) or left toward the peer, a handshake acknowledgement included
    /// (egress), or the session began; in the worker's clock ticks.
    /// </summary>
    [IgnoreMember]
    public long ReverseSeenAt;

    [Key(14)]
    public long ForwardPackets;

    [Key(15)]
    public long ForwardBytes;

    [Key(16)]
    public long ReversePackets;

    [Key(17)]
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

    /// <summary>
    /// Was the egress: the session's instance moved to another router (the snapshot places its address there) while it
    /// went on here. Forward packets reach nothing here; each is answered with a redirect (reverse metadata naming that
    /// router, <see cref="SvrStage.Redirect"/>), which the ingress follows (docs/mobility.md "An instance moves").
    /// </summary>
    FormerEgress,
}
