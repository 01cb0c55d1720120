using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Fabric.Cni.Admin;
using Fabric.Cni.Router;
using Fabric.Cni.Spec;
using Fabric.Config;
using Fabric.Config.Canonical;
using Fabric.Dataplane.Io;
using Fabric.Dataplane.Io.Linux;
using Fabric.Dataplane.Pipeline;
using Fabric.Dataplane.Routing;
using Fabric.Dataplane.Svr.Security;
using Fabric.Model;

namespace Fabric.Router;

/// <summary>Where a router node keeps its state and answers local queries.</summary>
/// <param name="StateDirectory">Holds <c>running.conf</c>, the last configuration the node applied.</param>
/// <param name="AdminSocket">A Unix socket that answers every connection with the node's counters as JSON.</param>
/// <param name="IdentityKeyFile">The router's private key file; null: <c>identity.key</c> in the state directory, if it exists.</param>
/// <param name="Warn">Hears what the router runs without that an operator should know of (e.g. real-time scheduling refused).</param>
/// <param name="WorkerPriority">The packet worker's SCHED_FIFO priority (<see cref="RealtimeScheduling"/>); null: normal scheduling.</param>
public sealed record RouterProcessOptions(
    string StateDirectory, string AdminSocket, string? IdentityKeyFile = null, Action<string>? Warn = null, int? WorkerPriority = null)
{
    public static RouterProcessOptions For(string node) =>
        new(Path.Combine("/var/lib/fabric", node), Path.Combine("/run/fabric", node + ".sock"));

    /// <summary>The key file the node reads: the one given, else the state directory's.</summary>
    public string EffectiveIdentityKeyFile => IdentityKeyFile ?? Path.Combine(StateDirectory, RouterKeyFile.DefaultName);
}

/// <summary>
/// One router node on real interfaces: AF_PACKET ports on every device the configuration gives the
/// node's router, the forwarding engine on them, the last applied configuration kept on disk, and an
/// admin socket with the counters. <see cref="Dispose"/> stops the worker, closes the ports and
/// removes the socket. Not thread-safe: one owner starts and stops it.
/// </summary>
public sealed partial class RouterProcess : IDisposable, Fabric.Actors.Services.IRemoteInstanceHost
{
    private readonly List<AfPacketPort> _ports = [];
    private readonly RouterProcessOptions _options;
    private readonly Socket _admin;
    private readonly Thread _adminThread;
    private readonly RouterIdentity? _identity;
    private readonly PeerKeySchedule? _keySchedule;
    private readonly Timer? _rekeyTimer;
    private readonly Lock _applyGate = new();
    private SecurityPolicy _securityPolicy = SecurityPolicy.Default;
    private volatile bool _stopping;
    private string _configuration;
    private volatile Fabric.Actors.HighAvailability.PairLink? _pairLink;
    private readonly PluggablePort[][] _slots;
    private readonly EpollWait[] _waits;
    private readonly PacketIo _io;
    private FabricConfig _committed;
    private IReadOnlyList<Fabric.Actors.Services.RegisteredInstance> _registered = [];
    private IReadOnlyList<Fabric.Actors.Services.RegisteredClient> _registeredClients = [];

    // The attachment desk's workloads as last compiled, written under the apply gate: what the node compiles reads them
    // here, never through the desk's own lock (the desk holds it while it recompiles, which takes the apply gate).
    private volatile IReadOnlyList<AttachedWorkload> _attachedHere = [];

