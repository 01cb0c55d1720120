using Fabric.Dataplane.Forwarding.Lpm;

namespace Fabric.Dataplane.Forwarding;

/// <summary>One (service, prefix, protocol, port range) a destination may match.</summary>
/// <param name="HasPorts">False when the transport matches every port (or is ICMP).</param>
public readonly record struct ServiceRule(int Service, byte Protocol, bool HasPorts, ushort PortLow, ushort PortHigh, byte PrefixLength)
{
    public bool Matches(byte protocol, ushort port) =>
        protocol == Protocol && (!HasPorts || (port >= PortLow && port <= PortHigh));

    /// <summary>Sorts more specific first: a port match, then a narrower range, then a longer prefix.</summary>
    public static int CompareSpecificity(ServiceRule a, ServiceRule b)
    {
        if (a.HasPorts != b.HasPorts)
        {
            return a.HasPorts ? -1 : 1;
        }

        var widthA = a.PortHigh - a.PortLow;
        var widthB = b.PortHigh - b.PortLow;
        if (widthA != widthB)
        {
            return widthA.CompareTo(widthB);
        }

        return b.PrefixLength.CompareTo(a.PrefixLength);
    }
}

/// <summary>
/// Finds the most specific service for a destination: a longest-prefix match picks the list of
/// rules that can apply there (the rules of that prefix and of every prefix covering it), already
/// sorted most specific first, and the first rule matching protocol and port wins. Prefixes whose rules are the same
/// share one list. Immutable; thread-safe.
/// </summary>
public sealed class ServiceMatcher(Ipv4RouteTable prefixes4, Ipv6RouteTable prefixes6, ServiceRule[][] ruleLists)
{
    public const int NoService = -1;

    public int Match(bool isIpv6, UInt128 destination, byte protocol, ushort port) =>
        TryMatch(isIpv6, destination, protocol, port, out var rule) ? rule.Service : NoService;

    /// <summary>The most specific rule matching the destination, protocol and port: the one <see cref="Match"/> takes the service of.</summary>
    public bool TryMatch(bool isIpv6, UInt128 destination, byte protocol, ushort port, out ServiceRule rule)
    {
        rule = default;
        var list = isIpv6 ? prefixes6.Lookup(destination) : prefixes4.Lookup((uint)destination);
        if (list < 0)
        {
            return false;
        }

        var rules = ruleLists[list];
        for (var i = 0; i < rules.Length; i++)
        {
            if (rules[i].Matches(protocol, port))
            {
                rule = rules[i];
                return true;
            }
        }

        return false;
    }
}
