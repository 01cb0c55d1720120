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
    /// <remarks>
    /// Every message a node receives passes here, so it allocates only where it must: members and elements that can
    /// hold neither null nor a Fabric type (numbers, bytes, a map's counters) are not visited, and a path is spelled
    /// only for the member that is missing.
    /// </remarks>
    public static string? FirstMissing(object message)
    {
        ArgumentNullException.ThrowIfNull(message);
        return Missing(message, 0) is { } missing ? message.GetType().Name + missing : null;
    }

    /// <summary>The path below <paramref name="value"/> (<c>.Sessions[3]</c>) of its first missing member, or null.</summary>
    private static string? Missing(object value, int depth)
    {
        if (depth > MaxDepth)
        {
            return null;
        }

        foreach (var member in MembersOf(value.GetType()))
        {
            var held = member.Property.GetValue(value);
            if (held is null)
            {
                if (member.Required)
                {
                    return "." + member.Property.Name;
                }

                continue;
            }

            var missing = held switch
            {
                string => null,
                IDictionary map => member.WalkElements ? InItems(map.Values, member.ElementsRequired, depth) : null,
                IEnumerable items => member.WalkElements ? InItems(items, member.ElementsRequired, depth) : null,
                _ when IsFabricType(held.GetType()) => Missing(held, depth + 1),
                _ => null,
            };
            if (missing is not null)
            {
                return "." + member.Property.Name + missing;
            }
        }

        return null;
    }

    private static string? InItems(IEnumerable items, bool required, int depth)
    {
        var index = 0;
        foreach (var item in items)
        {
            if (item is null)
            {
                if (required)
                {
                    return $"[{index}]";
                }
            }
            else if (IsFabricType(item.GetType()) && Missing(item, depth + 1) is { } missing)
            {
                return $"[{index}]{missing}";
            }

            index++;
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
                .Where(p => p.GetIndexParameters().Length == 0 && p.GetMethod is not null && p.Name != "EqualityContract" && MayHoldNullOrFabric(p.PropertyType))
                .Select(p =>
                {
                    var info = Context.Create(p);
                    var element = info.ElementType ?? info.GenericTypeArguments.LastOrDefault();
                    return new Member(
                        p,
                        !p.PropertyType.IsValueType && info.ReadState == NullabilityState.NotNull,
                        element is { ReadState: NullabilityState.NotNull } && !element.Type.IsValueType,
                        element is null || MayHoldNullOrFabric(element.Type));
                })];
        }
    });

    /// <summary>Whether a value declared as <paramref name="type"/> can be null or hold a Fabric type to walk: not a plain value type.</summary>
    private static bool MayHoldNullOrFabric(Type type) => !type.IsValueType || Nullable.GetUnderlyingType(type) is not null || IsFabricType(type);

    private static bool IsFabricType(Type type) =>
        !type.IsPrimitive && !type.IsEnum && type.Namespace?.StartsWith("Fabric.", StringComparison.Ordinal) == true;

    /// <param name="WalkElements">Whether the elements of a collection held here may be null or Fabric types (not numbers, bytes).</param>
    private sealed record Member(PropertyInfo Property, bool Required, bool ElementsRequired, bool WalkElements);
}
