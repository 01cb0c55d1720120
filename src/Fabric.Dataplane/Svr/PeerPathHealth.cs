namespace Fabric.Dataplane.Svr;

/// <summary>Whether a peer path may carry sessions.</summary>
public enum PeerPathState : byte
{
    /// <summary>Probes arrive: the path carries sessions.</summary>
    Up,

    /// <summary><see cref="PathMonitorSettings.Multiplier"/> probe intervals passed without a probe from the peer.</summary>
    Down,

    /// <summary>Probes arrive again after a down, but for less than the hold-down: not used yet.</summary>
    HoldDown,
}

/// <summary>
/// Path monitoring settings of one peer path, in ticks of the router's clock.
/// </summary>
public sealed record PathMonitorSettings(long Interval, int Multiplier, long HoldDown, long EchoInterval, int EchoBurst)
{
    public static PathMonitorSettings From(Model.PathMonitoring monitoring, long ticksPerSecond)
    {
        ArgumentNullException.ThrowIfNull(monitoring);
        long Ticks(TimeSpan span) => Math.Max(1, (long)(span.TotalSeconds * ticksPerSecond));
        return new(Ticks(monitoring.Interval), monitoring.Multiplier, monitoring.HoldDown <= TimeSpan.Zero ? 0 : Ticks(monitoring.HoldDown),
            Ticks(monitoring.EchoInterval), monitoring.EchoBurst);
    }
}

/// <summary>
/// Bounds on a peer path's measured quality, in the units <see cref="PeerPathHealth"/> measures; −1 is no bound.
/// </summary>
public readonly record struct PathQualityBounds(long MaxLatencyMicroseconds, long MaxJitterMicroseconds, long MaxLossBasisPoints)
{
    public static PathQualityBounds From(Model.PathQuality quality)
    {
        ArgumentNullException.ThrowIfNull(quality);
        static long Us(TimeSpan? span) => span is { } s ? s.Ticks / TimeSpan.TicksPerMicrosecond : -1;
        return new(Us(quality.MaxLatency), Us(quality.MaxJitter), quality.MaxLossPercent is { } loss ? loss * 100L : -1);
    }

    /// <summary>Whether these figures keep within every bound; a figure not measured yet (−1) keeps within any.</summary>
    public bool MetBy(long latencyMicroseconds, long jitterMicroseconds, long lossBasisPoints) =>
        Within(latencyMicroseconds, MaxLatencyMicroseconds) && Within(jitterMicroseconds, MaxJitterMicroseconds) && Within(lossBasisPoints, MaxLossBasisPoints);

    private static bool Within(long figure, long bound) => bound < 0 || figure < 0 || figure <= bound;
}

/// <summary>
/// The liveness and quality of one peer path (BFD-style, RFC 5880 in spirit):
/// <list type="bullet">
/// <item>Every <see cref="PathMonitorSettings.Interval"/> the router sends a probe. At each send it looks back: an
/// interval in which no probe of the peer arrived is a miss; <see cref="PathMonitorSettings.Multiplier"/> misses in
/// a row take the path <see cref="PeerPathState.Down"/>. Misses are counted per interval the router itself
/// lived through, so a router that did not run for a while (a stalled clock, a paused test) does not blame its peer.</item>
/// <item>A probe on a down path starts the hold-down; the path is <see cref="PeerPathState.Up"/> again once it has
/// stayed alive (no miss) for <see cref="PathMonitorSettings.HoldDown"/>. The hold-down damps a path that worked
/// and failed; a path whose peer was never heard (the peer started after this router) is up at its first probe.</item>
/// <item>Every <see cref="PathMonitorSettings.EchoInterval"/> a burst of echoes goes out; the peer sends each back.
/// When the burst is complete (or the next one starts) latency (mean RTT / 2), jitter (mean difference of
/// consecutive RTTs) and loss are taken from it.</item>
/// <item>Each judged burst grades the path against every quality bound the services ask for (<see cref="Require"/>):
/// a path that breaks a bound stops admitting sessions under it at once; one that meets it again admits them after
/// it has met it for <see cref="PathMonitorSettings.HoldDown"/> (<see cref="Admits"/>).</item>
/// </list>
/// A new path starts <see cref="PeerPathState.Up"/> (sessions may use it before the first probe) and its first
/// probe is due one interval after it is made. Kept across snapshot compiles (see <see cref="PeerPathHealthTable"/>).
/// Not thread-safe: the worker that drives the path writes it (with several workers per router, under a lock on this
/// object: see <see cref="Pipeline.PathMonitorStage"/>); other threads read its figures as telemetry
/// (each figure is one aligned 64-bit word, so a reader sees an old or a new value, never a torn one). The session
/// counters (<see cref="SessionsOpened"/>, <see cref="SessionsMovedIn"/>, <see cref="SessionsMovedOut"/>) are
/// thread-safe: any worker adds to them.
/// </summary>
public sealed class PeerPathHealth
{
    private PathQualityBounds[] _bounds = [];
    private long[] _admitFrom = [];
    private long _sessionsOpened;
    private long _sessionsMovedIn;
    private long _sessionsMovedOut;

