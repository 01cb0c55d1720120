using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;

namespace Fabric.Actors.HighAvailability;

/// <summary>What a node knows of its partner from the heartbeats that counted (<see cref="HeartbeatVerdict.Fresh"/>).</summary>
/// <param name="Heartbeats">How many counted since the link started (0: the partner was never heard).</param>
/// <param name="LastHeard">When the last one arrived, on the link's monotonic clock (see <see cref="PairLink.Now"/>).</param>
/// <param name="Role">What the last one said the partner is.</param>
/// <param name="Takeovers">The partner's takeover count in the last one.</param>
/// <param name="Gap">The time between the last one and the one before it.</param>
/// <param name="Incarnation">The partner's run that sent the last one (it changes when the partner restarts).</param>
public sealed record PartnerView(long Heartbeats, TimeSpan LastHeard, PairRole Role, long Takeovers, TimeSpan Gap, ulong Incarnation)
{
    public static PartnerView Never { get; } = new(0, TimeSpan.Zero, PairRole.Starting, 0, TimeSpan.Zero, 0);
}

/// <summary>Where a node's heartbeat link listens and sends, and with which keys.</summary>
/// <param name="Local">This node's management address and heartbeat port.</param>
/// <param name="Partner">The partner's management address and heartbeat port; heartbeats from any other address are refused.</param>
/// <param name="SendKey">The key of heartbeats from this node to the partner (<see cref="PairHeartbeat.DeriveKey"/>).</param>
/// <param name="ReceiveKey">The key of heartbeats from the partner to this node.</param>
public sealed record PairLinkSettings(IPEndPoint Local, IPEndPoint Partner, byte[] SendKey, byte[] ReceiveKey, TimeSpan HeartbeatInterval, TimeSpan DeadInterval);

/// <summary>What the node's dataplane says of itself in each heartbeat, read when the heartbeat is sent.</summary>
public interface IPairSelf
{
    /// <summary>Whether the node's dataplane forwards now.</summary>
    bool IsActive { get; }

    /// <summary>How many times the node became active since its process started.</summary>
    long Takeovers { get; }
}

/// <summary>
/// An HA pair node's liveness, apart from the actor system: a thread of its own and a UDP socket on the
/// management network. Every heartbeat interval it sends the partner an authenticated heartbeat saying what this
/// node is: active when its dataplane forwards (<see cref="IPairSelf"/>), else starting until the pair actor has
/// decided (<see cref="Decided"/>) and standby after; and it takes the partner's heartbeats
/// as they arrive: only those whose MAC is right under the partner's key, from the partner's address, and fresh
/// (<see cref="HeartbeatFreshness"/>) count. A busy thread pool, a paused actor system, or a cluster rejoin delay
/// neither the heartbeats sent nor when one is taken as heard. <see cref="Partner"/> is what the pair actor decides
/// from, and the link's thread tells it when to look (<see cref="Listen"/>): when a partner heartbeat counts, every
/// heartbeat interval, and the moment the partner's dead interval runs out. No actor timer paces the decision: Akka's
/// scheduler turns every 100 ms (coarser than a heartbeat may be), and a timer that fires while the link's thread is
/// held up would judge the partner from heartbeats still queued on the socket. The link lives as long as the router process.
/// Thread-safe: the link's thread writes, any thread reads.
/// </summary>
public sealed class PairLink : IDisposable
{
    private readonly PairLinkSettings _settings;
    private readonly IPairSelf _self;
    private readonly TimeProvider _time;
    private readonly Socket _socket;
    private readonly Thread _thread;
    private readonly HeartbeatFreshness _freshness;
    private volatile PartnerView _partner = PartnerView.Never;
    private volatile bool _stopping;
    private volatile bool _decided;
    private volatile Action<TimeSpan>? _listener;
    private ulong _sequence;
    private long _sent;
    private long _refusedForged;
    private long _refusedStale;
    private long _unbound;
    private long _sendErrors;
    private long _longestGapTicks;
    private long _late;

    private PairLink(PairLinkSettings settings, IPairSelf self, TimeProvider time, Socket socket, string name)
    {
        _settings = settings;
        _self = self;
        _time = time;
        _socket = socket;
        _freshness = new HeartbeatFreshness(NewIncarnation(), settings.DeadInterval);
        _thread = new Thread(Run) { IsBackground = true, Name = $"fabric-ha-{name}" };
    }

