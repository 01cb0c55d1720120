using System.Collections.Concurrent;
using Fabric.Dataplane.Forwarding;
using Fabric.Dataplane.HighAvailability;
using Fabric.Dataplane.Io;
using Fabric.Dataplane.Pipeline;
using Fabric.Dataplane.Sessions;
using Fabric.Model;

namespace Fabric.Dataplane.Routing;

/// <summary>
/// One router node's dataplane: its ports, the forwarding snapshot in force, and the workers that run packets (one, or
/// several each with its own sockets, session table shard and thread: docs/dataplane.md "Workers"). <see cref="Apply"/>
/// compiles a configuration and swaps the snapshot in atomically (a failed compile leaves the running one);
/// <see cref="RunOnce"/> drives one round of every worker for tests and benchmarks; <see cref="Start"/> runs each worker
/// on its own thread. Apply is thread-safe; RunOnce is called from one thread at a time.
/// </summary>
public sealed class ForwardingEngine : IDisposable
{
    /// <summary>Frames one hand-off ring holds (tunable: a few receive batches of the busiest worker).</summary>
    public const int HandOffCapacity = 1024;

    /// <summary>
    /// Super-packets one hand-off ring holds (tunable: a receive batch of them, ~2 900 packets; 64 KiB each, so 4 MiB per
    /// ring, allocated only where the handing worker's ports receive super-packets).
    /// </summary>
    public const int HandOffSuperPackets = 64;

    private readonly ServiceRuntimes _runtimes;
    private readonly TimeProvider _time;
    private readonly PacketWorker[] _workers;
    private readonly IIdleWait[] _idleWaits;
    private readonly long _busyPollTicks;
    private readonly IWorkerScheduling? _scheduling;
    private readonly ConcurrentQueue<WorkerRequest>[] _requests;
    private readonly List<WorkerRequest>[] _scans;
    private readonly Lock _applyGate = new();

    // Orders each request's queueing against the stop: a request is either queued before the stop (run, or failed once the workers stopped) or refused.
    private readonly Lock _answerGate = new();
    private long _lastExport;
    private long _nextPrune;

    // By worker: the snapshot it runs this round (Publish), which a prune must not take runtimes from.
    private readonly ForwardingSnapshot?[] _running;

    // Reads the snapshot in force, for a prune to call under the runtimes' lock.
    private readonly Func<ForwardingSnapshot> _inForce;
    private ForwardingSnapshot? _snapshot;
    private CancellationTokenSource? _stop;
    private Thread[] _threads = [];

    // Set under _answerGate when Dispose begins: a request queued from then on fails at once (Enqueue); a second Dispose does nothing.
    private bool _stopped;

    /// <summary>A router node with one worker over <paramref name="ports"/> (it sleeps in <see cref="RouterOptions.IdleWait"/>).</summary>
    public ForwardingEngine(string name, IReadOnlyList<IPacketPort> ports, RouterOptions? options = null, TimeProvider? time = null)
        : this(name, [new WorkerPorts([.. ports ?? throw new ArgumentNullException(nameof(ports))], options?.IdleWait)], options, time)
    {
    }

    /// <summary>
    /// A router node with one worker per entry of <paramref name="workers"/>: each its own ports (the same devices in the
    /// same order, each worker's socket of a device in one fanout group) and its own idle wait. The session table's capacity
    /// and the tenant share are split evenly between the workers' shards. <see cref="RouterOptions.IdleWait"/> is not used.
    /// </summary>
    public static ForwardingEngine WithWorkers(string name, IReadOnlyList<WorkerPorts> workers, RouterOptions? options = null, TimeProvider? time = null) =>
        new(name, workers, options, time);

