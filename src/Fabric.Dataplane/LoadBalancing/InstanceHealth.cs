namespace Fabric.Dataplane.LoadBalancing;

/// <summary>What the control plane knows of one instance: whether it is up, and its proportional weight.</summary>
/// <param name="IsUp">Whether the instance may take new sessions.</param>
/// <param name="Weight">
/// The instance's relative share under proportional balancing; values are clamped to 1..<see cref="MaxWeight"/>
/// (so <c>default</c> counts as 1). Hunt ignores it.
/// </param>
public readonly record struct InstanceHealth(bool IsUp, int Weight)
{
    /// <summary>The largest weight that counts; it keeps proportional weights within 64 bits.</summary>
    public const int MaxWeight = ushort.MaxValue;

    /// <summary>Up, with weight 1.</summary>
    public static InstanceHealth Up => new(true, 1);

    /// <summary>Down: takes no new sessions.</summary>
    public static InstanceHealth Down => new(false, 1);

    /// <summary>The weight the balancer uses: <see cref="Weight"/> clamped to 1..<see cref="MaxWeight"/>.</summary>
    public int EffectiveWeight => Math.Clamp(Weight, 1, MaxWeight);
}