    /// <summary>
    /// Binds the heartbeat socket and starts the link's thread. Throws <see cref="PairLinkException"/> with one
    /// sentence when the socket cannot be bound (the address is not this machine's, the port is taken).
    /// </summary>
    public static PairLink Start(string name, PairLinkSettings settings, IPairSelf self, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(self);
        var socket = new Socket(settings.Local.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            socket.Bind(settings.Local);
        }
        catch (SocketException e)
        {
            socket.Dispose();
            throw new PairLinkException($"cannot receive HA heartbeats on UDP {settings.Local}: {e.Message}");
        }

        var link = new PairLink(settings, self, time ?? TimeProvider.System, socket, name);
        link._thread.Start();
        return link;
    }

    /// <summary>The link's monotonic clock (what <see cref="PartnerView.LastHeard"/> is measured on).</summary>
    public TimeSpan Now => _time.GetElapsedTime(0);

    /// <summary>This node's run as its heartbeats name it (random, never 0; see <see cref="PartnerView.Incarnation"/>).</summary>
    public ulong Incarnation => _freshness.Own;

    /// <summary>The partner as the heartbeats that counted tell it.</summary>
    public PartnerView Partner => _partner;

    /// <summary>
    /// Set once the pair actor has decided this node's role: heartbeats then say standby rather than starting while
    /// the dataplane does not forward. A new process says starting: it has no sessions yet.
    /// </summary>
    public bool Decided
    {
        get => _decided;
        set => _decided = value;
    }

    /// <summary>
    /// Calls <paramref name="listener"/> on the link's thread when a partner heartbeat counted, after each heartbeat this
    /// node sends, and when the partner's dead interval runs out; always after taking every datagram waiting on the
    /// socket, with a time on <see cref="Now"/>'s clock by which every heartbeat that had arrived is in
    /// <see cref="Partner"/>. A partner is dead only as of such a time: a link thread that was held up (a loaded
    /// machine) takes what queued meanwhile before anyone decides. The listener must return at once (post a message).
    /// One listener at a time: the last one given replaces the one before.
    /// </summary>
    public void Listen(Action<TimeSpan> listener) => _listener = listener;

    /// <summary>Stops calling <paramref name="listener"/>, unless another listener replaced it already.</summary>
    public void Unlisten(Action<TimeSpan> listener) => Interlocked.CompareExchange(ref _listener, null, listener);

    /// <summary>The link's counters, for the node's admin socket.</summary>
    public PairLinkCounters Counters => new(
        Interlocked.Read(ref _sent),
        _partner.Heartbeats,
        Interlocked.Read(ref _refusedForged),
        Interlocked.Read(ref _refusedStale),
        Interlocked.Read(ref _unbound),
        Interlocked.Read(ref _sendErrors),
        Interlocked.Read(ref _late),
        TimeSpan.FromTicks(Interlocked.Read(ref _longestGapTicks)));

    private void Run()
    {
        var buffer = new byte[PairHeartbeat.Length + 1];
        EndPoint from = new IPEndPoint(_settings.Local.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any, 0);
        var next = Now;
        var deadline = TimeSpan.MaxValue;
        while (!_stopping)
        {
            try
            {
                var now = Now;
                var due = now >= deadline;
                if (now >= next)
                {
                    Send(buffer, now);
                    // A thread that fell behind sends once and keeps the interval from now, never a burst.
                    next = now - next > _settings.HeartbeatInterval ? now + _settings.HeartbeatInterval : next + _settings.HeartbeatInterval;
                    due = true;
                }

                var heard = _partner.Heartbeats;
                var drained = Drain(buffer, ref from);
                if (due || _partner.Heartbeats != heard)
                {
                    _listener?.Invoke(drained);
                }

                // Wake for the next heartbeat to send, or earlier when the partner's dead interval runs out before it.
                var view = _partner;
                deadline = view.Heartbeats > 0 && view.LastHeard + _settings.DeadInterval > drained ? view.LastHeard + _settings.DeadInterval : TimeSpan.MaxValue;
                var wait = (deadline < next ? deadline : next) - Now;
                if (wait > TimeSpan.Zero)
                {
                    _socket.Poll(WholeMilliseconds(wait), SelectMode.SelectRead);
                }
            }
            catch (SocketException) when (!_stopping)
            {
                // An ICMP error for an earlier send (the partner's port closed while it restarts): nothing to take.
                Interlocked.Increment(ref _sendErrors);
            }
            catch (ObjectDisposedException)
            {
                return;
            }
            catch (SocketException)
            {
                return;
            }
        }
    }

    /// <summary>Takes every datagram waiting; returns a time by which all that had arrived were taken.</summary>
    private TimeSpan Drain(byte[] buffer, ref EndPoint from)
    {
        while (true)
        {
            var at = Now;
            if (_socket.Available == 0)
            {
                return at;
            }

            var length = _socket.ReceiveFrom(buffer, ref from);
            Receive(buffer.AsSpan(0, length), (IPEndPoint)from);
        }
    }