    private ForwardingEngine(string name, IReadOnlyList<WorkerPorts> workers, RouterOptions? options, TimeProvider? time)
    {
        ArgumentNullException.ThrowIfNull(workers);
        ArgumentOutOfRangeException.ThrowIfLessThan(workers.Count, 1, nameof(workers));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(workers.Count, Model.DataplaneSettings.MaximumWorkers, nameof(workers));
        options ??= new RouterOptions();
        Name = name;
        _time = time ?? TimeProvider.System;
        var count = workers.Count;
        _runtimes = new ServiceRuntimes(options.KeySender ?? (uint)System.Security.Cryptography.RandomNumberGenerator.GetInt32(1 << Svr.Security.PacketSealer.SenderBits), count);
        Ports = [.. workers[0].Ports];
        _busyPollTicks = (long)(options.BusyPoll.TotalSeconds * _time.TimestampFrequency);
        _scheduling = options.Scheduling;
        Seed = options.Seed ?? RandomSeed();
        _workers = new PacketWorker[count];
        _idleWaits = new IIdleWait[count];
        _running = new ForwardingSnapshot?[count];
        _inForce = () => Volatile.Read(ref _snapshot)!;
        _requests = new ConcurrentQueue<WorkerRequest>[count];
        _scans = new List<WorkerRequest>[count];
        var owners = count > 1 ? new Pipeline.Workers.OwnerDirectory(options.SessionCapacity, Seed) : null;
        var neighbors = count > 1 ? new Neighbors.NeighborTable(Neighbors.NeighborTable.DefaultCapacity, _time.TimestampFrequency, Seed, shared: true) : null;
        var shardCapacity = (options.SessionCapacity + count - 1) / count;
        var shardTenantShare = options.SessionsPerTenant == 0 ? 0 : Math.Max(1, (options.SessionsPerTenant + count - 1) / count);
        for (var i = 0; i < count; i++)
        {
            if (workers[i].Ports.Length != Ports.Length)
            {
                throw new ArgumentException($"worker {i} has {workers[i].Ports.Length} ports, worker 0 {Ports.Length}: every worker has a port on every device", nameof(workers));
            }

            // Worker 0 keeps the engine's seed (a one-worker router is what it always was); the others draw apart from it.
            var seed = Seed ^ (0x9E37_79B9_7F4A_7C15UL * (ulong)i);
            _workers[i] = new PacketWorker(
                workers[i].Ports, () => Snapshot, shardCapacity, _time.TimestampFrequency, seed, options.BatchSize, shardTenantShare,
                count > 1 ? new Pipeline.Workers.WorkerShard(i, count, owners, neighbors) : null)
            {
                IsActive = options.StartActive,
            };
            _idleWaits[i] = workers[i].IdleWait ?? new PollingWait();
            _requests[i] = new ConcurrentQueue<WorkerRequest>();
            _scans[i] = [];
        }

        if (count > 1)
        {
            // rings[from, to]: one single-producer/single-consumer ring per ordered pair of workers.
            var rings = new Pipeline.Workers.HandOffRing?[count, count];
            for (var from = 0; from < count; from++)
            {
                for (var to = 0; to < count; to++)
                {
                    rings[from, to] = from == to ? null : new Pipeline.Workers.HandOffRing(
                        HandOffCapacity, superPacketSlots: workers[from].Ports.Any(p => p.AcceptsSuperPackets) ? HandOffSuperPackets : 0);
                }
            }

            for (var i = 0; i < count; i++)
            {
                var outgoing = new Pipeline.Workers.HandOffRing?[count];
                var incoming = new List<Pipeline.Workers.HandOffRing>();
                for (var other = 0; other < count; other++)
                {
                    outgoing[other] = rings[i, other];
                    if (rings[other, i] is { } ring)
                    {
                        incoming.Add(ring);
                    }
                }

                _workers[i].ConnectHandOff(outgoing, [.. incoming], WakeWorker);
            }
        }
    }

    public string Name { get; }

    /// <summary>The seed of the session table's hash and of the load balancer (<see cref="RouterOptions.Seed"/>, or drawn at random).</summary>
    public ulong Seed { get; }

    /// <summary>The router's ports, as its first worker holds them (every worker has one per device, in this order).</summary>
    public IPacketPort[] Ports { get; }

    /// <summary>The first worker: the only one of a one-worker router; with several, the one that also runs the engine's timers and requests.</summary>
    public PacketWorker Worker => _workers[0];

    /// <summary>Every worker; reads that describe the router add theirs up (<see cref="Counters"/>, <see cref="SessionCount"/>, <see cref="DropTotal"/>).</summary>
    public IReadOnlyList<PacketWorker> Workers => _workers;

    /// <summary>The workers' counters added up (allocates; for the control plane).</summary>
    public WorkerCounters Counters() => WorkerCounters.Sum(_workers.Select(w => w.Counters));

    /// <summary>Live sessions over every worker's shard.</summary>
    public int SessionCount => _workers.Sum(w => w.Sessions.Count);

    /// <summary>Packets every worker dropped for <paramref name="reason"/>.</summary>
    public long DropTotal(DropReason reason) => _workers.Sum(w => w.Drops.Total(reason));

    /// <summary>Packets (or, for <see cref="DropReason.Revoked"/>, sessions) every worker dropped for <paramref name="reason"/> under a tenant and service index.</summary>
    public long DropCount(DropReason reason, int tenant, int service) => _workers.Sum(w => w.Drops.Get(reason, tenant, service));

    /// <summary>Drops per tenant and per service index over every worker (allocates).</summary>
    public (Dictionary<int, long> ByTenant, Dictionary<int, long> ByService) DropTotals()
    {
        var (byTenant, byService) = _workers[0].Drops.Totals();
        for (var i = 1; i < _workers.Length; i++)
        {
            var (tenants, services) = _workers[i].Drops.Totals();
            foreach (var (tenant, count) in tenants)
            {
                byTenant[tenant] = byTenant.GetValueOrDefault(tenant) + count;
            }

            foreach (var (service, count) in services)
            {
                byService[service] = byService.GetValueOrDefault(service) + count;
            }
        }

        return (byTenant, byService);
    }

    /// <summary>Forwarded traffic per tenant and per service index over every worker (allocates).</summary>
    public (Telemetry.TrafficCount[] ByTenant, Telemetry.TrafficCount[] ByService) TrafficTotals(int tenants, int services)
    {
        var (byTenant, byService) = _workers[0].Traffic.Totals(tenants, services);
        for (var i = 1; i < _workers.Length; i++)
        {
            var (t, v) = _workers[i].Traffic.Totals(tenants, services);
            for (var k = 0; k < byTenant.Length; k++)
            {
                byTenant[k] = byTenant[k].Plus(t[k]);
            }

            for (var k = 0; k < byService.Length; k++)
            {
                byService[k] = byService[k].Plus(v[k]);
            }
        }

        return (byTenant, byService);
    }

