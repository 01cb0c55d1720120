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

    /// <summary>
    /// The path a new session to the hosting router in <paramref name="slot"/> takes, and in <paramref name="chosenSlot"/> the
    /// slot of the hosting router it leads to (a transit's path leads to each router behind it: the one chosen for); null
    /// and −1 when no path is up.
    /// </summary>
    public static PeerPath? ForNewSession(ServiceEntry entry, int slot, long now, PeerKeyring keys, out int chosenSlot)
    {
        ArgumentNullException.ThrowIfNull(entry);
        ArgumentNullException.ThrowIfNull(keys);
        var index = ForNewSession(entry, slot, now, keys, signalling: true);
        return At(entry, index >= 0 ? index : ForNewSession(entry, slot, now, keys, signalling: false), out chosenSlot);
    }

    private static int ForNewSession(ServiceEntry entry, int slot, long now, PeerKeyring keys, bool signalling)
    {
        var index = Best(entry, slot, now, quality: true, keys, signalling);
        if (index < 0)
        {
            index = Best(entry, slot: -1, now, quality: true, keys, signalling);
        }

        if (index < 0)
        {
            index = Best(entry, slot, now, quality: false, keys, signalling);
        }

        return index >= 0 ? index : Best(entry, slot: -1, now, quality: false, keys, signalling);
    }

    /// <summary>
    /// Where a session on <paramref name="current"/> (null: a path no longer configured) goes under a service with
    /// failover, or null when it stays: off a path that is down (to the best path up, see <see cref="ForNewSession"/>),
    /// off a path that breaks the service's quality (only to a path that meets it), and, with
    /// <paramref name="revert"/> and ordered choice, back to the first path in configuration order that the service
    /// takes and that may signal the session (its home) when the session is elsewhere. <paramref name="targetSlot"/>: the
    /// slot of the hosting router the path goes to, as <see cref="ForNewSession"/> gives it; −1 when the session stays.
    /// </summary>
    public static PeerPath? MoveTarget(ServiceEntry entry, PeerPath? current, bool revert, long now, PeerKeyring keys, out int targetSlot)
    {
        ArgumentNullException.ThrowIfNull(entry);
        ArgumentNullException.ThrowIfNull(keys);
        var slot = current is null ? -1 : entry.SlotOf(current);
        if (current is null || !current.Health.IsUsable)
        {
            return ForNewSession(entry, slot, now, keys, out targetSlot);
        }

        if (!current.Health.Admits(entry.QualityBound, now))
        {
            var taken = Taken(entry, slot, now, keys, signalling: true);
            return At(entry, taken >= 0 ? taken : Taken(entry, slot, now, keys, signalling: false), out targetSlot);
        }

        if (!revert || entry.Policy.PathChoice != Model.PathChoice.Ordered)
        {
            targetSlot = -1;
            return null;
        }

        // Home is the first path the service takes that may signal the session: one that may not would refuse the move.
        var home = Best(entry, slot: -1, now, quality: true, keys, signalling: true);
        return At(entry, home >= 0 && !ReferenceEquals(entry.PeerPaths[home], current) ? home : -1, out targetSlot);
    }

    /// <summary>The path at <paramref name="index"/> of the entry's paths and the slot it is listed under; null and −1 for −1.</summary>
    private static PeerPath? At(ServiceEntry entry, int index, out int slot)
    {
        slot = index >= 0 ? entry.PeerPathSlots[index] : -1;
        return index >= 0 ? entry.PeerPaths[index] : null;
    }

    /// <summary>The index of a path the service takes, to the router in <paramref name="slot"/> first; −1 when there is none.</summary>
    private static int Taken(ServiceEntry entry, int slot, long now, PeerKeyring keys, bool signalling)
    {
        var index = Best(entry, slot, now, quality: true, keys, signalling);
        return index >= 0 ? index : Best(entry, slot: -1, now, quality: true, keys, signalling);
    }

    /// <summary>
    /// The index in the entry's paths of the best candidate path to the router in <paramref name="slot"/> (−1: any router
    /// with an instance of the service up, as far as this router knows) by the service's path choice: one the service takes
    /// (<paramref name="quality"/>), or one merely up; with <paramref name="signalling"/>, only one that may signal the
    /// session (<see cref="MaySignal"/>); −1 when there is none. A transit's path is listed once per router behind it.
    /// </summary>
    private static int Best(ServiceEntry entry, int slot, long now, bool quality, PeerKeyring keys, bool signalling)
    {
        var balance = entry.Policy.PathChoice == Model.PathChoice.Balance;
        var load = entry.Runtime.Load;
        var best = -1;
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
                return i;
            }

            var sessions = path.Waypoints.InUse;
            if (sessions < fewest)
            {
                best = i;
                fewest = sessions;
            }
        }

        return best;
    }
}
