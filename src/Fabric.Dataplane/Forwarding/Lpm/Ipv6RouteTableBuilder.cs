namespace Fabric.Dataplane.Forwarding.Lpm;

/// <summary>
/// Collects IPv6 routes and builds an immutable <see cref="Ipv6RouteTable"/>. Not thread-safe. <see cref="Build"/>
/// leaves the builder as it was, so further routes may be added and another table built.
/// </summary>
public sealed class Ipv6RouteTableBuilder
{
    private readonly Dictionary<(UInt128 Prefix, int Length), int> _routes = [];

    /// <summary>The number of distinct prefixes added so far.</summary>
    public int Count => _routes.Count;

    /// <summary>
    /// Adds the route <paramref name="prefix"/>/<paramref name="length"/> → <paramref name="value"/>, or replaces
    /// the value of that prefix. <paramref name="prefix"/> is host order (the first address octet most
    /// significant) with no bit set beyond <paramref name="length"/> (0..128); <paramref name="value"/> is at
    /// least 0.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The length or value is out of range.</exception>
    /// <exception cref="ArgumentException">The prefix has host bits set.</exception>
    public void Add(UInt128 prefix, int length, int value)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, Ipv6RouteTable.AddressBits);
        ArgumentOutOfRangeException.ThrowIfNegative(value);
        if ((prefix & ~Mask(length)) != UInt128.Zero)
        {
            throw new ArgumentException($"Prefix 0x{prefix:X32}/{length} has bits set beyond its length.", nameof(prefix));
        }

        _routes[(prefix, length)] = value;
    }

    /// <summary>Builds a table of the routes added so far.</summary>
    public Ipv6RouteTable Build()
    {
        var routes = new PrefixRoute[_routes.Count];
        var i = 0;
        foreach (var ((prefix, length), value) in _routes)
        {
            routes[i++] = new PrefixRoute(prefix, length, value);
        }

        var rootStride = StrideTrie.RootStrideFor(routes.Length);
        return new Ipv6RouteTable(StrideTrieBuilder.Build(routes, Ipv6RouteTable.AddressBits, rootStride), routes.Length, rootStride);
    }

    /// <summary>The network mask of a prefix length.</summary>
    internal static UInt128 Mask(int length) => length == 0 ? UInt128.Zero : UInt128.MaxValue << (Ipv6RouteTable.AddressBits - length);
}