    /// <summary>The snapshot in force; reading it before the first <see cref="Apply"/> throws.</summary>
    public ForwardingSnapshot Snapshot => Volatile.Read(ref _snapshot) ?? throw new InvalidOperationException($"router {Name} has no configuration yet");

    public long AppliedVersion => Volatile.Read(ref _snapshot)?.Version ?? 0;

    /// <summary>The time the worker polices with (ticks of its clock): what a control plane passes when it sets a bucket's rate.</summary>
    public long Now => _time.GetTimestamp();

    /// <summary>
    /// Compiles <paramref name="config"/> for this router and swaps it in. Throws <see cref="SnapshotCompileException"/> and keeps the
    /// running snapshot when it cannot. Applies come one at a time: each snapshot is compiled and swapped in before the next compiles
    /// (what lets <see cref="ServiceRuntimes.Prune"/> remove a retired runtime safely).
    /// </summary>
    public ForwardingSnapshot Apply(FabricConfig config, long version)
    {
        lock (_applyGate)
        {
            var compiled = SnapshotCompiler.Compile(
                config, Name, [.. Ports.Select(p => p.Name)], version, _time.TimestampFrequency, _runtimes, _time.GetTimestamp(), Volatile.Read(ref _snapshot));
            Volatile.Write(ref _snapshot, compiled);
            WakeAll();
            return compiled;
        }
    }

    /// <summary>
    /// Hands an epoch of keys derived with <paramref name="peer"/> to the worker, which installs it before its
    /// next batch (the previous epoch stays open for receiving during the overlap). Thread-safe; the engine
    /// owns and disposes <paramref name="keys"/>.
    /// </summary>
    public void InstallPeerKeys(string peer, Svr.Security.EpochKeys keys)
    {
        _runtimes.PeerKeys.Enqueue(peer, keys);
        WakeWorker(0);
    }

    /// <summary>
    /// Derives epoch <paramref name="epoch"/> of the keys with <paramref name="peer"/> (X25519 + HKDF, see
    /// docs/svr-security.md) and hands them to the worker. The key the peer presented must equal the one
    /// configuration pins for it (its node's <c>identity</c>); a peer with no pinned key gets none
    /// (<see cref="Svr.Security.KeyAgreementResult.PeerKeyMismatch"/>). Thread-safe.
    /// </summary>
    public Svr.Security.KeyAgreementResult AgreePeerKeys(
        Svr.Security.RouterIdentity local, string peer, ReadOnlySpan<byte> presentedKey, uint epoch, ReadOnlySpan<byte> localNonce, ReadOnlySpan<byte> peerNonce)
    {
        ArgumentNullException.ThrowIfNull(local);
        var pinned = Array.Find(Snapshot.PeerPaths, p => p.PeerRouter == peer)?.PinnedKey;
        if (pinned is null)
        {
            return Svr.Security.KeyAgreementResult.PeerKeyMismatch;
        }

        var result = Svr.Security.PeerKeyAgreement.TryDerive(local, new Svr.Security.PinnedPeer(peer, pinned), presentedKey, epoch, localNonce, peerNonce, out var keys);
        if (result == Svr.Security.KeyAgreementResult.Ok)
        {
            InstallPeerKeys(peer, keys!);
        }

        return result;
    }

    /// <summary>Whether this node forwards (alone, or the active node of an HA pair) rather than standing by.</summary>
    public bool IsActive => Worker.IsActive;

    /// <summary>
    /// Collects the established sessions (see <see cref="SessionReplication.IsEstablished"/>) seen since the last
    /// export, or all of them when <paramref name="everything"/> (a partner that just appeared), for the HA
    /// partner. Done by the worker between batches; completes on its next round. Thread-safe.
    /// </summary>
    public Task<SessionExport> ExportSessionsAsync(bool everything = false) =>
        Request<SessionExport>((worker, snapshot, now) =>
        {
            if (snapshot is null)
            {
                return new SessionExport(0, []);
            }

            var since = everything ? 0 : _lastExport;
            _lastExport = now;
            return new SessionExport(snapshot.Version, SessionReplication.Export(worker, snapshot, now, since));
        });

    /// <summary>
    /// Gives up the SVR ingress sessions of a client that moved to another router (<paramref name="clients"/>: its
    /// addresses), as records for that router's <see cref="TakeClientSessionsAsync"/>, their tenant and service by name:
    /// those the workers took out of their tables when they bound the configuration that moved the client, and any still
    /// live, removed without a reset (docs/mobility.md "A client moves"). Each worker gives up its own shard's between
    /// batches, after binding the running configuration; the answer holds every shard's. Thread-safe.
    /// </summary>
    public async Task<ClientSessionRecords> GiveUpClientSessionsAsync(ClientAddress[] clients)
    {
        ArgumentNullException.ThrowIfNull(clients);
        var version = AppliedVersion;
        var shards = new Task<List<(SessionRecord Record, string Tenant, string Service)>>[_workers.Length];
        for (var i = 0; i < _workers.Length; i++)
        {
            shards[i] = Request(i, (worker, snapshot, now) => snapshot is null
                ? []
                : SvrStage.GiveUpClient(worker, snapshot, now, clients));
        }

        var given = await Task.WhenAll(shards).ConfigureAwait(false);
        return ClientSessionRecords.Of(version, given.SelectMany(shard => shard));
    }

