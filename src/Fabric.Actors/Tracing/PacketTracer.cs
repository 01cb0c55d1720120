using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Fabric.Actors.Sessions;
using Fabric.Dataplane.Forwarding;
using Fabric.Dataplane.LoadBalancing;
using Fabric.Dataplane.Pipeline;
using Fabric.Dataplane.Svr;
using Fabric.Dataplane.Wire;
using Fabric.Model;

namespace Fabric.Actors.Tracing;

/// <summary>
/// Explains what one router would do with a packet, from the snapshot it runs, in the order its pipeline decides (see
/// <see cref="SessionStage"/> and <see cref="SvrStage"/>): the tenant (from the container, the ingress port, a member
/// prefix, or the session's metadata), the service the tenant's view of the services matches, the access rule that
/// allows it (or why it is denied), then an instance here by the load balancer, or the hosting router and the peer path
/// to it (fail closed without keys for a service that requires encryption). The load balancer is asked as the worker
/// asks it, with the live load, so a trace says which instance a new session would get now. Reads only; thread-safe
/// (snapshots are immutable, the load counters atomic).
/// </summary>
public static class PacketTracer
{
    /// <summary>The random bits a trace gives the load balancer (the worker draws its own; a trace is reproducible).</summary>
    private const ulong TraceRandom = 0x9E3779B97F4A7C15;

    public static TraceHop Trace(string node, ForwardingSnapshot snapshot, TraceQuestion question)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        ArgumentNullException.ThrowIfNull(question);
        var steps = new List<TraceStep>();
        TraceHop Dropped(DropReason reason, string? rule, string why, int tenant = -1, int service = -1)
        {
            var named = rule ?? FlowNames.Rule(reason, DropRule.None, tenant, service, snapshot).Rule;
            return new TraceHop(node, snapshot.Router, snapshot.Version, steps, "dropped", FlowNames.Of(reason), named, null, null, null, null, why);
        }

        if (!IPAddress.TryParse(question.Source, out var sourceAddress) || !IPAddress.TryParse(question.Destination, out var destinationAddress)
            || sourceAddress.AddressFamily != destinationAddress.AddressFamily)
        {
            return Dropped(DropReason.Malformed, null, $"{question.Source} and {question.Destination} are not two addresses of one family");
        }

        var ipv6 = destinationAddress.AddressFamily == AddressFamily.InterNetworkV6;
        var protocol = question.Protocol switch
        {
            "tcp" => IpProtocol.Tcp,
            "udp" => IpProtocol.Udp,
            "icmp" => ipv6 ? IpProtocol.Icmpv6 : IpProtocol.Icmp,
            _ => (byte)0,
        };
        if (protocol == 0)
        {
            return Dropped(DropReason.UnsupportedProtocol, null, $"protocol {question.Protocol}: a trace takes tcp, udp or icmp");
        }

        UInt128 Address(IPAddress a) => ipv6 ? IpAddressConversions.ToIpv6(a) : IpAddressConversions.ToIpv4(a);
        var source = Address(sourceAddress);
        var destination = Address(destinationAddress);
        var port = protocol is IpProtocol.Icmp or IpProtocol.Icmpv6 ? (ushort)0 : (ushort)question.DestinationPort;

        // Tenant.
        int tenant;
        if (question.FromRouter is null)
        {
            var ingress = Array.FindIndex(snapshot.Ports, p => p.Device == question.Interface);
            tenant = snapshot.Classifier.Classify(ingress, ipv6, source, out var by);
            if (tenant < 0)
            {
                steps.Add(new TraceStep("tenant", "none", $"{question.Source} on {question.Interface} is no tenant's: no container of its own tenant, no tenant on the interface or its network, no member prefix"));
                return Dropped(DropReason.NoTenant, "fabric.tenants", $"at {snapshot.Router}: no tenant for {question.Source}", tenant);
            }

            steps.Add(new TraceStep("tenant", snapshot.Tenants[tenant], by switch
            {
                TenantSource.Container => $"the container at {question.Source} names tenant {snapshot.Tenants[tenant]}",
                TenantSource.Port => $"packets arriving on {question.Interface} belong to {snapshot.Tenants[tenant]} (its interface's or network's tenant)",
                _ => $"{question.Source} is in a member prefix of {snapshot.Tenants[tenant]}",
            }));
        }
        else
        {
            tenant = question.Tenant is null ? -1 : snapshot.TenantIndex(question.Tenant);
            if (tenant < 0)
            {
                steps.Add(new TraceStep("tenant", question.Tenant ?? "none", $"the metadata from {question.FromRouter} names a tenant this router does not know"));
                return Dropped(DropReason.NoTenant, "fabric.tenants", $"at {snapshot.Router}: unknown tenant {question.Tenant}");
            }

            steps.Add(new TraceStep("tenant", snapshot.Tenants[tenant], $"carried in the session's metadata from router {question.FromRouter}"));
        }

