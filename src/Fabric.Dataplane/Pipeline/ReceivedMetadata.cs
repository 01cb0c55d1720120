using Fabric.Dataplane.Sessions;

namespace Fabric.Dataplane.Pipeline;

/// <summary>
/// What the metadata block of an arriving waypoint packet said, read without allocating (names are
/// matched against the snapshot's). Absent fields keep their defaults; an unknown tenant or service
/// name reads as −1 with <see cref="TenantNamed"/> or <see cref="ServiceNamed"/> set.
/// </summary>
public struct ReceivedMetadata
{
    /// <summary>What a packet that carried no block reads: every field at its default. Never written.</summary>
    internal static readonly ReceivedMetadata Absent;

    /// <summary>The packet carried a block (it has been stripped).</summary>
    public bool Present;

    /// <summary>The block carries the keepalive control: with no payload after it, the packet only announces the session.</summary>
    public bool Announcement;

    public bool HasForwardContext;

    /// <summary>The session's original 5-tuple as the client sent it (forward context, IPv4).</summary>
    public SessionKey ForwardContext;

    public bool HasReverseContext;

    public bool TenantNamed;

    /// <summary>The tenant index of the named tenant, or −1.</summary>
    public int Tenant;

    public bool ServiceNamed;

    /// <summary>The service index of the named service, or −1.</summary>
    public int Service;

    public bool HasSessionsInService;

    /// <summary>The block names a destination router other than this one (TLV 17): this router is a transit.</summary>
    public bool RoutedOnward;

    /// <summary>
    /// The block names this router as the destination router (TLV 17). In reverse metadata at an ingress: a redirect from
    /// the old egress saying the session's instance moved here (<see cref="SvrStage.FollowRedirect"/>).
    /// </summary>
    public bool NamesThisRouter;

    /// <summary>When <see cref="RoutedOnward"/>: the index in the snapshot's peer paths of the first usable path to that router, or −1.</summary>
    public int OnwardPath;

    /// <summary>
    /// When <see cref="RoutedOnward"/>: the index in the snapshot's <see cref="Forwarding.ForwardingSnapshot.RouterNames"/>
    /// of that router, or −1 when the document names no such router.
    /// </summary>
    public int DestinationRouter;

    /// <summary>The reverse context (TLV 4) when <see cref="HasReverseContext"/>: what a transit relays on.</summary>
    public SessionKey ReverseContext;

    /// <summary>The service's active sessions at the sending egress (TLV 13, reverse metadata: load feedback).</summary>
    public long SessionsInService;

    /// <summary>The low 32 bits of the session id, or 0.</summary>
    public uint SessionId;

    /// <summary>The octets of the block (still in the packet until it is unsealed and stripped), or 0.</summary>
    public int BlockLength;

    /// <summary>The header section names the epoch the packet is sealed with (TLV 16).</summary>
    public bool HasSecurityId;

    public uint SecurityId;

    /// <summary>The id of the sending peer's keys in the keyring.</summary>
    public int PeerKeys;

    /// <summary>Whether the sending peer's path takes metadata that is not sealed while it has no keys.</summary>
    public bool UnauthenticatedAllowed;
}