    private RouterProcess(FabricConfig config, string node, Model.Router router, RouterProcessOptions options, RouterIdentity? identity, bool standby)
    {
        _options = options;
        _committed = config;
        _io = router.Dataplane.Io;
        Node = node;
        RouterName = router.Name;
        _identity = identity;
        var devices = Devices(router);
        WorkersWanted = router.Dataplane.WorkersFor(Environment.ProcessorCount);

        // A node of an HA pair runs one worker: session replication and take-over work on one shard (docs/dataplane.md "Workers").
        Workers = router.Nodes.Count > 1 ? 1 : WorkersWanted;
        var missing = new List<string>();
        for (var worker = 0; worker < Workers; worker++)
        {
            foreach (var device in devices)
            {
                try
                {
                    // Each worker its own socket per device; a device's sockets share one fanout group, id unique in the process.
                    _ports.Add(AfPacketPort.Open(device, Workers == 1 ? null : FanoutGroup(device), router.Dataplane.Io));
                }
                catch (PacketPortException e)
                {
                    missing.Add(e.Message);
                }
            }
        }

        if (missing.Count > 0)
        {
            DisposePorts();
            throw new RouterStartException(string.Join("\n", missing.Distinct()));
        }

        var options0 = RouterOptions.From(router.Sessions) with
        {
            StartActive = !standby, BusyPoll = router.Dataplane.BusyPoll,
            Scheduling = options.WorkerPriority is { } priority ? new RealtimeScheduling(priority, options.Warn ?? (_ => { })) : null,
        };
        // A router with a host-based network keeps free ports for containers the CNI plugin attaches while it runs.
        var slots = router.Networks.Any(n => n.Model == NetworkModel.HostBased) ? AttachmentSlots : 0;
        _slots = [.. Enumerable.Range(0, Workers).Select(_ => Enumerable.Range(0, slots).Select(_ => new PluggablePort()).ToArray())];
        _waits = [.. _ports.Chunk(devices.Count).Select(ports => new EpollWait(ports))];
        var byWorker = _ports.Chunk(devices.Count).Select((ports, worker) => new WorkerPorts([.. ports, .. _slots[worker]], _waits[worker])).ToArray();
        Engine = Workers == 1
            ? new ForwardingEngine(router.Name, byWorker[0].Ports, options0 with { IdleWait = byWorker[0].IdleWait })
            : ForwardingEngine.WithWorkers(router.Name, byWorker, options0);
        Partner = standby ? router.Nodes.First(n => n.Name != node) : null;
        Attachments = slots == 0 ? null : new AttachmentDesk(new AttachmentHost(this), options.StateDirectory);
        foreach (var dropped in Attachments?.Restore() ?? [])
        {
            options.Warn?.Invoke(dropped);
        }

        _attachedHere = Attachments?.Workloads ?? [];

        Engine.Apply(Effective(config), version: 1);
        if (identity is not null)
        {
            _keySchedule = new PeerKeySchedule(Engine, identity);
            _rekeyTimer = new Timer(_ => RefreshKeys(), null, Timeout.Infinite, Timeout.Infinite);
            _securityPolicy = SecurityPolicyOf(config);
            RefreshKeys();
        }

        var running = RunningText(config);
        _configuration = Fingerprint(RunningText(Effective(config)));
        SaveRunning(running);
        Restored = TakeSessions(options);
        Engine.Start();
        _admin = ListenAdmin(options.AdminSocket);
        _adminThread = new Thread(ServeAdmin) { IsBackground = true, Name = $"fabric-admin-{node}" };
        _adminThread.Start();
    }

    /// <summary>The last applied configuration's file in the state directory.</summary>
    public const string RunningFileName = "running.conf";

    /// <summary>Containers the CNI plugin may attach to a router node with a host-based network (free ports kept at start).</summary>
    public const int AttachmentSlots = 32;

    /// <summary>The containers the CNI plugin attached (docs/deploy.md "Containers without a commit"); null when the router has no host-based network.</summary>
    public AttachmentDesk? Attachments { get; }

    /// <summary>
    /// What the node compiles: the committed document with the containers attached here merged in, the service
    /// instances other routers attached (<see cref="HostRemoteInstances"/>) and the clients they attached
    /// (<see cref="HostRemoteClients"/>): the one document whose containers are every router's placement of them.
    /// </summary>
    private FabricConfig Effective(FabricConfig committed) => Effective(committed, _attachedHere);

    private FabricConfig Effective(FabricConfig committed, IReadOnlyList<AttachedWorkload> attachedHere) =>
        Fabric.Actors.Services.RemoteAttachments.Effective(committed, RouterName, attachedHere, _registered, _registeredClients);

    public IReadOnlyList<AttachedWorkload> AttachedHere() => _attachedHere;

    /// <summary>Raised on the admin thread after the attachment desk's workloads are compiled in (an attach or a detach).</summary>
    public event Action? AttachedHereChanged;

