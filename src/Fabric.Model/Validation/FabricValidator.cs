using System.Net;
using System.Text.RegularExpressions;
using Fabric.Model.Addressing;

namespace Fabric.Model.Validation;

/// <summary>
/// Checks that a typed model makes sense as a whole: every reference resolves, names are well
/// formed, addresses and prefixes do not collide, services are not ambiguous, values are in range.
/// Returns every error found (empty when valid), each with the path of the offending value.
/// </summary>
public static partial class FabricValidator
{
    private const string Tenants = "fabric.tenants";
    private const string Services = "fabric.services";
    private const string ServicePolicies = "fabric.service-policies";
    private const string SecurityPolicies = "fabric.security-policies";
    private const string Neighborhoods = "fabric.neighborhoods";
    private const string Routers = "fabric.routers";

    /// <summary>Linux limits interface names to 15 bytes.</summary>
    public const int MaxDeviceNameLength = 15;

    [GeneratedRegex("^[a-z0-9]([a-z0-9_-]{0,62})(\\.[a-z0-9]([a-z0-9_-]{0,62}))*$")]
    private static partial Regex TenantName();

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")]
    private static partial Regex ObjectName();

    /// <summary>Names the kernel refuses for a new interface (its per-device settings use all and default), and the loopback.</summary>
    private static readonly HashSet<string> ReservedDeviceNames = new(StringComparer.Ordinal) { ".", "..", "all", "default", "lo" };

    [GeneratedRegex("^[A-Za-z0-9_.-]{1,15}$")]
    private static partial Regex DeviceName();

    public static IReadOnlyList<ConfigError> Validate(FabricConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var errors = new List<ConfigError>();
        var addresses = new AddressRegistry(errors);
        CheckTenants(config, errors);
        CheckPolicies(config, errors);
        CheckNeighborhoods(config, errors);
        CheckRouters(config, errors, addresses);
        CheckServices(config, errors);
        CheckConductor(config, errors, addresses);
        return errors;
    }

    private static void CheckTenants(FabricConfig config, List<ConfigError> errors)
    {
        var claimed = new Dictionary<IpPrefix, string>();
        foreach (var tenant in config.Tenants)
        {
            var path = ConfigPath.Child(Tenants, tenant.Name);
            if (!TenantName().IsMatch(tenant.Name))
            {
                errors.Add(new(path, $"\"{tenant.Name}\" is not a tenant name: use lower-case letters, digits, '-' and '_', with '.' between a child and its parent (\"dev.engineering\")"));
            }
            else if (tenant.Parent is { } parent && config.FindTenant(parent) is null)
            {
                errors.Add(new(path, $"tenant \"{tenant.Name}\" names parent \"{parent}\", which is not defined"));
            }

            for (var i = 0; i < tenant.Members.Count; i++)
            {
                var member = tenant.Members[i];
                if (!claimed.TryAdd(member, tenant.Name))
                {
                    errors.Add(new(ConfigPath.Index(ConfigPath.Child(path, "members"), i),
                        $"{member} is already a member of tenant \"{claimed[member]}\": a prefix may belong to one tenant"));
                }
            }
        }
    }

    private static void CheckPolicies(FabricConfig config, List<ConfigError> errors)
    {
        foreach (var policy in config.ServicePolicies)
        {
            var path = ConfigPath.Child(ServicePolicies, policy.Name);
            CheckName(policy.Name, "service policy", path, errors);
            if (config.FindSecurityPolicy(policy.SecurityPolicy) is null)
            {
                errors.Add(new(ConfigPath.Child(path, "security-policy"),
                    $"unknown security policy \"{policy.SecurityPolicy}\"{Spelling.Hint(policy.SecurityPolicy, SecurityPolicyNames(config))}"));
            }

            if (policy.LowWaterPercent > policy.HighWaterPercent)
            {
                errors.Add(new(ConfigPath.Child(path, "low-water-mark"),
                    $"the low water mark ({policy.LowWaterPercent}) must not be above the high water mark ({policy.HighWaterPercent})"));
            }

            CheckRate(policy.SessionRateLimit, ConfigPath.Child(path, "session-rate-limit"), errors);
            CheckRate(policy.TenantRateLimit, ConfigPath.Child(path, "tenant-rate-limit"), errors);
            CheckRate(policy.ServiceRateLimit, ConfigPath.Child(path, "service-rate-limit"), errors);
            if (policy.HealthCheck.Enabled && policy.HealthCheck.Timeout > policy.HealthCheck.Interval)
            {
                errors.Add(new(ConfigPath.Child(ConfigPath.Child(path, "health-check"), "timeout"),
                    $"a probe timeout of {policy.HealthCheck.Timeout.TotalMilliseconds} ms outlasts the interval ({policy.HealthCheck.Interval.TotalMilliseconds} ms) between probes; make timeout at most interval"));
            }
        }

        foreach (var policy in config.SecurityPolicies)
        {
            CheckName(policy.Name, "security policy", ConfigPath.Child(SecurityPolicies, policy.Name), errors);
        }
    }

