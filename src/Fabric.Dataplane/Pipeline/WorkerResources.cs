using Fabric.Dataplane.Forwarding;
using Fabric.Dataplane.Io;
using Fabric.Dataplane.Neighbors;
using Fabric.Dataplane.Pipeline.Workers;
using Fabric.Dataplane.Sessions;
using Fabric.Dataplane.Svr;
using Fabric.Dataplane.Telemetry;

namespace Fabric.Dataplane.Pipeline;

/// <summary>
/// Everything one worker owns and its stages use besides the packet and the snapshot: its ports (to send the router's
/// own frames), session table, neighbour table, counters, scratch buffers, random source and ICMP error limit. The
/// worker makes one and hands it to every stage. A router with several workers gives each its own; they share only
/// the neighbour table (made shared) and the <see cref="Owners"/> directory (docs/dataplane.md "Workers"). Not
/// thread-safe: the worker's thread writes it; the counters and tables may be read by others as their own types say.
/// </summary>
public sealed class WorkerResources
{
    private ulong _random;
    private int[] _tenantSessions = new int[64];

    /// <param name="maxSessionsPerTenant">The most sessions one tenant may hold in the table; 0: no limit but the table's.</param>
    /// <param name="shard">Which of the router's workers this is, how many there are and what they share; null: the only one.</param>
    /// <param name="batchSize">The most frames one receive batch holds: the size of <see cref="Lookups"/>.</param>
    public WorkerResources(
        IPacketPort[] ports, int sessionCapacity, long ticksPerSecond, ulong seed, int maxSessionsPerTenant = 0, WorkerShard? shard = null, int batchSize = 64)
    {
        Shard = shard ?? WorkerShard.Alone;
        Neighbors = Shard.Neighbors ?? new NeighborTable(NeighborTable.DefaultCapacity, ticksPerSecond, seed);
        ArgumentOutOfRangeException.ThrowIfNegative(maxSessionsPerTenant);
        ArgumentNullException.ThrowIfNull(ports);
        Ports = ports;
        TicksPerSecond = ticksPerSecond;
        ResignalQuietTicks = (long)(SvrStage.ResignalAfterQuiet.TotalSeconds * ticksPerSecond);
        // The wheel turns in eighths of a second of the caller's clock: expiry is at most that late.
        Sessions = new SessionTable<SessionState>(sessionCapacity, Math.Max(1, ticksPerSecond / 8), seed);
        Lookups = new SessionLookupBatch<SessionState>(Sessions, batchSize);
        Drops = new DropCounters();
        Traffic = new TrafficCounters();
        IcmpErrors = new IcmpErrorLimiter(ticksPerSecond);
        HalfOpen = new HalfOpenSessions(sessionCapacity);
        MaxSessionsPerTenant = maxSessionsPerTenant;
        _random = seed | 1;
    }

    /// <summary>The worker's ports, by index: where packets leave and the router's own frames are sent.</summary>
    public IPacketPort[] Ports { get; }

    /// <summary>What the metadata of the packet in hand said, when it went to a waypoint (<see cref="PacketContext.ReceiveMetadata"/>).</summary>
    internal ReceivedMetadata ReceivedMetadata;

    /// <summary>The rate of the worker's clock: every time a stage sees is in these ticks.</summary>
    public long TicksPerSecond { get; }

    /// <summary><see cref="SvrStage.ResignalAfterQuiet"/> in the worker's clock ticks.</summary>
    public long ResignalQuietTicks { get; }

    public SessionTable<SessionState> Sessions { get; }

    /// <summary>The session lookups of the receive batch being run, made together before its packets; stages look a packet's session up through it.</summary>
    public SessionLookupBatch<SessionState> Lookups { get; }

    /// <summary>The neighbours on the ports, hashed under the engine's seed as <see cref="Sessions"/> is (shared by a router's workers).</summary>
    public NeighborTable Neighbors { get; }

