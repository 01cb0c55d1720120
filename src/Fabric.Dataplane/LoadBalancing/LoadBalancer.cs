using Fabric.Model;

namespace Fabric.Dataplane.LoadBalancing;

/// <summary>
/// Picks the instance a new session goes to. The pick is made once per session and is sticky: the caller
/// stores the index in the session and calls <see cref="InstanceLoad.OnSessionStart"/>; docs/load-balancing.md
/// states the strategies for operators.
/// </summary>
/// <remarks>
/// <para>
/// An instance is eligible when it is up and not full; full means <c>sessions ≥ capacity</c> for a capacity
/// above 0, where sessions are local plus reported remote ones (<see cref="InstanceLoad.Sessions"/>).
/// </para>
/// <para>
/// Hunt: the eligible instance of lowest cost, ties to the lower index; so the cheapest instance fills up
/// before the next is used. Weights and randomness play no part.
/// </para>
/// <para>
/// Proportional: when every eligible instance has a capacity, instance <c>i</c> is chosen with probability
/// <c>wᵢ × (capacityᵢ − sessionsᵢ) / Σ</c> over the eligible ones, with <c>wᵢ</c> its effective weight.
/// When any eligible instance is unlimited, remaining capacity means nothing, and the pick is least
/// connections: the eligible instance with the lowest <c>sessionsᵢ / wᵢ</c>, ties chosen uniformly at random.
/// </para>
/// <para>
/// Randomness comes only from <c>randomBits</c> (64 uniform bits from the caller's seeded generator), so a
/// pick is a pure function of its inputs. Thread-safe (it reads one published health vector and the counters);
/// never allocates.
/// </para>
/// </remarks>
public static class LoadBalancer
{
    /// <summary>Picks an eligible instance for a new session.</summary>
    /// <returns>The instance index, or −1 when no instance is eligible (all down or full).</returns>
    public static int Pick(InstanceSet set, InstanceLoad load, LoadBalancingStrategy strategy, ulong randomBits)
    {
        if (set.Count != load.Count)
        {
            ThrowCountMismatch(set.Count, load.Count);
        }

        var health = load.HealthSnapshot;
        return strategy switch
        {
            LoadBalancingStrategy.Hunt => PickHunt(set, load, health),
            LoadBalancingStrategy.Proportional => PickProportional(set, load, health, randomBits),
            _ => ThrowUnknownStrategy(strategy),
        };
    }

    private static int PickHunt(InstanceSet set, InstanceLoad load, InstanceHealth[] health)
    {
        var costs = set.Costs;
        var best = -1;
        for (var i = 0; i < costs.Length; i++)
        {
            if ((best < 0 || costs[i] < costs[best]) && IsEligible(set, load, health, i))
            {
                best = i;
            }
        }

        return best;
    }

    private static int PickProportional(InstanceSet set, InstanceLoad load, InstanceHealth[] health, ulong randomBits)
    {
        var capacities = set.Capacities;
        ulong total = 0;
        var anyEligible = false;
        for (var i = 0; i < capacities.Length; i++)
        {
            if (!IsEligible(set, load, health, i))
            {
                continue;
            }

            if (capacities[i] == 0)
            {
                return PickLeastConnections(set, load, health, randomBits);
            }

            anyEligible = true;
            total += ShareOf(i, capacities[i], load, health);
        }

        if (!anyEligible)
        {
            return -1;
        }

        // Lemire's multiply-shift maps 64 random bits onto [0, total) without division.
        var target = Math.BigMul(randomBits, total, out _);
        var last = -1;
        for (var i = 0; i < capacities.Length; i++)
        {
            if (!IsEligible(set, load, health, i))
            {
                continue;
            }

            var share = ShareOf(i, capacities[i], load, health);
            if (target < share)
            {
                return i;
            }

            target -= share;
            last = i;
        }

        // Reached only when a session ended between the two passes and shrank the shares.
        return last;
    }

    private static int PickLeastConnections(InstanceSet set, InstanceLoad load, InstanceHealth[] health, ulong randomBits)
    {
        var best = -1;
        long bestSessions = 0;
        long bestWeight = 1;
        ulong ties = 0;
        for (var i = 0; i < set.Count; i++)
        {
            if (!IsEligible(set, load, health, i))
            {
                continue;
            }

            var sessions = load.Sessions(i);
            long weight = health[i].EffectiveWeight;

            // sessions/weight against bestSessions/bestWeight, cross-multiplied in 128 bits.
            var order = best < 0 ? -1 : ((Int128)sessions * bestWeight).CompareTo((Int128)bestSessions * weight);
            if (order < 0)
            {
                (best, bestSessions, bestWeight, ties) = (i, sessions, weight, 1);
            }
            else if (order == 0)
            {
                // Reservoir sampling: the k-th tied instance replaces the choice with probability 1/k.
                ties++;
                randomBits = SplitMix64(randomBits);
                if (Math.BigMul(randomBits, ties, out _) == 0)
                {
                    best = i;
                }
            }
        }

        return best;
    }

    private static ulong ShareOf(int instance, int capacity, InstanceLoad load, InstanceHealth[] health)
    {
        var remaining = Math.Max(0, capacity - load.Sessions(instance));
        return (ulong)remaining * (ulong)health[instance].EffectiveWeight;
    }

    private static bool IsEligible(InstanceSet set, InstanceLoad load, InstanceHealth[] health, int instance)
    {
        if (!health[instance].IsUp)
        {
            return false;
        }

        var capacity = set.Capacities[instance];
        return capacity == 0 || load.Sessions(instance) < capacity;
    }

    private static ulong SplitMix64(ulong state)
    {
        var z = state + 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    private static void ThrowCountMismatch(int setCount, int loadCount) =>
        throw new ArgumentException($"The instance set has {setCount} instances but the load tracks {loadCount}.");

    private static int ThrowUnknownStrategy(LoadBalancingStrategy strategy) =>
        throw new ArgumentOutOfRangeException(nameof(strategy), strategy, "Unknown load-balancing strategy.");
}
