using System.Reflection;
using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;
using Akka.Actor;
using Akka.Serialization;
using MessagePack;
using MessagePack.Resolvers;
using SerializationException = System.Runtime.Serialization.SerializationException;

namespace Fabric.Actors.Serialization;

/// <summary>
/// Akka serializer for Fabric's cluster messages: MessagePack with string manifests, limited to the
/// types marked <see cref="WireMessageAttribute"/> in Fabric's assemblies, read in MessagePack's
/// untrusted-data mode. No type name ever travels, so a peer cannot make this node instantiate an
/// arbitrary type. Thread-safe.
/// </summary>
public sealed class FabricSerializer : SerializerWithStringManifest
{
    /// <summary>Akka serializer id (user ids start above 100).</summary>
    public const int SerializerId = 4231;

    private static readonly MessagePackSerializerOptions Options = MessagePackSerializerOptions.Standard
        .WithResolver(CompositeResolver.Create(MapResolver.Instance, ContractlessStandardResolver.Instance))
        .WithSecurity(MessagePackSecurity.UntrustedData);

    private readonly WireMessageRegistry _registry;

    public FabricSerializer(ExtendedActorSystem system)
        : this(system, WireMessageRegistry.FromApplicationAssemblies())
    {
    }

    /// <summary>
    /// The form Akka makes a serializer in when its configuration has settings for the serializer's name
    /// (<c>akka.actor.serialization-settings.NAME</c>): Akka's reference configuration has them for <c>json</c>, a name
    /// this serializer also takes (<see cref="FabricSerialization.Hocon"/>). It has no settings and ignores them.
    /// </summary>
    public FabricSerializer(ExtendedActorSystem system, Akka.Configuration.Config settings)
        : this(system) => _ = settings;

    public FabricSerializer(ExtendedActorSystem system, WireMessageRegistry registry)
        : base(system) => _registry = registry;

    public override int Identifier => SerializerId;

    public override string Manifest(object o)
    {
        ArgumentNullException.ThrowIfNull(o);
        return _registry.ManifestOf(o.GetType())
            ?? throw new SerializationException($"{o.GetType().FullName} is not a wire message: mark it [WireMessage(\"...\")]");
    }

    public override byte[] ToBinary(object obj)
    {
        ArgumentNullException.ThrowIfNull(obj);
        _ = Manifest(obj);
        return MessagePackSerializer.Serialize(obj.GetType(), obj, Options);
    }

    /// <summary>
    /// The message <paramref name="bytes"/> hold under <paramref name="manifest"/>, of exactly the type the manifest
    /// names, with every member its type declares non-null present (<see cref="RequiredMembers"/>). Anything else,
    /// an unknown manifest, bytes that do not decode, a message missing a member, fails with a
    /// <see cref="SerializationException"/> that says which.
    /// </summary>
    public override object FromBinary(byte[] bytes, string manifest)
    {
        var type = _registry.TypeOf(manifest)
            ?? throw new SerializationException($"unknown wire message manifest \"{manifest}\": refused");
        object? message;
        try
        {
            message = MessagePackSerializer.Deserialize(type, bytes, Options);
        }
        catch (MessagePackSerializationException e)
        {
            throw new SerializationException($"wire message \"{manifest}\" does not decode: {(e.InnerException ?? e).Message}", e);
        }

        if (message is null)
        {
            throw new SerializationException($"wire message \"{manifest}\" decoded to nothing");
        }

        return RequiredMembers.FirstMissing(message) is { } missing
            ? throw new SerializationException($"wire message \"{manifest}\" lacks {missing}: refused")
            : message;
    }
}

/// <summary>The allow-list: manifest ↔ type for every type marked <see cref="WireMessageAttribute"/>. Immutable; thread-safe.</summary>
public sealed class WireMessageRegistry
{
    private readonly Dictionary<string, Type> _types;
    private readonly Dictionary<Type, string> _manifests;

