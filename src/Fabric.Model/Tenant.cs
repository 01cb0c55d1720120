using Fabric.Model.Addressing;
using Fabric.Model.Collections;

namespace Fabric.Model;

/// <summary>
/// Who a packet is from. Names are dotted paths: "dev.engineering" is a child of "engineering"
/// and gets every access its parents get, never the reverse.
/// </summary>
/// <param name="Members">Source prefixes whose packets belong to this tenant (longest match wins).</param>
public sealed record Tenant(string Name, ValueList<IpPrefix> Members)
{
    /// <summary>The parent tenant's name, or null for a top-level tenant.</summary>
    public string? Parent => ParentOf(Name);

    public static string? ParentOf(string tenantName)
    {
        var dot = tenantName.IndexOf('.', StringComparison.Ordinal);
        return dot < 0 ? null : tenantName[(dot + 1)..];
    }

    /// <summary>
    /// Whether a tenant named <paramref name="tenantName"/> gets the access granted to <paramref name="grantedTo"/>:
    /// itself or any of its ancestors ("dev.engineering" gets what "engineering" gets).
    /// </summary>
    public static bool Inherits(string tenantName, string grantedTo)
    {
        for (string? name = tenantName; name is not null; name = ParentOf(name))
        {
            if (name == grantedTo)
            {
                return true;
            }
        }

        return false;
    }
}
