using System.Runtime.CompilerServices;
using Fabric.Dataplane.Forwarding.Lpm;
using Fabric.Dataplane.LoadBalancing;
using Fabric.Dataplane.Policing;
using Fabric.Model;

namespace Fabric.Dataplane.Forwarding;

/// <summary>
/// Everything one router needs to forward, compiled from one configuration version: ports and the
/// router's own addresses on them, tenants, services and their policies, access decisions, and a
/// FIB per tenant. Immutable and swapped in whole (a worker reads one snapshot per batch); the
/// mutable state it points to (instance load, admission, shared buckets) is thread-safe and outlives
/// snapshots, so a swap loses no count. Thread-safe.
/// </summary>
public sealed class ForwardingSnapshot
{
    internal ForwardingSnapshot(
        long version, string router, PortBinding[] ports, string[] tenants,
        TenantClassifier classifier, ServiceEntry[] services, ServiceMatcher allServices, ServiceMatcher[] fibByTenant, ServiceRuntimes runtimes,
        PeerPath[] peerPaths, bool[] access)
    {
        _access = access;
        PeerPaths = peerPaths;
        _peerByAddress = [];
        foreach (var path in peerPaths)
        {
            _peerByAddress.TryAdd((path.PeerAddress, path.IsIpv6), path);
        }

        RouterUtf8 = System.Text.Encoding.UTF8.GetBytes(router);
        LongestRouterNameUtf8 = Math.Max(RouterUtf8.Length, peerPaths.Length == 0 ? 0 : peerPaths.Max(p => System.Text.Encoding.UTF8.GetByteCount(p.PeerRouter)));
        TenantsUtf8 = [.. tenants.Select(System.Text.Encoding.UTF8.GetBytes)];
        ServicesUtf8 = [.. services.Select(s => System.Text.Encoding.UTF8.GetBytes(s.Name))];
        Runtimes = runtimes;
        Version = version;
        Router = router;
        Ports = ports;
        Tenants = tenants;
        Classifier = classifier;
        Services = services;
        AllServices = allServices;
        FibByTenant = fibByTenant;
    }

    public long Version { get; }

    /// <summary>Every service runtime made so far, by id: sessions reach the one that admitted them here.</summary>
    public ServiceRuntimes Runtimes { get; }

    public string Router { get; }

    /// <summary>
    /// The router each node of the fabric is part of, by node name: not used by forwarding, but what the control
    /// plane believes about which node may speak for which router.
    /// </summary>
    public IReadOnlyDictionary<string, string> RouterOfNode { get; init; } = new Dictionary<string, string>();

    /// <summary>
    /// The router each container address of the document is listed under (the first, should two list it): where the
    /// configuration says a client is. A session of a client listed under another router is given up to it
    /// (docs/mobility.md "A client moves").
    /// </summary>
    public IReadOnlyDictionary<ClientAddress, string> RouterOfContainer { get; init; } = new Dictionary<ClientAddress, string>();

    /// <summary>
    /// The container addresses this router lists that the snapshot before this one (on this engine) listed under another
    /// router, or that had left another router's placement less than <see cref="Pipeline.SvrStage.ClientHandOverHold"/>
    /// before (<see cref="DepartedContainers"/>: a container the CNI plugin detached there and attached here), with that
    /// router: clients that arrived here with this configuration, whose sessions this router fetches.
    /// </summary>
    public IReadOnlyDictionary<ClientAddress, string> ArrivedClients { get; init; } = new Dictionary<ClientAddress, string>();

    /// <summary>
    /// The clients that arrived here less than <see cref="Pipeline.SvrStage.ClientHandOverHold"/> ago and are still placed
    /// here, each with the router it came from and the <see cref="Sequence"/> of the snapshot whose
    /// <see cref="ArrivedClients"/> named it: what an observer that did not run every snapshot reads (<see cref="ArrivalsSince"/>).
    /// </summary>
    public IReadOnlyDictionary<ClientAddress, RecentArrival> RecentArrivals
    {
        get => _recentArrivals;
        init => _recentArrivals = value as Dictionary<ClientAddress, RecentArrival> ?? new Dictionary<ClientAddress, RecentArrival>(value);
    }

