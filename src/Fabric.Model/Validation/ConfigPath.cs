namespace Fabric.Model.Validation;

/// <summary>Builds the paths that errors name: <c>fabric.services.web.access[1]</c>, with keys that need it in quotes.</summary>
public static class ConfigPath
{
    public const string Root = "fabric";

    public static string Child(string parent, string key)
    {
        var plain = key.Length > 0 && key.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_');
        var segment = plain ? key : "\"" + key.Replace("\"", "\\\"", StringComparison.Ordinal) + "\"";
        return parent.Length == 0 ? segment : parent + "." + segment;
    }

    public static string Child(string parent, string key1, string key2) => Child(Child(parent, key1), key2);

    public static string Index(string parent, int index) => $"{parent}[{index}]";
}