    private PathMonitorSettings _settings;
    private bool _heardSinceProbe;
    private bool _everHeard;
    private long _aliveSince;
    private uint _burst;
    private int _burstSent;
    private int _burstReceived;
    private long _rttSum;
    private long _rttDeltaSum;
    private long _lastRtt;
    private long _ticksPerSecond;

    public PeerPathHealth(PathMonitorSettings settings, uint discriminator, long ticksPerSecond, long now)
    {
        _settings = settings;
        _ticksPerSecond = ticksPerSecond;
        Discriminator = discriminator;
        NextProbe = now + settings.Interval;
        NextBurst = now + settings.EchoInterval;
    }

    public PathMonitorSettings Settings => _settings;

    /// <summary>Our discriminator for this path: echoes that come back carry it.</summary>
    public uint Discriminator { get; }

    public PeerPathState State { get; private set; }

    /// <summary>Whether sessions may use the path.</summary>
    public bool IsUsable => State == PeerPathState.Up;

    /// <summary>Probe intervals in a row without a probe from the peer.</summary>
    public int Missed { get; private set; }

    public long NextProbe { get; private set; }

    public long NextBurst { get; private set; }

    public long ProbesSent { get; private set; }

    public long ProbesReceived { get; private set; }

    /// <summary>How many times the path went down.</summary>
    public long Downs { get; private set; }

    public long EchoesSent { get; private set; }

    public long EchoesReceived { get; private set; }

    /// <summary>One-way latency of the last complete burst (mean RTT / 2), in microseconds; −1 before the first.</summary>
    public long LatencyMicroseconds { get; private set; } = -1;

    /// <summary>Jitter of the last complete burst (mean difference of consecutive RTTs), in microseconds; −1 before the first.</summary>
    public long JitterMicroseconds { get; private set; } = -1;

    /// <summary>Echoes of the last complete burst that did not come back, in hundredths of a percent; −1 before the first.</summary>
    public long LossBasisPoints { get; private set; } = -1;

    /// <summary>How many times a judged burst broke a quality bound the path met before.</summary>
    public long QualityBreaks { get; private set; }

    /// <summary>Sessions opened on the path (ingress and transit) since the router started.</summary>
    public long SessionsOpened => Volatile.Read(ref _sessionsOpened);

    /// <summary>Sessions moved onto the path from another one (failover, quality, reverting).</summary>
    public long SessionsMovedIn => Volatile.Read(ref _sessionsMovedIn);

    /// <summary>Sessions moved off the path to another one, or made local (their instance came to this router).</summary>
    public long SessionsMovedOut => Volatile.Read(ref _sessionsMovedOut);

    public void SessionOpened() => Interlocked.Increment(ref _sessionsOpened);

    /// <summary>Counts a session that leaves the path for no other path: its instance came to this router, so it became local.</summary>
    public void SessionMovedOff() => Interlocked.Increment(ref _sessionsMovedOut);

    /// <summary>Counts a session that moves from <paramref name="from"/> (null: not known) to this path.</summary>
    public void SessionMovedFrom(PeerPathHealth? from)
    {
        Interlocked.Increment(ref _sessionsMovedIn);
        if (from is not null)
        {
            Interlocked.Increment(ref from._sessionsMovedOut);
        }
    }

