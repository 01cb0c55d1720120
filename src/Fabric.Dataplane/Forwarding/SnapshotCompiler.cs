using System.Net;
using System.Net.Sockets;
using Fabric.Dataplane.Forwarding.Lpm;
using Fabric.Dataplane.LoadBalancing;
using Fabric.Dataplane.Pipeline;
using Fabric.Dataplane.Policing;
using Fabric.Dataplane.Svr;
using Fabric.Dataplane.Wire;
using Fabric.Model;
using Fabric.Model.Addressing;

namespace Fabric.Dataplane.Forwarding;

/// <summary>
/// Compiles one router's view of a validated configuration into a <see cref="ForwardingSnapshot"/>.
/// Ports are identified by Linux device name; their indexes are fixed by the router for its life.
/// Service runtimes (load, admission, shared buckets) are taken from <see cref="ServiceRuntimes"/>
/// when the service is unchanged, so counts survive a swap.
/// </summary>
public static class SnapshotCompiler
{
    public static ForwardingSnapshot Compile(
        FabricConfig config, string routerName, IReadOnlyList<string> portDevices, long version, long ticksPerSecond, ServiceRuntimes runtimes, long now,
        ForwardingSnapshot? previous = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(portDevices);
        ArgumentNullException.ThrowIfNull(runtimes);
        var router = config.FindRouter(routerName)
            ?? throw new SnapshotCompileException($"router \"{routerName}\" is not in the configuration");

        var tenants = config.Tenants.Select(t => t.Name).ToArray();
        int TenantOf(string? name) => name is null ? -1 : Array.IndexOf(tenants, name);

        // Ports: what each device is on this router, and the router's addresses there.
        var ports = new PortBinding[portDevices.Count];
        for (var i = 0; i < ports.Length; i++)
        {
            ports[i] = PortBinding.Unused(portDevices[i]);
        }

        int PortOf(string device)
        {
            for (var i = 0; i < portDevices.Count; i++)
            {
                if (portDevices[i] == device)
                {
                    return i;
                }
            }

            return -1;
        }

        foreach (var iface in router.Interfaces)
        {
            Bind(iface.Device, PortRole.Interface, TenantOf(iface.Tenant), iface.Addresses, iface.Mtu);
            var port = PortOf(iface.Device);
            if (port >= 0 && WaypointRange(config, iface) is { } range)
            {
                ports[port] = ports[port] with { WaypointFirst = range.First, WaypointLast = range.Last };
            }
        }

        var peerPaths = PeerPaths(config, router, PortOf, runtimes, ticksPerSecond, now);

        var containers4 = new Ipv4RouteTableBuilder();
        var containers6 = new Ipv6RouteTableBuilder();
        var containerPorts = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var network in router.Networks)
        {
            var networkTenant = TenantOf(network.Tenant);
            if (network.Model == NetworkModel.Bridged)
            {
                // A bridge may hold several tenants' containers: the port carries the network's tenant
                // only when the network names one, and containers with their own tenant come first.
                Bind(network.Device, PortRole.BridgedNetwork, networkTenant, network.Gateways, network.Mtu);
            }

            foreach (var container in network.Containers)
            {
                var port = network.Model == NetworkModel.Bridged ? PortOf(network.Device) : PortOf(container.Name);
                if (network.Model == NetworkModel.HostBased)
                {
                    Bind(container.Name, PortRole.HostBasedContainer, networkTenant, network.Gateways, network.Mtu);
                }

                containerPorts[container.Name] = port;
                var tenant = TenantOf(container.Tenant);
                if (tenant < 0)
                {
                    continue;
                }

                foreach (var address in container.Addresses)
                {
                    if (address.AddressFamily == AddressFamily.InterNetwork)
                    {
                        containers4.Add(IpAddressConversions.ToIpv4(address), 32, tenant);
                    }
                    else
                    {
                        containers6.Add(IpAddressConversions.ToIpv6(address), 128, tenant);
                    }
                }
            }
        }

        var members4 = new Ipv4RouteTableBuilder();
        var members6 = new Ipv6RouteTableBuilder();
        for (var t = 0; t < tenants.Length; t++)
        {
            foreach (var member in config.Tenants[t].Members)
            {
                AddPrefix(members4, members6, member, t);
            }
        }

