namespace Fabric.Actors.HighAvailability;

/// <summary>What a node makes of an authenticated heartbeat from its partner.</summary>
public enum HeartbeatVerdict
{
    /// <summary>Sent by the partner after it heard this run of ours, and newer than any before: proof that the partner lives now.</summary>
    Fresh,

    /// <summary>Authentic but proves nothing yet: the partner has not heard this run of ours (it echoes another incarnation).</summary>
    Unbound,

    /// <summary>Authentic but old: a sequence already seen, or an incarnation of the partner that a newer one replaced (a replay).</summary>
    Stale,
}

/// <summary>
/// Which authenticated heartbeats prove that the partner lives now, for one run of a node's heartbeat link.
/// The MAC proves who sent a heartbeat, not when: a captured one could be replayed to keep a dead partner
/// "alive". So a heartbeat counts only when it echoes this run's random incarnation (it was made after this run
/// began) and is newer than the last that counted: a higher sequence in the same partner incarnation, or an
/// incarnation never replaced (the partner restarted; the one it replaces is retired for good). Until a
/// heartbeat counts (the partner does not know our incarnation yet), the incarnation we echo is the latest the
/// partner sent; once one counts, we echo that partner's for as long as it counts within the dead interval.
/// Not thread-safe: the link's thread owns it.
/// </summary>
public sealed class HeartbeatFreshness
{
    /// <summary>Replaced partner incarnations remembered (a partner restarting more often than this is forgotten oldest first).</summary>
    public const int RetiredKept = 1024;

    private readonly TimeSpan _deadInterval;
    private readonly HashSet<ulong> _retired = [];
    private readonly Queue<ulong> _retiredOrder = new();
    private ulong _partner;
    private ulong _sequence;
    private ulong _learned;
    private TimeSpan? _lastFresh;

    /// <param name="own">This run's incarnation: random, never 0.</param>
    public HeartbeatFreshness(ulong own, TimeSpan deadInterval)
    {
        ArgumentOutOfRangeException.ThrowIfZero(own);
        Own = own;
        _deadInterval = deadInterval;
    }

    /// <summary>This run's incarnation, which the partner must echo.</summary>
    public ulong Own { get; }

    /// <summary>What our heartbeats echo at <paramref name="now"/>: the partner's incarnation as we know it, 0 before any.</summary>
    public ulong EchoAt(TimeSpan now) => Bound(now) || _learned == 0 ? _partner : _learned;

    /// <summary>Judges an authenticated heartbeat that arrived at <paramref name="now"/>, and remembers it when it counts.</summary>
    public HeartbeatVerdict Consider(in PairHeartbeat heartbeat, TimeSpan now)
    {
        if (_retired.Contains(heartbeat.Incarnation))
        {
            return HeartbeatVerdict.Stale;
        }

        if (heartbeat.Echo != Own)
        {
            if (!Bound(now))
            {
                _learned = heartbeat.Incarnation;
            }

            return HeartbeatVerdict.Unbound;
        }

        if (heartbeat.Incarnation == _partner)
        {
            if (heartbeat.Sequence <= _sequence)
            {
                return HeartbeatVerdict.Stale;
            }
        }
        else
        {
            Retire(_partner);
            _partner = heartbeat.Incarnation;
        }

        _sequence = heartbeat.Sequence;
        _lastFresh = now;
        _learned = 0;
        return HeartbeatVerdict.Fresh;
    }

    private bool Bound(TimeSpan now) => _lastFresh is { } last && now - last < _deadInterval;

    private void Retire(ulong incarnation)
    {
        if (incarnation == 0 || !_retired.Add(incarnation))
        {
            return;
        }

        _retiredOrder.Enqueue(incarnation);
        if (_retiredOrder.Count > RetiredKept)
        {
            _retired.Remove(_retiredOrder.Dequeue());
        }
    }
}
