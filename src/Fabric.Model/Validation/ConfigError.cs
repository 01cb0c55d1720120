namespace Fabric.Model.Validation;

/// <summary>
/// One thing wrong with a configuration document: where (the HOCON path of the offending value,
/// and the source line when the document gives one) and what.
/// Renders as <c>path: message (line N)</c>, or <c>line N, column C: message</c> for syntax errors.
/// </summary>
public sealed record ConfigError(string Path, string Message, int? Line = null, int? Column = null)
{
    public ConfigError WithLine(int? line) => Line is null && line is not null ? this with { Line = line } : this;

    public override string ToString()
    {
        if (Path.Length == 0)
        {
            return Line is null ? Message : Column is null ? $"line {Line}: {Message}" : $"line {Line}, column {Column}: {Message}";
        }

        return Line is null ? $"{Path}: {Message}" : $"{Path}: {Message} (line {Line})";
    }
}