        // Service, in the tenant's view; access.
        var tenantName = snapshot.Tenants[tenant];
        var what = $"{question.Destination}{(port == 0 ? "" : $":{port}")} {question.Protocol}";
        if (!snapshot.FibByTenant[tenant].TryMatch(ipv6, destination, protocol, port, out var rule))
        {
            if (!snapshot.AllServices.TryMatch(ipv6, destination, protocol, port, out var anyone))
            {
                steps.Add(new TraceStep("service", "none", $"no service of the fabric matches {what}"));
                return Dropped(DropReason.NoService, null, $"at {snapshot.Router}: no service matches {what}", tenant);
            }

            var denied = snapshot.Services[anyone.Service];
            steps.Add(new TraceStep("service", denied.Name, $"{Describe(destinationAddress, anyone, question.Protocol)} matches {denied.Name}, which {tenantName}'s view of the services leaves out"));
            var (accessRule, why) = FlowNames.Rule(DropReason.AccessDenied, DropRule.None, tenant, anyone.Service, snapshot);
            steps.Add(new TraceStep("access", "denied", why));
            return Dropped(DropReason.AccessDenied, accessRule, $"at {snapshot.Router} by {accessRule}", tenant, anyone.Service);
        }

        var entry = snapshot.Services[rule.Service];
        steps.Add(new TraceStep("service", entry.Name, $"{Describe(destinationAddress, rule, question.Protocol)} is the most specific match in {tenantName}'s view of the services"));
        if (question.Service is { } named && named != entry.Name)
        {
            return Dropped(DropReason.MetadataMismatch, null, $"at {snapshot.Router}: the metadata names service {named}, the destination is {entry.Name}'s");
        }

        var grant = Array.FindIndex(entry.Access, granted => Tenant.Inherits(tenantName, granted));
        steps.Add(new TraceStep("access", "allowed", grant < 0
            ? $"{tenantName} may reach {entry.Name}"
            : $"fabric.services.{entry.Name}.access[{grant}] = {entry.Access[grant]}{(entry.Access[grant] == tenantName ? "" : $" (a parent of {tenantName})")}"));

        // Where it goes: a transit carries it on; a router with instances picks one; else the hosting router's path.
        if (question.DestinationRouter is { } hosting && hosting != snapshot.Router)
        {
            var onward = FirstUsable(snapshot.PeerPaths, p => p.PeerRouter == hosting);
            if (onward is null)
            {
                steps.Add(new TraceStep("route", "none", $"no path to {hosting} is up"));
                return Dropped(DropReason.NoRoute, null, $"at {snapshot.Router}: no path to {hosting}");
            }

            steps.Add(new TraceStep("route", $"transit to {hosting}", $"the metadata names {hosting} as the destination router; this router carries the session on"));
            steps.Add(PathStep(snapshot, onward));
            return new TraceHop(node, snapshot.Router, snapshot.Version, steps, null, null, null, onward.PeerRouter, tenantName, entry.Name, hosting, $"on to {onward.PeerRouter}");
        }

        var strategy = FlowNames.Snake(entry.Policy.LoadBalancing.ToString());
        if (entry.Instances.Length > 0)
        {
            var pick = LoadBalancer.Pick(entry.InstanceSet, entry.Runtime.Load, entry.Policy.LoadBalancing, TraceRandom);
            if (pick < 0 || !entry.Instances[pick].TryAddress(ipv6, out var instanceAddress))
            {
                steps.Add(new TraceStep("instance", "none", $"none of {entry.Name}'s {entry.Instances.Length} instances here is up with room{(pick < 0 ? "" : " in this address family")}"));
                return Dropped(DropReason.NoRoute, null, $"at {snapshot.Router}: no instance of {entry.Name} takes the session", tenant, rule.Service);
            }

            var instance = entry.Instances[pick];
            var instancePort = port == 0 || instance.Port == 0 ? port : instance.Port;
            var at = $"{(ipv6 ? IpAddressConversions.ToIPAddress(instanceAddress) : IpAddressConversions.ToIPAddress((uint)instanceAddress))}{(instancePort == 0 ? "" : $":{instancePort}")}";
            var up = Enumerable.Range(0, entry.Instances.Length).Count(i => entry.Runtime.Load.Health(i).IsUp);
            steps.Add(new TraceStep("instance", $"{instance.Name} {at}", $"load balancing {strategy} over {entry.Instances.Length} instances here ({up} up) picks {instance.Name} now"));
            return new TraceHop(node, snapshot.Router, snapshot.Version, steps, "forwarded", null, null, null, tenantName, entry.Name, null, $"to {instance.Name} {at}");
        }

        if (entry.PeerRouters.Length == 0 || question.FromRouter is not null)
        {
            steps.Add(new TraceStep("route", "none", question.FromRouter is not null
                ? $"no instance of {entry.Name} here, and the metadata names no router to carry it on to"
                : $"no instance of {entry.Name} here and no peer router hosting one is reached"));
            return Dropped(DropReason.NoRoute, null, $"at {snapshot.Router}: no route to {entry.Name}", tenant, rule.Service);
        }

