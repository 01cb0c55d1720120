using System.Globalization;

namespace Fabric.Config.Reading;

/// <summary>Durations as the fabric document writes them: a whole number and a unit (us, ms, s, m, h, d).</summary>
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
        long? perUnit = unit switch
        {
            "us" => 1,
            "ms" => 1000,
            "s" => 1_000_000,
            "m" => 60_000_000,
            "h" => 3_600_000_000,
            "d" => 86_400_000_000,
            _ => null,
        };

        // A duration past TimeSpan's range (about 29 000 years) is no duration.
        if (perUnit is null || amount > TimeSpan.MaxValue.Ticks / TimeSpan.TicksPerMicrosecond / perUnit.Value)
        {
            return false;
        }

        value = TimeSpan.FromMicroseconds(amount * perUnit.Value);
        return true;
    }

    /// <summary>The shortest exact form: "1900s" stays seconds unless it is whole minutes, hours or days; "50us" stays microseconds.</summary>
    public static string Format(TimeSpan value)
    {
        var us = value.Ticks / TimeSpan.TicksPerMicrosecond;
        if (us % 1000 != 0)
        {
            return $"{us}us";
        }

        var ms = us / 1000;
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
