using System.Collections.Concurrent;
using Fabric.Dataplane.Forwarding;
using Fabric.Dataplane.HighAvailability;
using Fabric.Dataplane.Io;
using Fabric.Dataplane.Pipeline;
using Fabric.Model;

namespace Fabric.Dataplane.Routing;

/// <summary>
/// One router node's dataplane: its ports, the forwarding snapshot in force, and the worker that
/// runs packets. <see cref="Apply"/> compiles a configuration and swaps the snapshot in atomically
/// (a failed compile leaves the running one); <see cref="RunOnce"/> drives one round for tests and
/// benchmarks; <see cref="Start"/> runs the worker on its own thread. Apply is thread-safe; RunOnce
/// is called from one thread at a time.
/// </summary>
public sealed class ForwardingEngine : IDisposable
{
    private readonly ServiceRuntimes _runtimes;
    private readonly TimeProvider _time;
    private readonly IIdleWait _idleWait;
    private readonly long _busyPollTicks;
    private readonly IWorkerScheduling? _scheduling;
    private readonly ConcurrentQueue<WorkerRequest> _requests = new();
    private readonly Lock _applyGate = new();
    private long _lastExport;
    private long _nextPrune;
    private ForwardingSnapshot? _snapshot;
    private CancellationTokenSource? _stop;
    private Thread? _thread;

    public ForwardingEngine(string name, IReadOnlyList<IPacketPort> ports, RouterOptions? options = null, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(ports);
        options ??= new RouterOptions();
        Name = name;
        _time = time ?? TimeProvider.System;
        _runtimes = new ServiceRuntimes(options.KeySender ?? (uint)System.Security.Cryptography.RandomNumberGenerator.GetInt32(1 << Svr.Security.PacketSealer.SenderBits));
        Ports = [.. ports];
        _idleWait = options.IdleWait ?? new PollingWait();
        _busyPollTicks = (long)(options.BusyPoll.TotalSeconds * _time.TimestampFrequency);
        _scheduling = options.Scheduling;
        Worker = new PacketWorker(Ports, () => Snapshot, options.SessionCapacity, _time.TimestampFrequency, options.Seed, options.BatchSize)
        {
            IsActive = options.StartActive,
        };
    }

    public string Name { get; }

    public IPacketPort[] Ports { get; }

    public PacketWorker Worker { get; }

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
            var compiled = SnapshotCompiler.Compile(config, Name, [.. Ports.Select(p => p.Name)], version, _time.TimestampFrequency, _runtimes, _time.GetTimestamp());
            Volatile.Write(ref _snapshot, compiled);
            _idleWait.Wake();
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
        _idleWait.Wake();
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