    /// <summary>
    /// Whether the path admits sessions whose service requires <paramref name="bound"/> (an index into the bounds
    /// <see cref="Require"/> gave; −1: none) at <paramref name="now"/>: it met them in its last judged burst and has
    /// met them for the hold-down since it last broke them. Liveness is apart (<see cref="IsUsable"/>). Thread-safe.
    /// </summary>
    public bool Admits(int bound, long now)
    {
        var admitFrom = Volatile.Read(ref _admitFrom);
        return (uint)bound >= (uint)admitFrom.Length || now >= admitFrom[bound];
    }

    /// <summary>
    /// Takes the quality bounds of a new snapshot (a recompile; <see cref="Admits"/> indexes them). A bound the path
    /// was graded against before keeps its grade (and hold-down); a new one is graded on the last burst's figures.
    /// The caller holds the lock on this object.
    /// </summary>
    public void Require(PathQualityBounds[] bounds, long now)
    {
        ArgumentNullException.ThrowIfNull(bounds);
        var admitFrom = new long[bounds.Length];
        for (var i = 0; i < bounds.Length; i++)
        {
            var before = Array.IndexOf(_bounds, bounds[i]);
            admitFrom[i] = before >= 0 ? _admitFrom[before]
                : bounds[i].MetBy(LatencyMicroseconds, JitterMicroseconds, LossBasisPoints) ? now : long.MaxValue;
        }

        _bounds = bounds;
        Volatile.Write(ref _admitFrom, admitFrom);
    }

    /// <summary>Takes new settings (a recompile); the timers keep running.</summary>
    public void Reconfigure(PathMonitorSettings settings, long ticksPerSecond)
    {
        _settings = settings;
        _ticksPerSecond = ticksPerSecond;
    }

    /// <summary>The peer's discriminator for this path, as its last probe gave it (0 before one arrived).</summary>
    public uint PeerDiscriminator { get; private set; }

    /// <summary>A probe of the peer arrived.</summary>
    public void ProbeReceived(long now, uint peerDiscriminator)
    {
        ProbesReceived++;
        PeerDiscriminator = peerDiscriminator;
        _heardSinceProbe = true;
        if (State == PeerPathState.Down)
        {
            State = _everHeard ? PeerPathState.HoldDown : PeerPathState.Up;
            _aliveSince = now;
            Missed = 0;
        }

        _everHeard = true;

        Promote(now);
    }

    /// <summary>
    /// Moves the timers on to <paramref name="now"/>: true when a probe is due (the caller sends it), after the
    /// interval that ends here was judged (missed or not).
    /// </summary>
    public bool ProbeDue(long now)
    {
        Promote(now);
        if (now < NextProbe)
        {
            return false;
        }

        Missed = _heardSinceProbe ? 0 : Missed + 1;
        _heardSinceProbe = false;
        if (Missed >= _settings.Multiplier && State != PeerPathState.Down)
        {
            State = PeerPathState.Down;
            Downs++;
        }

        // A router that fell behind sends one probe now, not one per interval it missed.
        NextProbe = Math.Max(NextProbe + _settings.Interval, now + 1);
        ProbesSent++;
        return true;
    }

    /// <summary>
    /// True when an echo burst is due: the previous burst is judged and a new one begins, whose echoes the caller
    /// sends with <see cref="EchoSequence"/> for 0 .. <see cref="PathMonitorSettings.EchoBurst"/> − 1.
    /// </summary>
    public bool BurstDue(long now)
    {
        if (now < NextBurst)
        {
            return false;
        }

        Judge(now);
        _burst++;
        _burstSent = _settings.EchoBurst;
        _burstReceived = 0;
        _rttSum = 0;
        _rttDeltaSum = 0;
        _lastRtt = -1;
        EchoesSent += _settings.EchoBurst;
        NextBurst = Math.Max(NextBurst + _settings.EchoInterval, now + 1);
        return true;
    }

    /// <summary>The sequence number the <paramref name="index"/>th echo of the current burst carries.</summary>
    public uint EchoSequence(int index) => (_burst << 8) | (uint)(index & 0xFF);

