namespace Fabric.Actors.Tenants;

/// <summary>
/// How one cluster-wide limit is divided among the router nodes a tenant's traffic enters: max-min fair
/// ("water-filling") by demand. Each node wants its measured demand plus a headroom, and at least an idle
/// floor; nodes that want less than an equal share of what is left get what they want, the others split the
/// rest evenly; what nobody wants is spread evenly over all of them, so the shares always add up to the limit.
/// Pure.
/// </summary>
public static class TenantBudgetShares
{
    /// <summary>Each node's share of <paramref name="limit"/>, in the order of <paramref name="demands"/>.</summary>
    /// <param name="limit">The cluster-wide rate (bytes per second), more than 0.</param>
    /// <param name="demands">Each node's measured demand (bytes per second offered, admitted or not); at least one.</param>
    /// <param name="headroom">
    /// The fraction added to a demand (0.1: 10 %), so a node's share does not pin it to exactly what it sent last
    /// (a sender's rate jitters, and a sender that adapts to loss, as TCP does, can only grow into spare room).
    /// </param>
    /// <param name="idleFloor">
    /// The fraction of the limit reserved, in total, for nodes demanding little or nothing (0.05: 5 %, split evenly
    /// over the nodes), so a node whose tenant starts sending is not at zero until the next exchange.
    /// </param>
    /// <returns>
    /// Shares that add up to exactly <paramref name="limit"/>, each at least 1 byte per second (when the limit
    /// allows) and at most the limit; the whole limit to a node alone; a node that wants no more than an equal
    /// share of the limit gets at least what it wants; a node that gets less than it wants gets at least as much as
    /// any other node, less one byte of rounding.
    /// </returns>
    public static long[] Divide(long limit, ReadOnlySpan<long> demands, double headroom, double idleFloor)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(limit);
        ArgumentOutOfRangeException.ThrowIfZero(demands.Length);
        ArgumentOutOfRangeException.ThrowIfNegative(headroom);
        ArgumentOutOfRangeException.ThrowIfNegative(idleFloor);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(idleFloor, 1.0);
        var count = demands.Length;
        var shares = new long[count];
        if (count == 1)
        {
            shares[0] = limit;
            return shares;
        }

        var floor = Math.Max(1, (long)(limit * idleFloor / count));
        var wants = new long[count];
        var order = new int[count];
        for (var i = 0; i < count; i++)
        {
            var demand = Math.Clamp(demands[i], 0, limit);
            wants[i] = Math.Clamp(demand + (long)Math.Ceiling(demand * headroom), floor, limit);
            order[i] = i;
        }

        Array.Sort(wants.ToArray(), order);

        // Ascending by want: while the smallest want fits an equal split of what is left, it is met; once one does
        // not, none after it does either, and each of those gets the equal split (the last one the rounding).
        var remaining = limit;
        for (var k = 0; k < count; k++)
        {
            var node = order[k];
            var share = Math.Min(wants[node], remaining / (count - k));
            if (k == count - 1 && wants[node] >= remaining)
            {
                share = remaining;
            }

            shares[node] = share;
            remaining -= share;
        }

        // Everyone is met and some of the limit is left: spread it evenly (the first nodes take the rounding).
        for (var i = 0; i < count; i++)
        {
            shares[i] += (remaining / count) + (i < remaining % count ? 1 : 0);
        }

        return shares;
    }
}
