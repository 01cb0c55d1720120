namespace Fabric.Cni.Spec;

/// <summary>The specification versions the plugin speaks, and which commands each has.</summary>
public static class CniVersions
{
    public const string Current = "1.1.0";

    /// <summary>Every version whose configuration and result the plugin reads and writes.</summary>
    public static IReadOnlyList<string> Supported { get; } = ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"];

    public static bool IsSupported(string version) => Supported.Contains(version);

    /// <summary>Whether <paramref name="command"/> exists in <paramref name="version"/>: CHECK from 0.4.0, GC and STATUS from 1.1.0.</summary>
    public static bool Has(string version, string command) => command switch
    {
        "CHECK" => Compare(version, "0.4.0") >= 0,
        "GC" or "STATUS" => Compare(version, "1.1.0") >= 0,
        _ => true,
    };

    private static int Compare(string a, string b) => Version.Parse(a).CompareTo(Version.Parse(b));
}
