using Fabric.Dataplane.Forwarding;

namespace Fabric.Dataplane.Svr;

/// <summary>
/// Which peer path an ingress session of a service takes, decided when the session opens and when its path changes
/// health (goes down, breaks or meets the service's quality again), never per packet:
/// <list type="number">
/// <item>a path to the chosen hosting router that the service takes (<see cref="ServiceEntry.Takes"/>: up and within
/// its quality bounds), else one to any hosting router;</item>
/// <item>failing that, for a new session or one whose path is down, a path that is merely up (best effort: quality
/// that no path meets does not refuse sessions), to that router first.</item>
/// </list>
/// Among the candidates of a step, <see cref="Model.PathChoice.Ordered"/> takes the first in configuration order and
/// <see cref="Model.PathChoice.Balance"/> the one carrying the fewest sessions (its waypoint pairs in use; ties in
/// configuration order). Allocation-free; reads the paths' health, which other threads write (a moment's view).
/// </summary>
public static class PeerPathChoice
{
    /// <summary>The path a new session to the hosting router in <paramref name="slot"/> takes; null when no path is up.</summary>
    public static PeerPath? ForNewSession(ServiceEntry entry, int slot, long now)
    {
        ArgumentNullException.ThrowIfNull(entry);
        return Best(entry, slot, now, quality: true)
            ?? Best(entry, slot: -1, now, quality: true)
            ?? Best(entry, slot, now, quality: false)
            ?? Best(entry, slot: -1, now, quality: false);
    }

    /// <summary>
    /// Where a session on <paramref name="current"/> (null: a path no longer configured) goes under a service with
    /// failover, or null when it stays: off a path that is down (to the best path up, see <see cref="ForNewSession"/>),
    /// off a path that breaks the service's quality (only to a path that meets it), and, with
    /// <paramref name="revert"/> and ordered choice, back to the first path in configuration order that the service
    /// takes (its home) when the session is elsewhere.
    /// </summary>
    public static PeerPath? MoveTarget(ServiceEntry entry, PeerPath? current, bool revert, long now)
    {
        ArgumentNullException.ThrowIfNull(entry);
        var slot = current is null ? -1 : entry.SlotOf(current);
        if (current is null || !current.Health.IsUsable)
        {
            return ForNewSession(entry, slot, now);
        }

        if (!current.Health.Admits(entry.QualityBound, now))
        {
            return Best(entry, slot, now, quality: true) ?? Best(entry, slot: -1, now, quality: true);
        }

        if (!revert || entry.Policy.PathChoice != Model.PathChoice.Ordered)
        {
            return null;
        }

        var home = Best(entry, slot: -1, now, quality: true);
        return home is null || ReferenceEquals(home, current) ? null : home;
    }

    /// <summary>
    /// The best candidate path to the router in <paramref name="slot"/> (−1: any) by the service's path choice: one the
    /// service takes (<paramref name="quality"/>), or one merely up; null when there is none.
    /// </summary>
    private static PeerPath? Best(ServiceEntry entry, int slot, long now, bool quality)
    {
        var balance = entry.Policy.PathChoice == Model.PathChoice.Balance;
        PeerPath? best = null;
        var fewest = int.MaxValue;
        var paths = entry.PeerPaths;
        for (var i = 0; i < paths.Length; i++)
        {
            var path = paths[i];
            if ((slot >= 0 && entry.PeerPathSlots[i] != slot) || !(quality ? entry.Takes(path, now) : path.Health.IsUsable))
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
