using System.Collections;
using System.Reflection;

namespace Fabric.Fuzz.Serialization;

/// <summary>
/// A plausible instance of a wire message type, built through its widest public constructor from sample values
/// (a string, a small number, one element per list), so seeds follow the messages as they change.
/// </summary>
public static class SampleMessages
{
    public static object Of(Type type) => Value(type, 0) ?? throw new InvalidOperationException($"no sample for {type.FullName}");

    private static object? Value(Type type, int depth)
    {
        if (Nullable.GetUnderlyingType(type) is { } underlying)
        {
            return Value(underlying, depth);
        }

        if (type == typeof(string))
        {
            return "dc1";
        }

        if (type == typeof(bool))
        {
            return true;
        }

        if (type.IsEnum)
        {
            var values = Enum.GetValues(type);
            return values.Length > 1 ? values.GetValue(1) : values.GetValue(0);
        }

        if (type.IsPrimitive || type == typeof(decimal))
        {
            return Convert.ChangeType(3, type, System.Globalization.CultureInfo.InvariantCulture);
        }

        if (type == typeof(DateTimeOffset))
        {
            return new DateTimeOffset(2026, 11, 26, 12, 0, 0, TimeSpan.Zero);
        }

        if (type == typeof(DateTime))
        {
            return new DateTime(2026, 11, 26, 12, 0, 0, DateTimeKind.Utc);
        }

        if (type == typeof(TimeSpan))
        {
            return TimeSpan.FromSeconds(5);
        }

        if (type == typeof(Guid))
        {
            return new Guid("6f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f1");
        }

        if (depth > 6)
        {
            return null;
        }

        if (type.IsArray)
        {
            var array = Array.CreateInstance(type.GetElementType()!, 1);
            array.SetValue(Value(type.GetElementType()!, depth + 1), 0);
            return array;
        }

        if (type.IsGenericType && type.GetGenericArguments() is { Length: 2 } pair && typeof(IEnumerable).IsAssignableFrom(type))
        {
            var map = (IDictionary)Activator.CreateInstance(typeof(Dictionary<,>).MakeGenericType(pair))!;
            map[Value(pair[0], depth + 1)!] = Value(pair[1], depth + 1);
            return map;
        }

        if (type.IsGenericType && type.GetGenericArguments() is { Length: 1 } element && typeof(IEnumerable).IsAssignableFrom(type))
        {
            var list = (IList)Activator.CreateInstance(typeof(List<>).MakeGenericType(element))!;
            list.Add(Value(element[0], depth + 1));
            return type.IsInterface ? list : Activator.CreateInstance(type, list);
        }

        var constructor = type.GetConstructors(BindingFlags.Public | BindingFlags.Instance)
            .Where(c => !c.GetParameters().Any(p => p.ParameterType == type))
            .MaxBy(c => c.GetParameters().Length);
        if (constructor is null)
        {
            return type.IsValueType ? Activator.CreateInstance(type) : null;
        }

        return constructor.Invoke([.. constructor.GetParameters().Select(p => Value(p.ParameterType, depth + 1))]);
    }
}