    /// <summary>
    /// Compiles in the clients other routers attached (<see cref="Fabric.Actors.Services.AttachedClients.Of"/>), so this
    /// router's placement lists them where they are (a client that moved here from there is an arrival; one that moved
    /// from here to there has its sessions given up when that router asks), and leaves out those gone; compiles nothing
    /// when they did not change. Thread-safe (under the apply gate).
    /// </summary>
    public bool HostRemoteClients(IReadOnlyCollection<Fabric.Actors.Services.RegisteredClient> registered)
    {
        ArgumentNullException.ThrowIfNull(registered);
        lock (_applyGate)
        {
            var before = _registeredClients;
            var here = AttachedHere();
            var hosted = Fabric.Actors.Services.AttachedClients.Of(_committed, RouterName, before, here);
            _registeredClients = [.. registered];
            if (_stopping || hosted.SequenceEqual(Fabric.Actors.Services.AttachedClients.Of(_committed, RouterName, _registeredClients, here)))
            {
                return false;
            }

            if (!RecompileAttachments("clients"))
            {
                _registeredClients = before;
                return false;
            }

            return true;
        }
    }

    /// <summary>
    /// Compiles in the instances other routers registered without a commit (<see cref="Fabric.Actors.Services.RemoteAttachments.Of"/>),
    /// so the node balances sessions to their routers, and leaves out those gone; compiles nothing when they did not change.
    /// Thread-safe (under the apply gate). A compile that fails keeps what forwards and is reported through <see cref="RouterProcessOptions.Warn"/>.
    /// </summary>
    public bool HostRemoteInstances(IReadOnlyCollection<Fabric.Actors.Services.RegisteredInstance> registered)
    {
        ArgumentNullException.ThrowIfNull(registered);
        lock (_applyGate)
        {
            var before = _registered;
            var hosted = Fabric.Actors.Services.RemoteAttachments.Of(_committed, RouterName, before);
            _registered = [.. registered];
            if (_stopping || hosted.SequenceEqual(Fabric.Actors.Services.RemoteAttachments.Of(_committed, RouterName, _registered)))
            {
                return false;
            }

            if (!RecompileAttachments("instances"))
            {
                _registered = before;
                return false;
            }

            return true;
        }
    }

    /// <summary>
    /// Compiles the committed document with what the registries hold now, at the running version. False when it does not
    /// compile: what forwards stays, and the failure is reported through <see cref="RouterProcessOptions.Warn"/> naming
    /// <paramref name="what"/>. Called under the apply gate.
    /// </summary>
    private bool RecompileAttachments(string what)
    {
        try
        {
            var effective = Effective(_committed);
            Engine.Apply(effective, Engine.AppliedVersion);
            _configuration = Fingerprint(RunningText(effective));
            return true;
        }
        catch (Dataplane.Forwarding.SnapshotCompileException e)
        {
            _options.Warn?.Invoke($"the {what} other routers attached were not compiled in: {e.Message}");
            return false;
        }
    }

    /// <summary>The node as its attachment desk sees it: requests arrive one at a time on the admin thread.</summary>
    private sealed class AttachmentHost(RouterProcess process) : IAttachmentHost
    {
        public string RouterName => process.RouterName;

        public FabricConfig Committed => process._committed;

        public void Plug(string device) => process.Plug(device);

        public void Unplug(string device) => process.Unplug(device);

        public void Recompile(IReadOnlyList<AttachedWorkload> workloads)
        {
            lock (process._applyGate)
            {
                var effective = process.Effective(process._committed, workloads);
                process.Engine.Apply(effective, process.Engine.AppliedVersion);
                process._attachedHere = workloads;
                process._configuration = Fingerprint(RunningText(effective));
            }

            process.AttachedHereChanged?.Invoke();
        }
    }

