namespace Fabric.Model.Validation;

/// <summary>
/// What a valid document allows that weakens the fabric, one sentence each, as <c>path: why</c>: the document still
/// runs, and <c>fabric config validate</c> prints these so the choice is seen. Stateless and thread-safe.
/// </summary>
public static class FabricWarnings
{
    public static IReadOnlyList<string> Of(FabricConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var warnings = new List<string>();
        foreach (var neighborhood in config.Neighborhoods)
        {
            if (neighborhood.AllowUnauthenticatedMetadata)
            {
                warnings.Add(
                    $"{ConfigPath.Child(ConfigPath.Child(ConfigPath.Root, "neighborhoods"), neighborhood.Name, "allow-unauthenticated-metadata")}: "
                    + "routers take unauthenticated metadata from peers over this neighborhood with which they have no keys: "
                    + "any host that sends from a peer's waypoint address can claim a tenant and a service; pin every router's identity instead");
            }
        }

        return warnings;
    }
}
