namespace Fabric.Dataplane.Pipeline;

/// <summary>
/// Why the dataplane dropped a packet: one enumeration for every drop, counted per tenant and
/// service. Values are stable (they appear in counters and flow records); add new ones at the end.
/// </summary>
public enum DropReason : byte
{
    None = 0,

    /// <summary>The frame or a header in it is truncated or lies about a length (a protocol the router does not forward is <see cref="UnsupportedProtocol"/>).</summary>
    Malformed,

    /// <summary>No tenant could be assigned from the ingress interface, a container or a member prefix.</summary>
    NoTenant,

    /// <summary>No service matches the destination address, protocol and port.</summary>
    NoService,

    /// <summary>A service matches but its access policy does not allow the tenant.</summary>
    AccessDenied,

    /// <summary>The service is allowed but has no reachable instance or route.</summary>
    NoRoute,

    /// <summary>A session, tenant or service rate limit had no tokens for the packet.</summary>
    RateLimited,

    /// <summary>The service is at its session limit (or above its high water mark) or its new-session rate.</summary>
    SessionLimit,

    /// <summary>The session table is full and no session is half-open to make room; established sessions are kept, the new one is refused.</summary>
    SessionTableFull,

    /// <summary>The TTL or hop limit ran out; an ICMP time-exceeded goes back to the sender.</summary>
    TtlExpired,

    /// <summary>A mid-flow TCP packet of a session whose handshake the router never saw (transport-state enforcement).</summary>
    NoHandshake,

    /// <summary>The next hop's link-layer address is unknown and as many packets as may wait for it already do.</summary>
    NeighborUnresolved,

    /// <summary>The egress port refused the frame.</summary>
    TransmitFailed,

    /// <summary>The packet is larger than the egress MTU and may not be fragmented; an ICMP error goes back.</summary>
    TooBig,

    /// <summary>Fragments are not forwarded without their first fragment's transport header.</summary>
    Fragment,

    /// <summary>Traffic for the router itself that it does not answer (only ARP, ND and echo to its addresses are answered).</summary>
    ToRouter,

    /// <summary>An 802.1Q-tagged frame on a port that carries untagged traffic (no VLAN sub-interfaces are configured).</summary>
    VlanTagged,

    /// <summary>Every waypoint port pair of the peer path is held by a live session: the new session is refused (no tuple is reused).</summary>
    WaypointsExhausted,

    /// <summary>A packet to a waypoint port with no session and no metadata to make one: dropped silently, never answered.</summary>
    WaypointNoSession,

    /// <summary>An SVR metadata block whose lengths lie, whose TLVs do not tile their sections, or whose values have the wrong size.</summary>
    MetadataMalformed,

    /// <summary>An SVR metadata block of a version other than 1.</summary>
    MetadataVersion,

    /// <summary>Metadata that contradicts the packet or lacks what a new session needs (forward context, tenant, service).</summary>
    MetadataMismatch,

    /// <summary>Fail closed: the service requires encryption and the peer path has no keys yet; its session is refused, never sent in clear.</summary>
    NoPeerKeys,

    /// <summary>A sealed packet whose tag does not verify: metadata, payload, outer tuple or trailer altered (or sealed with another key of the same epoch).</summary>
    Tampered,

    /// <summary>A sealed packet whose counter was already accepted or lies behind the anti-replay window.</summary>
    Replayed,

    /// <summary>A sealed packet of an epoch this router has not installed (or has retired): the wrong key.</summary>
    UnknownKey,

    /// <summary>Metadata (or the payload of a session that requires encryption) arrived without protection from a peer this router has keys for.</summary>
    Unauthenticated,

    /// <summary>A packet to a waypoint from an address that is no configured peer router's waypoint.</summary>
    NotAPeer,

    /// <summary>A TCP/UDP checksum that does not verify on a packet SVR must rebuild (metadata inserted or stripped, sealed or opened): never re-checksummed into a valid packet.</summary>
    BadChecksum,

    /// <summary>The session's peer path is down and its service has no failover resiliency (or no other path is up).</summary>
    PeerPathDown,

