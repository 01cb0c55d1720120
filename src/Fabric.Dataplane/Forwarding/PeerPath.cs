using System.Net;
using Fabric.Dataplane.Sessions;
using Fabric.Dataplane.Svr;
using Fabric.Dataplane.Wire;

namespace Fabric.Dataplane.Forwarding;

/// <summary>
/// A path from this router to a peer router over one shared neighborhood, of one family: this router's address on
/// the interface that takes part in it (our waypoint), the peer's address on the same neighborhood
/// (its waypoint), and the pool of waypoint port pairs sessions on this path draw from. Waypoints
/// are both IPv4 or both IPv6 addresses (<see cref="IsIpv6"/>); a session's own endpoints may be of either family
/// (see SvrStage.Family.cs). The pool is kept across snapshots (see <see cref="WaypointPools"/>).
/// </summary>
public sealed class PeerPath(
    string peerRouter, string neighborhood, int port, bool isIpv6, UInt128 localAddress, UInt128 peerAddress, int poolId, WaypointAllocator waypoints, int keysId, byte[]? pinnedKey)
{
    public string PeerRouter { get; } = peerRouter;

    /// <summary>The peer's name in UTF-8, as a destination-router TLV names it.</summary>
    public byte[] PeerRouterUtf8 { get; } = System.Text.Encoding.UTF8.GetBytes(peerRouter);

    public string Neighborhood { get; } = neighborhood;

    /// <summary>The port (interface) packets to the peer leave by.</summary>
    public int Port { get; } = port;

    /// <summary>Whether the waypoints are IPv6 addresses: packets between them are IPv6 (IPv4 otherwise).</summary>
    public bool IsIpv6 { get; } = isIpv6;

    /// <summary>
    /// The waypoints' family as the control plane names it ("ipv4" or "ipv6"): with the peer and the neighborhood it
    /// names the path (a dual-stack neighborhood makes one path of each family to a peer).
    /// </summary>
    public string Family => IsIpv6 ? "ipv6" : "ipv4";

    /// <summary>Our waypoint address, as <see cref="SessionKey"/> holds addresses of its family.</summary>
    public UInt128 LocalAddress { get; } = localAddress;

    /// <summary>The peer's waypoint address (on-link: it is also the next hop), as <see cref="LocalAddress"/>.</summary>
    public UInt128 PeerAddress { get; } = peerAddress;

    /// <summary><see cref="LocalAddress"/> for the control plane (made once).</summary>
    public IPAddress LocalIPAddress { get; } = isIpv6 ? IpAddressConversions.ToIPAddress(localAddress) : IpAddressConversions.ToIPAddress((uint)localAddress);

    /// <summary><see cref="PeerAddress"/> for the control plane (made once).</summary>
    public IPAddress PeerIPAddress { get; } = isIpv6 ? IpAddressConversions.ToIPAddress(peerAddress) : IpAddressConversions.ToIPAddress((uint)peerAddress);

    /// <summary>Whether <paramref name="address"/> of a packet's family is the peer's waypoint: the packet came over this path.</summary>
    public bool IsPeer(UInt128 address, bool isIpv6) => isIpv6 == IsIpv6 && address == PeerAddress;

    /// <summary>
    /// Whether a session of this original protocol and family crosses between routers, over a path of either family:
    /// TCP and UDP of either family, and a ping of its family's ICMP (ICMP for IPv4, ICMPv6 for IPv6), which crosses as
    /// UDP with the message inside (Pipeline/Svr/SvrStage.Echo.cs). Anything else (another protocol, ICMP in the other
    /// family's clothes) does not, whatever metadata claims it.
    /// </summary>
    public static bool Carries(byte originalProtocol, bool originalIsIpv6) =>
        originalProtocol is IpProtocol.Tcp or IpProtocol.Udp || originalProtocol == (originalIsIpv6 ? IpProtocol.Icmpv6 : IpProtocol.Icmp);

    /// <summary>
    /// The transport a session of <paramref name="originalProtocol"/> crosses between routers in (its waypoint tuples'
    /// protocol): TCP stays TCP; UDP and a ping (<see cref="Carries"/>) cross as UDP.
    /// </summary>
    public static byte TransportFor(byte originalProtocol) => originalProtocol == IpProtocol.Tcp ? IpProtocol.Tcp : IpProtocol.Udp;

    /// <summary>
    /// The waypoint tuple a packet of a session on this path carries from the peer to us (the peer's waypoint port to
    /// ours): the reverse key of an ingress or transit session, in the path's family.
    /// </summary>
    public SessionKey FromPeer(ushort peerPort, ushort localPort, byte transport) =>
        new(PeerAddress, LocalAddress, peerPort, localPort, transport, IsIpv6);

    /// <summary>The id of <see cref="Waypoints"/> in <see cref="WaypointPools"/>: sessions keep it to give their ports back.</summary>
    public int PoolId { get; } = poolId;

    /// <summary>The peer router's X25519 public key as configuration pins it (its node's <c>identity</c>), or null.</summary>
    public byte[]? PinnedKey { get; } = pinnedKey;

    /// <summary>The id of the peer's keys in the <see cref="Svr.Security.PeerKeyring"/>.</summary>
    public int KeysId { get; } = keysId;

    /// <summary>Port pairs for sessions this router opens on the path. Not thread-safe: the worker owns it.</summary>
    public WaypointAllocator Waypoints { get; } = waypoints;

    /// <summary>
    /// Whether metadata that is not authenticated is taken from the peer over this path while it has no keys (its
    /// neighborhood's <c>allow-unauthenticated-metadata</c>); otherwise it is dropped as unauthenticated.
    /// </summary>
    public bool AcceptsUnauthenticatedMetadata { get; init; }

    /// <summary>Liveness and quality of the path (kept across compiles with the pool). Written by the worker.</summary>
    public required PeerPathHealth Health { get; init; }
}

/// <summary>
/// Keeps each peer path's waypoint pool across snapshot compiles: a recompile that keeps the path
/// (same peer, neighborhood, addresses, port range and cap) gets the same pool back, so ports held by
/// live sessions are never handed out again. Thread-safe (the pools themselves are not).
/// </summary>
/// <param name="workers">The node's packet workers: each pool has a lane per worker.</param>
public sealed class WaypointPools(int workers = 1)
{
    private readonly Dictionary<string, int> _ids = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();
    private WaypointAllocator[] _all = [];

    /// <summary>The pool with this id (ids are never reused).</summary>
    public WaypointAllocator this[int id] => Volatile.Read(ref _all)[id];

    /// <summary>The pool of the path (made on first use) and its id.</summary>
    public (int Id, WaypointAllocator Pool) For(string peer, string neighborhood, UInt128 local, UInt128 remote, ushort first, ushort last, int max, ulong seed)
    {
        var key = $"{peer}|{neighborhood}|{local}|{remote}|{first}-{last}|{max}";
        lock (_gate)
        {
            if (!_ids.TryGetValue(key, out var id))
            {
                id = _all.Length;
                _ids[key] = id;
                Volatile.Write(ref _all, [.. _all, new WaypointAllocator(first, last, max, seed ^ Fnv1a(key), workers)]);
            }

            return (id, _all[id]);
        }
    }

    /// <summary>A stable hash of the path's key (string hashes change from process to process; runs stay reproducible).</summary>
    private static ulong Fnv1a(string text)
    {
        var hash = 0xCBF29CE484222325UL;
        foreach (var c in text)
        {
            hash = (hash ^ c) * 0x100000001B3UL;
        }

        return hash;
    }
}
