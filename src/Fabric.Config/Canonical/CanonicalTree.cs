using System.Globalization;
using System.Net;
using Fabric.Config.Hocon;
using Fabric.Config.Reading;
using Fabric.Model;
using Fabric.Model.Addressing;

namespace Fabric.Config.Canonical;

/// <summary>
/// The canonical form of a model: every key the reader knows, written out with its value (defaults
/// included), named objects in name order. Reading the tree back gives an equal model; two equal
/// models give equal trees, which is what <c>config show</c> prints and <c>config diff</c> compares.
/// </summary>
public static class CanonicalTree
{
    public static HoconObject Of(FabricConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return Obj(("fabric", Obj(
            ("name", Str(config.Name)),
            ("tenants", Named(config.Tenants, t => t.Name, Tenant)),
            ("services", Named(config.Services, s => s.Name, Service)),
            ("service-policies", Named(config.ServicePolicies, p => p.Name, ServicePolicy)),
            ("security-policies", Named(config.SecurityPolicies, p => p.Name, SecurityPolicy)),
            ("neighborhoods", Named(config.Neighborhoods, n => n.Name, Neighborhood)),
            ("routers", Named(config.Routers, r => r.Name, Router)),
            ("conductor", Conductor(config.Conductor)))));
    }

    private static HoconObject Tenant(Tenant t) => Obj(("members", List(t.Members, Prefix)));

    private static HoconObject Service(Service s) => Obj(
        ("addresses", List(s.Addresses, Prefix)),
        ("transports", List(s.Transports, t => Obj(
            ("protocol", Enum(t.Protocol)),
            ("ports", List(t.Ports, p => Str(p.ToString())))))),
        ("access", List(s.Access, Str)),
        ("policy", Str(s.Policy)),
        ("instances", List(s.Instances, Instance)),
        ("offered-by", List(s.OfferedBy, Str)));

    private static HoconObject Instance(ServiceInstance i) => Obj(
        ("container", i.Container is null ? null : Str(i.Container)),
        ("router", i.Router is null ? null : Str(i.Router)),
        ("address", i.Address is null ? null : Address(i.Address)),
        ("port", i.Port is null ? null : Num(i.Port.Value)),
        ("cost", Num(i.Cost)),
        ("capacity", Num(i.Capacity)));

    private static HoconObject ServicePolicy(ServicePolicy p) => Obj(
        ("load-balancing", Enum(p.LoadBalancing)),
        ("encryption", Enum(p.Encryption)),
        ("security-policy", Str(p.SecurityPolicy)),
        ("session-rate-limit", Rate(p.SessionRateLimit)),
        ("tenant-rate-limit", Rate(p.TenantRateLimit)),
        ("service-rate-limit", Rate(p.ServiceRateLimit)),
        ("max-sessions", Num(p.MaxSessions)),
        ("session-rate", Num(p.SessionRate)),
        ("high-water-mark", Num(p.HighWaterPercent)),
        ("low-water-mark", Num(p.LowWaterPercent)),
        ("idle-timeout", Obj(
            ("tcp", Duration(p.IdleTimeouts.Tcp)),
            ("udp", Duration(p.IdleTimeouts.Udp)),
            ("icmp", Duration(p.IdleTimeouts.Icmp)),
            ("half-open", Duration(p.IdleTimeouts.HalfOpen)))),
        ("transport-state-enforcement", Enum(p.TransportStateEnforcement)),
        ("session-resiliency", Enum(p.Resiliency)),
        ("path-quality", p.PathQuality.IsBounded ? Obj(
            ("max-latency", p.PathQuality.MaxLatency is { } latency ? Duration(latency) : null),
            ("max-jitter", p.PathQuality.MaxJitter is { } jitter ? Duration(jitter) : null),
            ("max-loss", p.PathQuality.MaxLossPercent is { } loss ? Num(loss) : null)) : null),
        ("path-choice", Enum(p.PathChoice)),
        ("health-check", !p.HealthCheck.Enabled ? null : Obj(
            ("interval", Duration(p.HealthCheck.Interval)),
            ("timeout", Duration(p.HealthCheck.Timeout)),
            ("healthy-threshold", Num(p.HealthCheck.HealthyThreshold)),
            ("unhealthy-threshold", Num(p.HealthCheck.UnhealthyThreshold)))));

    private static HoconObject Rate(RateLimit r) => Obj(
        ("bytes-per-second", Num(r.BytesPerSecond)),
        ("burst-bytes", Num(r.BurstBytes)));

    private static HoconObject SecurityPolicy(SecurityPolicy p) => Obj(
        ("cipher", Enum(p.Cipher)),
        ("rekey-interval", Duration(p.RekeyInterval)),
        ("rekey-after-packets", Num(p.RekeyAfterPackets)));

