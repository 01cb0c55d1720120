using System.Globalization;

namespace Fabric.Config.Reading;

/// <summary>Durations as the fabric document writes them: a whole number and a unit (ms, s, m, h, d).</summary>
public static class Durations
{
    public static bool TryParse(string text, out TimeSpan value)
    {
        value = default;
        var i = 0;
        while (i < text.Length && char.IsAsciiDigit(text[i]))
        {
            i++;
        }

        if (i == 0 || i > 12 || !long.TryParse(text.AsSpan(0, i), NumberStyles.None, CultureInfo.InvariantCulture, out var amount))
        {
            return false;
        }

        var unit = text[i..].Trim();
        long? milliseconds = unit switch
        {
            "ms" => amount,
            "s" => amount * 1000,
            "m" => amount * 60_000,
            "h" => amount * 3_600_000,
            "d" => amount * 86_400_000,
            _ => null,
        };
        if (milliseconds is null)
        {
            return false;
        }

        value = TimeSpan.FromMilliseconds(milliseconds.Value);
        return true;
    }

    /// <summary>The shortest exact form: "1900s" stays seconds unless it is whole minutes, hours or days.</summary>
    public static string Format(TimeSpan value)
    {
        var ms = (long)value.TotalMilliseconds;
        if (ms != 0 && ms % 86_400_000 == 0)
        {
            return $"{ms / 86_400_000}d";
        }

        if (ms != 0 && ms % 3_600_000 == 0)
        {
            return $"{ms / 3_600_000}h";
        }

        if (ms != 0 && ms % 60_000 == 0)
        {
            return $"{ms / 60_000}m";
        }

        return ms % 1000 == 0 ? $"{ms / 1000}s" : $"{ms}ms";
    }
}
