namespace Fabric.Dataplane.Telemetry;

/// <summary>
/// The cells of a tenant × service grid of counters: tenant and service are snapshot indexes, −1 when not
/// known (stored shifted by one), and an index above the bound is counted under the last one, so the grid
/// stays <c>(maxTenants + 1) × (maxServices + 1)</c> whatever a snapshot numbers. Immutable.
/// </summary>
internal readonly struct TenantServiceCells(int maxTenants, int maxServices)
{
    public int Tenants { get; } = maxTenants + 1;

    public int Services { get; } = maxServices + 1;

    public int Count => Tenants * Services;

    /// <summary>The cell of a tenant (−1: none) and a service (−1: none).</summary>
    public int Of(int tenant, int service) =>
        (Math.Clamp(tenant + 1, 0, Tenants - 1) * Services) + Math.Clamp(service + 1, 0, Services - 1);
}