    private static void CheckRate(RateLimit limit, string path, List<ConfigError> errors)
    {
        if (!limit.IsUnlimited && limit.BurstBytes < 1500)
        {
            errors.Add(new(ConfigPath.Child(path, "burst-bytes"),
                $"a burst of {limit.BurstBytes} bytes cannot pass one full-size packet: use at least 1500"));
        }
    }

    private static void CheckNeighborhoods(FabricConfig config, List<ConfigError> errors)
    {
        foreach (var neighborhood in config.Neighborhoods)
        {
            var path = ConfigPath.Child(Neighborhoods, neighborhood.Name);
            CheckName(neighborhood.Name, "neighborhood", path, errors);
            if (neighborhood.WaypointPorts.Low < 1024)
            {
                errors.Add(new(ConfigPath.Child(path, "waypoint-ports"),
                    $"waypoint ports {neighborhood.WaypointPorts} reach below 1024, into well-known service ports"));
            }

            if (neighborhood.WaypointPorts.Width < 2)
            {
                errors.Add(new(ConfigPath.Child(path, "waypoint-ports"),
                    "waypoint ports need at least two ports: an even one for the sender and an odd one for its peer"));
            }

            foreach (var probePort in new[] { PathMonitoring.ControlPort, PathMonitoring.EchoPort })
            {
                if (neighborhood.WaypointPorts.Low <= probePort && probePort <= neighborhood.WaypointPorts.High)
                {
                    errors.Add(new(ConfigPath.Child(path, "waypoint-ports"),
                        $"waypoint ports {neighborhood.WaypointPorts} include UDP {probePort}, which path monitoring uses between waypoints"));
                }
            }

            if (neighborhood.Monitoring.EchoInterval < neighborhood.Monitoring.Interval)
            {
                errors.Add(new(ConfigPath.Child(ConfigPath.Child(path, "path-monitoring"), "echo-interval"),
                    $"echo bursts every {neighborhood.Monitoring.EchoInterval.TotalMilliseconds} ms come more often than liveness probes ({neighborhood.Monitoring.Interval.TotalMilliseconds} ms); make echo-interval at least interval"));
            }
        }
    }