    /// <summary>Which of the router's workers owns these resources, and what the workers share.</summary>
    public WorkerShard Shard { get; }

    public DropCounters Drops { get; }

    /// <summary>Forwarded packets, bytes and sessions per tenant × service.</summary>
    public TrafficCounters Traffic { get; }

    public WorkerCounters Counters { get; } = new();

    /// <summary>Sessions of clients a configuration moved to another router, held for that router to fetch.</summary>
    public MovedClientSessions MovedClients { get; } = new();

    /// <summary>The instances ingress sessions that followed their instance to another router are pinned to.</summary>
    public InstancePins InstancePins { get; } = new();

    private IReadOnlyDictionary<ClientAddress, string> _arrivals = new Dictionary<ClientAddress, string>();
    private long _arrivalsUntil = long.MinValue;
    private readonly HashSet<ClientAddress> _handedOver = [];

    /// <summary>
    /// Clients that arrived with the snapshot the worker just bound (<see cref="ForwardingSnapshot.ArrivedClients"/>): their
    /// packets without a session that open no TCP connection are dropped, not answered, until <paramref name="until"/> (worker ticks),
    /// while their sessions are fetched from the router they left (<see cref="IsArriving"/>).
    /// </summary>
    internal void ClientsArrived(IReadOnlyDictionary<ClientAddress, string> arrived, long until)
    {
        _arrivals = arrived;
        _arrivalsUntil = until;
        _handedOver.Clear();
    }

    /// <summary>
    /// The hand-over of <paramref name="clients"/> is over (the records of the router they left were taken, or that router
    /// answered that none come): their packets without a session meet the pipeline as any client's again, before the
    /// grace ends. Kept until a snapshot brings clients again (<see cref="ClientsArrived"/>).
    /// </summary>
    internal void ClientsHandedOver(ReadOnlySpan<ClientAddress> clients)
    {
        foreach (var client in clients)
        {
            _handedOver.Add(client);
        }
    }

    /// <summary>
    /// Whether <paramref name="client"/> arrived at this router less than <see cref="SvrStage.ClientArrivalGrace"/> ago and
    /// its hand-over is not over (<see cref="ClientsHandedOver"/>). Allocates nothing.
    /// </summary>
    public bool IsArriving(UInt128 client, bool isIpv6, long now) =>
        now < _arrivalsUntil && _arrivals.ContainsKey(new ClientAddress(client, isIpv6)) && !_handedOver.Contains(new ClientAddress(client, isIpv6));

    /// <summary>Sessions opening and closing, for the control plane to drain (the worker only writes).</summary>
    public SessionEventRing SessionEvents { get; } = new(SessionEventRing.DefaultCapacity);

    /// <summary>Exceptions stages threw on packets (each packet dropped as <see cref="DropReason.PipelineFault"/>).</summary>
    public PipelineFaults Faults { get; } = new();

    /// <summary>The sessions opened here, oldest first: the candidates for eviction while they are half-open.</summary>
    public HalfOpenSessions HalfOpen { get; }

    /// <summary>The most sessions one tenant may hold in <see cref="Sessions"/>; 0: no limit but the table's.</summary>
    public int MaxSessionsPerTenant { get; }

    /// <summary>The limit on the ICMP errors the worker sends; a refusal is counted in <see cref="WorkerCounters.IcmpErrorsSuppressed"/> by the stage.</summary>
    public IcmpErrorLimiter IcmpErrors { get; }

    /// <summary>Room to build a packet the router sends of its own (replies, ICMP errors, resets, announcements).</summary>
    internal byte[] Scratch { get; } = new byte[PacketBuffer.DefaultCapacity];

    /// <summary>Room to build the SVR metadata block a packet carries.</summary>
    internal byte[] MetadataScratch { get; } = new byte[SvrStage.MaxBlockLength];

    /// <summary>Room for a sealed packet's associated data: the outer tuple and its metadata block.</summary>
    internal byte[] AssociatedScratch { get; } = new byte[37 + MetadataBlock.MaxHeaderLength + MetadataBlock.MaxPayloadLength];