    private static HoconObject Neighborhood(Neighborhood n) => Obj(
        ("waypoint-ports", Str(n.WaypointPorts.ToString())),
        ("max-waypoints", Num(n.MaxWaypoints)),
        ("allow-unauthenticated-metadata", n.AllowUnauthenticatedMetadata ? new HoconScalar(SourcePosition.None, "true", ScalarKind.Unquoted) : null),
        ("path-monitoring", Obj(
            ("interval", Duration(n.Monitoring.Interval)),
            ("multiplier", Num(n.Monitoring.Multiplier)),
            ("hold-down", Duration(n.Monitoring.HoldDown)),
            ("echo-interval", Duration(n.Monitoring.EchoInterval)),
            ("echo-burst", Num(n.Monitoring.EchoBurst)))));

    private static HoconObject Router(Router r) => Obj(
        ("nodes", Named(r.Nodes, n => n.Name, n => Obj(
            ("management-address", Address(n.ManagementAddress)),
            ("identity", n.Identity is null ? null : Str(n.Identity))))),
        ("interfaces", Named(r.Interfaces, i => i.Name, i => Obj(
            ("device", Str(i.Device)),
            ("addresses", List(i.Addresses, Prefix)),
            ("neighborhoods", List(i.Neighborhoods, Str)),
            ("tenant", i.Tenant is null ? null : Str(i.Tenant)),
            ("mtu", Num(i.Mtu))))),
        ("networks", Named(r.Networks, n => n.Name, n => Obj(
            ("model", Enum(n.Model)),
            ("device", Str(n.Device)),
            ("gateways", List(n.Gateways, Prefix)),
            ("tenant", n.Tenant is null ? null : Str(n.Tenant)),
            ("mtu", Num(n.Mtu)),
            ("containers", Named(n.Containers, c => c.Name, c => Obj(
                ("addresses", List(c.Addresses, Address)),
                ("tenant", c.Tenant is null ? null : Str(c.Tenant)))))))),
        ("high-availability", Obj(
            ("heartbeat-interval", Duration(r.HighAvailability.HeartbeatInterval)),
            ("dead-interval", Duration(r.HighAvailability.DeadInterval)),
            ("heartbeat-port", Num(r.HighAvailability.Port)))),
        ("sessions", Obj(
            ("capacity", Num(r.Sessions.Capacity)),
            ("max-tenant-share", Num(r.Sessions.MaxTenantSharePercent)))),
        ("dataplane", Obj(
            ("workers", r.Dataplane.Workers is { } workers ? Num(workers) : null),
            ("busy-poll", Duration(r.Dataplane.BusyPoll)),
            ("io", Enum(r.Dataplane.Io)))));

    private static HoconObject Conductor(ConductorSettings c) => Obj(
        ("addresses", List(c.Addresses, Address)),
        ("api-port", Num(c.ApiPort)),
        ("storage", Obj(
            ("provider", Enum(c.Storage.Provider)),
            ("path", Str(c.Storage.SqlitePath)),
            ("connection-string", c.Storage.ConnectionString is null ? null : Str(c.Storage.ConnectionString)),
            ("password-file", c.Storage.PasswordFile is null ? null : Str(c.Storage.PasswordFile)))),
        ("open-reads", c.OpenReads ? new HoconScalar(SourcePosition.None, "true", ScalarKind.Unquoted) : null));

    // Node builders. A null value leaves its key out.

    private static HoconObject Obj(params (string Key, HoconNode? Value)[] fields) =>
        new(SourcePosition.None, [.. fields.Where(f => f.Value is not null).Select(f => new HoconField(f.Key, f.Value!, SourcePosition.None))]);

    private static HoconObject Named<T>(IEnumerable<T> items, Func<T, string> name, Func<T, HoconNode> value) =>
        new(SourcePosition.None, [.. items.OrderBy(name, StringComparer.Ordinal).Select(i => new HoconField(name(i), value(i), SourcePosition.None))]);

    private static HoconArray List<T>(IEnumerable<T> items, Func<T, HoconNode> value) => new(SourcePosition.None, [.. items.Select(value)]);

    private static HoconScalar Str(string text) => new(SourcePosition.None, text, ScalarKind.Quoted);

    private static HoconScalar Num(long value) => new(SourcePosition.None, value.ToString(CultureInfo.InvariantCulture), ScalarKind.Unquoted);

    private static HoconScalar Enum<TEnum>(TEnum value)
        where TEnum : struct, System.Enum => Str(EnumNames<TEnum>.Name(value));

    private static HoconScalar Duration(TimeSpan value) => Str(Durations.Format(value));

    private static HoconScalar Prefix(IpPrefix prefix) => Str(prefix.ToString());

    private static HoconScalar Address(IPAddress address) => Str(address.ToString());
}