    public WireMessageRegistry(IEnumerable<Type> types)
    {
        ArgumentNullException.ThrowIfNull(types);
        _types = new Dictionary<string, Type>(StringComparer.Ordinal);
        _manifests = [];
        foreach (var type in types)
        {
            if (type.GetCustomAttribute<WireMessageAttribute>() is not { } mark)
            {
                continue;
            }

            if (!_types.TryAdd(mark.Manifest, type))
            {
                throw new InvalidOperationException($"manifest \"{mark.Manifest}\" is claimed by {_types[mark.Manifest].FullName} and {type.FullName}");
            }

            _manifests[type] = mark.Manifest;
        }
    }

    /// <summary>
    /// The name parts of the test, benchmark and fuzzing assemblies that may sit beside a test run's copy of the application
    /// (Fabric.Tests, Fabric.Tests.Privileged, Fabric.Benchmarks, Fabric.Fuzz, Fabric.Testing).
    /// </summary>
    private static readonly string[] TestAssemblyParts = ["Tests", "Benchmarks", "Fuzz", "Testing"];

    /// <summary>
    /// Marked types in every Fabric assembly of the application (the <c>Fabric.*.dll</c> files beside
    /// it, loaded if they hold a marked type and are not yet), so the list does not depend on what happened to load first.
    /// Each file's metadata is read first (<see cref="MarkedTypeNames"/>) and only the types it names are loaded: loading
    /// every type of every assembly loaded what those types derive from (ASP.NET Core, Akka.Persistence, OpenAPI, ADO.NET:
    /// ~3.4 MB of mapped files in a router that uses none of them, docs/benchmarks.md "Memory, 2026-12-06"). The mark is then
    /// read again by reflection, so a type is on the list only if it carries this very attribute.
    /// </summary>
    /// <remarks>Read once per process (the files beside the application do not change while it runs): the cluster's
    /// configuration and every <see cref="FabricSerializer"/> Akka makes share the one list.</remarks>
    public static WireMessageRegistry FromApplicationAssemblies() => Application.Value;

    private static readonly Lazy<WireMessageRegistry> Application = new(ScanApplicationAssemblies);

    /// <summary>Whether the assembly named <paramref name="name"/> (a <c>Fabric.*</c> file's name) is the application's, not a test's, benchmark's or fuzzer's.</summary>
    public static bool IsApplicationAssembly(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return !name.Split('.').Any(part => TestAssemblyParts.Contains(part, StringComparer.Ordinal));
    }

    private static WireMessageRegistry ScanApplicationAssemblies()
    {
        var types = new List<Type>();
        foreach (var path in Directory.EnumerateFiles(AppContext.BaseDirectory, "Fabric.*.dll").Order(StringComparer.Ordinal))
        {
            var name = Path.GetFileNameWithoutExtension(path);
            if (!IsApplicationAssembly(name) || MarkedTypeNames(path) is not { Count: > 0 } marked)
            {
                continue;
            }

            var assembly = Assembly.Load(new AssemblyName(name));
            types.AddRange(marked.Select(typeName => assembly.GetType(typeName, throwOnError: true)!));
        }

        return new(types);
    }

    /// <summary>
    /// The names (as <see cref="Assembly.GetType(string)"/> reads them: nested types after a <c>+</c>) of the types in the
    /// assembly file that carry an attribute named like <see cref="WireMessageAttribute"/>, read from its metadata without
    /// loading it.
    /// </summary>
    private static List<string> MarkedTypeNames(string path)
    {
        using var file = File.OpenRead(path);
        using var pe = new PEReader(file);
        if (!pe.HasMetadata)
        {
            return [];
        }

        var metadata = pe.GetMetadataReader();
        var names = new List<string>();
        foreach (var handle in metadata.TypeDefinitions)
        {
            var type = metadata.GetTypeDefinition(handle);
            foreach (var attribute in type.GetCustomAttributes())
            {
                if (IsWireMessageAttribute(metadata, metadata.GetCustomAttribute(attribute).Constructor))
                {
                    names.Add(FullName(metadata, type));
                    break;
                }
            }
        }

        return names;
    }

