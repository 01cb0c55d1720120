using System.Collections;
using System.Collections.Concurrent;
using System.Reflection;

namespace Fabric.Actors.Serialization;

/// <summary>
/// Finds, in a decoded wire message, a member that holds null although its declaration says it never does: in the
/// message itself, and in the records, arrays, lists and maps (their values) it holds, as deep as they go (to a
/// bound). A peer's bytes decode into any shape MessagePack can read, a nil in place of a string or a record among
/// them; such a message is refused at the door, not dereferenced later by the actor that receives it. Only Fabric's
/// own types are walked. Thread-safe; what it learns of a type is cached.
/// </summary>
public static class RequiredMembers
{
    private const int MaxDepth = 16;

    private static readonly NullabilityInfoContext Context = new();
    private static readonly Lock ContextGate = new();
    private static readonly ConcurrentDictionary<Type, Member[]> Members = new();

    /// <summary>The path of the first member declared non-null that is null (<c>Batch.Sessions[3]</c>), or null when there is none.</summary>
    public static string? FirstMissing(object message)
    {
        ArgumentNullException.ThrowIfNull(message);
        return Missing(message, message.GetType().Name, 0);
    }

    private static string? Missing(object value, string path, int depth)
    {
        if (depth > MaxDepth)
        {
            return null;
        }

        foreach (var member in MembersOf(value.GetType()))
        {
            var held = member.Property.GetValue(value);
            var where = $"{path}.{member.Property.Name}";
            if (held is null)
            {
                if (member.Required)
                {
                    return where;
                }

                continue;
            }

            var missing = held switch
            {
                string => null,
                IDictionary map => InItems(map.Values, member.ElementsRequired, where, depth),
                IEnumerable items => InItems(items, member.ElementsRequired, where, depth),
                _ when IsFabricType(held.GetType()) => Missing(held, where, depth + 1),
                _ => null,
            };
            if (missing is not null)
            {
                return missing;
            }
        }

        return null;
    }

    private static string? InItems(IEnumerable items, bool required, string path, int depth)
    {
        var index = 0;
        foreach (var item in items)
        {
            var where = $"{path}[{index++}]";
            if (item is null)
            {
                if (required)
                {
                    return where;
                }
            }
            else if (IsFabricType(item.GetType()) && Missing(item, where, depth + 1) is { } missing)
            {
                return missing;
            }
        }

        return null;
    }

    private static Member[] MembersOf(Type type) => Members.GetOrAdd(type, static t =>
    {
        if (!IsFabricType(t))
        {
            return [];
        }

        // NullabilityInfoContext is not thread-safe; building a type's members happens once.
        lock (ContextGate)
        {
            return [.. t.GetProperties(BindingFlags.Public | BindingFlags.Instance)
                .Where(p => p.GetIndexParameters().Length == 0 && p.GetMethod is not null && p.Name != "EqualityContract")
                .Select(p =>
                {
                    var info = Context.Create(p);
                    var element = info.ElementType ?? info.GenericTypeArguments.LastOrDefault();
                    return new Member(
                        p,
                        !p.PropertyType.IsValueType && info.ReadState == NullabilityState.NotNull,
                        element is { ReadState: NullabilityState.NotNull } && !element.Type.IsValueType);
                })];
        }
    });

    private static bool IsFabricType(Type type) =>
        !type.IsPrimitive && !type.IsEnum && type.Namespace?.StartsWith("Fabric.", StringComparison.Ordinal) == true;

    private sealed record Member(PropertyInfo Property, bool Required, bool ElementsRequired);
}
