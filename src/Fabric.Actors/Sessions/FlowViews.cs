using System.Globalization;
using Fabric.Dataplane.Forwarding;
using Fabric.Dataplane.Pipeline;
using Fabric.Dataplane.Sessions;
using Fabric.Dataplane.Telemetry;
using Fabric.Dataplane.Wire;

namespace Fabric.Actors.Sessions;

/// <summary>
/// One session of one router node, named: its id (<c>NODE/SLOT.GENERATION</c>, unique while it lives), both keys as
/// packets carry them (<c>forward</c>: as the session's first packet arrived; <c>reverse</c>: as answers arrive), the
/// protocol the endpoints speak, tenant, service, the instance (or, at the ingress of an SVR session, the hosting router)
/// it was balanced to, this router's <c>role</c> (<c>local</c>, <c>ingress</c>, <c>egress</c>, <c>transit</c>), the peer
/// path and both waypoints of an SVR session, whether it is encrypted between routers, the TCP state (in a query's
/// answer; not in an event), when it opened, how
/// long it has been idle, and packets and bytes each way (IP bytes).
/// </summary>
public sealed record SessionView(
    string Id, string Node, string Router, string Protocol,
    EndpointPair Forward, EndpointPair Reverse,
    string? Tenant, string? Service, string? Instance, string Role,
    string? PeerRouter, string? Neighborhood, string? LocalWaypoint, string? PeerWaypoint, bool Encrypted, string? TcpState,
    long OpenedUnixMilliseconds, long IdleMilliseconds,
    long ForwardPackets, long ForwardBytes, long ReversePackets, long ReverseBytes);

/// <summary>A 5-tuple as one direction's packets carry it (ports are ICMP echo identifiers for pings).</summary>
public sealed record EndpointPair(string Protocol, string Source, int SourcePort, string Destination, int DestinationPort)
{
    public override string ToString() => $"{Protocol} {Endpoint(Source, SourcePort)} > {Endpoint(Destination, DestinationPort)}";

    /// <summary>An address and port as written: an IPv6 address in brackets.</summary>
    internal static string Endpoint(string address, int port) => address.Contains(':', StringComparison.Ordinal) ? $"[{address}]:{port}" : $"{address}:{port}";
}

/// <summary>
/// One dropped packet of one router node: when, why (<c>reason</c>, a <see cref="DropReason"/> in snake_case), the rule of
/// the configuration behind it where there is one (<c>rule</c>: a path such as <c>fabric.services.db.access</c>, and
/// <c>why</c>: what that rule says about this packet), tenant and service as far as they were known, its 5-tuple and the
/// device it came in by.
/// </summary>
public sealed record DropView(
    string Node, string Router, long UnixMilliseconds, string Reason, string? Rule, string? Why, string? Tenant, string? Service,
    EndpointPair Packet, string? Interface);

/// <summary>Drops of one reason, tenant and service counted by a router node since it started, with the rule behind them (as for <see cref="DropView"/>; a rate limit's rule is per drop).</summary>
public sealed record DropCountView(string Node, string Router, string Reason, string? Tenant, string? Service, string? Rule, string? Why, long Count);

/// <summary>
/// Names what the dataplane keeps as indexes and ticks: sessions and drops become views, and a drop's reason and rule
/// become the configuration path and sentence that explain it. Thread-safe (reads immutable snapshots).
/// </summary>
public static class FlowNames
{
    /// <summary>A reason or role as the API names it: snake_case.</summary>
    public static string Of(DropReason reason) => Snake(reason.ToString());

    public static string Of(SvrRole role) => role == SvrRole.None ? "local" : Snake(role.ToString());

    public static string Protocol(byte protocol) => protocol switch
    {
        IpProtocol.Tcp => "tcp",
        IpProtocol.Udp => "udp",
        IpProtocol.Icmp or IpProtocol.Icmpv6 => "icmp",
        _ => protocol.ToString(CultureInfo.InvariantCulture),
    };

    public static string Address(UInt128 address, bool ipv6) =>
        ipv6 ? IpAddressConversions.ToIPAddress(address).ToString() : IpAddressConversions.ToIPAddress((uint)address).ToString();

    public static EndpointPair Pair(in SessionKey key) =>
        new(Protocol(key.Protocol), Address(key.Source, key.IsIpv6), key.SourcePort, Address(key.Destination, key.IsIpv6), key.DestinationPort);

    /// <summary>The session's id among a node's sessions while it lives.</summary>
    public static string SessionId(string node, int handle, uint generation) => $"{node}/{handle}.{generation}";

