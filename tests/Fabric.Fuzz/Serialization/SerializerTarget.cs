using System.Collections;
using System.Reflection;
using System.Text;
using Akka.Actor;
using Fabric.Actors.Serialization;
using SerializationException = System.Runtime.Serialization.SerializationException;

namespace Fabric.Fuzz.Serialization;

/// <summary>
/// The cluster serializer (<see cref="FabricSerializer.FromBinary"/>), fed what a cluster peer could send: an input is a
/// manifest (UTF-8, up to the first zero octet) and the message bytes after it. Any bytes under any manifest either
/// decode to the manifest's own type, every member its declaration says is non-null present, or fail with the
/// serializer's own <see cref="SerializationException"/>, whose causes are data errors, never a programming error
/// (a null dereference, an index out of range, a bad cast, memory exhausted).
/// </summary>
public sealed class SerializerTarget : FuzzTarget
{
    // Built once per process, with every message type decoded once (MessagePack builds a type's formatter on first
    // use), out of the coverage map's sight: an input's trace does not depend on what ran before it.
    private static readonly Lazy<(FabricSerializer Serializer, WireMessageRegistry Registry)> Shared = new(() => CoverageMap.Hidden(() =>
    {
        var system = ActorSystem.Create("fuzz", "akka.loglevel = OFF\nakka.stdout-loglevel = OFF");
        var registry = WireMessageRegistry.FromApplicationAssemblies();
        var serializer = new FabricSerializer((ExtendedActorSystem)system, registry);
        foreach (var manifest in registry.Manifests)
        {
            serializer.FromBinary(serializer.ToBinary(SampleMessages.Of(registry.TypeOf(manifest)!)), manifest);
        }

        return (serializer, registry);
    }));

    private static readonly Type[] ProgrammingErrors =
    [
        typeof(NullReferenceException), typeof(IndexOutOfRangeException), typeof(InvalidCastException), typeof(OutOfMemoryException),
        typeof(ArgumentNullException), typeof(AccessViolationException), typeof(InvalidProgramException), typeof(MissingMethodException),
    ];

    public override string Name => "serializer";

    public override string Description => "any bytes under any manifest decode to the manifest's type or fail with the serializer's own error";

    public override void Run(byte[] input)
    {
        var (serializer, registry) = Shared.Value;
        var split = Array.IndexOf(input, (byte)0);
        var manifest = Encoding.UTF8.GetString(input, 0, split < 0 ? input.Length : split);
        var bytes = split < 0 ? [] : input[(split + 1)..];
        object message;
        try
        {
            message = serializer.FromBinary(bytes, manifest);
        }
        catch (SerializationException refused)
        {
            for (var cause = refused.InnerException; cause is not null; cause = cause.InnerException)
            {
                if (ProgrammingErrors.Any(t => t.IsInstanceOfType(cause)))
                {
                    throw new FuzzFinding($"\"{manifest}\" refused for a programming error: {cause.GetType().Name}", refused);
                }
            }

            return;
        }
        catch (Exception other)
        {
            throw new FuzzFinding($"\"{manifest}\" failed with {other.GetType().Name}, not the serializer's own error", other);
        }

        if (message.GetType() != registry.TypeOf(manifest))
        {
            throw new FuzzFinding($"\"{manifest}\" decoded to {message.GetType().FullName}, not {registry.TypeOf(manifest)?.FullName}");
        }

        if (Nulls.FirstMissing(message) is { } missing)
        {
            throw new FuzzFinding($"\"{manifest}\" decoded with {missing} null, which its type declares non-null");
        }
    }

    /// <summary>One message of every registered type, built from sample values and serialized as a peer would send it.</summary>
    public override IEnumerable<(string Name, byte[] Input)> Seeds()
    {
        var (serializer, registry) = Shared.Value;
        foreach (var manifest in registry.Manifests.Order(StringComparer.Ordinal))
        {
            var message = SampleMessages.Of(registry.TypeOf(manifest)!);
            yield return (manifest, [.. Encoding.UTF8.GetBytes(manifest), 0, .. serializer.ToBinary(message)]);
        }
    }

    /// <summary>Finds a member declared non-null that holds null, in a message and the records, lists and maps it holds.</summary>
    private static class Nulls
    {
        private static readonly NullabilityInfoContext Context = new();

        public static string? FirstMissing(object message) => Missing(message, null, message.GetType().Name, 0);

        private static string? Missing(object? value, NullabilityInfo? declared, string path, int depth)
        {
            if (value is null)
            {
                return declared is { ReadState: NullabilityState.NotNull } && !declared.Type.IsValueType ? path : null;
            }

            if (depth > 8 || value is string)
            {
                return null;
            }

            if (value is IEnumerable items)
            {
                // An array's elements, a list's, or a map's values (the last type argument).
                var element = declared?.ElementType ?? declared?.GenericTypeArguments.LastOrDefault();
                var index = 0;
                foreach (var item in value is IDictionary map ? map.Values : items)
                {
                    if (Missing(item, element, $"{path}[{index++}]", depth + 1) is { } inner)
                    {
                        return inner;
                    }
                }

                return null;
            }

            var type = value.GetType();
            if (type.Namespace?.StartsWith("Fabric.", StringComparison.Ordinal) != true)
            {
                return null;
            }

            foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance))
            {
                if (property.GetIndexParameters().Length == 0 && property.Name != "EqualityContract"
                    && Missing(property.GetValue(value), Context.Create(property), $"{path}.{property.Name}", depth + 1) is { } inner)
                {
                    return inner;
                }
            }

            return null;
        }
    }
}
