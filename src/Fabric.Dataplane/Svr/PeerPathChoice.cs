using Fabric.Dataplane.Forwarding;
using Fabric.Dataplane.Svr.Security;

namespace Fabric.Dataplane.Svr;

/// <summary>
/// Which peer path an ingress session of a service takes, decided when the session opens and when its path changes
/// health (goes down, breaks or meets the service's quality again), never per packet:
/// <list type="number">
/// <item>a path to the chosen hosting router that the service takes (<see cref="ServiceEntry.Takes"/>: up and within
/// its quality bounds), else one to any hosting router with an instance of the service up (as load feedback tells);</item>
/// <item>failing that, for a new session or one whose path is down, a path that is merely up (best effort: quality
/// that no path meets does not refuse sessions), to that router first.</item>
/// </list>
/// Among the candidates of a step, <see cref="Model.PathChoice.Ordered"/> takes the first in configuration order and
/// <see cref="Model.PathChoice.Balance"/> the one carrying the fewest sessions (its waypoint pairs in use; ties in
/// configuration order). The steps are taken first over the paths that may signal the session (<see cref="MaySignal"/>),
/// then over all: a path that may not is chosen only when no other would do, and its caller then refuses the session
/// (fail closed) rather than send it there. Allocation-free; reads the paths' health and keys, which other threads write
/// (a moment's view).
/// </summary>
public static class PeerPathChoice
{
    /// <summary>
    /// Whether a session of <paramref name="entry"/>'s service may be signalled on <paramref name="path"/> with the keys
    /// in <paramref name="keys"/>: not when the service requires encryption and the path's peer has no keys yet, nor when
    /// there are no keys and the path's peer refuses unauthenticated metadata.
    /// </summary>
    public static bool MaySignal(ServiceEntry entry, PeerPath path, PeerKeyring keys)
    {
        ArgumentNullException.ThrowIfNull(entry);
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(keys);
        var hasKeys = keys[path.KeysId].HasKeys;
        return FailClosed.Decide(entry.Policy.Encryption, hasKeys) != SealDecision.HoldOrRefuse && (hasKeys || path.AcceptsUnauthenticatedMetadata);
    }

    /// <summary>The path a new session to the hosting router in <paramref name="slot"/> takes; null when no path is up.</summary>
    public static PeerPath? ForNewSession(ServiceEntry entry, int slot, long now, PeerKeyring keys)
    {
        ArgumentNullException.ThrowIfNull(entry);
        ArgumentNullException.ThrowIfNull(keys);
        return ForNewSession(entry, slot, now, keys, signalling: true) ?? ForNewSession(entry, slot, now, keys, signalling: false);
    }

    private static PeerPath? ForNewSession(ServiceEntry entry, int slot, long now, PeerKeyring keys, bool signalling) =>
        Best(entry, slot, now, quality: true, keys, signalling)
            ?? Best(entry, slot: -1, now, quality: true, keys, signalling)
            ?? Best(entry, slot, now, quality: false, keys, signalling)
            ?? Best(entry, slot: -1, now, quality: false, keys, signalling);

    /// <summary>
    /// Where a session on <paramref name="current"/> (null: a path no longer configured) goes under a service with
    /// failover, or null when it stays: off a path that is down (to the best path up, see <see cref="ForNewSession"/>),
    /// off a path that breaks the service's quality (only to a path that meets it), and, with
    /// <paramref name="revert"/> and ordered choice, back to the first path in configuration order that the service
    /// takes and that may signal the session (its home) when the session is elsewhere.
    /// </summary>
    public static PeerPath? MoveTarget(ServiceEntry entry, PeerPath? current, bool revert, long now, PeerKeyring keys)
    {
        ArgumentNullException.ThrowIfNull(entry);
        ArgumentNullException.ThrowIfNull(keys);
        var slot = current is null ? -1 : entry.SlotOf(current);
        if (current is null || !current.Health.IsUsable)
        {
            return ForNewSession(entry, slot, now, keys);
        }

        if (!current.Health.Admits(entry.QualityBound, now))
        {
            return Taken(entry, slot, now, keys, signalling: true) ?? Taken(entry, slot, now, keys, signalling: false);
        }

        if (!revert || entry.Policy.PathChoice != Model.PathChoice.Ordered)
        {
            return null;
        }

        // Home is the first path the service takes that may signal the session: one that may not would refuse the move.
        var home = Best(entry, slot: -1, now, quality: true, keys, signalling: true);
        return home is null || ReferenceEquals(home, current) ? null : home;
    }

    /// <summary>A path the service takes, to the router in <paramref name="slot"/> first.</summary>
    private static PeerPath? Taken(ServiceEntry entry, int slot, long now, PeerKeyring keys, bool signalling) =>
        Best(entry, slot, now, quality: true, keys, signalling) ?? Best(entry, slot: -1, now, quality: true, keys, signalling);

    /// <summary>
    /// The best candidate path to the router in <paramref name="slot"/> (−1: any router with an instance of the service up,
    /// as far as this router knows) by the service's path choice: one the service takes (<paramref name="quality"/>), or
    /// one merely up; with <paramref name="signalling"/>, only one that may signal the session (<see cref="MaySignal"/>);
    /// null when there is none.
    /// </summary>
    private static PeerPath? Best(ServiceEntry entry, int slot, long now, bool quality, PeerKeyring keys, bool signalling)
    {
        var balance = entry.Policy.PathChoice == Model.PathChoice.Balance;
        var load = entry.Runtime.Load;
        PeerPath? best = null;
        var fewest = int.MaxValue;
        var paths = entry.PeerPaths;
        for (var i = 0; i < paths.Length; i++)
        {
            var path = paths[i];
            if ((slot >= 0 ? entry.PeerPathSlots[i] != slot : !load.Health(entry.PeerPathSlots[i]).IsUp)
                || !(quality ? entry.Takes(path, now) : path.Health.IsUsable)
                || (signalling && !MaySignal(entry, path, keys)))
            {
                continue;
            }

            if (!balance)
            {
                return path;
            }

            var sessions = path.Waypoints.InUse;
            if (sessions < fewest)
            {
                best = path;
                fewest = sessions;
            }
        }

        return best;
    }
}