        var slot = LoadBalancer.Pick(entry.InstanceSet, entry.Runtime.Load, entry.Policy.LoadBalancing, TraceRandom);
        if (slot < 0)
        {
            steps.Add(new TraceStep("route", "none", $"every router hosting {entry.Name} is full or down as far as {snapshot.Router} knows"));
            return Dropped(DropReason.NoRoute, null, $"at {snapshot.Router}: no hosting router takes the session", tenant, rule.Service);
        }

        var target = entry.PeerRouters[slot];
        steps.Add(new TraceStep("route", $"router {target}", $"no instance of {entry.Name} here; load balancing {strategy} over the hosting routers ({string.Join(", ", entry.PeerRouters)}) picks {target}"));
        // The router process's clock (TimeProvider.System): quality hold-downs end by it.
        var path = PeerPathChoice.ForNewSession(entry, slot, TimeProvider.System.GetTimestamp(), snapshot.Runtimes.PeerKeys, out var chosenSlot);
        if (path is null)
        {
            steps.Add(new TraceStep("peer_path", "none up", $"every path to {target} is down"));
            return Dropped(DropReason.PeerPathDown, null, $"at {snapshot.Router}: no path to {target} is up", tenant, rule.Service);
        }

        var chosen = entry.PeerRouters[chosenSlot];
        if (chosen != target)
        {
            // No path to the router load balancing picked is up (within quality, or able to signal the session): the session
            // goes to another hosting router, as the router's own choice does (PeerPathChoice).
            steps.Add(new TraceStep("route", $"router {chosen}", $"no path to {target} would carry the session; {chosen} hosts {entry.Name} too"));
            target = chosen;
        }

        steps.Add(PathStep(snapshot, path));
        if (!PeerPath.Carries(protocol, ipv6))
        {
            steps.Add(new TraceStep("route", "none", $"protocol {protocol} of this family does not cross between routers"));
            return Dropped(DropReason.NoRoute, null, $"at {snapshot.Router}: no route to {entry.Name}", tenant, rule.Service);
        }

        if (!PeerPathChoice.MaySignal(entry, path, snapshot.Runtimes.PeerKeys))
        {
            var why = entry.Policy.Encryption == EncryptionMode.Required
                ? $"{entry.Name} requires encryption and the path to {path.PeerRouter} has no keys"
                : $"the path to {path.PeerRouter} has no keys and {path.PeerRouter} refuses unauthenticated metadata over {path.Neighborhood}";
            return Dropped(DropReason.NoPeerKeys, null, $"at {snapshot.Router}: {why}", tenant, rule.Service);
        }

        return new TraceHop(
            node, snapshot.Router, snapshot.Version, steps, null, null, null, path.PeerRouter, tenantName, entry.Name, path.PeerRouter == target ? null : target,
            $"on to {path.PeerRouter}{(path.PeerRouter == target ? "" : $" (transit to {target})")}");
    }

    private static TraceStep PathStep(ForwardingSnapshot snapshot, PeerPath path)
    {
        var health = path.Health;
        var measured = health.LatencyMicroseconds >= 0
            ? string.Create(CultureInfo.InvariantCulture, $", rtt {health.LatencyMicroseconds * 2 / 1000.0:0.###} ms, jitter {health.JitterMicroseconds / 1000.0:0.###} ms, loss {Math.Max(0, health.LossBasisPoints) / 100.0:0.##}%")
            : "";
        var local = path.LocalIPAddress;
        var peer = path.PeerIPAddress;
        var keys = snapshot.Runtimes.PeerKeys[path.KeysId].HasKeys ? "keys in place" : "no keys";
        return new TraceStep(
            "peer_path", $"{path.PeerRouter} over {path.Neighborhood}",
            $"waypoints {local} > {peer} on {snapshot.Ports[path.Port].Device}, {FlowNames.Snake(health.State.ToString())}{measured}, {keys}, {path.Waypoints.InUse} of {path.Waypoints.Capacity} waypoint port pairs in use");
    }

    private static PeerPath? FirstUsable(PeerPath[] paths, Func<PeerPath, bool> wanted)
    {
        foreach (var path in paths)
        {
            if (path.Health.IsUsable && wanted(path))
            {
                return path;
            }
        }

        return null;
    }

    private static string Describe(IPAddress destination, ServiceRule rule, string protocol)
    {
        var prefix = new Model.Addressing.IpPrefix(destination, rule.PrefixLength).Network;
        var ports = rule.HasPorts ? (rule.PortLow == rule.PortHigh ? $" port {rule.PortLow}" : $" ports {rule.PortLow}-{rule.PortHigh}") : "";
        return $"{prefix} {protocol}{ports}";
    }
}