    /// <summary>
    /// Where an encrypted session's super-packet that went through whole is cut into its segments and each sealed, back to
    /// back, until they leave with one flush (<c>PacketWorker.SendSealed</c>): pinned, since a queued frame's memory must
    /// stay put until the flush. Two super-packets' worth (each segment repeats the headers and gains a trailer); fuller
    /// trains are flushed part way.
    /// </summary>
    internal byte[] SealedSegments { get; } = GC.AllocateUninitializedArray<byte>(2 * PacketBuffer.SuperPacketCapacity, pinned: true);

    /// <summary>Room for one packet cut from a super-packet (it may grow by metadata as any packet).</summary>
    internal byte[] SegmentScratch { get; } = new byte[PacketBuffer.DefaultCapacity];

    /// <summary>
    /// A forward packet a redirect returned to this ingress (<see cref="SvrStage.FollowRedirect"/>), rebuilt as its client
    /// sent it, for the worker to run again once the packet in hand is done: a frame of <see cref="ReturnedLength"/>
    /// octets (0: none waiting) received on <see cref="ReturnedPort"/>. Written by the stage, taken by the worker.
    /// </summary>
    internal byte[] ReturnedScratch { get; } = new byte[PacketBuffer.DefaultCapacity];

    /// <summary>The length of the frame waiting in <see cref="ReturnedScratch"/>; 0 when none waits.</summary>
    internal int ReturnedLength { get; set; }

    /// <summary>The port the frame in <see cref="ReturnedScratch"/> counts as received on (the port towards its client).</summary>
    internal int ReturnedPort { get; set; }

    /// <summary>Sessions the tenant (by its index when they opened) holds in the table.</summary>
    public int TenantSessions(int tenant) => (uint)tenant < (uint)_tenantSessions.Length ? _tenantSessions[tenant] : 0;

    /// <summary>Whether the tenant holds as many sessions as it may.</summary>
    internal bool TenantAtLimit(int tenant) => MaxSessionsPerTenant > 0 && TenantSessions(tenant) >= MaxSessionsPerTenant;

    /// <summary>Counts a session the tenant opened (the count grows with the tenants a snapshot has: allocates only for a new tenant index).</summary>
    internal void TenantOpened(int tenant)
    {
        if (tenant < 0)
        {
            return;
        }

        if (tenant >= _tenantSessions.Length)
        {
            Array.Resize(ref _tenantSessions, Math.Max(tenant + 1, _tenantSessions.Length * 2));
        }

        _tenantSessions[tenant]++;
    }

    /// <summary>Counts a session of the tenant that ended (never below zero: an HA partner's replicas were not counted in).</summary>
    internal void TenantEnded(int tenant)
    {
        if ((uint)tenant < (uint)_tenantSessions.Length && _tenantSessions[tenant] > 0)
        {
            _tenantSessions[tenant]--;
        }
    }

    /// <summary>The next value of the worker's xorshift generator (seeded: runs are reproducible).</summary>
    internal ulong NextRandom()
    {
        _random ^= _random << 13;
        _random ^= _random >> 7;
        _random ^= _random << 17;
        return _random;
    }

    /// <summary>Counts a session just inserted at <paramref name="handle"/>, under the tenant and service it opened with, and publishes its opening.</summary>
    internal void SessionOpened(int handle)
    {
        ref readonly var state = ref Sessions.Payload(handle);
        Counters.SessionsCreated++;
        Traffic.Opened(state.Tenant, state.Service);
        if (Shard.Owners is not null)
        {
            Publish(Sessions.ForwardKey(handle), Sessions.ReverseKey(handle), state, madeElsewhere: false);
        }

        var opened = Sessions.Opened(handle);
        SessionEvents.Add(new SessionEvent(
            SessionEventKind.Opened, handle, Sessions.Generation(handle), Sessions.ForwardKey(handle), Sessions.ReverseKey(handle), state, opened, opened));
    }