    private readonly Dictionary<ClientAddress, RecentArrival> _recentArrivals = [];

    /// <summary>
    /// The clients that arrived here after <paramref name="seen"/> (a snapshot of this engine an observer ran before, null:
    /// none) up to this one, with the router each came from: <see cref="ArrivedClients"/> when <paramref name="seen"/> is
    /// the snapshot compiled just before; else those of <see cref="RecentArrivals"/> named by a later snapshot, so an arrival
    /// is not hidden by snapshots compiled between (a registry change, a commit) that the observer never ran. Allocates only
    /// then (a snapshot skipped), and only when something arrived.
    /// </summary>
    public IReadOnlyDictionary<ClientAddress, string> ArrivalsSince(ForwardingSnapshot? seen)
    {
        if (seen is null || ReferenceEquals(seen, this))
        {
            return NoArrivals;
        }

        if (seen.Sequence == Sequence - 1)
        {
            return ArrivedClients;
        }

        Dictionary<ClientAddress, string>? since = null;
        foreach (var (address, arrival) in _recentArrivals)
        {
            if (arrival.Sequence > seen.Sequence)
            {
                (since ??= [])[address] = arrival.From;
            }
        }

        return since ?? NoArrivals;
    }

    /// <summary>This engine's count of snapshots compiled, this one included: which one was compiled just before it.</summary>
    public long Sequence { get; init; }

    private static readonly IReadOnlyDictionary<ClientAddress, string> NoArrivals = new Dictionary<ClientAddress, string>();

    /// <summary>
    /// The addresses <paramref name="placement"/> lists under <paramref name="router"/> that <paramref name="seen"/> listed
    /// under another router, or that left another router's placement less than <paramref name="hold"/> ticks before
    /// <paramref name="now"/> (<see cref="DepartedContainers"/>), with that router.
    /// </summary>
    internal static Dictionary<ClientAddress, string> Arrivals(
        IReadOnlyDictionary<ClientAddress, string> placement, string router, ForwardingSnapshot? seen, long now, long hold)
    {
        var arrived = new Dictionary<ClientAddress, string>();
        if (seen is null)
        {
            return arrived;
        }

        foreach (var (address, placed) in placement)
        {
            if (placed != router)
            {
                continue;
            }

            if (seen.RouterOfContainer.TryGetValue(address, out var before))
            {
                if (before != router)
                {
                    arrived.Add(address, before);
                }
            }
            else if (seen.DepartedContainers.TryGetValue(address, out var departed) && departed.Router != router && now - departed.Since < hold)
            {
                arrived.Add(address, departed.Router);
            }
        }

        return arrived;
    }

    /// <summary>
    /// The container addresses no router lists any more that a snapshot of this engine listed less than
    /// <see cref="Pipeline.SvrStage.ClientHandOverHold"/> ago, with the router they were under and the tick they left it:
    /// where a container that reappears under another router (a CNI detach here or there, then an attach elsewhere)
    /// came from (<see cref="ArrivedClients"/>).
    /// </summary>
    public IReadOnlyDictionary<ClientAddress, (string Router, long Since)> DepartedContainers { get; init; } = new Dictionary<ClientAddress, (string Router, long Since)>();

    /// <summary>By port index: what the port is and the router's addresses on it.</summary>
    public PortBinding[] Ports { get; }

    /// <summary>Tenant names by index.</summary>
    public string[] Tenants { get; }

    public TenantClassifier Classifier { get; }

    /// <summary>Services by index.</summary>
    public ServiceEntry[] Services { get; }

    /// <summary>Every service, whoever asks: used to tell "no service" from "access denied".</summary>
    public ServiceMatcher AllServices { get; }

    /// <summary>By tenant index: the services this tenant may reach (deny by default: no entry, no route).</summary>
    public ServiceMatcher[] FibByTenant { get; }