    /// <summary>
    /// Takes over the sessions another router gave up for a client now on one of this router's links
    /// (<see cref="GiveUpClientSessionsAsync"/>), under whatever configuration that router ran: each worker finds the
    /// records' tenant and service by name in the configuration it runs and refuses what that configuration does not
    /// allow (<see cref="SvrStage.TakeClient"/>). Each record goes to the worker <see cref="Pipeline.Workers.WorkerOwnership.OwnerOfArrival"/>
    /// names, which installs it between batches (its waypoint pair from that worker's lane, its client's tuple published in
    /// the owner directory, so packets of either direction reach it whichever worker receives them). Thread-safe.
    /// </summary>
    public async Task<SessionImportResult> TakeClientSessionsAsync(ClientSessionRecords given)
    {
        ArgumentNullException.ThrowIfNull(given);
        var records = given.Sessions;
        var parts = new Task<SessionImportResult>[_workers.Length];
        for (var i = 0; i < _workers.Length; i++)
        {
            var part = _workers.Length == 1 ? records : OwnedBy(records, i);
            parts[i] = part.Length == 0
                ? Task.FromResult(new SessionImportResult(0, 0, 0))
                : Request(i, (worker, snapshot, now) => snapshot is null
                    ? new SessionImportResult(0, 0, part.Length)
                    : SvrStage.TakeClient(worker, snapshot, now, given, part));
        }

        var taken = await Task.WhenAll(parts).ConfigureAwait(false);
        return new SessionImportResult(taken.Sum(t => t.Added), taken.Sum(t => t.Updated), taken.Sum(t => t.Refused));
    }

    /// <summary>
    /// Ends the arrival grace (<see cref="SvrStage.ClientArrivalGrace"/>) of <paramref name="clients"/> on every worker:
    /// their hand-over is over, so their packets without a session open sessions at once (a new datagram flow waits no
    /// more). Each worker runs it between batches after the work queued for it before (a
    /// <see cref="TakeClientSessionsAsync"/> of their records called earlier is installed first), having bound the running
    /// snapshot (so binding it later does not start the grace again). Thread-safe.
    /// </summary>
    public Task EndClientArrivalsAsync(ClientAddress[] clients)
    {
        ArgumentNullException.ThrowIfNull(clients);
        var ended = new Task<bool>[_workers.Length];
        for (var i = 0; i < _workers.Length; i++)
        {
            ended[i] = Request(i, (worker, _, _) =>
            {
                worker.Resources.ClientsHandedOver(clients);
                return true;
            });
        }

        return Task.WhenAll(ended);
    }

    /// <summary>The records worker <paramref name="worker"/> takes (<see cref="Pipeline.Workers.WorkerOwnership.OwnerOfArrival"/>).</summary>
    private SessionRecord[] OwnedBy(SessionRecord[] records, int worker) =>
        [.. records.Where(record => Pipeline.Workers.WorkerOwnership.OwnerOfArrival(record.Forward, Seed, _workers.Length) == worker)];

    /// <summary>
    /// The sessions <paramref name="query"/> asks for, read by the worker between batches, at most
    /// <see cref="Sessions.SessionScan.SlotsPerRound"/> slots a round (a large table takes several rounds; packets never
    /// wait for a whole scan). Thread-safe.
    /// </summary>
    /// <remarks>
    /// With several workers each shard is scanned by its own worker: a cursor names the shard and the slot in it (a page
    /// holds sessions of one shard and may be short; <see cref="Sessions.SessionPage.Next"/> leads to the next shard), and
    /// a top-by-bytes query merges every shard's top. <see cref="Sessions.SessionPage.Live"/> counts every shard.
    /// </remarks>
    public Task<Sessions.SessionPage> QuerySessionsAsync(Sessions.SessionQuery query)
    {
        ArgumentNullException.ThrowIfNull(query);
        if (_workers.Length == 1)
        {
            return Scan(0, query);
        }

        return query.TopByBytes ? TopOfAllShards(query) : ShardPage(query);
    }

    private Task<Sessions.SessionPage> Scan(int worker, Sessions.SessionQuery query)
    {
        var request = new SessionScanRequest(new Sessions.SessionScan(query));
        Enqueue(worker, request);
        return request.Completion.Task;
    }

    /// <summary>
    /// The handle that names, router-wide, the session in slot <paramref name="handle"/> of worker <paramref name="worker"/>'s
    /// shard: shards lie one after the other, a shard's capacity apart, as session query cursors count (the handle itself on a
    /// router with one worker). Thread-safe.
    /// </summary>
    public int RouterHandle(int worker, int handle) => (worker * _workers[0].Sessions.Capacity) + handle;

    /// <summary>The shard a cursor names and the slot in it: shards lie one after the other, a shard's capacity apart.</summary>
    private async Task<Sessions.SessionPage> ShardPage(Sessions.SessionQuery query)
    {
        var stride = (long)_workers[0].Sessions.Capacity;
        var cursor = Math.Max(0, query.Cursor);
        var shard = (int)Math.Min(cursor / stride, _workers.Length - 1);
        var page = await Scan(shard, query with { Cursor = cursor - (shard * stride) }).ConfigureAwait(false);
        var next = page.Next >= 0 ? (shard * stride) + page.Next : shard + 1 < _workers.Length ? (shard + 1) * stride : -1;
        return page with { Sessions = RouterWide(page.Sessions, shard), Next = next, Live = SessionCount };
    }

