using Fabric.Dataplane.Forwarding;
using Fabric.Dataplane.Wire;

namespace Fabric.Dataplane.Pipeline;

// SvrStage is one type in files by role (one pipeline step each; every method is allocation-free):
//   SvrStage.cs            the handshake's constants and the lookups several roles share
//   SvrStage.Receive.cs    a packet arrives on a waypoint: metadata read and checked, the packet verified (or decrypted)
//                          and stripped; a packet leaving to a peer is sealed
//   SvrStage.Ingress.cs    the ingress keeps its sessions on a live peer path (follow, move, come back home)
//   SvrStage.Egress.cs     the egress accepts a session from metadata, or adopts a session that moved path
//   SvrStage.Transit.cs    a transit carries a session on to the router the metadata names, and relays an old egress's
//                          redirect back to the ingress
//   SvrStage.Handshake.cs  the metadata handshake: observed on every packet, metadata written, announced ahead,
//                          acknowledged by the egress for a one-way flow
//   SvrStage.Rewrite.cs    a packet is rewritten to the other side's tuple (ICMP ↔ UDP, ICMP errors, MSS, growth)
// Sessions are opened by SessionOpening (PeerRoute for an ingress or transit, InstanceRoute for an egress).

/// <summary>
/// Secure Vector Routing between routers, without a tunnel header:
/// <code>
///  client ─► ingress router ══ waypoint tuple (our addr:even → peer addr:odd), metadata on first packets ══► egress router ─► instance
///            SessionOpening, PeerRoute.Ingress: the hosting        Receive: check metadata; Unseal: verify, strip it
///            router, its path, a waypoint port pair; session        Accept: tenant from metadata, access policy again,
///            keyed so the reverse waypoint tuple finds it           SessionOpening, InstanceRoute.Egress: load balance,
///                                                                   restore the original 5-tuple
/// </code>
/// Handshake: the ingress puts forward metadata on every forward packet until a reverse packet with metadata
/// arrives; the egress puts reverse metadata on every reverse packet until a forward packet arrives without.
/// A TCP SYN always carries metadata (a retransmitted first segment signals again); ICMP crosses as UDP and
/// always carries metadata. When <see cref="ResignalAfterUnanswered"/> forward packets in a row see no reverse
/// packet and none has come for <see cref="ResignalAfterQuiet"/> (the peer may have lost the session, say by a
/// restart, and the client is retransmitting), the ingress signals again, so the egress can rebuild the session
/// without the endpoints noticing. A bulk sender with many packets in flight, answered within the quiet time, is
/// never re-signalled: its packets keep crossing with 0 bytes added. A one-way UDP flow, which nothing answers, is
/// answered by the egress: a handshake acknowledgement (<see cref="Acknowledge"/>) once the reverse direction has
/// been quiet for <see cref="ResignalAfterQuiet"/>, so it too crosses with 0 bytes added between re-signals. Packets to waypoint ports that match no session and
/// carry no metadata are dropped silently: answering them would reveal the router. After the handshake a
/// packet is only rewritten: 0 bytes are added.
/// </summary>
public static partial class SvrStage
{
    /// <summary>Forward packets in a row without a reverse packet after which the ingress sends metadata again.</summary>
    public const int ResignalAfterUnanswered = 4;

    /// <summary>
    /// How long the reverse direction must have been silent before unanswered forward packets re-signal: above
    /// a round trip between routers, below the time TCP takes for its fourth retransmission (0.2 + 0.4 + 0.8 s).
    /// </summary>
    public static readonly TimeSpan ResignalAfterQuiet = TimeSpan.FromMilliseconds(500);

    /// <summary>The bytes a forward or reverse metadata block may take (IPv4 contexts, names up to 64 octets each).</summary>
    public const int MaxBlockLength = 512;

    private static PeerPath? PathOfPool(PeerPath[] paths, int poolId)
    {
        for (var i = 0; i < paths.Length; i++)
        {
            if (paths[i].PoolId == poolId)
            {
                return paths[i];
            }
        }

        return null;
    }

    private static int TransportHeaderLength(Span<byte> ip, int transportAt) =>
        TransportProtocol(ip, transportAt) == IpProtocol.Tcp ? (ip[transportAt + 12] >> 4) * 4 : UdpDatagram.HeaderLength;

    /// <summary>
    /// The protocol of the transport header at <paramref name="transportAt"/> of the IPv4 or IPv6 packet in
    /// <paramref name="ip"/> (a waypoint packet of either family; for IPv6 after its extension headers, 0 when they do not read).
    /// </summary>
    private static byte TransportProtocol(Span<byte> ip, int transportAt) =>
        ip[0] >> 4 != Ipv6Packet.Version6 ? ip[Ipv4Packet.ProtocolOffset]
        : transportAt == Ipv6Packet.HeaderLength ? ip[Ipv6Packet.NextHeaderOffset]
        : Ipv6Packet.TryCreate(ip, out var v6) ? v6.UpperLayerProtocol : (byte)0;
}
