using Fabric.Dataplane.Forwarding.Lpm;

namespace Fabric.Tests.Dataplane.Forwarding.Lpm;

/// <summary>A route as the property tests generate it: the prefix may carry host bits, which are masked off.</summary>
public readonly record struct Route4(uint Address, int Length, int Value)
{
    public uint Prefix => Address & Ipv4Mask(Length);

    public uint Last => Prefix | ~Ipv4Mask(Length);

    public static uint Ipv4Mask(int length) => length == 0 ? 0 : uint.MaxValue << (32 - length);
}

/// <inheritdoc cref="Route4"/>
public readonly record struct Route6(UInt128 Address, int Length, int Value)
{
    public UInt128 Prefix => Address & Ipv6Mask(Length);

    public UInt128 Last => Prefix | ~Ipv6Mask(Length);

    public static UInt128 Ipv6Mask(int length) => length == 0 ? UInt128.Zero : UInt128.MaxValue << (128 - length);
}

/// <summary>The naive model: the routes in a list, the last one added for a prefix winning, scanned for the longest match.</summary>
public sealed class NaiveLpm<TAddress>(Func<TAddress, TAddress, int, bool> contains)
    where TAddress : IEquatable<TAddress>
{
    private readonly List<(TAddress Prefix, int Length, int Value)> _routes = [];

    public void Add(TAddress prefix, int length, int value)
    {
        _routes.RemoveAll(r => r.Length == length && r.Prefix.Equals(prefix));
        _routes.Add((prefix, length, value));
    }

    public int Lookup(TAddress address)
    {
        var best = (Length: -1, Value: Ipv4RouteTable.NoRoute);
        foreach (var route in _routes)
        {
            if (route.Length > best.Length && contains(route.Prefix, address, route.Length))
            {
                best = (route.Length, route.Value);
            }
        }

        return best.Value;
    }

    public static NaiveLpm<uint> Ipv4() => new((prefix, address, length) => (address & Route4.Ipv4Mask(length)) == prefix);

    public static NaiveLpm<UInt128> Ipv6() => new((prefix, address, length) => (address & Route6.Ipv6Mask(length)) == prefix);
}

/// <summary>
/// A simpler but fast reference for large IPv4 sets: one dictionary per prefix length, probed from /32 down.
/// </summary>
public sealed class PerLengthIpv4Reference
{
    private readonly Dictionary<uint, int>[] _byLength = Enumerable.Range(0, 33).Select(_ => new Dictionary<uint, int>()).ToArray();

    public void Add(uint prefix, int length, int value) => _byLength[length][prefix] = value;

    public int Lookup(uint address)
    {
        for (var length = 32; length >= 0; length--)
        {
            if (_byLength[length].TryGetValue(address & Route4.Ipv4Mask(length), out var value))
            {
                return value;
            }
        }

        return Ipv4RouteTable.NoRoute;
    }
}
