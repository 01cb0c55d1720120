using System.Diagnostics.CodeAnalysis;

namespace Fabric.Model.Addressing;

/// <summary>An inclusive range of TCP or UDP ports, written "80" or "8000-8080".</summary>
public readonly record struct PortRange(int Low, int High)
{
    public const int MinPort = 0;
    public const int MaxPort = 65535;

    public static PortRange All => new(MinPort, MaxPort);

    public int Width => High - Low + 1;

    public bool Contains(int port) => port >= Low && port <= High;

    public bool Overlaps(PortRange other) => Low <= other.High && other.Low <= High;

    /// <summary>Parses "N" or "LOW-HIGH" with 0 ≤ LOW ≤ HIGH ≤ 65535.</summary>
    public static bool TryParse(string? text, [NotNullWhen(true)] out PortRange? range)
    {
        range = null;
        if (string.IsNullOrEmpty(text))
        {
            return false;
        }

        var dash = text.IndexOf('-', StringComparison.Ordinal);
        var lowText = dash < 0 ? text : text[..dash];
        var highText = dash < 0 ? text : text[(dash + 1)..];
        if (!TryParsePort(lowText, out var low) || !TryParsePort(highText, out var high) || low > high)
        {
            return false;
        }

        range = new PortRange(low, high);
        return true;
    }

    private static bool TryParsePort(string text, out int port)
    {
        port = 0;
        return text.Length is > 0 and <= 5 && text.All(char.IsAsciiDigit) &&
               int.TryParse(text, out port) && port <= MaxPort;
    }

    public override string ToString() => Low == High ? Low.ToString() : $"{Low}-{High}";
}
