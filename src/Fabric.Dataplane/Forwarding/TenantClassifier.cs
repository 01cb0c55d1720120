using Fabric.Dataplane.Forwarding.Lpm;

namespace Fabric.Dataplane.Forwarding;

/// <summary>
/// Assigns a packet its tenant, in order: a container with a tenant of its own (its addresses),
/// then the ingress port's tenant (interface or network), then the tenant whose member prefix
/// matches the source most specifically. Upstream SVR metadata, when present, comes before all of
/// these (the SVR stage applies it). Immutable; thread-safe.
/// </summary>
public sealed class TenantClassifier(
    Ipv4RouteTable containers4, Ipv6RouteTable containers6, Ipv4RouteTable members4, Ipv6RouteTable members6, int[] portTenants)
{
    public const int NoTenant = -1;

    public int Classify(int port, bool isIpv6, UInt128 source) => Classify(port, isIpv6, source, out _);

    /// <summary>Assigns the tenant as <see cref="Classify(int, bool, UInt128)"/> does, and says by which rule.</summary>
    public int Classify(int port, bool isIpv6, UInt128 source, out TenantSource by)
    {
        // Empty tables are skipped: even an empty table's root is a cache miss away.
        var tenant = Lookup(containers4, containers6, isIpv6, source);
        if (tenant >= 0)
        {
            by = TenantSource.Container;
            return tenant;
        }

        if ((uint)port < (uint)portTenants.Length && portTenants[port] >= 0)
        {
            by = TenantSource.Port;
            return portTenants[port];
        }

        tenant = Lookup(members4, members6, isIpv6, source);
        by = tenant >= 0 ? TenantSource.MemberPrefix : TenantSource.None;
        return tenant >= 0 ? tenant : NoTenant;
    }

    private static int Lookup(Ipv4RouteTable v4, Ipv6RouteTable v6, bool isIpv6, UInt128 source) => isIpv6
        ? (v6.Count == 0 ? NoTenant : v6.Lookup(source))
        : (v4.Count == 0 ? NoTenant : v4.Lookup((uint)source));
}

/// <summary>Which rule of <see cref="TenantClassifier"/> gave a packet its tenant.</summary>
public enum TenantSource : byte
{
    /// <summary>None did: the packet has no tenant.</summary>
    None,

    /// <summary>The source address is a container's that names its own tenant.</summary>
    Container,

    /// <summary>The ingress port's tenant: its interface's, or its network's.</summary>
    Port,

    /// <summary>The most specific member prefix of a tenant holds the source address.</summary>
    MemberPrefix,
}