    /// <summary>
    /// A wait for <see cref="Socket.Poll(int, SelectMode)"/> in microseconds, rounded up to whole milliseconds (poll(2)'s
    /// unit, which would otherwise round down and wake before the time waited for), at most about 24 days.
    /// </summary>
    private static int WholeMilliseconds(TimeSpan wait) =>
        (int)Math.Min(int.MaxValue / 1000, (wait.Ticks + TimeSpan.TicksPerMillisecond - 1) / TimeSpan.TicksPerMillisecond) * 1000;

    private void Send(byte[] buffer, TimeSpan now)
    {
        var role = _self.IsActive ? PairRole.Active : _decided ? PairRole.Standby : PairRole.Starting;
        var heartbeat = new PairHeartbeat(role, _freshness.Own, ++_sequence, _freshness.EchoAt(now), _self.Takeovers);
        heartbeat.Write(buffer, _settings.SendKey);
        try
        {
            _socket.SendTo(buffer.AsSpan(0, PairHeartbeat.Length), SocketFlags.None, _settings.Partner);
            Interlocked.Increment(ref _sent);
        }
        catch (SocketException)
        {
            // No route to the partner right now (its management link is down): the next heartbeat tries again.
            Interlocked.Increment(ref _sendErrors);
        }
    }

    private void Receive(ReadOnlySpan<byte> datagram, IPEndPoint from)
    {
        if (!Same(from.Address, _settings.Partner.Address) || !PairHeartbeat.TryRead(datagram, _settings.ReceiveKey, out var heartbeat))
        {
            Interlocked.Increment(ref _refusedForged);
            return;
        }

        var now = Now;
        switch (_freshness.Consider(heartbeat, now))
        {
            case HeartbeatVerdict.Fresh:
                var previous = _partner;
                var gap = previous.Heartbeats == 0 ? TimeSpan.Zero : now - previous.LastHeard;
                if (gap > _settings.HeartbeatInterval * 2)
                {
                    Interlocked.Increment(ref _late);
                }

                if (gap.Ticks > Interlocked.Read(ref _longestGapTicks))
                {
                    Interlocked.Exchange(ref _longestGapTicks, gap.Ticks);
                }

                _partner = new PartnerView(previous.Heartbeats + 1, now, heartbeat.Role, heartbeat.Takeovers, gap, heartbeat.Incarnation);
                break;
            case HeartbeatVerdict.Unbound:
                Interlocked.Increment(ref _unbound);
                break;
            default:
                Interlocked.Increment(ref _refusedStale);
                break;
        }
    }

    private static bool Same(IPAddress a, IPAddress b) =>
        (a.IsIPv4MappedToIPv6 ? a.MapToIPv4() : a).Equals(b.IsIPv4MappedToIPv6 ? b.MapToIPv4() : b);

    private static ulong NewIncarnation()
    {
        Span<byte> bytes = stackalloc byte[sizeof(ulong)];
        ulong value;
        do
        {
            RandomNumberGenerator.Fill(bytes);
            value = BitConverter.ToUInt64(bytes);
        }
        while (value == 0);
        return value;
    }

    public void Dispose()
    {
        _stopping = true;
        _socket.Dispose();
        if (_thread.IsAlive && Thread.CurrentThread != _thread)
        {
            _thread.Join(TimeSpan.FromSeconds(2));
        }
    }
}

/// <summary>A heartbeat link's counters.</summary>
/// <param name="Sent">Heartbeats sent.</param>
/// <param name="Heard">Partner heartbeats that counted.</param>
/// <param name="RefusedForged">Datagrams refused: not from the partner's address, not a heartbeat, or a wrong MAC.</param>
/// <param name="RefusedStale">Authentic heartbeats refused as old (a replay, a retired incarnation).</param>
/// <param name="Unbound">Authentic heartbeats that did not echo this run yet (the partner had not heard us).</param>
/// <param name="SendErrors">Heartbeats that could not be sent, and ICMP errors for earlier ones.</param>
/// <param name="Late">Partner heartbeats that counted more than two heartbeat intervals after the one before.</param>
/// <param name="LongestGap">The longest time between two partner heartbeats that counted.</param>
public sealed record PairLinkCounters(long Sent, long Heard, long RefusedForged, long RefusedStale, long Unbound, long SendErrors, long Late, TimeSpan LongestGap);

/// <summary>The heartbeat link cannot start; the message says why in one sentence.</summary>
public sealed class PairLinkException(string message) : Exception(message);
