using MessagePack;
using MessagePack.Formatters;

namespace Fabric.Actors.Serialization;

/// <summary>
/// Formatters for the maps wire messages declare (<see cref="IReadOnlyDictionary{TKey,TValue}"/>,
/// <see cref="IDictionary{TKey,TValue}"/>, <see cref="Dictionary{TKey,TValue}"/>): a map whose key is nil or occurs
/// twice fails with MessagePack's <see cref="MessagePackSerializationException"/> saying which, where MessagePack's own
/// formatters hand the key to <see cref="Dictionary{TKey,TValue}.Add"/> and an argument exception escapes. Keys compare
/// as the options' <see cref="MessagePackSecurity"/> says (collision-resistant for untrusted data). Thread-safe.
/// </summary>
public sealed class MapResolver : IFormatterResolver
{
    public static readonly MapResolver Instance = new();

    private MapResolver()
    {
    }

    public IMessagePackFormatter<T>? GetFormatter<T>() => Cache<T>.Formatter;

    private static class Cache<T>
    {
        public static readonly IMessagePackFormatter<T>? Formatter = Create();

        private static IMessagePackFormatter<T>? Create()
        {
            var type = typeof(T);
            if (!type.IsGenericType)
            {
                return null;
            }

            var definition = type.GetGenericTypeDefinition();
            if (definition != typeof(IReadOnlyDictionary<,>) && definition != typeof(IDictionary<,>) && definition != typeof(Dictionary<,>))
            {
                return null;
            }

            var arguments = type.GetGenericArguments();
            return (IMessagePackFormatter<T>)Activator.CreateInstance(typeof(MapFormatter<,,>).MakeGenericType(arguments[0], arguments[1], type))!;
        }
    }

    /// <summary>Writes any of the three map types; reads a <see cref="Dictionary{TKey,TValue}"/> of distinct, non-nil keys.</summary>
    private sealed class MapFormatter<TKey, TValue, TMap> : IMessagePackFormatter<TMap>
        where TKey : notnull
    {
        public void Serialize(ref MessagePackWriter writer, TMap value, MessagePackSerializerOptions options)
        {
            if (value is not IEnumerable<KeyValuePair<TKey, TValue>> entries)
            {
                writer.WriteNil();
                return;
            }

            var keys = options.Resolver.GetFormatterWithVerify<TKey>();
            var values = options.Resolver.GetFormatterWithVerify<TValue>();
            writer.WriteMapHeader(value switch
            {
                IReadOnlyCollection<KeyValuePair<TKey, TValue>> collection => collection.Count,
                ICollection<KeyValuePair<TKey, TValue>> collection => collection.Count,
                _ => entries.Count(),
            });
            foreach (var (key, held) in entries)
            {
                keys.Serialize(ref writer, key, options);
                values.Serialize(ref writer, held, options);
            }
        }

        public TMap Deserialize(ref MessagePackReader reader, MessagePackSerializerOptions options)
        {
            if (reader.TryReadNil())
            {
                return default!;
            }

            var count = reader.ReadMapHeader();
            var keys = options.Resolver.GetFormatterWithVerify<TKey>();
            var values = options.Resolver.GetFormatterWithVerify<TValue>();
            var map = new Dictionary<TKey, TValue>(options.Security.GetEqualityComparer<TKey>());
            options.Security.DepthStep(ref reader);
            try
            {
                for (var index = 0; index < count; index++)
                {
                    if (reader.NextMessagePackType == MessagePackType.Nil)
                    {
                        throw new MessagePackSerializationException($"the key of entry {index} of a map is nil");
                    }

                    var key = keys.Deserialize(ref reader, options);
                    var held = values.Deserialize(ref reader, options);
                    if (!map.TryAdd(key, held))
                    {
                        throw new MessagePackSerializationException($"the key of entry {index} of a map occurs twice");
                    }
                }
            }
            finally
            {
                reader.Depth--;
            }

            return (TMap)(object)map;
        }
    }
}
