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

    public int Classify(int port, bool isIpv6, UInt128 source)
    {
        var tenant = isIpv6 ? containers6.Lookup(source) : containers4.Lookup((uint)source);
        if (tenant >= 0)
        {
            return tenant;
        }

        if ((uint)port < (uint)portTenants.Length && portTenants[port] >= 0)
        {
            return portTenants[port];
        }

        tenant = isIpv6 ? members6.Lookup(source) : members4.Lookup((uint)source);
        return tenant >= 0 ? tenant : NoTenant;
    }
}
