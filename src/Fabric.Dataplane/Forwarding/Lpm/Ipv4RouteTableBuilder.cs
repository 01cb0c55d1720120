namespace Fabric.Dataplane.Forwarding.Lpm;

/// <summary>
/// Collects IPv4 routes and builds an immutable <see cref="Ipv4RouteTable"/>. Not thread-safe. <see cref="Build"/>
/// leaves the builder as it was, so further routes may be added and another table built.
/// </summary>
public sealed class Ipv4RouteTableBuilder
{
    // Key: the prefix in the upper 32 bits, the length in the lower 8.
    private readonly Dictionary<ulong, int> _routes = [];

    /// <summary>The number of distinct prefixes added so far.</summary>
    public int Count => _routes.Count;

    /// <summary>
    /// Adds the route <paramref name="prefix"/>/<paramref name="length"/> → <paramref name="value"/>, or replaces
    /// the value of that prefix. <paramref name="prefix"/> is host order with no bit set beyond
    /// <paramref name="length"/> (0..32); <paramref name="value"/> is at least 0.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The length or value is out of range.</exception>
    /// <exception cref="ArgumentException">The prefix has host bits set.</exception>
    public void Add(uint prefix, int length, int value)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, Ipv4RouteTable.AddressBits);
        ArgumentOutOfRangeException.ThrowIfNegative(value);
        if ((prefix & ~Mask(length)) != 0)
        {
            throw new ArgumentException($"Prefix 0x{prefix:X8}/{length} has bits set beyond its length.", nameof(prefix));
        }

        _routes[((ulong)prefix << 8) | (uint)length] = value;
    }

    /// <summary>Builds a table of the routes added so far.</summary>
    public Ipv4RouteTable Build()
    {
        var routes = new PrefixRoute[_routes.Count];
        var i = 0;
        foreach (var (key, value) in _routes)
        {
            routes[i++] = new PrefixRoute((UInt128)(uint)(key >> 8) << (128 - Ipv4RouteTable.AddressBits), (int)(key & 0xFF), value);
        }

        var rootStride = StrideTrie.RootStrideFor(routes.Length);
        return new Ipv4RouteTable(StrideTrieBuilder.Build(routes, Ipv4RouteTable.AddressBits, rootStride), routes.Length, rootStride);
    }

    /// <summary>The network mask of a prefix length, host order.</summary>
    internal static uint Mask(int length) => length == 0 ? 0 : uint.MaxValue << (Ipv4RouteTable.AddressBits - length);
}