    /// <summary>
    /// An ICMP error about an SVR session that this router does not carry to the other side (SvrStage.TranslateError): a
    /// type or code with no translation here (across a family change, as RFC 7915 maps them; for a ping, a parameter
    /// problem or redirect), or one about a ping's waypoint packet quoted with its metadata.
    /// </summary>
    IcmpErrorNotCarried,

    /// <summary>
    /// A well-formed frame of an EtherType or IP protocol the router does not forward or answer (LLDP, STP,
    /// IGMP, MLD, ...): what a kernel sends on its own when a link comes up, not damage.
    /// </summary>
    UnsupportedProtocol,

    /// <summary>
    /// A stage threw on the packet (a bug it tripped): the packet is dropped, the fault counted by stage in
    /// <see cref="PipelineFaults"/>, and the worker goes on with the next packet.
    /// </summary>
    PipelineFault,

    /// <summary>
    /// The session's tenant holds its share of this router's session table (<see cref="Routing.RouterOptions.MaxSessionsPerTenant"/>)
    /// and none of its sessions is half-open to make room: the new session is refused, other tenants' sessions are not.
    /// </summary>
    TenantSessionLimit,

    /// <summary>
    /// Not a packet: a live session ended because a committed configuration no longer allows it (its tenant or service
    /// is gone, the tenant may no longer reach the service, its destination no longer matches that service in the
    /// tenant's view, or the service's encryption requirement changed). See <c>SessionRebinding</c>.
    /// </summary>
    Revoked,

    /// <summary>
    /// The packet belongs to a session another worker of the router owns, and the hand-off ring to that worker was full
    /// (the owner is behind by a whole ring): dropped by the worker that received it (docs/dataplane.md "Workers").
    /// </summary>
    HandOffFull,

    /// <summary>
    /// An IPv6 neighbour or router solicitation or neighbour advertisement whose IP hop limit is not 255 or whose ICMP
    /// code is not 0: it was routed here from off the link (RFC 4861 §6.1.1, §7.1), so it is neither answered nor learned from.
    /// </summary>
    NeighborDiscoveryOffLink,

    /// <summary>
    /// Not a packet: a live session ended because the instance it was placed on failed its health check and the service's
    /// <c>session-resiliency</c> moves sessions off what failed (see <c>InstanceFailover</c>).
    /// </summary>
    InstanceDown,

    /// <summary>
    /// A packet without a session that does not open a TCP connection (mid-flow TCP, a UDP datagram, an ICMP echo) from a
    /// client that arrived at this router by the configuration just applied: dropped, not reset and not opening a session,
    /// while its sessions come from the router it left (<c>SvrStage.ClientArrivalGrace</c>, docs/mobility.md "A client
    /// moves"); TCP sends it again, a datagram flow's next packet finds its session.
    /// </summary>
    ClientArriving,

    /// <summary>
    /// A TCP segment of a connection already reset, other than a SYN opening a new one on the tuple: a late packet of
    /// the closed connection, in flight when it ended. Harmless; no rule of the configuration refused it.
    /// </summary>
    LateAfterReset,

    /// <summary>
    /// A mid-flow TCP segment of a session that followed its instance here (its metadata pins the instance) while this
    /// router does not host that instance yet: the commit that moved it is not applied here, though the routers that
    /// sent the session on applied it. Dropped rather than given to a sibling instance, which would reset the connection;
    /// the ingress signals again with the client's retransmission, which finds the instance once the commit is applied
    /// (docs/mobility.md). A UDP or ICMP session is balanced among the instances here instead. At a transit: the old
    /// egress's redirect naming this router for an instance it does not host (yet), which the ingress would otherwise
    /// follow here to no instance; the old egress redirects the client's next packet again.
    /// </summary>
    InstanceArriving,
}

/// <summary>What a stage decided for the packet in hand.</summary>
public enum Verdict : byte
{
    /// <summary>Go on to the next stage.</summary>
    Continue,

    /// <summary>Send the (rewritten) frame out of <see cref="PacketContext.EgressPort"/>.</summary>
    Forward,

    /// <summary>Drop it; <see cref="PacketContext.Drop"/> says why.</summary>
    Drop,

    /// <summary>The packet was consumed: answered (ARP, ND, echo to the router) or held for a neighbour.</summary>
    Consumed,
}