    /// <summary>Opens <paramref name="device"/> in a free slot of every worker (one socket each, in one fanout group); throws <see cref="PacketPortException"/> or when no slot is free.</summary>
    private void Plug(string device)
    {
        var slot = Array.FindIndex(_slots[0], s => s.Plugged is null);
        if (slot < 0)
        {
            throw new InvalidOperationException($"every one of the router's {AttachmentSlots} attachment ports is in use");
        }

        var opened = new List<AfPacketPort>();
        try
        {
            for (var worker = 0; worker < Workers; worker++)
            {
                opened.Add(AfPacketPort.Open(device, Workers == 1 ? null : FanoutGroup(device), _io));
            }

            for (var worker = 0; worker < Workers; worker++)
            {
                _waits[worker].Watch(opened[worker]);
            }
        }
        catch
        {
            opened.ForEach(p => p.Dispose());
            throw;
        }

        for (var worker = 0; worker < Workers; worker++)
        {
            _slots[worker][slot].Plug(opened[worker]);
        }
    }

    /// <summary>Takes <paramref name="device"/>'s sockets out of their slots and closes them once every worker has passed.</summary>
    private void Unplug(string device)
    {
        var slot = Array.FindIndex(_slots[0], s => s.Name == device);
        if (slot < 0)
        {
            return;
        }

        var taken = _slots.Select(worker => worker[slot].Unplug()).ToList();
        Engine.PassAllWorkersAsync().Wait(UnplugWait);
        foreach (var port in taken)
        {
            (port as IDisposable)?.Dispose();
        }
    }

    /// <summary>How long an unplug waits for the workers to leave the device's sockets (they pass between batches, in microseconds).</summary>
    private static readonly TimeSpan UnplugWait = TimeSpan.FromSeconds(5);

    public string Node { get; }

    /// <summary>Where the node keeps its state (<see cref="RouterProcessOptions.StateDirectory"/>).</summary>
    public string StateDirectory => _options.StateDirectory;

    public string RouterName { get; }

    public ForwardingEngine Engine { get; }

    /// <summary>The packet workers the router's <c>dataplane.workers</c> asks for on this machine (docs/dataplane.md "Workers").</summary>
    public int WorkersWanted { get; }

    /// <summary>The packet workers the node runs: <see cref="WorkersWanted"/>, but one on a node of an HA pair (docs/dataplane.md "Workers").</summary>
    public int Workers { get; }

    /// <summary>A fanout group id for <paramref name="device"/>'s sockets: the process and the device's name mixed (ids are per network namespace).</summary>
    private static ushort FanoutGroup(string device)
    {
        var hash = 2166136261u;
        foreach (var c in device)
        {
            hash = (hash ^ c) * 16777619u;
        }

        return (ushort)((uint)Environment.ProcessId ^ hash ^ (hash >> 16));
    }

    /// <summary>What the node's control plane refused to believe (unsigned configurations, messages from others than its HA partner).</summary>
    public Fabric.Actors.Security.ControlPlaneRefusals Refusals { get; } = new();

    /// <summary>The other node of the node's HA pair when the node runs as one (it started standing by), else null.</summary>
    public RouterNode? Partner { get; }

    /// <summary>
    /// Re-derives the peer keys of the epoch in force and hands them to the engine, replacing the installed ones (a
    /// node taking over from its HA partner, which had the same identity, must not reuse its send counters).
    /// </summary>
    public void RenewPeerKeys()
    {
        if (_keySchedule is null || _stopping)
        {
            return;
        }

        lock (_applyGate)
        {
            _keySchedule.Renew(_securityPolicy);
        }
    }

    /// <summary>The node's HA heartbeat link, whose counters the admin socket shows; null for a node alone.</summary>
    public Fabric.Actors.HighAvailability.PairLink? PairLink
    {
        get => _pairLink;
        set => _pairLink = value;
    }

    /// <summary>The router's key pair as this node holds it, or null when it runs without a private key.</summary>
    public RouterIdentity? RouterIdentity => _identity;

    /// <summary>The node's public key (its identity), or null when it runs without a private key.</summary>
    public string? Identity => _identity?.PublicKeyBase64;

    /// <summary>The devices the node has open: those it started with, then the attached containers'.</summary>
    public IReadOnlyList<string> Devices() => [.. _ports.Select(p => p.Name).Distinct(), .. _slots.FirstOrDefault([]).Select(s => s.Name).Where(n => n.Length > 0)];