    /// <summary>
    /// A session made elsewhere was just inserted at <paramref name="handle"/> (by the HA partner, the process before a
    /// restart, or the router a client left): it is published in the workers' directory as a session opened here is
    /// (<see cref="Publish"/>); an SVR ingress session publishes its client's tuple, since the worker that took it need not
    /// be the one the kernel gives the client's packets to (<see cref="Workers.WorkerOwnership.OwnerOfArrival"/>).
    /// </summary>
    internal void SessionArrived(int handle)
    {
        if (Shard.Owners is not null)
        {
            Publish(Sessions.ForwardKey(handle), Sessions.ReverseKey(handle), Sessions.Payload(handle), madeElsewhere: true);
        }
    }

    /// <summary>
    /// Session <paramref name="handle"/>'s forward key just replaced <paramref name="previous"/>
    /// (<see cref="SessionTable{T}.TryRekey"/>: an SVR egress session adopted on a new waypoint tuple after a move): the
    /// directory follows, the old tuple withdrawn and the new one published when <see cref="ForwardNeedsDirectory"/>.
    /// </summary>
    internal void ForwardRekeyed(int handle, in SessionKey previous)
    {
        if (Shard.Owners is not { } owners)
        {
            return;
        }

        ref readonly var state = ref Sessions.Payload(handle);
        if (ForwardNeedsDirectory(previous, state))
        {
            owners.Withdraw(previous, Shard.Index);
        }

        if (ForwardNeedsDirectory(Sessions.ForwardKey(handle), state))
        {
            owners.Publish(Sessions.ForwardKey(handle), Shard.Index);
        }
    }

    /// <summary>
    /// SVR ingress session <paramref name="handle"/> just became a local session (<see cref="SvrStage.FollowRedirect"/>: its
    /// instance came to this router), its reverse key now the instance's tuple: published in the directory as a local
    /// session's reverse key is. What the ingress session published stays (its client's tuple, when it was made
    /// elsewhere), and is withdrawn when the session ends (<see cref="Withdraw"/>: a local session that keeps an SVR
    /// session id was such a session).
    /// </summary>
    internal void SessionMadeLocal(int handle)
    {
        Shard.Owners?.Publish(Sessions.ReverseKey(handle), Shard.Index);
    }

    /// <summary>
    /// A local session just became an SVR ingress session (<see cref="SvrStage.MakeRemote"/>: its instance moved to another
    /// router), its reverse key now a waypoint tuple of this worker's lane, which names this worker: the instance's tuple
    /// <paramref name="instance"/>, published as its reverse key, is withdrawn. What else it published stays and is withdrawn
    /// when the session ends, as an ingress session's.
    /// </summary>
    internal void SessionMadeRemote(in SessionKey instance)
    {
        Shard.Owners?.Withdraw(instance, Shard.Index);
    }

    /// <summary>A live session's tenant and service indexes were rebound to a new snapshot's: the counts kept by index follow.</summary>
    internal void SessionRebound(int tenant, int service, int newTenant, int newService)
    {
        Traffic.Rebound(tenant, service, newTenant, newService);
        TenantEnded(tenant);
        TenantOpened(newTenant);
    }

    /// <summary>
    /// Publishes the closing of a session just removed from slot <paramref name="handle"/> (its slot keeps what the
    /// session left until it is reused; the removal moved the generation on by one).
    /// </summary>
    internal void SessionClosed(int handle, in SessionKey forward, in SessionKey reverse, in SessionState state, long now)
    {
        Withdraw(forward, reverse, state);
        SessionEvents.Add(new SessionEvent(SessionEventKind.Closed, handle, Sessions.Generation(handle) - 1, forward, reverse, state, Sessions.Opened(handle), now));
    }

