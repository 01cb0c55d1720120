using System.Buffers;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Fabric.Config.Hocon;

namespace Fabric.Config.Canonical;

/// <summary>Writes a tree as HOCON for people or as JSON for tools; both read back to the same tree.</summary>
public static partial class HoconWriter
{
    [GeneratedRegex("^[A-Za-z][A-Za-z0-9_-]*$")]
    private static partial Regex BareWord();

    [GeneratedRegex("^[0-9]+(ms|s|m|h|d)$")]
    private static partial Regex Duration();

    private static readonly HashSet<string> Reserved = ["true", "false", "yes", "no", "on", "off", "null", "include"];

    public static string ToHocon(HoconObject root)
    {
        ArgumentNullException.ThrowIfNull(root);
        var text = new StringBuilder();
        foreach (var field in root.Fields)
        {
            WriteField(text, field, 0);
        }

        return text.ToString();
    }

    public static string ToJson(HoconNode root)
    {
        ArgumentNullException.ThrowIfNull(root);
        var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            WriteJson(json, root);
        }

        return Encoding.UTF8.GetString(buffer.ToArray()) + "\n";
    }

    /// <summary>A value on one line, as it would stand after "key = ".</summary>
    public static string Inline(HoconNode value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var text = new StringBuilder();
        WriteInline(text, value);
        return text.ToString();
    }

    private static void WriteInline(StringBuilder text, HoconNode value)
    {
        switch (value)
        {
            case HoconScalar scalar:
                text.Append(Scalar(scalar));
                break;
            case HoconArray array:
                text.Append('[');
                for (var i = 0; i < array.Items.Count; i++)
                {
                    text.Append(i == 0 ? "" : ", ");
                    WriteInline(text, array.Items[i]);
                }

                text.Append(']');
                break;
            case HoconObject obj:
                text.Append('{');
                for (var i = 0; i < obj.Fields.Count; i++)
                {
                    text.Append(i == 0 ? " " : ", ").Append(Key(obj.Fields[i].Key)).Append(" = ");
                    WriteInline(text, obj.Fields[i].Value);
                }

                text.Append(obj.Fields.Count == 0 ? "}" : " }");
                break;
        }
    }

    private static void WriteField(StringBuilder text, HoconField field, int depth)
    {
        text.Append(' ', depth * 2).Append(Key(field.Key));
        if (field.Value is HoconObject obj)
        {
            if (obj.Fields.Count == 0)
            {
                text.Append(" {}\n");
                return;
            }

            text.Append(" {\n");
            foreach (var child in obj.Fields)
            {
                WriteField(text, child, depth + 1);
            }

            text.Append(' ', depth * 2).Append("}\n");
            return;
        }

        text.Append(" = ");
        WriteValue(text, field.Value, depth);
        text.Append('\n');
    }

    private static void WriteValue(StringBuilder text, HoconNode value, int depth)
    {
        switch (value)
        {
            case HoconArray array when array.Items.Any(i => i is not HoconScalar):
                text.Append("[\n");
                foreach (var item in array.Items)
                {
                    text.Append(' ', (depth + 1) * 2);
                    WriteValue(text, item, depth + 1);
                    text.Append('\n');
                }

                text.Append(' ', depth * 2).Append(']');
                break;
            default:
                WriteInline(text, value);
                break;
        }
    }

    private static string Key(string key) => BareWord().IsMatch(key) && !Reserved.Contains(key) ? key : Quote(key);

    private static string Scalar(HoconScalar scalar) => scalar.Kind switch
    {
        ScalarKind.Null => "null",
        ScalarKind.Unquoted => scalar.Text,
        _ => (BareWord().IsMatch(scalar.Text) && !Reserved.Contains(scalar.Text)) || Duration().IsMatch(scalar.Text) ? scalar.Text : Quote(scalar.Text),
    };

    /// <summary>
    /// <paramref name="text"/> as a JSON string, which is HOCON's quoted string: the default escaping, as a serializer
    /// writes it. The one way the project writes a string into HOCON.
    /// </summary>
    public static string Quote(string text)
    {
        var buffer = new ArrayBufferWriter<byte>(text.Length + 16);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStringValue(text);
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    private static void WriteJson(Utf8JsonWriter json, HoconNode node)
    {
        switch (node)
        {
            case HoconObject obj:
                json.WriteStartObject();
                foreach (var field in obj.Fields)
                {
                    json.WritePropertyName(field.Key);
                    WriteJson(json, field.Value);
                }

                json.WriteEndObject();
                break;
            case HoconArray array:
                json.WriteStartArray();
                foreach (var item in array.Items)
                {
                    WriteJson(json, item);
                }

                json.WriteEndArray();
                break;
            case HoconScalar { Kind: ScalarKind.Null }:
                json.WriteNullValue();
                break;
            case HoconScalar { Kind: ScalarKind.Unquoted } scalar when scalar.Text is "true" or "false":
                json.WriteBooleanValue(scalar.Text == "true");
                break;
            case HoconScalar { Kind: ScalarKind.Unquoted } scalar when long.TryParse(scalar.Text, out var number):
                json.WriteNumberValue(number);
                break;
            case HoconScalar scalar:
                json.WriteStringValue(scalar.Text);
                break;
        }
    }
}