    /// <summary>
    /// Starts the node; throws <see cref="RouterStartException"/> with every reason it cannot. The node's
    /// private key comes from <see cref="RouterProcessOptions.EffectiveIdentityKeyFile"/>; it must belong to the
    /// identity configuration pins for the node, and a node with a pinned identity needs it.
    /// </summary>
    /// <param name="standby">Start as the standby node of an HA pair (the router has two nodes): forward nothing until told to take over.</param>
    public static RouterProcess Start(FabricConfig config, string node, RouterProcessOptions options, bool standby = false)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(options);
        var router = config.Routers.FirstOrDefault(r => r.Nodes.Any(n => n.Name == node))
            ?? throw new RouterStartException($"no router has a node named \"{node}\" (nodes: {string.Join(", ", config.Routers.SelectMany(r => r.Nodes).Select(n => n.Name))})");
        var keyFile = options.EffectiveIdentityKeyFile;
        RouterIdentity? identity = null;
        if (options.IdentityKeyFile is not null || File.Exists(keyFile))
        {
            try
            {
                identity = RouterKeyFile.Read(keyFile, router.Name);
            }
            catch (RouterKeyFileException e)
            {
                throw new RouterStartException(e.Message);
            }
        }

        if (IdentityProblem(config, node, identity, keyFile) is { } problem)
        {
            throw new RouterStartException(problem);
        }

        if (standby && router.Nodes.Count != 2)
        {
            throw new RouterStartException($"node {node} cannot stand by: router {router.Name} is not an HA pair (it has {router.Nodes.Count} node(s))");
        }

