using Fabric.Model;

namespace Fabric.Config.Reading;

/// <summary>The words the fabric document uses for each enumeration, one table for reading and writing.</summary>
public static class EnumNames<TEnum>
    where TEnum : struct, Enum
{
    private static readonly (string Name, TEnum Value)[] Table = Build();

    public static IEnumerable<string> All => Table.Select(t => t.Name);

    public static bool TryParse(string text, out TEnum value)
    {
        foreach (var (name, candidate) in Table)
        {
            if (name == text)
            {
                value = candidate;
                return true;
            }
        }

        value = default;
        return false;
    }

    public static string Name(TEnum value)
    {
        foreach (var (name, candidate) in Table)
        {
            if (EqualityComparer<TEnum>.Default.Equals(candidate, value))
            {
                return name;
            }
        }

        throw new ArgumentOutOfRangeException(nameof(value), value, "no name for this value");
    }

    private static (string, TEnum)[] Build()
    {
        if (typeof(TEnum) == typeof(Cipher))
        {
            return [("aes-128-gcm", (TEnum)(object)Cipher.Aes128Gcm), ("aes-256-gcm", (TEnum)(object)Cipher.Aes256Gcm)];
        }

        return [.. Enum.GetValues<TEnum>().Select(v => (Kebab(v.ToString()), v))];
    }

    /// <summary>"RevertibleFailover" → "revertible-failover".</summary>
    private static string Kebab(string name)
    {
        var builder = new System.Text.StringBuilder();
        for (var i = 0; i < name.Length; i++)
        {
            if (char.IsUpper(name[i]) && i > 0)
            {
                builder.Append('-');
            }

            builder.Append(char.ToLowerInvariant(name[i]));
        }

        return builder.ToString();
    }
}
