using Fabric.Config.Canonical;
using Fabric.Config.Hocon;
using Fabric.Model;
using Fabric.Model.Validation;

namespace Fabric.Config.Diff;

public enum ChangeKind
{
    Added,
    Removed,
    Changed,
}

/// <summary>One difference between two versions: an object or value added, removed, or changed at a path.</summary>
/// <param name="Old">The old value on one line (null when added).</param>
/// <param name="New">The new value on one line (null when removed).</param>
public sealed record ConfigChange(ChangeKind Kind, string Path, string? Old, string? New)
{
    public override string ToString() => Kind switch
    {
        ChangeKind.Added => $"+ {Path} = {New}",
        ChangeKind.Removed => $"- {Path}",
        _ => $"~ {Path}: {Old} -> {New}",
    };
}

/// <summary>
/// Compares two models through their canonical trees: objects are walked key by key; a list or a
/// value differs as a whole. An added or removed object is one change, not one per key inside it.
/// </summary>
public static class ConfigDiff
{
    public static IReadOnlyList<ConfigChange> Compare(FabricConfig before, FabricConfig after)
    {
        ArgumentNullException.ThrowIfNull(before);
        ArgumentNullException.ThrowIfNull(after);
        var changes = new List<ConfigChange>();
        CompareObjects(CanonicalTree.Of(before), CanonicalTree.Of(after), "", changes);
        return changes;
    }

    private static void CompareObjects(HoconObject before, HoconObject after, string path, List<ConfigChange> changes)
    {
        var keys = before.Fields.Select(f => f.Key).Union(after.Fields.Select(f => f.Key)).Order(StringComparer.Ordinal);
        foreach (var key in keys)
        {
            var childPath = ConfigPath.Child(path, key);
            var inBefore = before.TryGet(key, out var old);
            var inAfter = after.TryGet(key, out var now);
            if (!inBefore)
            {
                changes.Add(new ConfigChange(ChangeKind.Added, childPath, null, HoconWriter.Inline(now.Value)));
            }
            else if (!inAfter)
            {
                changes.Add(new ConfigChange(ChangeKind.Removed, childPath, HoconWriter.Inline(old.Value), null));
            }
            else if (old.Value is HoconObject oldObject && now.Value is HoconObject newObject)
            {
                CompareObjects(oldObject, newObject, childPath, changes);
            }
            else
            {
                var oldText = HoconWriter.Inline(old.Value);
                var newText = HoconWriter.Inline(now.Value);
                if (oldText != newText)
                {
                    changes.Add(new ConfigChange(ChangeKind.Changed, childPath, oldText, newText));
                }
            }
        }
    }
}