        var classifier = new TenantClassifier(
            containers4.Build(), containers6.Build(), members4.Build(), members6.Build(), [.. ports.Select(p => p.Tenant)]);

        // Services, their local instances and runtimes.
        var services = new ServiceEntry[config.Services.Count];
        // The distinct path-quality bounds the policies ask for: every peer path grades itself against each.
        var qualityBounds = new List<PathQualityBounds>();
        for (var s = 0; s < services.Length; s++)
        {
            var service = config.Services[s];
            var policy = config.FindServicePolicy(service.Policy) ?? ServicePolicy.Default;
            var instances = new List<LocalInstance>();
            var costs = new List<int>();
            var capacities = new List<int>();
            foreach (var instance in service.Instances)
            {
                if (Resolve(config, router, instance, containerPorts, PortOf) is { } local)
                {
                    instances.Add(local);
                    costs.Add(instance.Cost);
                    capacities.Add(instance.Capacity);
                }
            }

            var ownInstances = instances.Count > 0;
            if (instances.Count == 0 && service.OfferedBy.Contains(router.Name))
            {
                // Offered natively here: each of the service's prefixes that is on-link behind one of the router's
                // ports is an instance whose address is the packet's own destination.
                foreach (var native in Native(router, service, PortOf))
                {
                    instances.Add(native);
                    costs.Add(0);
                    capacities.Add(0);
                }
            }

            // A service with instances here is served here; otherwise by the peer routers that host it (and that
            // this router reaches: directly, or through a transit router, see RoutesTo). Then the routers take the
            // instances' place in load balancing: a router's cost is the lowest of its instances', its capacity
            // their sum (0, unlimited, when any is unlimited).
            string[] peerRouters = instances.Count > 0 ? [] : [.. HostingRouters(config, service).Where(peer => RoutesTo(config, router, peer, peerPaths).Count > 0)];
            var routes = new List<PeerPath>();
            var slots = new List<int>();
            for (var slot = 0; slot < peerRouters.Length; slot++)
            {
                foreach (var path in RoutesTo(config, router, peerRouters[slot], peerPaths))
                {
                    routes.Add(path);
                    slots.Add(slot);
                }
            }

            foreach (var peer in peerRouters)
            {
                // A router that offers the service natively counts as cost 0 and no capacity limit.
                var hosted = service.Instances.Where(i => RouterOf(config, i) == peer).ToList();
                costs.Add(hosted.Count == 0 ? 0 : hosted.Min(i => i.Cost));
                capacities.Add(hosted.Count == 0 || hosted.Any(i => i.Capacity == 0) ? 0 : hosted.Sum(i => i.Capacity));
            }

            var set = new InstanceSet([.. costs], [.. capacities]);
            string[] balanced = instances.Count > 0 ? [.. instances.Select(i => i.Name)] : [.. peerRouters.Select(peer => $"router:{peer}")];
            var runtime = runtimes.For(service.Name, policy, balanced, tenants, ticksPerSecond, now, checkInstances: ownInstances);
            services[s] = new ServiceEntry(service.Name, policy, [.. instances], set, runtime, ticksPerSecond, [.. routes])
            {
                PeerRouters = peerRouters,
                PeerRoutersUtf8 = [.. peerRouters.Select(System.Text.Encoding.UTF8.GetBytes)],
                PeerPathSlots = [.. slots],
                Access = [.. service.Access],
                QualityBound = QualityBoundOf(policy, qualityBounds),
                HealthCheckPort = HealthCheckPort(service),
            };
        }

        foreach (var path in peerPaths)
        {
            lock (path.Health)
            {
                path.Health.Require([.. qualityBounds], now);
            }
        }

        var access = new bool[tenants.Length * services.Length];
        for (var t = 0; t < tenants.Length; t++)
        {
            for (var s = 0; s < services.Length; s++)
            {
                access[(t * services.Length) + s] = config.Services[s].Access.Any(granted => Tenant.Inherits(tenants[t], granted));
            }
        }