    /// <summary>A session as <paramref name="snapshot"/> names it (the one it was read under); times by <paramref name="clock"/>.</summary>
    public static SessionView Session(string node, ForwardingSnapshot? snapshot, in SessionSnapshot session, WorkerClock clock) =>
        Session(node, snapshot, session.Handle, session.Generation, session.Forward, session.Reverse, session.State, session.Tcp, session.Opened, session.LastSeen, clock);

    public static SessionView Session(
        string node, ForwardingSnapshot? snapshot, int handle, uint generation, in SessionKey forward, in SessionKey reverse, in SessionState state,
        TcpTracker? tcp, long opened, long lastSeen, WorkerClock clock)
    {
        ArgumentNullException.ThrowIfNull(clock);
        var service = snapshot is not null && (uint)state.Service < (uint)snapshot.Services.Length ? snapshot.Services[state.Service] : null;
        var path = snapshot is null ? null : PathOf(snapshot, state, forward);
        var protocol = state.Svr != SvrRole.None ? state.OriginalProtocol : forward.Protocol;
        string? instance = null;
        if (service is not null && state.Instance >= 0)
        {
            instance = state.Instance < service.Instances.Length ? service.Instances[state.Instance].Name
                : state.Instance < service.PeerRouters.Length ? $"router:{service.PeerRouters[state.Instance]}" : null;
        }

        return new SessionView(
            SessionId(node, handle, generation), node, snapshot?.Router ?? "", Protocol(protocol), Pair(forward), Pair(reverse),
            TenantName(snapshot, state.Tenant), service?.Name, instance, Of(state.Svr),
            path?.PeerRouter, path?.Neighborhood,
            path is null || state.LocalWaypointPort == 0 ? null : EndpointPair.Endpoint(path.LocalIPAddress.ToString(), state.LocalWaypointPort),
            path is null || state.PeerWaypointPort == 0 ? null : EndpointPair.Endpoint(path.PeerIPAddress.ToString(), state.PeerWaypointPort),
            state.Sealed,
            protocol == IpProtocol.Tcp && tcp is { } t ? Snake(t.State.ToString()) : null,
            clock.UnixMilliseconds(opened), clock.Milliseconds(clock.Now - lastSeen),
            state.ForwardPackets, state.ForwardBytes, state.ReversePackets, state.ReverseBytes);
    }

    /// <summary>A drop as <paramref name="snapshot"/> names it.</summary>
    public static DropView Drop(string node, ForwardingSnapshot? snapshot, in DropRecord drop, WorkerClock clock)
    {
        ArgumentNullException.ThrowIfNull(clock);
        var (rule, why) = Rule(drop.Reason, drop.Rule, drop.Tenant, drop.Service, snapshot);
        var packet = new EndpointPair(Protocol(drop.Protocol), Address(drop.Source, drop.IsIpv6), drop.SourcePort, Address(drop.Destination, drop.IsIpv6), drop.DestinationPort);
        return new DropView(
            node, snapshot?.Router ?? "", clock.UnixMilliseconds(drop.Time), Of(drop.Reason), rule, why,
            TenantName(snapshot, drop.Tenant), ServiceName(snapshot, drop.Service), packet,
            snapshot is not null && (uint)drop.Port < (uint)snapshot.Ports.Length ? snapshot.Ports[drop.Port].Device : null);
    }

