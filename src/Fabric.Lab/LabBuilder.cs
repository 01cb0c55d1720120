using System.Diagnostics;
using System.Net;
using Fabric.Router;
using Fabric.Config.Canonical;
using Fabric.Model;
using Fabric.Model.Collections;

namespace Fabric.Lab;

/// <summary>
/// <c>fabric lab up</c>: builds a topology on this machine. One namespace per router node, container
/// and the conductor; one more (the lab's "wires") holds every bridge, so nothing is added to the
/// caller's namespace and deleting the lab's namespaces removes every link. Router forwarding devices
/// get no kernel address (only Fabric answers there); the management network has kernel addresses.
/// Not thread-safe: one run builds one lab.
/// </summary>
public sealed class LabBuilder
{
    /// <summary>The management network's prefix length around each node's management address.</summary>
    public const int ManagementPrefixLength = 24;

    private const string ManagementBridge = "mgmt";
    private const string ManagementDevice = "mgmt0";
    private static readonly TimeSpan RouterStartDeadline = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan ServerStartDeadline = TimeSpan.FromSeconds(15);

    private FabricConfig _config;
    private readonly LabLayout _layout;
    private readonly TextWriter _output;
    private readonly Dictionary<string, string> _neighborhoodBridges = new(StringComparer.Ordinal);
    private int _wireEnds;

    /// <param name="kernelForwarding">
    /// Instead of starting router processes, give the router namespaces' devices kernel addresses and
    /// routes and let the kernel forward: the same wiring as a baseline (see <see cref="KernelRouting"/>).
    /// </param>
    /// <param name="source">Where the topology came from, for the conductor's history (version 1's message).</param>
    public LabBuilder(FabricConfig config, LabLayout layout, TextWriter output, bool kernelForwarding = false, string source = "the topology")
    {
        _source = source;
        _config = config;
        _layout = layout;
        _output = output;
        _kernelForwarding = kernelForwarding;
    }

    private readonly bool _kernelForwarding;
    private readonly string _source;

    // The conductor's public key every router of a lab with a conductor pins; set before the routers start.
    private string? _conductorKey;

    /// <summary>Every node of every router, in configuration order (both nodes of an HA pair).</summary>
    public static IEnumerable<(Model.Router Router, RouterNode Node)> Nodes(FabricConfig config) =>
        config.Routers.SelectMany(r => r.Nodes.Select(n => (r, n)));

    /// <summary>
    /// <paramref name="config"/> with router <paramref name="routerName"/> made an HA pair (<c>lab up --ha ROUTER</c>):
    /// a second node named after the first (its last letter <c>a</c> becomes <c>b</c>, else <c>b</c> is appended)
    /// on the next management address no other member uses. Throws <see cref="LabException"/> when the router is
    /// unknown or has two nodes already.
    /// </summary>
    public static FabricConfig WithPartnerNode(FabricConfig config, string routerName)
    {
        ArgumentNullException.ThrowIfNull(config);
        var router = config.Routers.FirstOrDefault(r => r.Name == routerName)
            ?? throw new LabException($"--ha {routerName}: no such router (routers: {string.Join(", ", config.Routers.Select(r => r.Name))})");
        if (router.Nodes.Count != 1)
        {
            throw new LabException($"--ha {routerName}: the router has {router.Nodes.Count} nodes already; an HA pair has two");
        }

        var first = router.Nodes[0];
        var name = first.Name.EndsWith('a') ? first.Name[..^1] + "b" : first.Name + "b";
        var used = config.Routers.SelectMany(r => r.Nodes).Select(n => n.ManagementAddress).Concat(config.Conductor.Addresses).ToHashSet();
        var bytes = first.ManagementAddress.GetAddressBytes();
        IPAddress? address = null;
        for (var i = 1; i < 255 && address is null; i++)
        {
            var candidate = (byte[])bytes.Clone();
            candidate[^1] = (byte)((bytes[^1] + i) % 256);
            var ip = new IPAddress(candidate);
            if (candidate[^1] is not 0 and not 255 && !used.Contains(ip))
            {
                address = ip;
            }
        }

        if (address is null || config.Routers.SelectMany(r => r.Nodes).Any(n => n.Name == name))
        {
            throw new LabException($"--ha {routerName}: no free node name or management address for the second node");
        }

        var pair = router with { Nodes = new ValueList<RouterNode>([first, new RouterNode(name, address, first.Identity)]) };
        return config with { Routers = new ValueList<Model.Router>(config.Routers.Select(r => ReferenceEquals(r, router) ? pair : r)) };
    }