    private async Task<Sessions.SessionPage> TopOfAllShards(Sessions.SessionQuery query)
    {
        var pages = await Task.WhenAll(Enumerable.Range(0, _workers.Length).Select(w => Scan(w, query with { Cursor = 0 }))).ConfigureAwait(false);
        var top = pages.SelectMany((p, shard) => RouterWide(p.Sessions, shard)).OrderByDescending(s => Sessions.SessionScan.Bytes(s.State))
            .Take(Math.Clamp(query.Limit, 1, Sessions.SessionQuery.MaxLimit)).ToArray();
        return pages[0] with { Sessions = top, Next = -1, Live = pages.Sum(p => p.Live) };
    }

    /// <summary>A shard's sessions with their handles router-wide (<see cref="RouterHandle"/>).</summary>
    private Sessions.SessionSnapshot[] RouterWide(IReadOnlyList<Sessions.SessionSnapshot> sessions, int shard) =>
        [.. sessions.Select(s => s with { Handle = RouterHandle(shard, s.Handle) })];

    /// <summary>
    /// Installs sessions the HA partner exported under configuration <paramref name="version"/>. Done by the worker between
    /// batches. Thread-safe. HA export, import, take-over and stand-by run on the first worker: a node of an HA pair runs
    /// one worker (docs/dataplane.md "Workers").
    /// </summary>
    public Task<SessionImportResult> ImportSessionsAsync(long version, SessionRecord[] records)
    {
        ArgumentNullException.ThrowIfNull(records);
        return Request((worker, snapshot, now) => snapshot is null
            ? new SessionImportResult(0, 0, records.Length)
            : SessionReplication.Import(worker, snapshot, now, version, records));
    }

    /// <summary>
    /// Stops the workers for good and returns every live session of every shard (<see cref="SessionHandOver"/>), for the
    /// process that starts after this one (docs/sessions.md "Restarts"). From this call on the router forwards nothing:
    /// frames that arrive wait in the sockets until they close, and the kernel drops them there. Call
    /// <see cref="Dispose"/> after. Not thread-safe: the engine's owner calls it once, as it stops.
    /// </summary>
    public SessionHandOver StopForHandOver()
    {
        StopWorkers();
        var snapshot = Volatile.Read(ref _snapshot);
        var now = _time.GetTimestamp();
        var shards = new SessionRecord[_workers.Length][];
        for (var i = 0; i < _workers.Length; i++)
        {
            // A worker stopped before its round bound the last commit holds the indexes of the snapshot it ran: bound first.
            shards[i] = snapshot is null ? [] : SessionReplication.Export(_workers[i], _workers[i].Bind(snapshot, now), now, since: 0, onlyEstablished: false);
        }

        return new SessionHandOver(snapshot?.Version ?? 0, shards);
    }

    /// <summary>
    /// Installs the sessions a stopped process handed over (<see cref="StopForHandOver"/>), shard by shard into the worker of
    /// the same index, before <see cref="Start"/>: the caller has checked that they were made under the configuration this
    /// engine runs (their indexes refer to its snapshot) and by as many workers. Not thread-safe: called before the workers run.
    /// </summary>
    public SessionImportResult TakeHandOver(SessionHandOver handOver)
    {
        ArgumentNullException.ThrowIfNull(handOver);
        if (_threads.Length > 0)
        {
            throw new InvalidOperationException("sessions are handed over before the workers start");
        }

        if (handOver.Shards.Length != _workers.Length)
        {
            throw new ArgumentException($"the hand-over has {handOver.Shards.Length} shards, the engine {_workers.Length} workers", nameof(handOver));
        }

        var snapshot = Snapshot;
        var now = _time.GetTimestamp();
        var total = new SessionImportResult(0, 0, 0);
        for (var i = 0; i < _workers.Length; i++)
        {
            // Bound first: a commit before the first round then renumbers these sessions as it does every other.
            var result = SessionReplication.Import(_workers[i], _workers[i].Bind(snapshot, now), now, snapshot.Version, handOver.Shards[i]);
            total = new SessionImportResult(total.Added + result.Added, total.Updated + result.Updated, total.Refused + result.Refused);
        }

        return total;
    }

    /// <summary>
    /// Makes a standby node active (see <see cref="SessionReplication.TakeOver"/>): it forwards from its next batch,
    /// its SVR sessions re-signal their peers and its addresses are announced. The caller installs fresh peer keys
    /// first (<see cref="InstallPeerKeys"/>: the worker installs them before this request runs). Completes with
    /// false when the node was active already. Thread-safe.
    /// </summary>
    public Task<bool> TakeOverAsync() =>
        Request((worker, snapshot, _) =>
        {
            if (worker.IsActive)
            {
                return false;
            }

            SessionReplication.TakeOver(worker, snapshot);
            return true;
        });

    /// <summary>Makes the node stand by: from its next batch it neither answers nor forwards. Completes with whether it was active. Thread-safe.</summary>
    public Task<bool> StandByAsync() =>
        Request((worker, _, _) =>
        {
            var was = worker.IsActive;
            worker.IsActive = false;
            return was;
        });

    /// <summary>Announces the router's addresses again (gratuitous ARP, unsolicited NA) when the node is active. Thread-safe.</summary>
    public Task<bool> AnnounceAsync() =>
        Request((worker, snapshot, _) =>
        {
            if (!worker.IsActive || snapshot is null)
            {
                return false;
            }

            SessionReplication.Announce(worker, snapshot);
            return true;
        });

