using Fabric.Config.Hocon;
using Fabric.Config.Reading;
using Fabric.Model;
using Fabric.Model.Validation;

namespace Fabric.Config;

/// <summary>
/// Turns a fabric document into the typed model, or into every error it has: syntax (with line
/// and column), unknown keys and wrong types (with path and line), and the model's own consistency
/// (with path, and line where the value came from the document). Never throws for any text.
/// </summary>
public static class FabricConfigLoader
{
    public static ConfigLoadResult Load(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var parsed = HoconParser.Parse(text);
        var context = new ReadContext();
        var model = FabricDocumentReader.Read(parsed.Root, context);
        var semantic = FabricValidator.Validate(model).Select(e => e.WithLine(context.LineOf(e.Path)));
        var errors = parsed.Errors
            .Concat(context.Errors)
            .Concat(semantic)
            .Where(e => !context.IsMisspelled(e.Path))
            .Distinct()
            .OrderBy(e => e.Line ?? int.MaxValue)
            .ThenBy(e => e.Column ?? 0)
            .ToList();
        return new ConfigLoadResult(errors.Count == 0 ? model : null, errors);
    }

    /// <summary>Loads a file; a file that cannot be read is one error naming it.</summary>
    public static ConfigLoadResult LoadFile(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            return new ConfigLoadResult(null, [new ConfigError("", $"cannot read {path}: {e.Message}")]);
        }

        return Load(text);
    }
}

/// <summary>The model when the document is valid (<see cref="Errors"/> empty), else null and every error in source order.</summary>
public sealed record ConfigLoadResult(FabricConfig? Config, IReadOnlyList<ConfigError> Errors)
{
    public bool IsValid => Config is not null;
}