    /// <summary>Removes a live session from the table and withdraws it from the workers' directory (the caller gives back what it held).</summary>
    internal void RemoveSession(int handle)
    {
        if (Shard.Owners is not null)
        {
            Withdraw(Sessions.ForwardKey(handle), Sessions.ReverseKey(handle), Sessions.Payload(handle));
        }

        Sessions.Remove(handle);
    }

    /// <summary>
    /// Publishes in the workers' directory the keys of a session this worker holds whose packets other workers cannot
    /// steer to it otherwise: the reverse key when <see cref="ReverseNeedsDirectory"/>, the forward key when
    /// <see cref="ForwardNeedsDirectory"/>, the client's tuple for an SVR ingress session <paramref name="madeElsewhere"/>
    /// (one opened here gets its client's packets from the kernel). A session opened here publishes at most one key; only an SVR egress
    /// session adopted after a move (or imported onto a worker its waypoint port does not name) publishes two, so the
    /// directory's room (twice the sessions) holds but for many such sessions (a publish without room is refused and counted).
    /// </summary>
    private void Publish(in SessionKey forward, in SessionKey reverse, in SessionState state, bool madeElsewhere)
    {
        var owners = Shard.Owners!;
        if (ReverseNeedsDirectory(state))
        {
            owners.Publish(reverse, Shard.Index);
        }
        else if (state.Svr == SvrRole.Ingress && madeElsewhere)
        {
            owners.Publish(forward, Shard.Index);
        }

        if (ForwardNeedsDirectory(forward, state))
        {
            owners.Publish(forward, Shard.Index);
        }
    }

    /// <summary>Withdraws what the session published (<see cref="Publish"/>): nothing is withdrawn that this worker did not publish for the key.</summary>
    private void Withdraw(in SessionKey forward, in SessionKey reverse, in SessionState state)
    {
        if (Shard.Owners is not { } owners)
        {
            return;
        }

        if (ReverseNeedsDirectory(state))
        {
            owners.Withdraw(reverse, Shard.Index);
        }

        if (state.Svr == SvrRole.Ingress || (state.Svr == SvrRole.None && state.SessionId != 0) || ForwardNeedsDirectory(forward, state))
        {
            // An ingress's client tuple (made elsewhere), kept by the local session it may have become (SessionMadeLocal).
            owners.Withdraw(forward, Shard.Index);
        }
    }

    /// <summary>
    /// Whether the session's reverse packets carry a tuple this router did not choose (a local instance's, or an SVR
    /// egress session's instance), so other workers find its owner in the directory; an ingress or transit session's reverse
    /// packets come to a waypoint pair its owner allocated, which names the owner itself (<see cref="Workers.WorkerOwnership"/>).
    /// </summary>
    private static bool ReverseNeedsDirectory(in SessionState state) => state.Svr is SvrRole.None or SvrRole.Egress or SvrRole.FormerEgress;

    /// <summary>
    /// Whether an SVR egress session's forward packets come on a waypoint port that names another worker than this one
    /// (<see cref="Workers.WorkerOwnership.OwnerOfWaypoint"/>): a session opened here sits on the worker its port names, but
    /// one adopted on a new waypoint tuple after a move (its client moved to another router, or its ingress took another
    /// path) stays on the worker that held it, so other workers find it in the directory by that tuple. A former egress
    /// (its instance moved away) keeps what it published as an egress until it ends.
    /// </summary>
    private bool ForwardNeedsDirectory(in SessionKey forward, in SessionState state) =>
        state.Svr is SvrRole.Egress or SvrRole.FormerEgress && Workers.WorkerOwnership.OwnerOfWaypoint(forward.DestinationPort, Shard.Count) != Shard.Index;

    /// <summary>
    /// Sends a frame the router built itself, now (after what is queued on the port: its buffer is reused at once);
    /// counted as generated when the port takes it.
    /// </summary>
    internal void SendOwn(int port, ReadOnlySpan<byte> frame)
    {
        if (Ports[port].Send(frame))
        {
            Counters.Generated++;
        }
    }
}
