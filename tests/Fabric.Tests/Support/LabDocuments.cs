namespace Fabric.Tests.Support;

/// <summary>The lab's document (<c>hocon/lab.conf</c>) and versions of it with one tenant or instance more, for tests that commit a few versions.</summary>
public static class LabDocuments
{
    public static readonly string Lab = Repository.Read("hocon/lab.conf");

    /// <summary>The lab with tenant <c>hr</c>.</summary>
    public static readonly string WithHr = WithTenant("hr");

    /// <summary>The lab with tenant <c>ops</c>.</summary>
    public static readonly string WithOps = WithTenant("ops");

    /// <summary>The lab with one more tenant, <paramref name="tenant"/>, after <c>finance</c>.</summary>
    public static string WithTenant(string tenant) => WithTenant(Lab, tenant);

    /// <summary><paramref name="document"/> (the lab or a version of it) with one more tenant, <paramref name="tenant"/>, after <c>finance</c>.</summary>
    public static string WithTenant(string document, string tenant) =>
        document.Replace("    finance {}\n", $"    finance {{}}\n    {tenant} {{}}\n", StringComparison.Ordinal);

    /// <summary>The lab with a third web instance, container web3 (10.10.1.13) on dc1's service LAN.</summary>
    public static readonly string WithWeb3 = Lab
        .Replace("instances = [{ container = web1 }, { container = web2 }]", "instances = [{ container = web1 }, { container = web2 }, { container = web3 }]", StringComparison.Ordinal)
        .Replace("            web2 { addresses = [\"10.10.1.12\"] }\n", "            web2 { addresses = [\"10.10.1.12\"] }\n            web3 { addresses = [\"10.10.1.13\"] }\n", StringComparison.Ordinal);

    /// <summary>The lab whose WAN neighbourhood allows metadata from peers without keys (for routers built without identities).</summary>
    public static readonly string AllowingUnauthenticatedMetadata =
        Lab.Replace("    wan {}", "    wan { allow-unauthenticated-metadata = true }", StringComparison.Ordinal);
}