    /// <summary>
    /// One round of every worker, one after the other: keys handed in are installed, then requests to the workers run
    /// (replication, role changes, session queries), then each worker runs what other workers handed to it and a batch from
    /// every port, to completion; then, on an active node, the peer paths' monitoring timers (probes and echo bursts that
    /// are due go out) and the instances' health checks (<see cref="InstanceProbeStage"/>), and at most once a second the removal of retired service runtimes no session holds. Returns
    /// packets handled. Never throws: what throws on a worker is counted in <see cref="PacketWorker.Faults"/> and the round goes on.
    /// </summary>
    public int RunOnce()
    {
        var handled = 0;
        for (var i = 0; i < _workers.Length; i++)
        {
            handled += RunWorker(i);
        }

        return handled;
    }

    /// <summary>One round of worker <paramref name="index"/>; the first worker also does the engine's own work (keys, monitoring, pruning).</summary>
    private int RunWorker(int index)
    {
        var worker = _workers[index];
        var now = _time.GetTimestamp();
        if (index == 0)
        {
            try
            {
                _runtimes.PeerKeys.InstallPending(now);
            }
            catch (Exception fault) when (fault is not OutOfMemoryException)
            {
                worker.Faults.Record(fault, now);
            }
        }

        var running = Publish(index);
        if (running is not null)
        {
            // Requests and scans read and write sessions with the snapshot they are handed: the sessions must hold its
            // indexes first (a commit that renumbered tenants or services would otherwise be read with the old numbers).
            worker.Bind(running, now);
        }

        var scans = _scans[index];
        for (var i = scans.Count - 1; i >= 0; i--)
        {
            if (scans[i].Run(worker, running, now))
            {
                scans.RemoveAt(i);
            }
        }

        while (_requests[index].TryDequeue(out var request))
        {
            if (!request.Run(worker, running, now))
            {
                // A session query that spans rounds goes on in the next.
                scans.Add(request);
            }
        }

        // Before the first configuration there is nothing to run: frames wait in the ports.
        var handled = running is null ? 0 : worker.RunOnce(now, running);
        if (index != 0)
        {
            return handled;
        }

        if (worker.IsActive && Volatile.Read(ref _snapshot) is { } snapshot)
        {
            try
            {
                PathMonitorStage.Tick(worker.Resources, snapshot, now);
                InstanceProbeStage.Tick(worker.Resources, snapshot, now);
            }
            catch (Exception fault) when (fault is not OutOfMemoryException)
            {
                worker.Faults.Record(fault, now);
            }
        }

        // Once a second: service runtimes retired by earlier compiles go once no session holds them and no worker runs a
        // snapshot that names them.
        if (now >= _nextPrune && Volatile.Read(ref _snapshot) is not null)
        {
            _nextPrune = now + _time.TimestampFrequency;
            try
            {
                _runtimes.Prune(_inForce, _running);
            }
            catch (Exception fault) when (fault is not OutOfMemoryException)
            {
                worker.Faults.Record(fault, now);
            }
        }

        return handled;
    }

    /// <summary>
    /// The snapshot worker <paramref name="index"/> runs this round (null before the first <see cref="Apply"/>), published in
    /// <see cref="_running"/> before the worker uses it: read, published (a full fence), read again until both reads agree.
    /// A prune reads the snapshot in force (under the lock retiring takes), then what each worker published. If it did not
    /// see this publish, the publish came after its reads, so the worker's second read finds the snapshot that prune saw in
    /// force or a newer one, and the worker runs that: no runtime the prune removed is named there (it was retired by a
    /// compile already swapped in, and a retired runtime is never named again). So no worker admits a session on, or hands
    /// one to, a runtime a prune removed, however many workers run.
    /// </summary>
    private ForwardingSnapshot? Publish(int index)
    {
        var snapshot = Volatile.Read(ref _snapshot);
        while (true)
        {
            Interlocked.Exchange(ref _running[index], snapshot);
            var current = Volatile.Read(ref _snapshot);
            if (ReferenceEquals(current, snapshot))
            {
                return snapshot;
            }

            snapshot = current;
        }
    }

    /// <summary>Ends worker <paramref name="index"/>'s idle wait (or its next). Thread-safe.</summary>
    private void WakeWorker(int index) => _idleWaits[index].Wake();

    private void WakeAll()
    {
        for (var i = 0; i < _idleWaits.Length; i++)
        {
            _idleWaits[i].Wake();
        }
    }

    /// <summary>
    /// Completes once every worker has finished the round it was in and run a request between batches: after it, no
    /// worker is inside a port that was taken out before the call (<see cref="Io.PluggablePort.Unplug"/>). Once the engine
    /// has stopped no worker is inside any port, so it completes then too (never faults). Thread-safe.
    /// </summary>
    public Task PassAllWorkersAsync()
    {
        var passed = new Task[_workers.Length];
        for (var i = 0; i < _workers.Length; i++)
        {
            var request = new WorkerPass();
            Enqueue(i, request);
            passed[i] = request.Completion.Task;
        }

        return Task.WhenAll(passed);
    }

    /// <summary>A worker's pass between batches: run, or the worker stopped; either way it is in no port any more.</summary>
    private sealed class WorkerPass : WorkerRequest
    {
        public TaskCompletionSource Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public override bool Run(PacketWorker worker, ForwardingSnapshot? snapshot, long now) => Completion.TrySetResult();