    /// <summary>
    /// <paramref name="document"/> with the second node of every router that runs as an HA pair in the lab
    /// (<paramref name="running"/>, the lab's topology) and has one node in the document: a document committed to a
    /// lab started with <c>--ha</c> keeps the pair its processes run.
    /// </summary>
    public static FabricConfig KeepPairs(FabricConfig document, FabricConfig running)
    {
        ArgumentNullException.ThrowIfNull(document);
        ArgumentNullException.ThrowIfNull(running);
        return document with
        {
            Routers = new ValueList<Model.Router>(document.Routers.Select(r =>
                r.Nodes.Count == 1 && running.Routers.FirstOrDefault(l => l.Name == r.Name) is { Nodes.Count: 2 } pair && pair.Nodes[0].Name == r.Nodes[0].Name
                    ? r with { Nodes = new ValueList<RouterNode>([r.Nodes[0], pair.Nodes[1]]) }
                    : r)),
        };
    }

    /// <summary>Member names that would share a namespace name; empty when the topology fits a lab.</summary>
    public static IReadOnlyList<string> Collisions(FabricConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var members = Nodes(config).Select(n => n.Node.Name).Concat(config.Containers().Select(c => c.Container.Name));
        if (config.Conductor.Addresses.Count > 0)
        {
            members = members.Append(Conductor);
        }

        return [.. members.GroupBy(m => m, StringComparer.Ordinal).Where(g => g.Count() > 1).Select(g => g.Key)];
    }

    /// <summary>The conductor's namespace member name.</summary>
    public const string Conductor = "conductor";