    /// <summary>
    /// The limited tenant buckets of this snapshot's services (a policy with a tenant rate limit): one per
    /// service and tenant, charged by the sessions of that tenant that enter the fabric at this router. For the
    /// control plane (it allocates).
    /// </summary>
    public List<TenantBucket> LimitedTenantBuckets()
    {
        var buckets = new List<TenantBucket>();
        foreach (var service in Services)
        {
            var tenantBuckets = service.Runtime.TenantBuckets;
            for (var t = 0; t < tenantBuckets.Length && t < Tenants.Length; t++)
            {
                if (!tenantBuckets[t].IsUnlimited)
                {
                    buckets.Add(new TenantBucket(service.Name, Tenants[t], tenantBuckets[t]));
                }
            }
        }

        return buckets;
    }

    private readonly Dictionary<(UInt128 Address, bool IsIpv6), PeerPath> _peerByAddress;

    /// <summary>Paths to peer routers over shared neighborhoods, in preference order.</summary>
    public PeerPath[] PeerPaths { get; }

    /// <summary>The path whose peer waypoint is <paramref name="address"/> of that family: who sent a waypoint packet.</summary>
    public bool TryFindPeer(UInt128 address, bool isIpv6, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out PeerPath? path) =>
        _peerByAddress.TryGetValue((address, isIpv6), out path);

    /// <summary>The router's name as metadata carries it (UTF-8), so the packet path writes it without encoding.</summary>
    public byte[] RouterUtf8 { get; }

    /// <summary>
    /// The names of the document's routers, in its order: what a redirect's destination router (TLV 17) is matched
    /// against where this router has no path of its own to it (a transit relaying the redirect, an ingress that reaches
    /// that router through a transit; docs/mobility.md "A redirect through a transit").
    /// </summary>
    public string[] RouterNames { get; init; } = [];

    /// <summary><see cref="RouterNames"/> in UTF-8, by the same index.</summary>
    public byte[][] RouterNamesUtf8 { get; init; } = [];

    /// <summary>The longest name, in UTF-8 octets, of this router and its peers: what a source-router TLV may take.</summary>
    public int LongestRouterNameUtf8 { get; }

    /// <summary>Tenant names in UTF-8 by index: metadata names are matched against these without allocating.</summary>
    public byte[][] TenantsUtf8 { get; }

    /// <summary>Service names in UTF-8 by index.</summary>
    public byte[][] ServicesUtf8 { get; }

    /// <summary>The index of the name in <paramref name="names"/> (UTF-8 octets compared), or −1.</summary>
    public static int IndexOfUtf8(byte[][] names, ReadOnlySpan<byte> name)
    {
        for (var i = 0; i < names.Length; i++)
        {
            if (name.SequenceEqual(names[i]))
            {
                return i;
            }
        }

        return -1;
    }

    public int TenantIndex(string name) => Array.IndexOf(Tenants, name);

    /// <summary>Whether the access policy lets <paramref name="tenant"/> reach <paramref name="service"/> (indexes of this snapshot; hierarchy included).</summary>
    public bool MayReach(int tenant, int service) =>
        (uint)tenant < (uint)Tenants.Length && (uint)service < (uint)Services.Length && _access[(tenant * Services.Length) + service];

    private readonly bool[] _access;

    public int ServiceIndex(string name)
    {
        for (var i = 0; i < Services.Length; i++)
        {
            if (Services[i].Name == name)
            {
                return i;
            }
        }

        return -1;
    }
}

/// <summary>One port of the router in one snapshot.</summary>
/// <param name="Tenant">The tenant of packets arriving here, or −1.</param>
/// <param name="Ipv4Addresses">The router's own IPv4 addresses on the port (gateway or interface addresses).</param>
/// <param name="OnLink">The prefixes of the router's addresses on the port: the hosts on its link.</param>
/// <param name="WaypointFirst">The lowest waypoint port peers may send to on this interface (0: the port takes no SVR traffic).</param>
/// <summary>A client that arrived at a router: the router it came from, the <see cref="ForwardingSnapshot.Sequence"/> of the snapshot that brought it, and that snapshot's tick.</summary>
public readonly record struct RecentArrival(string From, long Sequence, long Since);