        public override void Abandon() => Completion.TrySetResult();
    }

    /// <summary>Runs <paramref name="work"/> on the first worker between batches.</summary>
    private Task<T> Request<T>(Func<PacketWorker, ForwardingSnapshot?, long, T> work) => Request(0, work);

    /// <summary>Runs <paramref name="work"/> on worker <paramref name="index"/> between batches (it owns its shard's tables).</summary>
    private Task<T> Request<T>(int index, Func<PacketWorker, ForwardingSnapshot?, long, T> work)
    {
        var request = new WorkerRequest<T>(work);
        Enqueue(index, request);
        return request.Completion.Task;
    }

    /// <summary>
    /// Queues <paramref name="request"/> for worker <paramref name="index"/> and wakes it. Once the engine's stop has begun
    /// no worker takes it: the request fails at once with <see cref="ObjectDisposedException"/>, as <see cref="Dispose"/> fails
    /// what it finds queued, so a caller racing the engine's stop is never left waiting.
    /// </summary>
    private void Enqueue(int index, WorkerRequest request)
    {
        lock (_answerGate)
        {
            if (_stopped)
            {
                request.Abandon();
                return;
            }

            _requests[index].Enqueue(request);
        }

        WakeWorker(index);
    }

    /// <summary>
    /// Work handed to the worker thread, run between batches (the worker owns the tables it touches), with the snapshot
    /// the worker has just bound (<see cref="PacketWorker.Bind"/>): the sessions hold that snapshot's indexes.
    /// </summary>
    private abstract class WorkerRequest
    {
        /// <summary>Runs the request, or one round of it; true once it is answered, false when it goes on in the next round.</summary>
        public abstract bool Run(PacketWorker worker, ForwardingSnapshot? snapshot, long now);

        /// <summary>Fails the request: the engine stopped before a worker ran it.</summary>
        public abstract void Abandon();

        protected static ObjectDisposedException Stopped() =>
            new(nameof(ForwardingEngine), "the engine stopped before a worker ran the request");
    }

    private sealed class WorkerRequest<T>(Func<PacketWorker, ForwardingSnapshot?, long, T> work) : WorkerRequest
    {
        public TaskCompletionSource<T> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public override bool Run(PacketWorker worker, ForwardingSnapshot? snapshot, long now)
        {
            try
            {
                Completion.SetResult(work(worker, snapshot, now));
            }
            catch (Exception e)
            {
                Completion.SetException(e);
            }

            return true;
        }

        public override void Abandon() => Completion.TrySetException(Stopped());
    }

    /// <summary>A session query the worker runs over several rounds when the table is large.</summary>
    private sealed class SessionScanRequest(Sessions.SessionScan scan) : WorkerRequest
    {
        public TaskCompletionSource<Sessions.SessionPage> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>One round of the scan; true once it is answered (or failed).</summary>
        public override bool Run(PacketWorker worker, ForwardingSnapshot? snapshot, long now)
        {
            try
            {
                if (scan.Step(worker, snapshot, now) is { } page)
                {
                    Completion.SetResult(page);
                    return true;
                }

                return false;
            }
            catch (Exception e)
            {
                Completion.SetException(e);
                return true;
            }
        }

        public override void Abandon() => Completion.TrySetException(Stopped());
    }

    /// <summary>
    /// Runs each worker on a dedicated thread until <see cref="Dispose"/>. A round that handles packets is followed by
    /// another at once; after an empty round the worker polls on for <see cref="RouterOptions.BusyPoll"/> (0 by
    /// default), then sleeps in its idle wait until a frame arrives, something is handed to it (a snapshot, keys, a
    /// request, a frame from another worker, the stop) or its next timer is due (<see cref="NextTimerDue"/>); a session
    /// query under way keeps it going round. An idle router's workers therefore wake only for their timers. Each thread
    /// first applies <see cref="RouterOptions.Scheduling"/>.
    /// </summary>
    public void Start()
    {
        _stop = new CancellationTokenSource();
        var token = _stop.Token;
        _threads = new Thread[_workers.Length];
        for (var i = 0; i < _workers.Length; i++)
        {
            var index = i;
            _threads[i] = new Thread(() => Run(index, token))
            {
                IsBackground = true,
                Name = _workers.Length == 1 ? $"fabric-worker-{Name}" : $"fabric-worker-{Name}-{index}",
            };
            _threads[i].Start();
        }
    }

    private void Run(int index, CancellationToken token)
    {
        _scheduling?.ApplyToCurrentThread();
        var worker = _workers[index];
        var pollUntil = 0L;
        while (!token.IsCancellationRequested)
        {
            if (RunWorker(index) > 0)
            {
                pollUntil = _busyPollTicks > 0 ? _time.GetTimestamp() + _busyPollTicks : 0;
                continue;
            }

            var now = _time.GetTimestamp();
            if (now < pollUntil || _scans[index].Count > 0 || worker.HandedOffWaiting > 0)
            {
                // A session query that spans rounds goes on at once, and so do frames handed over beyond one batch.
                continue;
            }

            _idleWaits[index].Wait(MillisecondsUntil(NextTimerDue(index), now));
        }
    }

    /// <summary>
    /// When the first worker's next timer is due (ticks of its clock): the first session expiry its shard holds, and on
    /// an active node the peer paths' next probe or echo burst and the instances' next health check or its timeout; <see cref="long.MaxValue"/> when none is. Worker thread only.
    /// </summary>
    public long NextTimerDue() => NextTimerDue(0);