    /// <summary>Builds the lab and starts its processes; throws <see cref="LabException"/> on the first step that fails.</summary>
    public void Build()
    {
        var clock = Stopwatch.StartNew();
        Directory.CreateDirectory(_layout.StateDirectory);
        foreach (var stale in Directory.GetFiles(_layout.StateDirectory))
        {
            File.Delete(stale);
        }

        if (!_kernelForwarding)
        {
            _config = LabKeys.Provision(_config, _layout);
            Progress("keys", $"one private key per router in {Path.GetDirectoryName(LabKeys.KeyFileOf(_layout, "-"))} (mode 0600); {_layout.Topology} pins their public keys as the nodes' identities");
        }

        File.WriteAllText(_layout.Topology, HoconWriter.ToHocon(CanonicalTree.Of(_config)));

        NetworkNamespace.Add(_layout.Wires);
        NetworkNamespace.KeepBridgesOutOfFirewall(_layout.Wires);
        NetworkNamespace.AddBridge(_layout.Wires, ManagementBridge);
        foreach (var (neighborhood, i) in _config.Neighborhoods.Select((n, i) => (n, i)))
        {
            var bridge = neighborhood.Name.Length <= 15 && neighborhood.Name != ManagementBridge ? neighborhood.Name : $"nh{i}";
            NetworkNamespace.AddBridge(_layout.Wires, bridge);
            _neighborhoodBridges[neighborhood.Name] = bridge;
        }

        Progress("wires", $"{_layout.Wires}: bridges {string.Join(", ", _neighborhoodBridges.Select(b => $"{b.Value} (neighborhood {b.Key})").Append($"{ManagementBridge} (management)"))}");

        var lan = 0;
        var networkBridges = new Dictionary<(string Router, string Network), string>();
        foreach (var (router, node) in Nodes(_config))
        {
            var ns = _layout.NamespaceOf(node.Name);
            NetworkNamespace.Add(ns);
            var parts = new List<string>();
            // The second node of an HA pair gets its own ends on the first node's bridges: the same WAN and the
            // same container LANs, so either node can own the router's addresses there.
            var partner = router.Nodes[0] != node;
            foreach (var iface in router.Interfaces)
            {
                var end = ToWires(ns, iface.Device);
                if (iface.Neighborhoods.Count > 0)
                {
                    var bridge = _neighborhoodBridges[iface.Neighborhoods[0]];
                    NetworkNamespace.AttachToBridge(_layout.Wires, end, bridge);
                    parts.Add($"{iface.Device} on {bridge}");
                }
                else
                {
                    parts.Add($"{iface.Device} (no neighborhood)");
                }
            }

            foreach (var network in router.Networks)
            {
                if (partner)
                {
                    if (network.Model != NetworkModel.Bridged)
                    {
                        throw new LabException(
                            $"router {router.Name} is an HA pair, but its network {network.Name} is host-based: a container's one veth cannot reach two nodes (make it bridged)");
                    }

                    var shared = networkBridges[(router.Name, network.Name)];
                    NetworkNamespace.AttachToBridge(_layout.Wires, ToWires(ns, network.Device), shared);
                    parts.Add($"{network.Device} on bridge {shared} (shared with {router.Nodes[0].Name})");
                }
                else if (network.Model == NetworkModel.Bridged)
                {
                    var bridge = $"lan{lan++}";
                    networkBridges[(router.Name, network.Name)] = bridge;
                    NetworkNamespace.AddBridge(_layout.Wires, bridge);
                    NetworkNamespace.AttachToBridge(_layout.Wires, ToWires(ns, network.Device), bridge);
                    foreach (var container in network.Containers)
                    {
                        var containerNs = AddContainer(container);
                        NetworkNamespace.AttachToBridge(_layout.Wires, ToWires(containerNs, "eth0"), bridge);
                        ContainerAddresses(router, network, container);
                    }

                    parts.Add($"{network.Device} on bridge {bridge} with {string.Join(' ', network.Containers.Select(c => c.Name))}");
                }
                else
                {
                    foreach (var container in network.Containers)
                    {
                        var containerNs = AddContainer(container);
                        NetworkNamespace.AddVeth(ns, container.Name, containerNs, "eth0");
                        ContainerAddresses(router, network, container);
                    }

                    parts.Add($"{string.Join(' ', network.Containers.Select(c => c.Name))} host-based");
                }
            }

            var management = ToWires(ns, ManagementDevice);
            NetworkNamespace.AttachToBridge(_layout.Wires, management, ManagementBridge);
            NetworkNamespace.AddAddress(ns, ManagementDevice, $"{node.ManagementAddress}/{ManagementLength(node.ManagementAddress)}");
            parts.Add($"{ManagementDevice} {node.ManagementAddress}/{ManagementLength(node.ManagementAddress)}");
            Progress("router", $"{node.Name} ({router.Name}) in {ns}: {string.Join("; ", parts)}");
        }

        if (_config.Conductor.Addresses.Count > 0)
        {
            var ns = _layout.NamespaceOf(Conductor);
            NetworkNamespace.Add(ns);
            NetworkNamespace.AttachToBridge(_layout.Wires, ToWires(ns, ManagementDevice), ManagementBridge);
            foreach (var address in _config.Conductor.Addresses)
            {
                NetworkNamespace.AddAddress(ns, ManagementDevice, $"{address}/{ManagementLength(address)}");
            }

            Progress("conductor", $"{ns}: {ManagementDevice} {string.Join(", ", _config.Conductor.Addresses)}");
        }

        var conducted = !_kernelForwarding && LabConductor.Configured(_config);
        if (conducted)
        {
            LabCertificates.Provision(_layout, Nodes(_config).Select(n => n.Node.Name).Append(LabConductor.ProcessName));
            Progress("certs", $"cluster traffic over mutual TLS: a CA of this lab's own and one certificate per process in {LabCertificates.DirectoryOf(_layout)}");
            LabConductor.Provision(_layout, _config);
            Progress("token", $"API token for \"{LabConductor.TokenOwner}\" in {LabConductor.TokenFileOf(_layout)} (fabric config and the lab commands send it); HTTPS certificate from the lab's CA");
            _conductorKey = LabConductor.ProvisionSigningKey(_layout);
            Progress("key", $"the conductor signs what it publishes with {LabConductor.SigningKeyOf(_layout)}; every router pins its public key {_conductorKey}");
            var pid = LabConductor.Start(_layout, _config, RouterStartDeadline);
            Progress("started", $"conductor: pid {pid}, log {_layout.LogOf(LabConductor.ProcessName)}, api {LabConductor.Endpoint(_config)} (from {_layout.NamespaceOf(Conductor)}), cluster {LabConductor.Seed(_config)}");
        }

        var routers = new List<(Model.Router Router, RouterNode Node)>();
        foreach (var (router, node) in Nodes(_config))
        {
            if (_kernelForwarding && router.Nodes[0] != node)
            {
                Progress("kernel", $"{node.Name} ({router.Name}) stays without addresses: the kernel baseline has no HA");
            }
            else if (_kernelForwarding)
            {
                KernelRouting.Configure(_config, router, _layout.NamespaceOf(node.Name));
                Progress("kernel", $"{node.Name} ({router.Name}) forwards with kernel IP forwarding (no router process)");
            }
            else
            {
                routers.Add((router, node));
            }
        }

        // Servers listen before any router runs: a router that health-checks its instances (docs/load-balancing.md)
        // would otherwise find them refusing, take them out of balancing, and refuse the first sessions after lab up.
        var servers = LabServer.For(_config);
        foreach (var server in servers)
        {
            StartServer(server);
        }

        if (routers.Count > 0)
        {
            StartRouters(routers, conducted ? LabConductor.Seed(_config) : null);
        }

        if (conducted)
        {
            var (version, elapsed) = LabConductor.CommitTopology(_layout, _config, _source, RouterStartDeadline);
            Progress("committed", $"version {version} (the topology) on the conductor; every router node applied it in {elapsed.TotalSeconds:0.0} s");
        }

        _output.WriteLine(
            $"lab \"{_layout.Name}\" is up: {_config.Routers.Count} routers{(Nodes(_config).Count() > _config.Routers.Count ? $" ({Nodes(_config).Count()} nodes)" : "")}, {_config.Containers().Count()} containers, {servers.Count} servers in {clock.Elapsed.TotalSeconds:0.0} s.");
    }

