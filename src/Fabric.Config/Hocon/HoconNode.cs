namespace Fabric.Config.Hocon;

/// <summary>A 1-based line and column in the source text.</summary>
public readonly record struct SourcePosition(int Line, int Column)
{
    public static SourcePosition None => default;

    public bool IsKnown => Line > 0;
}

/// <summary>
/// A value of a parsed HOCON document: an object, an array or a scalar, with where it starts.
/// Trees built by the canonical writer have no positions. Thread-safe: immutable.
/// </summary>
public abstract class HoconNode(SourcePosition position)
{
    public SourcePosition Position { get; } = position;

    /// <summary>What the value is, in words an error message can use ("an object", "a number").</summary>
    public abstract string Describe();
}

/// <summary>One key of an object, in source order, with the position of the key itself.</summary>
public sealed record HoconField(string Key, HoconNode Value, SourcePosition Position);

public sealed class HoconObject(SourcePosition position, IReadOnlyList<HoconField> fields) : HoconNode(position)
{
    private readonly Dictionary<string, HoconField> _byKey = fields.ToDictionary(f => f.Key, StringComparer.Ordinal);

    public IReadOnlyList<HoconField> Fields { get; } = fields;

    public bool TryGet(string key, out HoconField field) => _byKey.TryGetValue(key, out field!);

    public override string Describe() => "an object";
}

public sealed class HoconArray(SourcePosition position, IReadOnlyList<HoconNode> items) : HoconNode(position)
{
    public IReadOnlyList<HoconNode> Items { get; } = items;

    public override string Describe() => "a list";
}

public enum ScalarKind
{
    /// <summary>Written in quotes: always a string.</summary>
    Quoted,

    /// <summary>Written bare: a number, boolean, duration or string depending on what is expected.</summary>
    Unquoted,

    Null,
}

public sealed class HoconScalar(SourcePosition position, string text, ScalarKind kind) : HoconNode(position)
{
    public string Text { get; } = text;

    public ScalarKind Kind { get; } = kind;

    public override string Describe() => Kind switch
    {
        ScalarKind.Null => "null",
        ScalarKind.Quoted => $"the string \"{Text}\"",
        _ => $"\"{Text}\"",
    };
}
