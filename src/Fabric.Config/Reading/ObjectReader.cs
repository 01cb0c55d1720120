using System.Globalization;
using System.Net;
using Fabric.Config.Hocon;
using Fabric.Model.Addressing;
using Fabric.Model.Validation;

namespace Fabric.Config.Reading;

/// <summary>
/// Reads one HOCON object strictly: each accessor names a key it knows, converts its value to the
/// expected type or records an error with the value's path and line, and returns a default so
/// reading goes on. <see cref="Finish"/> then reports every key no accessor asked for, with the
/// nearest known key as a hint. Not thread-safe.
/// </summary>
internal sealed class ObjectReader
{
    private readonly HoconObject _node;
    private readonly ReadContext _context;
    private readonly HashSet<string> _known = new(StringComparer.Ordinal);

    public ObjectReader(HoconObject node, string path, ReadContext context)
    {
        _node = node;
        Path = path;
        _context = context;
        context.Record(path, node.Position);
    }

    public string Path { get; }

    public SourcePosition Position => _node.Position;

    public void Error(string key, string message)
    {
        var path = ConfigPath.Child(Path, key);
        _context.Error(path, message, _node.TryGet(key, out var field) ? field.Position : _node.Position);
    }

    public void Error(string message) => _context.Error(Path, message, _node.Position);

    public bool Has(string key)
    {
        _known.Add(key);
        return _node.TryGet(key, out var field) && field.Value is not HoconScalar { Kind: ScalarKind.Null };
    }

    private HoconNode? Get(string key)
    {
        _known.Add(key);
        if (!_node.TryGet(key, out var field))
        {
            return null;
        }

        _context.Record(ConfigPath.Child(Path, key), field.Position);
        return field.Value is HoconScalar { Kind: ScalarKind.Null } ? null : field.Value;
    }

    public string? OptionalString(string key) => Get(key) is { } node ? Text(node, ConfigPath.Child(Path, key), "a string") : null;

    public string String(string key, string defaultValue) => OptionalString(key) ?? defaultValue;

    public bool Bool(string key, bool defaultValue)
    {
        if (Get(key) is not { } node)
        {
            return defaultValue;
        }

        var text = Text(node, ConfigPath.Child(Path, key), "true or false");
        switch (text)
        {
            case null: return defaultValue;
            case "true" or "yes" or "on": return true;
            case "false" or "no" or "off": return false;
            default:
                _context.Error(ConfigPath.Child(Path, key), $"expected true or false, got \"{text}\"", node.Position);
                return defaultValue;
        }
    }

    public long Long(string key, long defaultValue, long min, long max)
    {
        if (Get(key) is not { } node)
        {
            return defaultValue;
        }

        return ReadLong(node, ConfigPath.Child(Path, key), min, max) ?? defaultValue;
    }

    public int Int(string key, int defaultValue, int min, int max) => (int)Long(key, defaultValue, min, max);

    public int? OptionalInt(string key, int min, int max) =>
        Get(key) is { } node ? (int?)ReadLong(node, ConfigPath.Child(Path, key), min, max) : null;

    public TimeSpan Duration(string key, TimeSpan defaultValue, TimeSpan min)
    {
        if (Get(key) is not { } node)
        {
            return defaultValue;
        }

        var path = ConfigPath.Child(Path, key);
        var text = Text(node, path, "a duration");
        if (text is null)
        {
            return defaultValue;
        }

        if (!Durations.TryParse(text, out var value))
        {
            _context.Error(path, $"expected a duration such as \"30s\", \"5m\" or \"1h\", got \"{text}\"", node.Position);
            return defaultValue;
        }

        if (value < min)
        {
            _context.Error(path, $"must be at least {Durations.Format(min)}, got {text}", node.Position);
            return defaultValue;
        }

        return value;
    }

    public TEnum Enum<TEnum>(string key, TEnum defaultValue)
        where TEnum : struct, Enum
    {
        if (Get(key) is not { } node)
        {
            return defaultValue;
        }

        var path = ConfigPath.Child(Path, key);
        var text = Text(node, path, "a word");
        if (text is null)
        {
            return defaultValue;
        }

        if (EnumNames<TEnum>.TryParse(text, out var value))
        {
            return value;
        }

        _context.Error(path, $"expected one of {string.Join(", ", EnumNames<TEnum>.All)}, got \"{text}\"" +
            Spelling.Hint(text, EnumNames<TEnum>.All), node.Position);
        return defaultValue;
    }

    /// <summary>A list whose items are converted by <paramref name="item"/>; items it rejects (null) are left out.</summary>
    public List<T> List<T>(string key, Func<HoconNode, string, T?> item)
    {
        var result = new List<T>();
        if (Get(key) is not { } node)
        {
            return result;
        }

        var path = ConfigPath.Child(Path, key);
        if (node is not HoconArray array)
        {
            _context.Error(path, $"expected a list [...], got {node.Describe()}", node.Position);
            return result;
        }

        for (var i = 0; i < array.Items.Count; i++)
        {
            var itemPath = ConfigPath.Index(path, i);
            _context.Record(itemPath, array.Items[i].Position);
            if (item(array.Items[i], itemPath) is { } value)
            {
                result.Add(value);
            }
        }

        return result;
    }

    /// <summary>A list of value-type items; items <paramref name="item"/> rejects (null) are left out.</summary>
    public List<T> Values<T>(string key, Func<HoconNode, string, T?> item)
        where T : struct =>
        [.. List<T?>(key, item).Select(v => v!.Value)];

    public List<string> StringList(string key) => List(key, (node, path) => Text(node, path, "a string"));