    private static bool IsWireMessageAttribute(MetadataReader metadata, EntityHandle constructor)
    {
        var declaring = constructor.Kind switch
        {
            HandleKind.MemberReference => metadata.GetMemberReference((MemberReferenceHandle)constructor).Parent,
            HandleKind.MethodDefinition => metadata.GetMethodDefinition((MethodDefinitionHandle)constructor).GetDeclaringType(),
            _ => default,
        };
        var (name, space) = declaring.Kind switch
        {
            HandleKind.TypeReference => (metadata.GetTypeReference((TypeReferenceHandle)declaring).Name, metadata.GetTypeReference((TypeReferenceHandle)declaring).Namespace),
            HandleKind.TypeDefinition => (metadata.GetTypeDefinition((TypeDefinitionHandle)declaring).Name, metadata.GetTypeDefinition((TypeDefinitionHandle)declaring).Namespace),
            _ => (default(StringHandle), default(StringHandle)),
        };
        return !name.IsNil
            && metadata.StringComparer.Equals(name, nameof(WireMessageAttribute))
            && metadata.StringComparer.Equals(space, typeof(WireMessageAttribute).Namespace!);
    }

    private static string FullName(MetadataReader metadata, TypeDefinition type)
    {
        var name = metadata.GetString(type.Name);
        var outer = type.GetDeclaringType();
        if (!outer.IsNil)
        {
            return FullName(metadata, metadata.GetTypeDefinition(outer)) + "+" + name;
        }

        return type.Namespace.IsNil ? name : metadata.GetString(type.Namespace) + "." + name;
    }

    public IReadOnlyCollection<string> Manifests => _types.Keys;

    public string? ManifestOf(Type type) => _manifests.GetValueOrDefault(type);

    public Type? TypeOf(string manifest) => _types.GetValueOrDefault(manifest);
}

/// <summary>The Akka settings that route every wire message through <see cref="FabricSerializer"/>.</summary>
public static class FabricSerialization
{
    /// <summary>HOCON binding each registered type to the Fabric serializer (built from the registry, so it cannot drift from it).</summary>
    /// <param name="clusterNode">
    /// The settings of a cluster node (routers and conductors): also bind <c>System.Object</c> (Akka's fallback, a polymorphic JSON serializer) to the Fabric
    /// serializer, which refuses any type off the allow-list: a message without a serializer of its
    /// own then fails to send instead of travelling with its type name. And give Akka's serializer name <c>json</c>
    /// to the Fabric serializer too, so Akka never makes its Newtonsoft.Json serializer: nothing can be sent with it,
    /// a message that arrives marked with its id is dropped unread instead of being read with the type name it
    /// carries, and a node does not load Newtonsoft.Json (0.6 MB and ~130 types, docs/benchmarks.md
    /// "Memory, 2026-12-06, Akka's share"). Cluster nodes set it.
    /// </param>
    public static string Hocon(WireMessageRegistry registry, bool clusterNode = false)
    {
        ArgumentNullException.ThrowIfNull(registry);
        var serializer = $"{typeof(FabricSerializer).FullName}, {typeof(FabricSerializer).Assembly.GetName().Name}";
        var bindings = string.Join("\n", registry.Manifests
            .Select(registry.TypeOf)
            .Select(t => $"      \"{t!.FullName}, {t.Assembly.GetName().Name}\" = fabric")
            .Concat(clusterNode ? ["      \"System.Object\" = fabric"] : []));
        var json = clusterNode ? $"\n  serializers.json = \"{serializer}\"" : string.Empty;
        return $$"""
            akka.actor {
              serializers.fabric = "{{serializer}}"{{json}}
              serialization-identifiers { "{{serializer}}" = {{FabricSerializer.SerializerId}} }
              serialization-bindings {
            {{bindings}}
              }
            }
            """;
    }
}