public sealed record PortBinding(
    string Device, PortRole Role, int Tenant, uint[] Ipv4Addresses, UInt128[] Ipv6Addresses, OnLinkPrefix[] OnLink, int Mtu,
    ushort WaypointFirst = 0, ushort WaypointLast = 0)
{
    /// <summary>True for a packet to one of our addresses (of either family) here on a waypoint port: SVR traffic from a peer.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool IsWaypoint(UInt128 destination, bool isIpv6, ushort port) =>
        WaypointFirst != 0 && port >= WaypointFirst && port <= WaypointLast && Owns(destination, isIpv6);

    public static PortBinding Unused(string device) => new(device, PortRole.Unused, -1, [], [], [], 1500);

    /// <summary>Whether <paramref name="address"/> lies in one of the port's <see cref="OnLink"/> prefixes.</summary>
    public bool IsOnLink(UInt128 address, bool isIpv6)
    {
        foreach (var prefix in OnLink)
        {
            if (prefix.Contains(address, isIpv6))
            {
                return true;
            }
        }

        return false;
    }

    // A port has a handful of addresses: a plain loop, asked once per packet, costs less than Array.IndexOf's call.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool OwnsIpv4(uint address)
    {
        foreach (var own in Ipv4Addresses)
        {
            if (own == address)
            {
                return true;
            }
        }

        return false;
    }

    public bool OwnsIpv6(UInt128 address)
    {
        foreach (var own in Ipv6Addresses)
        {
            if (own == address)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Whether <paramref name="address"/> of that family is one of the router's addresses on the port.</summary>
    public bool Owns(UInt128 address, bool isIpv6) => isIpv6 ? OwnsIpv6(address) : OwnsIpv4((uint)address);
}

/// <summary>A service as the dataplane uses it: policy values in ticks, the instances reachable from this router.</summary>
public sealed class ServiceEntry
{
    internal ServiceEntry(string name, ServicePolicy policy, LocalInstance[] instances, InstanceSet instanceSet, ServiceRuntime runtime, long ticksPerSecond, PeerPath[] peerPaths)
    {
        PeerPaths = peerPaths;
        Name = name;
        Policy = policy;
        Instances = instances;
        InstanceSet = instanceSet;
        Runtime = runtime;
        IdleTcp = (long)(policy.IdleTimeouts.Tcp.TotalSeconds * ticksPerSecond);
        IdleUdp = (long)(policy.IdleTimeouts.Udp.TotalSeconds * ticksPerSecond);
        IdleIcmp = (long)(policy.IdleTimeouts.Icmp.TotalSeconds * ticksPerSecond);
        IdleHalfOpen = (long)(policy.IdleTimeouts.HalfOpen.TotalSeconds * ticksPerSecond);
    }

    public string Name { get; }

    public ServicePolicy Policy { get; }

    /// <summary>Instances on this router's own networks, in <see cref="InstanceSet"/> order.</summary>
    public LocalInstance[] Instances { get; }

    /// <summary>
    /// Where a session to <paramref name="destination"/> goes through the instance at <paramref name="pick"/> (see
    /// <see cref="LocalInstance.TryAddressFor"/>). A native instance whose prefix does not hold the destination gives way
    /// to the first native instance whose prefix does, and <paramref name="pick"/> names it. False when none can take it.
    /// </summary>
    public bool TryInstanceAddress(ref int pick, bool ipv6, UInt128 destination, out UInt128 address)
    {
        if (Instances[pick].TryAddressFor(ipv6, destination, out address))
        {
            return true;
        }

        if (Instances[pick].NativePrefixLength < 0)
        {
            return false;
        }

        for (var i = 0; i < Instances.Length; i++)
        {
            if (Instances[i].NativePrefixLength >= 0 && Instances[i].TryAddressFor(ipv6, destination, out address))
            {
                pick = i;
                return true;
            }
        }

        return false;
    }

    public InstanceSet InstanceSet { get; }

    /// <summary>When the service has no instance here: the paths to the peer routers that host it, preferred first.</summary>
    public PeerPath[] PeerPaths { get; }

    /// <summary>
    /// When the service has no instance here: the peer routers that host it, in <see cref="InstanceSet"/> order. They
    /// stand in for instances in load balancing at this router (the ingress): <see cref="Runtime"/>'s load counts the
    /// sessions this router sent to each, plus the others' as the egress reports them (load feedback).
    /// </summary>
    public string[] PeerRouters { get; init; } = [];

    /// <summary>The names of <see cref="PeerRouters"/> in UTF-8 (the destination-router TLV through a transit).</summary>
    public byte[][] PeerRoutersUtf8 { get; init; } = [];

    /// <summary>
    /// For each of <see cref="PeerPaths"/>, the slot in <see cref="PeerRouters"/> of the hosting router it leads to:
    /// the path's own peer, or the router a transit peer carries the session on to.
    /// </summary>
    public int[] PeerPathSlots { get; init; } = [];

    /// <summary>
    /// The index of the service's path-quality bounds among those every peer path grades itself against
    /// (<see cref="Svr.PeerPathHealth.Admits"/>); −1 when its policy sets none.
    /// </summary>
    public int QualityBound { get; init; } = -1;

    /// <summary>Whether <paramref name="path"/> may take a new session of the service at <paramref name="now"/>: it is up and meets the service's quality.</summary>
    public bool Takes(PeerPath path, long now) => path.Health.IsUsable && path.Health.Admits(QualityBound, now);

    /// <summary>
    /// The port health checks connect to on an instance that does not rewrite the port (<see cref="LocalInstance.Port"/>
    /// 0): the service's first TCP port; 0 when the service has none, and its instances are checked by ICMP echo.
    /// </summary>
    public ushort HealthCheckPort { get; init; }

    /// <summary>The tenants the service's access list names, in its order (each grants its children too); for explaining decisions, not for forwarding (the FIBs hold the decisions).</summary>
    public string[] Access { get; init; } = [];

    /// <summary>The slot of the hosting router <paramref name="path"/> leads to, or −1 when it is not one of <see cref="PeerPaths"/>.</summary>
    public int SlotOf(PeerPath path)
    {
        for (var i = 0; i < PeerPaths.Length; i++)
        {
            if (ReferenceEquals(PeerPaths[i], path))
            {
                return PeerPathSlots[i];
            }
        }

        return -1;
    }

    /// <summary>Load, admission and shared rate limits of the service: mutable, thread-safe, kept across snapshots.</summary>
    public ServiceRuntime Runtime { get; }

    public long IdleTcp { get; }

    public long IdleUdp { get; }

    public long IdleIcmp { get; }

    /// <summary>The idle timeout of a half-open session (a handshake not completed, nothing answered), in clock ticks.</summary>
    public long IdleHalfOpen { get; }
}

/// <summary>Where an instance is reached: the port its container (or address) sits behind and its addresses, one per family at most.</summary>
/// <param name="Port">Destination port to rewrite to, or 0 to keep the client's.</param>
public readonly record struct LocalInstance(string Name, int EgressPort, bool HasIpv4, uint Ipv4, bool HasIpv6, UInt128 Ipv6, ushort Port)
{
    /// <summary>
    /// -1 for an instance at its own address. Otherwise the service is offered natively here (<c>offered-by</c>): the
    /// instance stands for the prefix of this length at its address, on-link behind <see cref="EgressPort"/>, and a
    /// session goes to the packet's own destination (<see cref="TryAddressFor"/>).
    /// </summary>
    public int NativePrefixLength { get; init; } = -1;

    /// <summary>The instance's address in the family of the packet; false when it has none (the session cannot go there).</summary>
    public bool TryAddress(bool ipv6, out UInt128 address)
    {
        address = ipv6 ? Ipv6 : Ipv4;
        return ipv6 ? HasIpv6 : HasIpv4;
    }

    /// <summary>
    /// Where a session to <paramref name="destination"/> goes through this instance: its own address, or for a native
    /// instance the destination itself when it lies in the instance's prefix. False when the instance cannot take it.
    /// </summary>
    public bool TryAddressFor(bool ipv6, UInt128 destination, out UInt128 address)
    {
        if (!TryAddress(ipv6, out address))
        {
            return false;
        }

        if (NativePrefixLength < 0)
        {
            return true;
        }

        var hostBits = (ipv6 ? 128 : 32) - NativePrefixLength;
        var within = hostBits >= 128 || (destination >> hostBits) == (address >> hostBits);
        address = destination;
        return within;
    }
}

/// <summary>One tenant's rate-limit bucket for one service.</summary>
public sealed record TenantBucket(string Service, string Tenant, SharedTokenBucket Bucket);

/// <summary>
/// The mutable side of one service, shared by every worker and kept across snapshot swaps while the
/// service keeps its name and instances. Thread-safe.
/// </summary>
public sealed class ServiceRuntime(int id, string service, InstanceLoad load, SessionAdmission admission, SharedTokenBucket serviceBucket, SharedTokenBucket[] tenantBuckets)
{
    /// <summary>The runtime's id in its <see cref="ServiceRuntimes"/>; sessions keep it.</summary>
    public int Id { get; } = id;

    public string Service { get; } = service;

    public InstanceLoad Load { get; } = load;

    public SessionAdmission Admission { get; } = admission;

    public SharedTokenBucket ServiceBucket { get; } = serviceBucket;

    /// <summary>
    /// The policy's per-session rate limit: every session this runtime admitted refills its own level
    /// (<see cref="Pipeline.SessionState.Bucket"/>) at it. A runtime stands for one policy (<see cref="ServiceRuntimes.For"/>),
    /// so a live session keeps the rate it was admitted under when a new configuration changes the policy.
    /// </summary>
    public TokenRate SessionRate { get; init; }

    /// <summary>
    /// Whether no packet of this runtime's sessions is ever refused for its rate: the session rate, the service's bucket and
    /// every tenant's bucket are unlimited (an unlimited bucket stays so: <see cref="SharedTokenBucket.SetRate"/> refuses it).
    /// The fast path then touches none of the three.
    /// </summary>
    public bool PolicesNothing
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => _sharedBucketsUnlimited && SessionRate.IsUnlimited;
    }

    private readonly bool _sharedBucketsUnlimited = serviceBucket.IsUnlimited && Array.TrueForAll(tenantBuckets, bucket => bucket.IsUnlimited);

    /// <summary>
    /// The active health check of each instance slot (in <see cref="Load"/> order), or null when the service's policy
    /// checks nothing or its slots are not instances of this router (peer routers, natively offered prefixes).
    /// </summary>
    public InstanceHealthCheck[]? HealthChecks { get; init; }

    /// <summary>By tenant index of the snapshot that made this runtime.</summary>
    public SharedTokenBucket[] TenantBuckets { get; } = tenantBuckets;

    /// <summary>
    /// The names of the slots <see cref="Load"/> counts, in order (instances, or <c>router:NAME</c> for peer routers), joined
    /// by commas: two runtimes of a service with equal slots number them alike.
    /// </summary>
    public string Slots { get; init; } = "";

    /// <summary>
    /// Whether a session <paramref name="admittedBy"/> admitted means the same instance or hosting router here by its slot
    /// (<see cref="Pipeline.SessionState.Instance"/>): the same runtime, or one over the same slots in the same order (a commit
    /// that changed the policy or the tenants only). Allocates nothing.
    /// </summary>
    public bool NumbersSlotsAs(ServiceRuntime admittedBy) =>
        ReferenceEquals(this, admittedBy) || string.Equals(Slots, admittedBy.Slots, StringComparison.Ordinal);
}