    /// <summary>Worker <paramref name="index"/>'s next timer: its shard's first session expiry; the first worker's also the peer paths' monitoring and the instances' health checks.</summary>
    private long NextTimerDue(int index)
    {
        var worker = _workers[index];
        var due = worker.Sessions.NextExpiryDue();
        if (index == 0 && worker.IsActive && Volatile.Read(ref _snapshot) is { } snapshot)
        {
            due = Math.Min(due, Math.Min(PathMonitorStage.NextDue(snapshot), InstanceProbeStage.NextDue(snapshot)));
        }

        return due;
    }

    /// <summary>Milliseconds from <paramref name="now"/> to <paramref name="due"/>, rounded up; −1 for never.</summary>
    private int MillisecondsUntil(long due, long now)
    {
        if (due == long.MaxValue)
        {
            return -1;
        }

        if (due <= now)
        {
            return 0;
        }

        var milliseconds = Math.Ceiling((due - now) * 1000.0 / _time.TimestampFrequency);
        return (int)Math.Min(milliseconds, int.MaxValue);
    }

    /// <summary>Stops the worker threads and waits for them (again: no effect).</summary>
    private void StopWorkers()
    {
        _stop?.Cancel();
        WakeAll();
        foreach (var thread in _threads)
        {
            thread.Join();
        }
    }

    private static ulong RandomSeed()
    {
        Span<byte> bytes = stackalloc byte[sizeof(ulong)];
        System.Security.Cryptography.RandomNumberGenerator.Fill(bytes);
        return BitConverter.ToUInt64(bytes);
    }

    /// <summary>
    /// Stops the workers and waits for them, fails every request they did not run (<see cref="ObjectDisposedException"/>),
    /// and releases the idle waits and the peer keys. Again: no effect.
    /// </summary>
    public void Dispose()
    {
        lock (_answerGate)
        {
            if (_stopped)
            {
                return;
            }

            _stopped = true;
        }

        // What was queued before is run by a worker before it stops, or failed below once every worker has stopped.
        StopWorkers();

        for (var i = 0; i < _workers.Length; i++)
        {
            while (_requests[i].TryDequeue(out var request))
            {
                request.Abandon();
            }

            foreach (var scan in _scans[i])
            {
                scan.Abandon();
            }

            _idleWaits[i].Dispose();
        }

        _stop?.Dispose();
        _runtimes.PeerKeys.Dispose();
    }
}

/// <summary>One worker's ports (one per device of the router, in the router's order) and how it sleeps when idle (null: a <see cref="PollingWait"/>).</summary>
public sealed record WorkerPorts(IPacketPort[] Ports, IIdleWait? IdleWait = null);

/// <param name="SessionCapacity">Sessions the worker's table holds.</param>
/// <param name="Seed">
/// Seeds the session table's hash and the load balancer's randomness. Null (the default): a random seed per engine, so
/// nobody outside can predict which keys collide in the table; a test passes one to make a run reproducible.
/// </param>
/// <param name="MaxSessionsPerTenant">
/// The most sessions one tenant may hold in the table; null (the default): half of <paramref name="SessionCapacity"/>
/// (<see cref="SessionTableSettings.DefaultMaxTenantSharePercent"/>), so one tenant's flood leaves room for the others.
/// </param>
/// <param name="StartActive">False: the node starts as the standby of an HA pair (it forwards once told to take over).</param>
/// <param name="IdleWait">
/// How the idle worker sleeps (the engine disposes it): an <see cref="Io.Linux.EpollWait"/> over the router's
/// AF_PACKET ports; null: a <see cref="PollingWait"/> for ports that cannot signal.
/// </param>
/// <param name="BusyPoll">How long an idle worker keeps polling its ports before it sleeps: 0 (the default) sleeps at once.</param>
/// <param name="Scheduling">How the worker thread is scheduled (<see cref="Io.Linux.RealtimeScheduling"/>); null leaves the thread as created.</param>
/// <param name="KeySender">
/// The node's sender value in the counters it seals with (<see cref="Svr.Security.PeerKeyring"/>); null (the default)
/// draws one at random for this engine, as every process and each node of an HA pair must.
/// </param>
public sealed record RouterOptions(
    int SessionCapacity = SessionTableSettings.DefaultCapacity, int BatchSize = 64, ulong? Seed = null, IIdleWait? IdleWait = null,
    bool StartActive = true, TimeSpan BusyPoll = default, int? MaxSessionsPerTenant = null, IWorkerScheduling? Scheduling = null,
    uint? KeySender = null)
{
    /// <summary>The router's session table settings as options: its capacity and its tenant share.</summary>
    public static RouterOptions From(SessionTableSettings sessions)
    {
        ArgumentNullException.ThrowIfNull(sessions);
        return new RouterOptions(SessionCapacity: sessions.Capacity, MaxSessionsPerTenant: sessions.MaxPerTenant);
    }

    /// <summary><see cref="MaxSessionsPerTenant"/> in force (0: no limit but the table's).</summary>
    internal int SessionsPerTenant => MaxSessionsPerTenant
        ?? new SessionTableSettings(SessionCapacity, SessionTableSettings.DefaultMaxTenantSharePercent).MaxPerTenant;
}
