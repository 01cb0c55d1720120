using System.Net;
using Fabric.Dataplane.Forwarding;
using Fabric.Dataplane.Pipeline;
using Fabric.Dataplane.Wire;

namespace Fabric.Dataplane.Sessions;

/// <summary>
/// Which sessions of a worker's table a query wants: those of a tenant, of a service (names, as the snapshot in force
/// names them), with an address on either side of either key, all of them when none is given. A page starts at slot
/// <paramref name="Cursor"/> and holds at most <paramref name="Limit"/> sessions in slot order; with
/// <paramref name="TopByBytes"/>, the whole table is searched for the <paramref name="Limit"/> sessions that carried the
/// most bytes (both directions), most first, and there is no next page.
/// </summary>
public sealed record SessionQuery(string? Tenant = null, string? Service = null, IPAddress? Address = null, int Limit = SessionQuery.DefaultLimit, long Cursor = 0, bool TopByBytes = false)
{
    public const int DefaultLimit = 100;

    /// <summary>The most sessions one page holds: a page of them stays well under Akka's 128 KiB remote frame.</summary>
    public const int MaxLimit = 256;
}

/// <summary>One session as a query copies it out of the table (the table itself is the worker's alone).</summary>
/// <param name="Handle">Its slot; with <paramref name="Generation"/>, it names the session within its worker while it lives.</param>
public readonly record struct SessionSnapshot(
    int Handle, uint Generation, SessionKey Forward, SessionKey Reverse, SessionState State, TcpTracker Tcp, long Opened, long LastSeen);

/// <summary>
/// A page of sessions, with the snapshot whose indexes (tenant, service, instance, peer path) they were read under,
/// the worker's clock when they were read, the slot the next page starts at (−1: no more) and the live sessions in
/// the table then.
/// </summary>
public sealed record SessionPage(ForwardingSnapshot? Snapshot, IReadOnlyList<SessionSnapshot> Sessions, long Next, int Live, long Now, long TicksPerSecond);

/// <summary>
/// A query run by the worker that owns the table, between batches, a bounded number of slots per round
/// (<see cref="SlotsPerRound"/>), so a query over a large table never holds packets back for long. Not thread-safe:
/// the worker's thread runs every step.
/// </summary>
public sealed class SessionScan
{
    /// <summary>Slots one round visits at most (tunable): about 50 µs of the worker's time.</summary>
    public const int SlotsPerRound = 16_384;

    private readonly SessionQuery _query;
    private readonly List<SessionSnapshot> _found = [];
    private long _slot;
    private int _smallest = -1;
    private bool _resolved;
    private int _tenant = -1;
    private int _service = -1;
    private bool _nothing;
    private UInt128 _address;
    private bool _addressIsIpv6;

    public SessionScan(SessionQuery query)
    {
        ArgumentNullException.ThrowIfNull(query);
        _query = query with { Limit = Math.Clamp(query.Limit, 1, SessionQuery.MaxLimit) };
        _slot = Math.Max(0, query.Cursor);
    }

    /// <summary>Visits up to <see cref="SlotsPerRound"/> more slots; returns the page once the query is answered, else null (call again next round).</summary>
    public SessionPage? Step(PacketWorker worker, ForwardingSnapshot? snapshot, long now)
    {
        ArgumentNullException.ThrowIfNull(worker);
        var sessions = worker.Sessions;
        if (!_resolved)
        {
            Resolve(snapshot);
        }

        var end = Math.Min(sessions.Capacity, _slot + SlotsPerRound);
        for (; !_nothing && _slot < end; _slot++)
        {
            var handle = (int)_slot;
            if (!sessions.IsLive(handle) || !Matches(sessions, handle))
            {
                continue;
            }

            if (_query.TopByBytes)
            {
                Keep(sessions, handle);
                continue;
            }

            _found.Add(Copy(sessions, handle));
            if (_found.Count == _query.Limit)
            {
                _slot++;
                return Page(snapshot, worker, now, _slot < sessions.Capacity ? _slot : -1);
            }
        }

        if (!_nothing && _slot < sessions.Capacity)
        {
            return null;
        }

        if (_query.TopByBytes)
        {
            _found.Sort((a, b) => Bytes(b.State).CompareTo(Bytes(a.State)));
        }

        return Page(snapshot, worker, now, -1);
    }

    private SessionPage Page(ForwardingSnapshot? snapshot, PacketWorker worker, long now, long next) =>
        new(snapshot, [.. _found], next, worker.Sessions.Count, now, worker.TicksPerSecond);

    private void Resolve(ForwardingSnapshot? snapshot)
    {
        _resolved = true;
        if ((_query.Tenant is not null || _query.Service is not null) && snapshot is null)
        {
            _nothing = true;
            return;
        }

        if (_query.Tenant is { } tenant && (_tenant = snapshot!.TenantIndex(tenant)) < 0)
        {
            _nothing = true;
        }

        if (_query.Service is { } service && (_service = snapshot!.ServiceIndex(service)) < 0)
        {
            _nothing = true;
        }

        if (_query.Address is { } address)
        {
            _addressIsIpv6 = address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6;
            _address = _addressIsIpv6 ? IpAddressConversions.ToIpv6(address) : IpAddressConversions.ToIpv4(address);
        }
    }

    private bool Matches(SessionTable<SessionState> sessions, int handle)
    {
        ref readonly var state = ref sessions.Payload(handle);
        if ((_query.Tenant is not null && state.Tenant != _tenant) || (_query.Service is not null && state.Service != _service))
        {
            return false;
        }

        if (_query.Address is null)
        {
            return true;
        }

        ref readonly var forward = ref sessions.ForwardKey(handle);
        ref readonly var reverse = ref sessions.ReverseKey(handle);
        return (forward.IsIpv6 == _addressIsIpv6 && (forward.Source == _address || forward.Destination == _address))
            || (reverse.IsIpv6 == _addressIsIpv6 && (reverse.Source == _address || reverse.Destination == _address));
    }

    /// <summary>Keeps the session when it is among the <see cref="SessionQuery.Limit"/> with the most bytes so far.</summary>
    private void Keep(SessionTable<SessionState> sessions, int handle)
    {
        if (_found.Count < _query.Limit)
        {
            _found.Add(Copy(sessions, handle));
            _smallest = -1;
            return;
        }

        if (_smallest < 0)
        {
            _smallest = 0;
            for (var i = 1; i < _found.Count; i++)
            {
                if (Bytes(_found[i].State) < Bytes(_found[_smallest].State))
                {
                    _smallest = i;
                }
            }
        }

        if (Bytes(sessions.Payload(handle)) > Bytes(_found[_smallest].State))
        {
            _found[_smallest] = Copy(sessions, handle);
            _smallest = -1;
        }
    }

    internal static long Bytes(in SessionState state) => state.ForwardBytes + state.ReverseBytes;

    private static SessionSnapshot Copy(SessionTable<SessionState> sessions, int handle) => new(
        handle, sessions.Generation(handle), sessions.ForwardKey(handle), sessions.ReverseKey(handle), sessions.Payload(handle),
        sessions.Tcp(handle), sessions.Opened(handle), sessions.LastSeen(handle));
}