        return new RouterProcess(config, node, router, options, identity, standby);
    }

    /// <summary>
    /// Compiles <paramref name="config"/> and swaps it in, derives peer keys for the identities it pins, then
    /// keeps it on disk as the last applied; throws <see cref="Dataplane.Forwarding.SnapshotCompileException"/>
    /// and keeps both when it cannot (also when it pins another identity for this node than its private key's),
    /// and <see cref="Fabric.Actors.Configuration.ConfigNotKeptException"/> when the version forwards but could not be written to disk.
    /// </summary>
    public void Apply(FabricConfig config, long version)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (IdentityProblem(config, Node, _identity, _options.EffectiveIdentityKeyFile) is { } problem)
        {
            throw new Dataplane.Forwarding.SnapshotCompileException(problem);
        }

        var running = RunningText(config);
        lock (_applyGate)
        {
            var effective = Effective(config);
            Engine.Apply(effective, version);
            _committed = config;
            _securityPolicy = SecurityPolicyOf(config);
            _configuration = Fingerprint(RunningText(effective));
        }

        RefreshKeys();
        try
        {
            SaveRunning(running);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new Fabric.Actors.Configuration.ConfigNotKeptException(
                $"version {version} forwards, but was not kept in {Path.Combine(_options.StateDirectory, RunningFileName)} ({e.Message}): " +
                "started again without the conductor, the node would run the version kept before it", e);
        }
    }

    /// <summary>Why <paramref name="identity"/> cannot serve as <paramref name="node"/>'s in <paramref name="config"/>, in one sentence, or null when it can.</summary>
    public static string? IdentityProblem(FabricConfig config, string node, RouterIdentity? identity, string keyFile)
    {
        ArgumentNullException.ThrowIfNull(config);
        var pinned = config.Routers.SelectMany(r => r.Nodes).FirstOrDefault(n => n.Name == node)?.Identity;
        return (pinned, identity) switch
        {
            (null, null) => null,
            (null, { } own) =>
                $"the configuration pins no identity for node {node}, but the private key file {keyFile} is given: pin its public key as the node's identity = \"{own.PublicKeyBase64}\", or remove the file",
            ({ } expected, null) =>
                $"the configuration pins identity \"{expected}\" for node {node}, but the node has no private key file: give --identity-key FILE or put it at {keyFile}",
            ({ } expected, { } own) when !string.Equals(expected.Trim(), own.PublicKeyBase64, StringComparison.Ordinal) =>
                $"the private key in {keyFile} belongs to identity \"{own.PublicKeyBase64}\", not to the identity \"{expected}\" the configuration pins for node {node}",
            _ => null,
        };
    }

    private static SecurityPolicy SecurityPolicyOf(FabricConfig config) =>
        config.FindSecurityPolicy(SecurityPolicy.DefaultName) ?? SecurityPolicy.Default;

    /// <summary>Installs the current epoch's peer keys where missing, and sets the timer for the next epoch boundary.</summary>
    private void RefreshKeys()
    {
        if (_keySchedule is null || _rekeyTimer is null || _stopping)
        {
            return;
        }

        lock (_applyGate)
        {
            var untilNext = _keySchedule.Refresh(_securityPolicy);
            // A little past the boundary, so the clock has surely reached the next epoch; at most a minute,
            // so a clock that steps is noticed.
            var due = TimeSpan.FromTicks(Math.Clamp(untilNext.Ticks, 0, TimeSpan.FromMinutes(1).Ticks)) + TimeSpan.FromMilliseconds(5);
            try
            {
                _rekeyTimer.Change(due, Timeout.InfiniteTimeSpan);
            }
            catch (ObjectDisposedException)
            {
                // Stopping: no more epochs.
            }
        }
    }

    /// <summary>The devices a router owns: its interfaces, its bridged networks' devices and one per host-based container.</summary>
    public static IReadOnlyList<string> Devices(Model.Router router)
    {
        ArgumentNullException.ThrowIfNull(router);
        return
        [
            .. router.Interfaces.Select(i => i.Device),
            .. router.Networks.Where(n => n.Model == NetworkModel.Bridged).Select(n => n.Device),
            .. router.Networks.Where(n => n.Model == NetworkModel.HostBased).SelectMany(n => n.Containers).Select(c => c.Name),
        ];
    }

    /// <summary>The last configuration this node applied, if it kept one and it still loads.</summary>
    public static FabricConfig? LoadRunning(RouterProcessOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var path = Path.Combine(options.StateDirectory, RunningFileName);
        return File.Exists(path) ? FabricConfigLoader.LoadFile(path).Config : null;
    }

    /// <summary>One recent drop as a line: reason (and the rule, where the reason does not say), protocol, tuple and the device it arrived on.</summary>
    private string Describe(Dataplane.Telemetry.DropRecord record)
    {
        var ports = Engine.Ports;
        var device = (uint)record.Port < (uint)ports.Length ? ports[record.Port].Name : record.Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var snapshot = Engine.Snapshot;
        var tenant = (uint)record.Tenant < (uint)snapshot.TenantsUtf8.Length ? Encoding.UTF8.GetString(snapshot.TenantsUtf8[record.Tenant]) : "-";
        var service = (uint)record.Service < (uint)snapshot.ServicesUtf8.Length ? Encoding.UTF8.GetString(snapshot.ServicesUtf8[record.Service]) : "-";
        var rule = record.Rule == Dataplane.Pipeline.DropRule.None ? "" : $" ({record.Rule})";
        return $"{record.Reason}{rule} tenant {tenant} service {service} proto {record.Protocol} " +
            $"{Address(record.Source)}:{record.SourcePort} > {Address(record.Destination)}:{record.DestinationPort} on {device}";

        static System.Net.IPAddress Address(UInt128 address) => address <= uint.MaxValue
            ? Dataplane.Wire.IpAddressConversions.ToIPAddress((uint)address)
            : Dataplane.Wire.IpAddressConversions.ToIPAddress(address);
    }

    /// <summary>Keeps <paramref name="running"/> as the last applied configuration, readable by the node's owner alone (it names every router's addresses and keys' identities).</summary>
    private void SaveRunning(string running) =>
        Fabric.Actors.Security.PrivateFile.WriteText(Path.Combine(_options.StateDirectory, RunningFileName), running);

    /// <summary>A configuration's canonical text: what <see cref="RunningFileName"/> holds and <see cref="Fingerprint"/> hashes.</summary>
    private static string RunningText(FabricConfig config) => HoconWriter.ToHocon(CanonicalTree.Of(config));

    /// <summary>
    /// A configuration's fingerprint: SHA-256 of its canonical text, in hex. Two processes that compile configurations of
    /// the same fingerprint build the same snapshot indexes, which session records refer to.
    /// </summary>
    public static string Fingerprint(string canonicalText) =>
        Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(canonicalText)));

    /// <summary>Whose sessions this node's state file holds: this node, with the configuration it forwards with now.</summary>
    private SessionStateOwner Owner => new(RouterName, Node, Identity, _configuration);

    /// <summary>What the node took from the session state file its previous process left (docs/sessions.md "Restarts"): none when there was none or it was refused.</summary>
    public Dataplane.Sessions.SessionImportResult Restored { get; }

    /// <summary>Whether this node hands its sessions over across a restart: when it runs alone (a node of an HA pair has its partner for that).</summary>
    private bool HandsOver => Partner is null;

    /// <summary>Installs the sessions the previous process left, before the workers start; a file it cannot take is refused with a warning saying why.</summary>
    private Dataplane.Sessions.SessionImportResult TakeSessions(RouterProcessOptions options)
    {
        var path = SessionStateFile.PathIn(options.StateDirectory);
        if (!HandsOver)
        {
            return default;
        }

        var handOver = SessionStateFile.Take(options.StateDirectory, Owner, Workers, TimeProvider.System.GetUtcNow(), out var refusal);
        if (refusal is not null)
        {
            options.Warn?.Invoke($"the session state file {path} is refused: {refusal}; the node starts with no sessions");
        }

        return handOver is null ? default : Engine.TakeHandOver(handOver);
    }

    /// <summary>
    /// Stops forwarding and leaves every live session in the state directory for the process that starts after this one
    /// (docs/sessions.md "Restarts"); returns how many, or null when the node does not hand over (a node of an HA pair).
    /// Frames that arrive from here on wait in the sockets and are dropped by the kernel when they close: none is answered.
    /// Throws <see cref="IOException"/> when the file cannot be written (the node stops all the same). Call once, then <see cref="Dispose"/>.
    /// </summary>
    public int? HandOverSessions()
    {
        if (!HandsOver)
        {
            return null;
        }

        _stopping = true;
        var handOver = Engine.StopForHandOver();
        SessionStateFile.Write(_options.StateDirectory, Owner, handOver, TimeProvider.System.GetUtcNow());
        return handOver.Shards.Sum(shard => shard.Length);
    }

    /// <summary>
    /// The longest path a Unix socket can be bound to on Linux, in bytes: <c>sun_path</c> holds 108 with its terminating NUL.
    /// </summary>
    private const int MaxSocketPathBytes = 107;

    /// <summary>
    /// Listens on <paramref name="path"/>, which appears only once the socket listens and is the owner's alone: the socket
    /// is bound, made private and listening under the path with <c>~</c> appended, then renamed into place. A client that
    /// finds the path can connect (bound in place, a client between bind and listen was refused: seen in CI as
    /// "Connection refused" right after the file appeared). A path one byte too long for that is bound in place.
    /// </summary>
    private static Socket ListenAdmin(string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.Delete(path);
        var binding = Encoding.UTF8.GetByteCount(path) < MaxSocketPathBytes ? path + "~" : path;
        File.Delete(binding);
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            socket.Bind(new UnixDomainSocketEndPoint(binding));
            // The counters name flows (addresses and ports of recent drops): only the node's owner may connect.
            Fabric.Actors.Security.PrivateFile.Restrict(binding);
            socket.Listen(16);
            if (binding != path)
            {
                File.Move(binding, path, overwrite: true);
            }

            return socket;
        }
        catch
        {
            socket.Dispose();
            File.Delete(binding);
            throw;
        }
    }

    /// <summary>
    /// Answers each connection with the counters, one client at a time. A client that hangs up before its reply,
    /// or does not read it within <see cref="AdminReplyTimeout"/>, costs only its own reply: the loop goes on.
    /// </summary>
    private void ServeAdmin()
    {
        while (!_stopping)
        {
            Socket client;
            try
            {
                client = _admin.Accept();
            }
            catch (ObjectDisposedException)
            {
                return;
            }
            catch (SocketException) when (!_stopping)
            {
                // A connection that failed while queued; a lasting error (out of descriptors) is retried gently.
                Thread.Sleep(10);
                continue;
            }
            catch (SocketException)
            {
                return;
            }

            using (client)
            {
                try
                {
                    client.SendTimeout = (int)AdminReplyTimeout.TotalMilliseconds;
                    var reply = RequestOf(client) is { } request ? Answer(request) : CountersJson();
                    client.Send(Encoding.UTF8.GetBytes(reply + "\n"));
                }
                catch (SocketException)
                {
                    // The client left (EPIPE, ECONNRESET) or does not read: nobody to answer.
                }
            }
        }
    }

    /// <summary>
    /// The request line a client sent (docs/deploy.md "Containers without a commit"), or null when it sends none within <see cref="AdminRequestWait"/>
    /// or shuts its sending side: such a client gets the counters.
    /// </summary>
    private static string? RequestOf(Socket client)
    {
        if (!client.Poll(AdminRequestWait, SelectMode.SelectRead))
        {
            return null;
        }

        client.ReceiveTimeout = (int)AdminReplyTimeout.TotalMilliseconds;
        var line = new List<byte>();
        var buffer = new byte[4096];
        while (line.Count < MaxAdminRequest)
        {
            var read = client.Receive(buffer);
            if (read == 0)
            {
                break;
            }

            var end = Array.IndexOf(buffer, (byte)'\n', 0, read);
            line.AddRange(buffer.AsSpan(0, end < 0 ? read : end).ToArray());
            if (end >= 0)
            {
                break;
            }
        }

        return line.Count == 0 ? null : Encoding.UTF8.GetString([.. line]);
    }

    /// <summary>The reply to one request line of the admin socket.</summary>
    private string Answer(string request)
    {
        AdminReply reply;
        try
        {
            var parsed = JsonSerializer.Deserialize(request, AdminJson.Default.AdminRequest);
            reply = parsed is null ? AdminReply.Refused(CniErrorCode.DecodeFailure, "the request is null")
                : Attachments is null ? AdminReply.Refused(CniErrorCode.RouterRefused, $"router {RouterName} has no host-based network: containers attach to host-based networks")
                : Attachments.Handle(parsed);
        }
        catch (JsonException e)
        {
            reply = AdminReply.Refused(CniErrorCode.DecodeFailure, $"the request is not JSON: {e.Message}");
        }

        return JsonSerializer.Serialize(reply, AdminJson.Default.AdminReply);
    }

    /// <summary>
    /// How long the admin socket waits for a request line before it answers with the counters: long enough that a plugin
    /// descheduled between its connect and its send on a loaded machine is not taken for a counters reader (which shuts its
    /// sending side and is answered at once).
    /// </summary>
    private static readonly TimeSpan AdminRequestWait = TimeSpan.FromSeconds(1);

    /// <summary>The longest request line the admin socket reads.</summary>
    private const int MaxAdminRequest = 64 * 1024;

    /// <summary>How long the admin socket waits for a client to take its reply before it serves the next one.</summary>
    private static readonly TimeSpan AdminReplyTimeout = TimeSpan.FromSeconds(1);

    /// <summary>Reads a running node's counters from its admin socket.</summary>
    public static string ReadCounters(string adminSocket)
    {
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        socket.Connect(new UnixDomainSocketEndPoint(adminSocket));
        using var stream = new NetworkStream(socket);
        // No request: the router answers with the counters at once.
        socket.Shutdown(SocketShutdown.Send);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return reader.ReadToEnd().Trim();
    }

    public void Dispose()
    {
        _stopping = true;
        _rekeyTimer?.Dispose();
        Engine.Dispose();
        _admin.Dispose();
        _adminThread.Join(TimeSpan.FromSeconds(5));
        DisposePorts();
        foreach (var slot in _slots.SelectMany(worker => worker))
        {
            (slot.Unplug() as IDisposable)?.Dispose();
        }

        File.Delete(_options.AdminSocket);
    }

    private void DisposePorts()
    {
        foreach (var port in _ports)
        {
            port.Dispose();
        }
    }
}

/// <summary>The node cannot start: the message says every reason, one per line.</summary>
public sealed class RouterStartException(string message) : Exception(message);