    private static void CheckRouters(FabricConfig config, List<ConfigError> errors, AddressRegistry addresses)
    {
        var containers = new Dictionary<string, string>(StringComparer.Ordinal);
        var nodes = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var router in config.Routers)
        {
            var path = ConfigPath.Child(Routers, router.Name);
            CheckName(router.Name, "router", path, errors);
            var nodesPath = ConfigPath.Child(path, "nodes");
            if (router.Nodes.Count == 0)
            {
                errors.Add(new(nodesPath, $"router \"{router.Name}\" has no nodes: give it one, or two for an HA pair"));
            }
            else if (router.Nodes.Count > 2)
            {
                errors.Add(new(nodesPath, $"router \"{router.Name}\" has {router.Nodes.Count} nodes: a router is one node or an HA pair of exactly two"));
            }

            foreach (var node in router.Nodes)
            {
                var nodePath = ConfigPath.Child(nodesPath, node.Name);
                CheckName(node.Name, "node", nodePath, errors);
                if (!nodes.TryAdd(node.Name, router.Name))
                {
                    errors.Add(new(nodePath, $"node name \"{node.Name}\" is already used by router \"{nodes[node.Name]}\": node names are unique in the fabric"));
                }

                if (!node.ManagementAddress.Equals(IPAddress.None))
                {
                    addresses.Claim(node.ManagementAddress, ConfigPath.Child(nodePath, "management-address"));
                }

                if (node.Identity is not null && node.IdentityKey() is null)
                {
                    errors.Add(new(
                        ConfigPath.Child(nodePath, "identity"),
                        $"\"{node.Identity}\" is not an X25519 public key: give the base64 of exactly {RouterNode.IdentityKeyLength} bytes"));
                }
            }

            if (router.Nodes.Count == 2 && router.Nodes[0].Identity != router.Nodes[1].Identity)
            {
                errors.Add(new(nodesPath, $"the nodes of router \"{router.Name}\" pin different identities: an HA pair shares one router identity"));
            }

            CheckPairLiveness(router.HighAvailability, ConfigPath.Child(path, "high-availability"), errors);
            if (router.Dataplane.BusyPoll > DataplaneSettings.MaximumBusyPoll)
            {
                errors.Add(new(ConfigPath.Child(path, "dataplane", "busy-poll"),
                    $"{router.Dataplane.BusyPoll.TotalMicroseconds} us is longer than {DataplaneSettings.MaximumBusyPoll.TotalMicroseconds} us: " +
                    "a longer spin holds a core the kernel and the control plane need; give at most tens of microseconds, or 0us to sleep at once"));
            }

            if (router.Nodes.Count == 2 && router.Dataplane.Workers is > 1)
            {
                // Session export, import, take-over and stand-by work on one shard; a node of a pair that takes over must
                // find every session in the worker its packets reach (docs/dataplane.md "Workers").
                errors.Add(new(ConfigPath.Child(path, "dataplane", "workers"),
                    $"{router.Dataplane.Workers} workers: router \"{router.Name}\" is an HA pair, whose nodes run one worker each " +
                    "(sessions are replicated and taken over on one shard); give workers = 1 or leave it out"));
            }

            var devices = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var iface in router.Interfaces)
            {
                var ifacePath = ConfigPath.Child(path, "interfaces", iface.Name);
                CheckName(iface.Name, "interface", ifacePath, errors);
                CheckDevice(iface.Device, ConfigPath.Child(ifacePath, "device"), devices, errors);
                CheckTenantReference(config, iface.Tenant, ConfigPath.Child(ifacePath, "tenant"), errors);
                for (var i = 0; i < iface.Addresses.Count; i++)
                {
                    addresses.Claim(iface.Addresses[i].Address, ConfigPath.Index(ConfigPath.Child(ifacePath, "addresses"), i));
                }

                for (var i = 0; i < iface.Neighborhoods.Count; i++)
                {
                    var name = iface.Neighborhoods[i];
                    if (config.FindNeighborhood(name) is null)
                    {
                        errors.Add(new(ConfigPath.Index(ConfigPath.Child(ifacePath, "neighborhoods"), i),
                            $"unknown neighborhood \"{name}\"{Spelling.Hint(name, config.Neighborhoods.Select(n => n.Name))}"));
                    }
                }
            }