        var all = BuildMatcher(config, _ => true);
        var fibs = new ServiceMatcher[tenants.Length];
        for (var t = 0; t < tenants.Length; t++)
        {
            var tenant = t;
            fibs[t] = BuildMatcher(config, s => access[(tenant * services.Length) + s]);
        }

        runtimes.Retain(config.Services.Select(s => s.Name).ToHashSet(StringComparer.Ordinal));
        var routerOfContainer = new Dictionary<ClientAddress, string>();
        foreach (var (placed, _, container) in config.Containers())
        {
            foreach (var address in container.Addresses)
            {
                routerOfContainer.TryAdd(ClientAddress.Of(address), placed.Name);
            }
        }

        // A container that left the placement is remembered as long as its old router holds its sessions.
        var hold = (long)(SvrStage.ClientHandOverHold.TotalSeconds * ticksPerSecond);
        var sequence = (previous?.Sequence ?? 0) + 1;
        var arrived = ForwardingSnapshot.Arrivals(routerOfContainer, routerName, previous, now, hold);
        return new ForwardingSnapshot(version, routerName, ports, tenants, classifier, services, all, fibs, runtimes, [.. peerPaths], access)
        {
            RouterOfNode = config.RouterOfNode(),
            RouterNames = [.. config.Routers.Select(r => r.Name)],
            RouterNamesUtf8 = [.. config.Routers.Select(r => System.Text.Encoding.UTF8.GetBytes(r.Name))],
            RouterOfContainer = routerOfContainer,
            Sequence = sequence,
            ArrivedClients = arrived,
            RecentArrivals = Recent(arrived, routerOfContainer, routerName, previous, sequence, now, hold),
            DepartedContainers = Departed(routerOfContainer, previous, now, hold),
        };