    public List<T> ObjectList<T>(string key, Func<ObjectReader, T> read) => List(key, (node, path) =>
    {
        if (node is not HoconObject obj)
        {
            _context.Error(path, $"expected an object {{...}}, got {node.Describe()}", node.Position);
            return default;
        }

        var reader = new ObjectReader(obj, path, _context);
        var value = read(reader);
        reader.Finish();
        return value;
    });

    /// <summary>An object whose keys are names, each naming an object read by <paramref name="read"/>.</summary>
    public List<T> Named<T>(string key, string what, Func<string, ObjectReader, T> read)
    {
        var result = new List<T>();
        if (Get(key) is not { } node)
        {
            return result;
        }

        var path = ConfigPath.Child(Path, key);
        if (node is not HoconObject obj)
        {
            _context.Error(path, $"expected an object of {what}s {{ name {{...}} }}, got {node.Describe()}", node.Position);
            return result;
        }

        foreach (var field in obj.Fields)
        {
            var itemPath = ConfigPath.Child(path, field.Key);
            _context.Record(itemPath, field.Position);
            if (field.Value is not HoconObject itemObject)
            {
                _context.Error(itemPath, $"expected {what} \"{field.Key}\" to be an object {{...}}, got {field.Value.Describe()}", field.Position);
                continue;
            }

            var reader = new ObjectReader(itemObject, itemPath, _context);
            result.Add(read(field.Key, reader));
            reader.Finish();
        }

        return result;
    }

    /// <summary>The nested object, or null when absent; reports a value of another type.</summary>
    public ObjectReader? Object(string key)
    {
        if (Get(key) is not { } node)
        {
            return null;
        }

        var path = ConfigPath.Child(Path, key);
        if (node is not HoconObject obj)
        {
            _context.Error(path, $"expected an object {{...}}, got {node.Describe()}", node.Position);
            return null;
        }

        return new ObjectReader(obj, path, _context);
    }

    /// <summary>Reports every key that no accessor asked for. Call once, after reading.</summary>
    public void Finish(string? hint = null)
    {
        foreach (var field in _node.Fields)
        {
            if (_known.Contains(field.Key))
            {
                continue;
            }

            var near = Spelling.Nearest(field.Key, _known);
            if (near is not null && !_node.TryGet(near, out _))
            {
                _context.Misspelled(ConfigPath.Child(Path, near));
            }

            var suggestion = Spelling.Hint(field.Key, _known);
            var known = suggestion.Length == 0 && _known.Count > 0 ? $" (known keys: {string.Join(", ", _known.Order(StringComparer.Ordinal))})" : "";
            _context.Error(ConfigPath.Child(Path, field.Key), $"unknown key \"{field.Key}\"{suggestion}{known}{hint}", field.Position);
        }
    }

    // Conversions of single values, shared by the accessors and by list items.

    public string? Text(HoconNode node, string path, string expected)
    {
        if (node is HoconScalar { Kind: not ScalarKind.Null } scalar)
        {
            return scalar.Text;
        }

        _context.Error(path, $"expected {expected}, got {node.Describe()}", node.Position);
        return null;
    }

    public long? ReadLong(HoconNode node, string path, long min, long max)
    {
        var text = Text(node, path, "a whole number");
        if (text is null)
        {
            return null;
        }

        var digits = text.Replace("_", "", StringComparison.Ordinal);
        if (!long.TryParse(digits, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value))
        {
            _context.Error(path, $"expected a whole number, got \"{text}\"", node.Position);
            return null;
        }

        if (value < min || value > max)
        {
            _context.Error(path, $"{value} is out of range: expected {min} to {max}", node.Position);
            return null;
        }

        return value;
    }

    public IpPrefix? Prefix(HoconNode node, string path, bool network)
    {
        var text = Text(node, path, "an IP prefix such as \"10.1.0.0/16\"");
        if (text is null)
        {
            return null;
        }

        if (!IpPrefix.TryParse(text, out var prefix))
        {
            _context.Error(path, $"\"{text}\" is not an IP prefix: expected an address and a length such as \"10.1.0.0/16\" or \"fd00:1::/48\"", node.Position);
            return null;
        }

        if (network && !prefix.Value.IsNetwork)
        {
            _context.Error(path, $"\"{text}\" has host bits set beyond /{prefix.Value.Length}; did you mean \"{prefix.Value.Network}\"?", node.Position);
            return null;
        }

        return prefix;
    }

    public IPAddress? Address(HoconNode node, string path)
    {
        var text = Text(node, path, "an IP address");
        if (text is null)
        {
            return null;
        }

        if (!IpPrefix.TryParseAddress(text, out var address))
        {
            _context.Error(path, $"\"{text}\" is not an IP address", node.Position);
            return null;
        }

        return address;
    }

    public IPAddress? OptionalAddress(string key) => Get(key) is { } node ? Address(node, ConfigPath.Child(Path, key)) : null;

    public Model.Addressing.PortRange? Ports(HoconNode node, string path)
    {
        var text = Text(node, path, "a port or port range");
        if (text is null)
        {
            return null;
        }

        if (!Model.Addressing.PortRange.TryParse(text, out var range))
        {
            _context.Error(path, $"\"{text}\" is not a port or port range: expected 0 to 65535, such as \"443\" or \"8000-8080\" (low before high)", node.Position);
            return null;
        }

        return range;
    }

    public Model.Addressing.PortRange PortRangeOf(string key, Model.Addressing.PortRange defaultValue) =>
        Get(key) is { } node ? Ports(node, ConfigPath.Child(Path, key)) ?? defaultValue : defaultValue;
}
