using Fabric.Dataplane.Sessions;

namespace Fabric.Dataplane.Pipeline;

/// <summary>
/// The instance an ingress session is pinned to, for the sessions that have one: those a redirect moved to the router
/// their instance went to (<see cref="SvrStage.FollowRedirect"/>). The pin is the instance's tuple as it answers (what the
/// old egress's redirect carried as its reverse context); the ingress puts it in the forward metadata it sends while it
/// re-signals (reverse context, TLV 4/5), so the new egress opens the session on that instance rather than by load
/// balancing (docs/mobility.md "An instance moves").
/// </summary>
/// <remarks>
/// Kept beside the session table rather than in <see cref="SessionState"/>: a pin costs 40 octets (an IPv6 tuple) and
/// only a session whose instance moved has one, so the 104 octets of every other session stay as they are. A fixed room
/// of <see cref="Capacity"/> slots chosen by the session's handle, allocated once; a slot is believed only for the handle
/// and session id it was written for, so a handle reused by another session finds no pin, and a pin that another
/// session's overwrote is lost (that session's next re-signal balances among the new router's instances, as without a
/// pin). Not thread-safe: the worker's.
/// </remarks>
public sealed class InstancePins
{
    /// <summary>Slots (tunable; a power of two): how many sessions may move with a pin at once before one displaces another.</summary>
    public const int Capacity = 1024;

    private readonly Entry[] _entries = new Entry[Capacity];

    /// <summary>Pins session <paramref name="handle"/> (of session id <paramref name="sessionId"/>) to the instance that answers with <paramref name="instance"/>.</summary>
    public void Pin(int handle, uint sessionId, in SessionKey instance) =>
        _entries[handle & (Capacity - 1)] = new Entry(handle + 1, sessionId, instance);

    /// <summary>The instance session <paramref name="handle"/> of <paramref name="sessionId"/> is pinned to; false when it has none (or lost it).</summary>
    public bool TryGet(int handle, uint sessionId, out SessionKey instance)
    {
        ref readonly var entry = ref _entries[handle & (Capacity - 1)];
        instance = entry.Instance;
        return entry.HandlePlusOne == handle + 1 && entry.SessionId == sessionId;
    }

    /// <summary>
    /// The session pinned to the instance that answers with <paramref name="instance"/> under session id
    /// <paramref name="sessionId"/>: how a redirect that reaches the ingress on the waypoint tuple its session left finds
    /// that session. Looks at every slot (a late redirect only, never per packet of a session); false when none holds it.
    /// </summary>
    public bool TryFindPinned(uint sessionId, in SessionKey instance, out int handle)
    {
        for (var i = 0; i < _entries.Length; i++)
        {
            ref readonly var entry = ref _entries[i];
            if (entry.HandlePlusOne != 0 && entry.SessionId == sessionId && entry.Instance == instance)
            {
                handle = entry.HandlePlusOne - 1;
                return true;
            }
        }

        handle = -1;
        return false;
    }

    private readonly record struct Entry(int HandlePlusOne, uint SessionId, SessionKey Instance);
}