        void Bind(string device, PortRole role, int tenant, IEnumerable<IpPrefix> addresses, int mtu)
        {
            var port = PortOf(device);
            if (port < 0)
            {
                return;
            }

            var list = addresses.ToList();
            ports[port] = new PortBinding(
                device, role, tenant,
                [.. list.Where(a => a.IsIPv4).Select(a => IpAddressConversions.ToIpv4(a.Address))],
                [.. list.Where(a => !a.IsIPv4).Select(a => IpAddressConversions.ToIpv6(a.Address))],
                [.. list.Select(OnLinkPrefix.From).Distinct()],
                mtu);
        }
    }

    /// <summary>The port a health check connects to: the first port of the service's first TCP transport; 0 (ICMP echo) without one.</summary>
    private static ushort HealthCheckPort(Service service)
    {
        foreach (var transport in service.Transports)
        {
            if (transport.Protocol == TransportProtocol.Tcp && transport.Ports.Count > 0)
            {
                return (ushort)transport.Ports[0].Low;
            }
        }

        return 0;
    }

    /// <summary>The waypoint ports peers may use on an interface: the span of its neighborhoods' ranges, or null without neighborhoods.</summary>
    private static (ushort First, ushort Last)? WaypointRange(FabricConfig config, ForwardingInterface iface)
    {
        (ushort First, ushort Last)? range = null;
        foreach (var name in iface.Neighborhoods)
        {
            var ports = config.FindNeighborhood(name)?.WaypointPorts ?? Neighborhood.DefaultWaypointPorts;
            range = range is { } r
                ? ((ushort)Math.Min(r.First, ports.Low), (ushort)Math.Max(r.Last, ports.High))
                : ((ushort)ports.Low, (ushort)ports.High);
        }

        return range;
    }

    /// <summary>The index of <paramref name="policy"/>'s path-quality bounds in <paramref name="bounds"/> (added when new); −1 when it sets none.</summary>
    private static int QualityBoundOf(ServicePolicy policy, List<PathQualityBounds> bounds)
    {
        if (!policy.PathQuality.IsBounded)
        {
            return -1;
        }

        var bound = PathQualityBounds.From(policy.PathQuality);
        var index = bounds.IndexOf(bound);
        if (index < 0)
        {
            bounds.Add(bound);
            index = bounds.Count - 1;
        }

        return index;
    }

    /// <summary>
    /// One peer path per (local interface, peer interface) pair that share a neighborhood, and per family both have
    /// waypoint addresses of (<see cref="WaypointAddresses"/>): a dual-stack pair makes an IPv4 path and then an IPv6
    /// one. Ordered by configuration order, IPv4 before IPv6 within a pair, so the first path to a peer is its preferred
    /// one and the IPv6 path of a dual-stack neighborhood is the alternative its sessions fail over to.
    /// </summary>
    private static List<PeerPath> PeerPaths(FabricConfig config, Router router, Func<string, int> portOf, ServiceRuntimes runtimes, long ticksPerSecond, long now)
    {
        var paths = new List<PeerPath>();
        foreach (var iface in router.Interfaces)
        {
            var port = portOf(iface.Device);
            if (port < 0 || iface.Addresses.Count == 0)
            {
                continue;
            }

            foreach (var peer in config.Routers)
            {
                if (peer.Name == router.Name)
                {
                    continue;
                }

                foreach (var peerIface in peer.Interfaces)
                {
                    var shared = iface.Neighborhoods.FirstOrDefault(n => peerIface.Neighborhoods.Contains(n));
                    if (shared is null)
                    {
                        continue;
                    }

                    var neighborhood = config.FindNeighborhood(shared) ?? new Neighborhood(shared, Neighborhood.DefaultWaypointPorts, Neighborhood.DefaultMaxWaypoints);
                    foreach (var (isIpv6, localAddress, peerAddress) in WaypointAddresses(iface, peerIface))
                    {
                        var (id, pool) = runtimes.Waypoints.For(
                            peer.Name, shared, localAddress, peerAddress, (ushort)neighborhood.WaypointPorts.Low, (ushort)neighborhood.WaypointPorts.High,
                            Math.Min(neighborhood.MaxWaypoints, WaypointAllocator.MaxCapacity), (ulong)ticksPerSecond);
                        var keys = runtimes.PeerKeys.For(peer.Name, config.FindSecurityPolicy(SecurityPolicy.DefaultName) ?? SecurityPolicy.Default, ticksPerSecond);
                        var health = runtimes.PathHealth.For(id, $"{router.Name}>{peer.Name}|{shared}|{localAddress}|{peerAddress}", PathMonitorSettings.From(neighborhood.Monitoring, ticksPerSecond), ticksPerSecond, now);
                        paths.Add(new PeerPath(peer.Name, shared, port, isIpv6, localAddress, peerAddress, id, pool, keys, peer.Nodes.Count > 0 ? peer.Nodes[0].IdentityKey() : null)
                        {
                            Health = health,
                            AcceptsUnauthenticatedMetadata = neighborhood.AllowUnauthenticatedMetadata,
                        });
                    }
                }
            }
        }

        return paths;
    }

    /// <summary>
    /// The waypoints of the paths between two interfaces on a shared neighborhood: their first IPv4 addresses when both
    /// have one, then their first IPv6 addresses that are not link-local when both have one. A dual-stack pair yields
    /// both (IPv4 first), a pair of one family one, a pair with no family in common none. Addresses as
    /// <see cref="Sessions.SessionKey"/> holds them.
    /// </summary>
    private static IEnumerable<(bool IsIpv6, UInt128 Local, UInt128 Peer)> WaypointAddresses(ForwardingInterface local, ForwardingInterface peer)
    {
        static bool Ipv4(IpPrefix a) => a.IsIPv4;
        static bool Ipv6(IpPrefix a) => !a.IsIPv4 && !a.Address.IsIPv6LinkLocal;
        if (local.Addresses.Any(Ipv4) && peer.Addresses.Any(Ipv4))
        {
            yield return (false, IpAddressConversions.ToIpv4(local.Addresses.First(Ipv4).Address), IpAddressConversions.ToIpv4(peer.Addresses.First(Ipv4).Address));
        }

        if (local.Addresses.Any(Ipv6) && peer.Addresses.Any(Ipv6))
        {
            yield return (true, IpAddressConversions.ToIpv6(local.Addresses.First(Ipv6).Address), IpAddressConversions.ToIpv6(peer.Addresses.First(Ipv6).Address));
        }
    }

    /// <summary>
    /// The routers that serve the service: those its instances live on (a container's router, or the router an address
    /// instance names), then those in its <c>offered-by</c>, in configuration order.
    /// </summary>
    private static List<string> HostingRouters(FabricConfig config, Service service)
    {
        var routers = new List<string>();
        foreach (var name in service.Instances.Select(instance => RouterOf(config, instance)).Concat(service.OfferedBy))
        {
            if (name is not null && !routers.Contains(name))
            {
                routers.Add(name);
            }
        }

        return routers;
    }

    /// <summary>
    /// The native instances of a service the router offers: one per service prefix that lies within a bridged network's
    /// gateway prefix or an interface's address prefix (on-link behind that port), reached at the packet's own
    /// destination. A prefix that is on-link nowhere on the router is not reached.
    /// </summary>
    private static IEnumerable<LocalInstance> Native(Router router, Service service, Func<string, int> portOf)
    {
        foreach (var prefix in service.Addresses)
        {
            var port = -1;
            foreach (var network in router.Networks.Where(n => n.Model == NetworkModel.Bridged))
            {
                if (port < 0 && network.Gateways.Any(g => Within(prefix, g)))
                {
                    port = portOf(network.Device);
                }
            }

            foreach (var iface in router.Interfaces)
            {
                if (port < 0 && iface.Addresses.Any(a => Within(prefix, a)))
                {
                    port = portOf(iface.Device);
                }
            }

            if (port >= 0)
            {
                yield return Local($"native:{prefix}", port, [prefix.Address], null) with { NativePrefixLength = prefix.Length };
            }
        }
    }

    /// <summary>Whether every address of <paramref name="inner"/> lies in <paramref name="outer"/>.</summary>
    private static bool Within(IpPrefix inner, IpPrefix outer) =>
        inner.Address.AddressFamily == outer.Address.AddressFamily && inner.Length >= outer.Length && outer.Contains(inner.Address);

    /// <summary>
    /// The paths that lead to <paramref name="target"/>: this router's paths to it when they share a neighborhood;
    /// otherwise the paths to every transit router, a peer that shares a neighborhood with the target (configuration
    /// order). One transit hop at most: a transit opens its own session on to the target (docs/svr-wire.md).
    /// </summary>
    private static List<PeerPath> RoutesTo(FabricConfig config, Router self, string target, List<PeerPath> peerPaths)
    {
        var direct = peerPaths.FindAll(p => p.PeerRouter == target);
        if (direct.Count > 0 || config.FindRouter(target) is not { } hosting)
        {
            return direct;
        }

        var reached = hosting.Interfaces.SelectMany(i => i.Neighborhoods).ToHashSet(StringComparer.Ordinal);
        return peerPaths.FindAll(p => p.PeerRouter != target && p.PeerRouter != self.Name
            && config.FindRouter(p.PeerRouter) is { } transit && transit.Interfaces.Any(i => i.Neighborhoods.Any(reached.Contains)));
    }

    /// <summary>The router an instance lives on: its container's router, or the router an address instance names.</summary>
    private static string? RouterOf(FabricConfig config, ServiceInstance instance) => instance.Container is { } container
        ? config.Containers().FirstOrDefault(c => c.Container.Name == container).Router?.Name
        : instance.Router;

    private static LocalInstance? Resolve(
        FabricConfig config, Router router, ServiceInstance instance, Dictionary<string, int> containerPorts, Func<string, int> portOf)
    {
        if (instance.Container is { } name)
        {
            if (!containerPorts.TryGetValue(name, out var port) || port < 0)
            {
                return null;
            }

            var container = config.Containers().First(c => c.Container.Name == name).Container;
            return Local(instance.Name, port, container.Addresses, instance.Port);
        }

        if (instance.Router != router.Name || instance.Address is null)
        {
            return null;
        }

        foreach (var network in router.Networks)
        {
            if (network.Gateways.Any(g => g.Contains(instance.Address)))
            {
                var port = network.Model == NetworkModel.Bridged ? portOf(network.Device) : -1;
                return port < 0 ? null : Local(instance.Name, port, [instance.Address], instance.Port);
            }
        }

        foreach (var iface in router.Interfaces)
        {
            if (iface.Addresses.Any(a => a.Contains(instance.Address)) && portOf(iface.Device) is var port and >= 0)
            {
                return Local(instance.Name, port, [instance.Address], instance.Port);
            }
        }

        return null;
    }

    /// <summary>An instance with the first address of each family it has.</summary>
    private static LocalInstance Local(string name, int port, IReadOnlyList<IPAddress> addresses, int? servicePort)
    {
        var v4 = addresses.FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork);
        var v6 = addresses.FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetworkV6);
        return new LocalInstance(
            name, port,
            v4 is not null, v4 is null ? 0 : IpAddressConversions.ToIpv4(v4),
            v6 is not null, v6 is null ? UInt128.Zero : IpAddressConversions.ToIpv6(v6),
            (ushort)(servicePort ?? 0));
    }

    private static ServiceMatcher BuildMatcher(FabricConfig config, Func<int, bool> include)
    {
        var rules = new List<(IpPrefix Prefix, ServiceRule Rule)>();
        for (var s = 0; s < config.Services.Count; s++)
        {
            if (!include(s))
            {
                continue;
            }

            foreach (var prefix in config.Services[s].Addresses)
            {
                foreach (var transport in config.Services[s].Transports)
                {
                    foreach (var protocol in Protocols(transport.Protocol, prefix.IsIPv4))
                    {
                        if (transport.Ports.IsEmpty)
                        {
                            rules.Add((prefix, new ServiceRule(s, protocol, false, 0, ushort.MaxValue, (byte)prefix.Length)));
                        }

                        foreach (var range in transport.Ports)
                        {
                            rules.Add((prefix, new ServiceRule(s, protocol, true, (ushort)range.Low, (ushort)range.High, (byte)prefix.Length)));
                        }
                    }
                }
            }
        }

        // The rules that can apply at a prefix are its own and those of every prefix covering it:
        // found by walking up at most 32 (or 128) shorter prefixes, so compiling stays linear in prefixes.
        var byPrefix = new Dictionary<(bool IsIpv6, UInt128 Network, int Length), List<ServiceRule>>();
        foreach (var (prefix, rule) in rules)
        {
            var key = Key(prefix);
            if (!byPrefix.TryGetValue(key, out var list))
            {
                byPrefix[key] = list = [];
            }

            list.Add(rule);
        }

        var builder4 = new Ipv4RouteTableBuilder();
        var builder6 = new Ipv6RouteTableBuilder();
        // Prefixes with the same applicable rules share one list (a service's many prefixes of one length do), so the
        // lists a first packet reads stay few and in cache instead of one array per prefix.
        var lists = new List<ServiceRule[]>();
        var listOf = new Dictionary<ServiceRule[], int>(RuleListComparer.Instance);
        var applicable = new List<ServiceRule>();
        foreach (var (isIpv6, network, length) in byPrefix.Keys)
        {
            applicable.Clear();
            var bits = isIpv6 ? 128 : 32;
            for (var shorter = length; shorter >= 0; shorter--)
            {
                if (byPrefix.TryGetValue((isIpv6, MaskTo(network, shorter, bits), shorter), out var covering))
                {
                    applicable.AddRange(covering);
                }
            }

            applicable.Sort(ServiceRule.CompareSpecificity);
            ServiceRule[] list = [.. applicable];
            if (!listOf.TryGetValue(list, out var index))
            {
                listOf.Add(list, index = lists.Count);
                lists.Add(list);
            }

            if (isIpv6)
            {
                builder6.Add(network, length, index);
            }
            else
            {
                builder4.Add((uint)network, length, index);
            }
        }

        return new ServiceMatcher(builder4.Build(), builder6.Build(), [.. lists]);
    }

    /// <summary>Rule lists compared by their rules, in order.</summary>
    private sealed class RuleListComparer : IEqualityComparer<ServiceRule[]>
    {
        public static readonly RuleListComparer Instance = new();

        public bool Equals(ServiceRule[]? x, ServiceRule[]? y) => x.AsSpan().SequenceEqual(y);

        public int GetHashCode(ServiceRule[] list)
        {
            var hash = new HashCode();
            foreach (var rule in list)
            {
                hash.Add(rule);
            }

            return hash.ToHashCode();
        }
    }

    private static (bool IsIpv6, UInt128 Network, int Length) Key(IpPrefix prefix) => prefix.IsIPv4
        ? (false, MaskTo(IpAddressConversions.ToIpv4(prefix.Address), prefix.Length, 32), prefix.Length)
        : (true, MaskTo(IpAddressConversions.ToIpv6(prefix.Address), prefix.Length, 128), prefix.Length);

    /// <summary>Clears every bit of <paramref name="address"/> (of width <paramref name="bits"/>) after the first <paramref name="length"/>.</summary>
    private static UInt128 MaskTo(UInt128 address, int length, int bits) =>
        length == 0 ? UInt128.Zero : address & ~((UInt128.One << (bits - length)) - 1) & (bits == 128 ? UInt128.MaxValue : uint.MaxValue);

    private static IEnumerable<byte> Protocols(TransportProtocol protocol, bool ipv4) => protocol switch
    {
        TransportProtocol.Tcp => [IpProtocol.Tcp],
        TransportProtocol.Udp => [IpProtocol.Udp],
        _ => [ipv4 ? IpProtocol.Icmp : IpProtocol.Icmpv6],
    };

    private static void AddPrefix(Ipv4RouteTableBuilder v4, Ipv6RouteTableBuilder v6, IpPrefix prefix, int value)
    {
        var network = prefix.Network;
        if (network.IsIPv4)
        {
            v4.Add(IpAddressConversions.ToIpv4(network.Address), network.Length, value);
        }
        else
        {
            v6.Add(IpAddressConversions.ToIpv6(network.Address), network.Length, value);
        }
    }

    /// <summary>
    /// <paramref name="previous"/>'s recent arrivals younger than <paramref name="hold"/> and still placed under this
    /// router, and <paramref name="arrived"/> (this snapshot's arrivals, by snapshot <paramref name="sequence"/>).
    /// </summary>
    private static Dictionary<ClientAddress, RecentArrival> Recent(
        Dictionary<ClientAddress, string> arrived, Dictionary<ClientAddress, string> routerOfContainer, string router, ForwardingSnapshot? previous, long sequence, long now, long hold)
    {
        var recent = new Dictionary<ClientAddress, RecentArrival>();
        if (previous is not null)
        {
            foreach (var (address, arrival) in previous.RecentArrivals)
            {
                if (now - arrival.Since < hold && routerOfContainer.TryGetValue(address, out var placed) && placed == router)
                {
                    recent[address] = arrival;
                }
            }
        }

        foreach (var (address, from) in arrived)
        {
            recent[address] = new RecentArrival(from, sequence, now);
        }

        return recent;
    }

    /// <summary>
    /// The addresses <paramref name="routerOfContainer"/> places nowhere that <paramref name="previous"/> placed (left now),
    /// or remembered as departed less than <paramref name="hold"/> ticks before <paramref name="now"/>: the router each was
    /// last under, and when it left.
    /// </summary>
    private static Dictionary<ClientAddress, (string Router, long Since)> Departed(
        Dictionary<ClientAddress, string> routerOfContainer, ForwardingSnapshot? previous, long now, long hold)
    {
        var departed = new Dictionary<ClientAddress, (string Router, long Since)>();
        if (previous is null)
        {
            return departed;
        }

        foreach (var (address, router) in previous.RouterOfContainer)
        {
            if (!routerOfContainer.ContainsKey(address))
            {
                departed[address] = (router, now);
            }
        }

        foreach (var (address, left) in previous.DepartedContainers)
        {
            if (!routerOfContainer.ContainsKey(address) && !departed.ContainsKey(address) && now - left.Since < hold)
            {
                departed[address] = left;
            }
        }

        return departed;
    }
}

/// <summary>The configuration cannot be compiled for this router; the running snapshot stays.</summary>
public sealed class SnapshotCompileException(string message) : Exception(message);