    private string AddContainer(Container container)
    {
        var ns = _layout.NamespaceOf(container.Name);
        NetworkNamespace.Add(ns);
        return ns;
    }

    /// <summary>The container's addresses on eth0 with its network's gateway prefix length, and its default route via the gateway.</summary>
    private void ContainerAddresses(Model.Router router, Network network, Container container)
    {
        var ns = _layout.NamespaceOf(container.Name);
        var shown = new List<string>();
        foreach (var address in container.Addresses)
        {
            var gateway = network.Gateways.FirstOrDefault(g => g.Address.AddressFamily == address.AddressFamily && g.Contains(address));
            if (gateway.Address is null)
            {
                throw new LabException($"container {container.Name}: no gateway of network {network.Name} contains {address}");
            }

            if (address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6)
            {
                NetworkNamespace.SetKernelSetting(ns, "net/ipv6/conf/eth0/disable_ipv6", "0");
            }

            NetworkNamespace.AddAddress(ns, "eth0", $"{address}/{gateway.Length}");
            NetworkNamespace.AddDefaultRoute(ns, gateway.Address.ToString());
            shown.Add($"{address}/{gateway.Length} via {gateway.Address}");
        }

        var tenant = container.Tenant ?? network.Tenant;
        Progress("container", $"{container.Name} in {ns}: {string.Join(", ", shown)} ({(tenant is null ? "no tenant" : "tenant " + tenant)}, router {router.Name} {network.Model switch { NetworkModel.Bridged => "bridged", _ => "host-based" }})");
    }

    /// <summary>A veth from <paramref name="device"/> in <paramref name="ns"/> to a fresh end in the wires namespace; returns that end.</summary>
    private string ToWires(string ns, string device)
    {
        var end = $"v{_wireEnds++}";
        NetworkNamespace.AddVeth(ns, device, _layout.Wires, end);
        return end;
    }

