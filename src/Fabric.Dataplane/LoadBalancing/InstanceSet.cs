namespace Fabric.Dataplane.LoadBalancing;

/// <summary>
/// The instances of one service as configured: instance <c>i</c> (0 to <see cref="Count"/> − 1) has a cost
/// (lower is preferred by hunt) and a capacity in sessions (0 means unlimited).
/// </summary>
/// <remarks>Immutable and thread-safe; part of a forwarding snapshot. Its mutable side is <see cref="InstanceLoad"/>.</remarks>
public sealed class InstanceSet
{
    /// <summary>The most instances one service may have; it keeps proportional weights within 64 bits.</summary>
    public const int MaxInstances = 1 << 16;

    private readonly int[] _costs;
    private readonly int[] _capacities;

    /// <param name="costs">The cost of each instance, not negative.</param>
    /// <param name="capacities">The session capacity of each instance, not negative; 0 means unlimited.</param>
    public InstanceSet(ReadOnlySpan<int> costs, ReadOnlySpan<int> capacities)
    {
        if (costs.Length != capacities.Length)
        {
            throw new ArgumentException($"{costs.Length} costs but {capacities.Length} capacities.", nameof(capacities));
        }

        ArgumentOutOfRangeException.ThrowIfGreaterThan(costs.Length, MaxInstances, nameof(costs));
        foreach (var cost in costs)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(cost, nameof(costs));
        }

        foreach (var capacity in capacities)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(capacity, nameof(capacities));
        }

        _costs = costs.ToArray();
        _capacities = capacities.ToArray();
    }

    public int Count => _costs.Length;

    public ReadOnlySpan<int> Costs => _costs;

    /// <summary>The session capacity of each instance; 0 means unlimited.</summary>
    public ReadOnlySpan<int> Capacities => _capacities;

    public int Cost(int instance) => _costs[instance];

    public int Capacity(int instance) => _capacities[instance];
}
