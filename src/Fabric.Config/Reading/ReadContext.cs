using Fabric.Config.Hocon;
using Fabric.Model.Validation;

namespace Fabric.Config.Reading;

/// <summary>
/// What typed reading of one document gathers: its errors, and the source line of every path it
/// read, so that errors found later on the model (by path) can name their line too.
/// Not thread-safe: one per load.
/// </summary>
internal sealed class ReadContext
{
    private readonly Dictionary<string, SourcePosition> _positions = new(StringComparer.Ordinal);

    private readonly HashSet<string> _misspelled = new(StringComparer.Ordinal);

    public List<ConfigError> Errors { get; } = [];

    /// <summary>
    /// Notes a known key that is absent because an unknown key looks like its misspelling: the
    /// unknown key's error already says so, so an error about the absence would say it twice.
    /// </summary>
    public void Misspelled(string path) => _misspelled.Add(path);

    public bool IsMisspelled(string path) => _misspelled.Contains(path);

    public void Error(string path, string message, SourcePosition position) =>
        Errors.Add(new ConfigError(path, message, position.IsKnown ? position.Line : null));

    public void Record(string path, SourcePosition position)
    {
        if (position.IsKnown)
        {
            _positions.TryAdd(path, position);
        }
    }

    /// <summary>The line of the path, or of its nearest recorded ancestor.</summary>
    public int? LineOf(string path)
    {
        for (var p = path; p.Length > 0; p = Parent(p))
        {
            if (_positions.TryGetValue(p, out var position))
            {
                return position.Line;
            }
        }

        return null;
    }

    private static string Parent(string path)
    {
        var cut = Math.Max(path.LastIndexOf('.'), path.LastIndexOf('['));
        return cut <= 0 ? "" : path[..cut];
    }
}