    /// <summary>
    /// Starts the lab's supervisor (in the wires namespace), which starts every router node and starts one again
    /// when it ends (<see cref="LabSupervisor"/>), then waits until each router answers on its admin socket.
    /// </summary>
    private void StartRouters(IReadOnlyList<(Model.Router Router, RouterNode Node)> routers, string? seed)
    {
        var plan = new List<SupervisedProcess>();
        foreach (var (router, node) in routers)
        {
            File.Delete(_layout.PidFileOf(node.Name));
            plan.Add(new SupervisedProcess(node.Name, LabProcesses.Launch(
                _layout.NamespaceOf(node.Name),
                _layout.PidFileOf(node.Name),
                _layout.LogOf(node.Name),
                [.. (seed is null ? [] : LabCertificates.Environment(_layout, node.Name)), .. FabricExecutable.RouterCommandLine(), "router", "--config", _layout.Topology, "--node", node.Name, "--state-dir", _layout.NodeStateOf(node.Name), "--admin-socket", _layout.AdminSocketOf(node.Name), "--identity-key", LabKeys.KeyFileOf(_layout, router.Name), .. (seed is null ? Array.Empty<string>() : ["--seed", seed, "--conductor-key", _conductorKey!])])));
        }

        LabSupervisor.WritePlan(LabSupervisor.PlanOf(_layout), plan);
        var supervisorLog = _layout.LogOf(LabSupervisor.ProcessName);
        var supervisor = LabProcesses.StartDetached(
            _layout.Wires, _layout.PidFileOf(LabSupervisor.ProcessName), supervisorLog,
            [.. FabricExecutable.CommandLine(), "lab", "supervise", "--name", _layout.Name, "--state-dir", _layout.StateRoot]);
        Progress("supervisor", $"pid {supervisor} in {_layout.Wires}: starts each router node and starts it again when it ends (log {supervisorLog})");
        foreach (var (router, node) in routers)
        {
            var socket = _layout.AdminSocketOf(node.Name);
            var log = _layout.LogOf(node.Name);
            var clock = Stopwatch.StartNew();
            while (!Answers(socket))
            {
                var status = LabSupervisor.ReadStatus(LabSupervisor.StatusOf(_layout)).GetValueOrDefault(node.Name);
                if (status?.State == SupervisedStatus.GaveUp || !LabProcesses.IsAlive(supervisor) || clock.Elapsed > RouterStartDeadline)
                {
                    var why = status?.LastExit is { } exit ? $", {exit.Describe()}" : "";
                    throw new LabException($"router node {node.Name} did not start (log {log}{why}):\n{LabProcesses.Tail(log)}");
                }

                Thread.Sleep(50);
            }

            Progress("started", $"router {node.Name} ({router.Name}): pid {LabProcesses.ReadPid(_layout.PidFileOf(node.Name))}, log {log}, counters: ./fabric router counters --node {node.Name} --admin-socket {socket}");
        }
    }

    private void StartServer(LabServer server)
    {
        var ns = _layout.NamespaceOf(server.Container);
        var log = _layout.LogOf(server.ProcessName);
        var pid = LabProcesses.StartDetached(ns, _layout.PidFileOf(server.ProcessName), log, server.Command());
        if (!LabProcesses.WaitFor(() => Listening(ns, server.Port), pid, ServerStartDeadline))
        {
            throw new LabException($"{server.Kind.ToString().ToLowerInvariant()} server in {server.Container} did not listen on {server.Port} (log {log}):\n{LabProcesses.Tail(log)}");
        }

        Progress("started", $"{server.Kind.ToString().ToLowerInvariant()} server in {server.Container} on port {server.Port} for service {server.Service}: pid {pid}");
    }

    internal static bool Answers(string adminSocket)
    {
        try
        {
            RouterProcess.ReadCounters(adminSocket);
            return true;
        }
        catch (System.Net.Sockets.SocketException)
        {
            return false;
        }
    }

    private static bool Listening(string ns, int port) =>
        ExternalCommand.InNamespace(ns, "ss", "-Hltn", $"sport = :{port}").Output.Trim().Length > 0;

    private static int ManagementLength(IPAddress address) =>
        address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? ManagementPrefixLength : 64;

    private void Progress(string what, string detail) => _output.WriteLine($"  {what,-10} {detail}");
}