    /// <summary>Installs sessions the HA partner exported under configuration <paramref name="version"/>. Done by the worker between batches. Thread-safe.</summary>
    public Task<SessionImportResult> ImportSessionsAsync(long version, SessionRecord[] records)
    {
        ArgumentNullException.ThrowIfNull(records);
        return Request((worker, snapshot, now) => snapshot is null
            ? new SessionImportResult(0, 0, records.Length)
            : SessionReplication.Import(worker, snapshot, now, version, records));
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
    /// One round: keys handed in are installed, then requests to the worker run (replication, role changes), then a
    /// batch from every port, run to completion, then, on an active node, the peer paths' monitoring timers (probes
    /// and echo bursts that are due go out), and at most once a second the removal of retired service runtimes no
    /// session holds. Returns packets handled. Never throws: what throws on the worker is counted in
    /// <see cref="PacketWorker.Faults"/> and the round goes on.
    /// </summary>
    public int RunOnce()
    {
        var now = _time.GetTimestamp();
        try
        {
            _runtimes.PeerKeys.InstallPending(now);
        }
        catch (Exception fault) when (fault is not OutOfMemoryException)
        {
            Worker.Faults.Record(fault, now);
        }

        while (_requests.TryDequeue(out var request))
        {
            request.Run(Worker, Volatile.Read(ref _snapshot), now);
        }

        var handled = Worker.RunOnce(now);
        if (Worker.IsActive && Volatile.Read(ref _snapshot) is { } snapshot)
        {
            try
            {
                PathMonitorStage.Tick(Worker.Resources, snapshot, now);
            }
            catch (Exception fault) when (fault is not OutOfMemoryException)
            {
                Worker.Faults.Record(fault, now);
            }
        }

        // Once a second: service runtimes retired by earlier compiles go once no session holds them.
        if (now >= _nextPrune && Volatile.Read(ref _snapshot) is { } inForce)
        {
            _nextPrune = now + _time.TimestampFrequency;
            _runtimes.Prune(inForce);
        }

        return handled;
    }

    private Task<T> Request<T>(Func<PacketWorker, ForwardingSnapshot?, long, T> work)
    {
        var request = new WorkerRequest<T>(work);
        _requests.Enqueue(request);
        _idleWait.Wake();
        return request.Completion.Task;
    }

    /// <summary>Work handed to the worker thread, run between batches (the worker owns the tables it touches).</summary>
    private abstract class WorkerRequest
    {
        public abstract void Run(PacketWorker worker, ForwardingSnapshot? snapshot, long now);
    }

    private sealed class WorkerRequest<T>(Func<PacketWorker, ForwardingSnapshot?, long, T> work) : WorkerRequest
    {
        public TaskCompletionSource<T> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public override void Run(PacketWorker worker, ForwardingSnapshot? snapshot, long now)
        {
            try
            {
                Completion.SetResult(work(worker, snapshot, now));
            }
            catch (Exception e)
            {
                Completion.SetException(e);
            }
        }
    }

    /// <summary>
    /// Runs the worker on a dedicated thread until <see cref="Dispose"/>. A round that handles packets is followed by
    /// another at once; after an empty round the worker polls on for <see cref="RouterOptions.BusyPoll"/> (0 by
    /// default), then sleeps in <see cref="RouterOptions.IdleWait"/> until a frame arrives, something is handed to
    /// it (a snapshot, keys, a request, the stop) or its next timer is due (<see cref="NextTimerDue"/>). An idle
    /// router's worker therefore wakes only for its timers. The thread first applies <see cref="RouterOptions.Scheduling"/>.
    /// </summary>
    public void Start()
    {
        _stop = new CancellationTokenSource();
        var token = _stop.Token;
        _thread = new Thread(() =>
        {
            _scheduling?.ApplyToCurrentThread();
            var pollUntil = 0L;
            while (!token.IsCancellationRequested)
            {
                if (RunOnce() > 0)
                {
                    pollUntil = _busyPollTicks > 0 ? _time.GetTimestamp() + _busyPollTicks : 0;
                    continue;
                }

                var now = _time.GetTimestamp();
                if (now < pollUntil)
                {
                    continue;
                }

                _idleWait.Wait(MillisecondsUntil(NextTimerDue(), now));
            }
        })
        { IsBackground = true, Name = $"fabric-worker-{Name}" };
        _thread.Start();
    }

    /// <summary>
    /// When the worker's next timer is due (ticks of its clock): the first session expiry the wheel holds, and on an
    /// active node the peer paths' next probe or echo burst; <see cref="long.MaxValue"/> when none is. Worker thread only.
    /// </summary>
    public long NextTimerDue()
    {
        var due = Worker.Sessions.NextExpiryDue();
        if (Worker.IsActive && Volatile.Read(ref _snapshot) is { } snapshot)
        {
            due = Math.Min(due, PathMonitorStage.NextDue(snapshot));
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

    public void Dispose()
    {
        _stop?.Cancel();
        _idleWait.Wake();
        _thread?.Join();
        while (_requests.TryDequeue(out var request))
        {
            request.Run(Worker, null, 0);
        }

        _stop?.Dispose();
        _idleWait.Dispose();
        _runtimes.PeerKeys.Dispose();
    }
}

/// <param name="Seed">Seeds the load balancer's randomness, so runs are reproducible.</param>
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
    int SessionCapacity = 65_536, int BatchSize = 64, ulong Seed = 0x5eed, IIdleWait? IdleWait = null, bool StartActive = true, TimeSpan BusyPoll = default,
    IWorkerScheduling? Scheduling = null, uint? KeySender = null);