            foreach (var network in router.Networks)
            {
                CheckNetwork(config, router, network, ConfigPath.Child(path, "networks", network.Name), devices, containers, addresses, errors);
            }
        }
    }

    private static void CheckPairLiveness(PairLiveness liveness, string path, List<ConfigError> errors)
    {
        var heartbeat = liveness.HeartbeatInterval.TotalMilliseconds;
        if (liveness.DeadInterval < liveness.HeartbeatInterval * PairLiveness.MinimumHeartbeatsPerDeadInterval)
        {
            errors.Add(new(ConfigPath.Child(path, "dead-interval"),
                $"{liveness.DeadInterval.TotalMilliseconds} ms is less than {PairLiveness.MinimumHeartbeatsPerDeadInterval} heartbeat intervals ({heartbeat} ms each): " +
                $"one late heartbeat would make the standby take over; make it at least {heartbeat * PairLiveness.MinimumHeartbeatsPerDeadInterval} ms"));
        }
        else if (liveness.DeadInterval > PairLiveness.MaximumDeadInterval)
        {
            errors.Add(new(ConfigPath.Child(path, "dead-interval"),
                $"{liveness.DeadInterval.TotalSeconds} s is longer than {PairLiveness.MaximumDeadInterval.TotalSeconds} s: the router would stop for that long when its active node dies"));
        }
    }

    private static void CheckNetwork(
        FabricConfig config, Router router, Network network, string path, Dictionary<string, string> devices,
        Dictionary<string, string> containers, AddressRegistry addresses, List<ConfigError> errors)
    {
        CheckName(network.Name, "network", path, errors);
        CheckTenantReference(config, network.Tenant, ConfigPath.Child(path, "tenant"), errors);
        if (network.Model == NetworkModel.Bridged)
        {
            CheckDevice(network.Device, ConfigPath.Child(path, "device"), devices, errors);
        }

        if (network.Gateways.IsEmpty)
        {
            errors.Add(new(ConfigPath.Child(path, "gateways"), $"network \"{network.Name}\" has no gateway address: the router is its L3 gateway"));
        }

        for (var i = 0; i < network.Gateways.Count; i++)
        {
            addresses.Claim(network.Gateways[i].Address, ConfigPath.Index(ConfigPath.Child(path, "gateways"), i));
        }

        foreach (var container in network.Containers)
        {
            var containerPath = ConfigPath.Child(path, "containers", container.Name);
            CheckName(container.Name, "container", containerPath, errors);
            if (!containers.TryAdd(container.Name, router.Name))
            {
                errors.Add(new(containerPath, $"container name \"{container.Name}\" is already used on router \"{containers[container.Name]}\": container names are unique in the fabric"));
            }

            if (network.Model == NetworkModel.HostBased)
            {
                CheckDevice(container.Name, containerPath, devices, errors);
            }

            CheckTenantReference(config, container.Tenant, ConfigPath.Child(containerPath, "tenant"), errors);
            if (container.Addresses.IsEmpty)
            {
                errors.Add(new(ConfigPath.Child(containerPath, "addresses"), $"container \"{container.Name}\" has no address"));
            }

            for (var i = 0; i < container.Addresses.Count; i++)
            {
                var address = container.Addresses[i];
                var addressPath = ConfigPath.Index(ConfigPath.Child(containerPath, "addresses"), i);
                addresses.Claim(address, addressPath);
                if (!network.Gateways.IsEmpty && !network.Gateways.Any(g => g.Contains(address)))
                {
                    errors.Add(new(addressPath, $"{address} is outside every gateway prefix of network \"{network.Name}\" ({string.Join(", ", network.Gateways.Select(g => g.Network))})"));
                }
            }
        }
    }

    private static void CheckServices(FabricConfig config, List<ConfigError> errors)
    {
        foreach (var service in config.Services)
        {
            var path = ConfigPath.Child(Services, service.Name);
            CheckName(service.Name, "service", path, errors);
            if (service.Addresses.IsEmpty)
            {
                errors.Add(new(ConfigPath.Child(path, "addresses"), $"service \"{service.Name}\" has no addresses to match"));
            }

            if (service.Transports.IsEmpty)
            {
                errors.Add(new(ConfigPath.Child(path, "transports"), $"service \"{service.Name}\" has no transports: list at least one, such as {{ protocol = tcp, ports = [\"443\"] }}"));
            }

            for (var i = 0; i < service.Transports.Count; i++)
            {
                var transport = service.Transports[i];
                if (transport.Protocol == TransportProtocol.Icmp && !transport.Ports.IsEmpty)
                {
                    errors.Add(new(ConfigPath.Child(ConfigPath.Index(ConfigPath.Child(path, "transports"), i), "ports"), "icmp has no ports: leave \"ports\" out"));
                }
            }

            for (var i = 0; i < service.Access.Count; i++)
            {
                var tenant = service.Access[i];
                if (config.FindTenant(tenant) is null)
                {
                    errors.Add(new(ConfigPath.Index(ConfigPath.Child(path, "access"), i),
                        $"unknown tenant \"{tenant}\"{Spelling.Hint(tenant, config.Tenants.Select(t => t.Name))}"));
                }
            }

            if (config.FindServicePolicy(service.Policy) is null)
            {
                errors.Add(new(ConfigPath.Child(path, "policy"),
                    $"unknown service policy \"{service.Policy}\"{Spelling.Hint(service.Policy, ServicePolicyNames(config))}"));
            }

            if (service.Instances.IsEmpty && service.OfferedBy.IsEmpty)
            {
                errors.Add(new(path, $"service \"{service.Name}\" has no place to live: give it instances, or routers in offered-by"));
            }

            CheckInstances(config, service, path, errors);
            for (var i = 0; i < service.OfferedBy.Count; i++)
            {
                CheckRouterReference(config, service.OfferedBy[i], ConfigPath.Index(ConfigPath.Child(path, "offered-by"), i), errors);
            }
        }

        CheckAmbiguousServices(config, errors);
    }

    private static void CheckInstances(FabricConfig config, Service service, string path, List<ConfigError> errors)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < service.Instances.Count; i++)
        {
            var instance = service.Instances[i];
            var instancePath = ConfigPath.Index(ConfigPath.Child(path, "instances"), i);
            if (instance.Container is { } container)
            {
                if (instance.Router is not null || instance.Address is not null)
                {
                    errors.Add(new(instancePath, "an instance is either a container, or a router and an address, not both"));
                }
                else if (!config.Containers().Any(c => c.Container.Name == container))
                {
                    errors.Add(new(ConfigPath.Child(instancePath, "container"),
                        $"unknown container \"{container}\"{Spelling.Hint(container, config.Containers().Select(c => c.Container.Name))}"));
                }
            }
            else if (instance.Router is null || instance.Address is null)
            {
                errors.Add(new(instancePath, "an instance needs a container, or both a router and an address"));
            }
            else
            {
                CheckRouterReference(config, instance.Router, ConfigPath.Child(instancePath, "router"), errors);
            }

            if (!seen.Add(instance.Name))
            {
                errors.Add(new(instancePath, $"instance \"{instance.Name}\" is listed twice"));
            }
        }
    }

    /// <summary>
    /// Two services are ambiguous when some packet matches both with the same specificity: the same
    /// prefix, the same protocol, and overlapping port ranges of the same width (a port match
    /// outranks prefix length, and a narrower port range outranks a wider one).
    /// </summary>
    private static void CheckAmbiguousServices(FabricConfig config, List<ConfigError> errors)
    {
        var services = config.Services;
        for (var a = 0; a < services.Count; a++)
        {
            for (var b = a + 1; b < services.Count; b++)
            {
                if (FirstAmbiguity(services[a], services[b]) is { } clash)
                {
                    errors.Add(new(ConfigPath.Child(Services, services[b].Name),
                        $"matches the same packets as service \"{services[a].Name}\" with the same specificity ({clash}): make one more specific"));
                }
            }
        }
    }

    private static string? FirstAmbiguity(Service first, Service second)
    {
        foreach (var prefix in first.Addresses)
        {
            if (!second.Addresses.Contains(prefix))
            {
                continue;
            }

            foreach (var t1 in first.Transports)
            {
                foreach (var t2 in second.Transports)
                {
                    if (t1.Protocol != t2.Protocol)
                    {
                        continue;
                    }

                    var name = t1.Protocol.ToString().ToLowerInvariant();
                    if (t1.Ports.IsEmpty && t2.Ports.IsEmpty)
                    {
                        return $"{prefix.Network} {name}";
                    }

                    foreach (var p1 in t1.Ports)
                    {
                        foreach (var p2 in t2.Ports)
                        {
                            if (p1.Overlaps(p2) && p1.Width == p2.Width)
                            {
                                return $"{prefix.Network} {name}/{p1}";
                            }
                        }
                    }
                }
            }
        }

        return null;
    }

    /// <summary>
    /// Why a connection string cannot stand in the document: it does not parse, or it holds a password, which every
    /// version of the history, every router and <c>config show</c> would then carry.
    /// </summary>
    private static string? ConnectionStringProblem(string connection)
    {
        var builder = new System.Data.Common.DbConnectionStringBuilder();
        try
        {
            builder.ConnectionString = connection;
        }
        catch (ArgumentException e)
        {
            return $"is not a connection string (\"Host=...;Database=...;Username=...\"): {e.Message}";
        }

        return builder.ContainsKey("Password") || builder.ContainsKey("Pwd")
            ? "holds a password, which every version of the history and every router would carry: name a file holding it with " +
              "password-file (mode 0600 on the conductor's host), or set FABRIC_POSTGRES_PASSWORD in the conductor's environment"
            : null;
    }

    private static void CheckConductor(FabricConfig config, List<ConfigError> errors, AddressRegistry addresses)
    {
        var storage = config.Conductor.Storage;
        const string path = "fabric.conductor.storage";
        if (storage.Provider == StorageProvider.Postgresql && string.IsNullOrWhiteSpace(storage.ConnectionString))
        {
            errors.Add(new(path, "provider postgresql needs a connection-string"));
        }

        if (storage.ConnectionString is { } connection && ConnectionStringProblem(connection) is { } problem)
        {
            errors.Add(new(ConfigPath.Child(path, "connection-string"), problem));
        }

        if (storage.PasswordFile is not null && storage.Provider != StorageProvider.Postgresql)
        {
            errors.Add(new(ConfigPath.Child(path, "password-file"), "a password file is for provider postgresql only"));
        }

        if (storage.Provider == StorageProvider.Sqlite && string.IsNullOrWhiteSpace(storage.SqlitePath))
        {
            errors.Add(new(ConfigPath.Child(path, "path"), "provider sqlite needs a file path"));
        }

        for (var i = 0; i < config.Conductor.Addresses.Count; i++)
        {
            addresses.Claim(config.Conductor.Addresses[i], ConfigPath.Index("fabric.conductor.addresses", i));
        }
    }

    private static void CheckName(string name, string what, string path, List<ConfigError> errors)
    {
        if (!ObjectName().IsMatch(name))
        {
            errors.Add(new(path, $"\"{name}\" is not a {what} name: use letters, digits, '-' and '_' (at most 63), starting with a letter or digit"));
        }
    }

    private static void CheckDevice(string device, string path, Dictionary<string, string> devices, List<ConfigError> errors)
    {
        if (!DeviceName().IsMatch(device))
        {
            errors.Add(new(path, $"\"{device}\" is not a Linux interface name: at most {MaxDeviceNameLength} letters, digits, '.', '-' or '_'"));
        }
        else if (ReservedDeviceNames.Contains(device))
        {
            errors.Add(new(path, $"\"{device}\" cannot be a router's interface: Linux refuses \".\", \"..\", \"all\" and \"default\" as interface names, and \"lo\" is the loopback"));
        }
        else if (!devices.TryAdd(device, path))
        {
            errors.Add(new(path, $"device \"{device}\" is already used by {devices[device]}"));
        }
    }

    private static void CheckTenantReference(FabricConfig config, string? tenant, string path, List<ConfigError> errors)
    {
        if (tenant is not null && config.FindTenant(tenant) is null)
        {
            errors.Add(new(path, $"unknown tenant \"{tenant}\"{Spelling.Hint(tenant, config.Tenants.Select(t => t.Name))}"));
        }
    }

    private static void CheckRouterReference(FabricConfig config, string router, string path, List<ConfigError> errors)
    {
        if (config.FindRouter(router) is null)
        {
            errors.Add(new(path, $"unknown router \"{router}\"{Spelling.Hint(router, config.Routers.Select(r => r.Name))}"));
        }
    }

    private static IEnumerable<string> ServicePolicyNames(FabricConfig config) =>
        config.ServicePolicies.Select(p => p.Name).Append(ServicePolicy.DefaultName).Distinct();

    private static IEnumerable<string> SecurityPolicyNames(FabricConfig config) =>
        config.SecurityPolicies.Select(p => p.Name).Append(SecurityPolicy.DefaultName).Distinct();

    /// <summary>Every address the fabric assigns belongs to one place: the second claim is an error.</summary>
    private sealed class AddressRegistry(List<ConfigError> errors)
    {
        private readonly Dictionary<IPAddress, string> _owners = [];

        public void Claim(IPAddress address, string path)
        {
            if (!_owners.TryAdd(address, path))
            {
                errors.Add(new(path, $"address {address} is already assigned at {_owners[address]}"));
            }
        }
    }
}