    /// <summary>
    /// The configuration rule behind a drop and what it says about the packet; no rule but what it is for a late packet
    /// of a connection already reset; (null, null) when no rule is involved (damage, an unknown destination, a full table). The tenant and service are indexes of <paramref name="snapshot"/>.
    /// </summary>
    public static (string? Rule, string? Why) Rule(DropReason reason, DropRule rule, int tenant, int service, ForwardingSnapshot? snapshot)
    {
        if (reason == DropReason.LateAfterReset)
        {
            return (null, "a late packet of a TCP connection already reset (in flight when it ended): harmless, no rule refused it");
        }

        var tenantName = TenantName(snapshot, tenant);
        var entry = snapshot is not null && (uint)service < (uint)snapshot.Services.Length ? snapshot.Services[service] : null;
        if (entry is null)
        {
            return reason switch
            {
                DropReason.NoTenant => ("fabric.tenants", "no tenant: the packet's interface, container and source address belong to none"),
                DropReason.NoService => ("fabric.services", $"no service matches the destination{(tenantName is null ? "" : $" (tenant {tenantName})")}"),
                _ => (null, null),
            };
        }

        var policy = $"fabric.service-policies.{entry.Policy.Name}";
        var p = entry.Policy;
        return (reason, rule) switch
        {
            (DropReason.AccessDenied, _) => (
                $"fabric.services.{entry.Name}.access",
                $"access = [{string.Join(", ", entry.Access)}]: {tenantName ?? "the tenant"} is not listed nor a child of a listed tenant, and everything not allowed is denied"),
            (DropReason.RateLimited, DropRule.SessionRateLimit) => ($"{policy}.session-rate-limit", $"each session of {entry.Name} at most {Rate(p.SessionRateLimit)}"),
            (DropReason.RateLimited, DropRule.ServiceRateLimit) => ($"{policy}.service-rate-limit", $"all sessions of {entry.Name} together at most {Rate(p.ServiceRateLimit)}"),
            (DropReason.RateLimited, DropRule.TenantRateLimit) => ($"{policy}.tenant-rate-limit", $"{tenantName ?? "each tenant"}'s sessions of {entry.Name} at most {Rate(p.TenantRateLimit)} across the fabric"),
            (DropReason.RateLimited, _) => ($"{policy}", $"a rate limit of {entry.Name}"),
            (DropReason.SessionLimit, DropRule.SessionRate) => ($"{policy}.session-rate", $"{entry.Name} opens at most {p.SessionRate} sessions a second"),
            (DropReason.SessionLimit, _) => ($"{policy}.max-sessions", $"{entry.Name} takes at most {p.MaxSessions} sessions, none above {p.HighWaterPercent}% until below {p.LowWaterPercent}%"),
            (DropReason.NoHandshake, _) => ($"{policy}.transport-state-enforcement", $"transport-state-enforcement = {Snake(p.TransportStateEnforcement.ToString())}: a mid-flow TCP packet of a session whose handshake this router never saw"),
            (DropReason.NoPeerKeys, _) => ($"{policy}.encryption", $"encryption = required: {entry.Name} never leaves a router in clear, and the peer path has no keys"),
            (DropReason.PeerPathDown, _) => ($"{policy}.resiliency", $"resiliency = {Snake(p.Resiliency.ToString())}: the session's peer path is down and it may not move to another"),
            (DropReason.InstanceDown, _) => ($"{policy}.health-check", $"the session's instance failed its health check, and session-resiliency = {Snake(p.Resiliency.ToString())} moves sessions off what failed"),
            (DropReason.ClientArriving, _) => (null, "the client arrived at this router with the configuration just applied: its packets without a session that open no TCP connection (mid-flow TCP, UDP, ICMP echo) are dropped while its sessions come from the router it left"),
            (DropReason.InstanceArriving, _) => (null, "the session follows its instance to this router, which has not applied the commit that moved it here: its TCP segments wait for it (the client sends them again) rather than reaching a sibling instance that would reset the connection"),
            (DropReason.NoRoute, _) => ($"fabric.services.{entry.Name}.instances", $"no instance of {entry.Name} is up or reachable from {snapshot!.Router}"),
            _ => (null, null),
        };
    }

    public static string? TenantName(ForwardingSnapshot? snapshot, int tenant) =>
        snapshot is not null && (uint)tenant < (uint)snapshot.Tenants.Length ? snapshot.Tenants[tenant] : null;

    public static string? ServiceName(ForwardingSnapshot? snapshot, int service) =>
        snapshot is not null && (uint)service < (uint)snapshot.Services.Length ? snapshot.Services[service].Name : null;

    /// <summary>A word as the API spells enum values: <c>AccessDenied</c> → <c>access_denied</c>.</summary>
    public static string Snake(string name) => System.Text.Json.JsonNamingPolicy.SnakeCaseLower.ConvertName(name);

    private static string Rate(Model.RateLimit limit) => limit.IsUnlimited
        ? "unlimited"
        : string.Create(CultureInfo.InvariantCulture, $"{limit.BytesPerSecond} bytes/s (burst {limit.BurstBytes})");

    /// <summary>The peer path an SVR session uses: its waypoint pool's (ingress, transit), else the one whose peer waypoint sent its forward packets (egress).</summary>
    private static PeerPath? PathOf(ForwardingSnapshot snapshot, in SessionState state, in SessionKey forward)
    {
        if (state.Svr == SvrRole.None)
        {
            return null;
        }

        foreach (var path in snapshot.PeerPaths)
        {
            if (state.WaypointPool >= 0 ? path.PoolId == state.WaypointPool : path.IsPeer(forward.Source, forward.IsIpv6))
            {
                return path;
            }
        }

        return null;
    }
}

/// <summary>
/// A worker's clock read against the wall clock at one moment, to turn the worker's ticks into Unix milliseconds and
/// durations. Immutable; thread-safe.
/// </summary>
public sealed record WorkerClock(long Now, long TicksPerSecond, long UnixMillisecondsNow)
{
    public long UnixMilliseconds(long ticks) => UnixMillisecondsNow - Milliseconds(Now - ticks);

    public long Milliseconds(long ticks) => (long)(Math.Max(0, ticks) * 1000.0 / TicksPerSecond);
}