    /// <summary>An echo of ours came back: <paramref name="sentAt"/> is the time it carried.</summary>
    public void EchoReturned(uint sequence, long sentAt, long now)
    {
        if (sequence >> 8 != (_burst & 0xFFFFFF) || _burstReceived >= _burstSent || sentAt > now)
        {
            // From an earlier burst (counted lost there), or not a time we could have sent.
            return;
        }

        EchoesReceived++;
        _burstReceived++;
        var rtt = now - sentAt;
        _rttSum += rtt;
        if (_lastRtt >= 0)
        {
            _rttDeltaSum += Math.Abs(rtt - _lastRtt);
        }

        _lastRtt = rtt;
        if (_burstReceived == _burstSent)
        {
            Judge(now);
        }
    }

    private void Judge(long now)
    {
        if (_burstSent == 0)
        {
            return;
        }

        LossBasisPoints = (long)(_burstSent - _burstReceived) * 10_000 / _burstSent;
        if (_burstReceived > 0)
        {
            LatencyMicroseconds = ToMicroseconds(_rttSum / _burstReceived / 2);
            JitterMicroseconds = _burstReceived > 1 ? ToMicroseconds(_rttDeltaSum / (_burstReceived - 1)) : 0;
        }

        _burstSent = 0;
        Grade(now);
    }

    /// <summary>Grades the figures just judged against every bound: broken at once, admitted again after the hold-down.</summary>
    private void Grade(long now)
    {
        var admitFrom = _admitFrom;
        for (var i = 0; i < _bounds.Length; i++)
        {
            if (!_bounds[i].MetBy(LatencyMicroseconds, JitterMicroseconds, LossBasisPoints))
            {
                if (admitFrom[i] != long.MaxValue)
                {
                    QualityBreaks++;
                }

                Volatile.Write(ref admitFrom[i], long.MaxValue);
            }
            else if (admitFrom[i] == long.MaxValue)
            {
                Volatile.Write(ref admitFrom[i], now + _settings.HoldDown);
            }
        }
    }

    private long ToMicroseconds(long ticks) => (long)((double)ticks * 1_000_000 / _ticksPerSecond);

    private void Promote(long now)
    {
        if (State == PeerPathState.HoldDown && Missed == 0 && now - _aliveSince >= _settings.HoldDown)
        {
            State = PeerPathState.Up;
        }
    }
}

/// <summary>
/// Keeps each peer path's health across snapshot compiles, by the path's waypoint pool id (one per path, see
/// <see cref="Forwarding.WaypointPools"/>). Thread-safe to add to; the health objects are not (see <see cref="PeerPathHealth"/>).
/// </summary>
public sealed class PeerPathHealthTable
{
    private readonly Lock _gate = new();
    private PeerPathHealth?[] _byPool = [];

    /// <summary>The health of the path whose waypoint pool is <paramref name="poolId"/>.</summary>
    public PeerPathHealth this[int poolId] => Volatile.Read(ref _byPool)[poolId]!;

    /// <summary>
    /// The path's health (made on first use, its settings replaced after). <paramref name="identity"/> names the path
    /// (router, peer, neighborhood, addresses): with the start time it makes the path's discriminator, distinct from
    /// the peer's own for the same path even when both routers start at the same instant.
    /// </summary>
    public PeerPathHealth For(int poolId, string identity, PathMonitorSettings settings, long ticksPerSecond, long now)
    {
        ArgumentNullException.ThrowIfNull(identity);
        lock (_gate)
        {
            if (poolId < _byPool.Length && _byPool[poolId] is { } existing)
            {
                existing.Reconfigure(settings, ticksPerSecond);
                return existing;
            }

            var grown = new PeerPathHealth?[Math.Max(_byPool.Length, poolId + 1)];
            _byPool.CopyTo(grown, 0);
            // Distinct per path and per router start, never 0 (RFC 5880 reserves it).
            var hash = 0xCBF29CE484222325UL ^ ((ulong)now * 0x9E3779B97F4A7C15UL);
            foreach (var c in identity)
            {
                hash = (hash ^ c) * 0x100000001B3UL;
            }

            var health = new PeerPathHealth(settings, (uint)(hash >> 32) | 1u, ticksPerSecond, now);
            grown[poolId] = health;
            Volatile.Write(ref _byPool, grown);
            return health;
        }
    }
}
