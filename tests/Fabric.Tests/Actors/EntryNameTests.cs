using System.IO.Compression;
using Akka.Actor;
using Akka.Cluster;
using Akka.Configuration;
using Akka.DistributedData;
using Fabric.Actors.Cluster;
using Fabric.Actors.Configuration;
using Fabric.Actors.Serialization;

namespace Fabric.Tests.Actors;

/// <summary>
/// Replicas of a Distributed Data map agree only when they serialize it to the same bytes (gossip compares digests of
/// them). With keys whose hash is randomized per process (strings), a map received from another node serialized here in
/// another order, the digests never matched, and every gossip round carried every map whole.
/// </summary>
public sealed class EntryNameTests : IDisposable
{
    /// <summary>
    /// Twelve router acks written by two nodes, as another process serialized them (gzip, as Akka sends a map). Record it
    /// again only if Akka's map format changes.
    /// </summary>
    private const string MapFromAnotherProcess =
        "H4sIAAAAAAAAA82X20rDMBiAUQRHRFfjYToFD5eioYedugthiF4qKnifdVGKs9W0FbxUUR/EeQTfYV6L4I1v4gNI105cNFAjg9y1Tb7+4euf/0/BTQroIANGQBoATUWmiVSkacr7jDKgZH4MGOHAoDIB9VQfRGu4Sm0LVSzfpR5aqQeeTyhadXx6so4PyOJsx4TsJC/O4C9DcaQhPpXmUwqfGuZTkE+N8KlRPjXGp8b5VIZPTZQRGDhthHIbVaph5Wpufno3kmzF+kmof8nBBwQda2UDKNH8B+oGPqFLQpAuAhkiUE4EyotABRGoKAKVRCAzAZQDwxH02P64qhCVICfgeS986Um9peFviZk9Ahtnt9s+9gPvorHu1r6l2+1W6+q+/eCucnhYt0mt/2kN23VS2yHUs12neRfeBpQ0G9sE15vhiqbaK3KdXXsPxW/A1j461uaXU32wzFSg1ryAYt92HRTFjZ5VrH2mGi2I7AxRC0XWQlFaC8XuWTBZC6a0FkxxC1EV51vQWQu6tBb07uVCnrWQl9ZCgu4CL3vhK9+CBzY7LXyrvLGGryIkTX0UaxMcEfGm4ItQf4hQ5RWRoMvCjx74zBexB1Y7RbSOc7GC6yqVJgv+eN4ULYoFthwUZBEgcm4UtVBiLZSktVDqXmswWAuGtBaM7uVCjrWQk9ZCgn+27D+DfgLQ/quOpxAAAA==";

    private static readonly UniqueAddress Br1a = new(new Address("akka.tcp", "fabric", "10.99.0.11", 4053), 11);
    private static readonly UniqueAddress Dc1a = new(new Address("akka.tcp", "fabric", "10.99.0.13", 4053), 13);

    private readonly ActorSystem _system = ActorSystem.Create(
        "entry-names",
        ConfigurationFactory.ParseString("akka.loglevel = WARNING\n" + FabricSerialization.Hocon(WireMessageRegistry.FromApplicationAssemblies(), clusterNode: true))
            .WithFallback(DistributedData.DefaultConfig()));

    public void Dispose() => _system.Dispose();

    [Fact]
    public void MapReceivedFromAnotherProcess_SerializesHereToTheBytesItArrivedIn()
    {
        var received = Convert.FromBase64String(MapFromAnotherProcess);

        var map = Deserialize(received);

        Assert.Equal(12, map.Count);
        Assert.Equal(new RouterConfigStatus("br1a", "br1", 7, null, null), map.ByName()["br1a"].Status);
        Assert.Equal(Gunzip(received), Gunzip(Serialize(map)));
    }

    [Fact]
    public void MapWrittenHere_RoundTripsToTheSameBytes()
    {
        var bytes = Serialize(Acks());

        Assert.Equal(Gunzip(bytes), Gunzip(Serialize(Deserialize(bytes))));
    }

    [Fact]
    public void Hash_IsFnv1aOfTheName()
    {
        Assert.Equal(unchecked((int)2166136261u), new EntryName("").GetHashCode());
        Assert.Equal(unchecked((int)0xe40c292cu), new EntryName("a").GetHashCode());
        Assert.Equal(new EntryName("web@br1a"), new EntryName("web@br1a"));
    }

    private byte[] Serialize(LWWDictionary<EntryName, RouterConfigAck> map) => _system.Serialization.FindSerializerFor(map).ToBinary(map);

    private LWWDictionary<EntryName, RouterConfigAck> Deserialize(byte[] bytes)
    {
        var serializer = _system.Serialization.FindSerializerFor(LWWDictionary<EntryName, RouterConfigAck>.Empty);
        var manifest = Akka.Serialization.Serialization.ManifestFor(serializer, LWWDictionary<EntryName, RouterConfigAck>.Empty);
        return (LWWDictionary<EntryName, RouterConfigAck>)_system.Serialization.Deserialize(bytes, serializer.Identifier, manifest);
    }

    private static byte[] Gunzip(byte[] bytes)
    {
        using var zip = new GZipStream(new MemoryStream(bytes), CompressionMode.Decompress);
        using var plain = new MemoryStream();
        zip.CopyTo(plain);
        return plain.ToArray();
    }

    /// <summary>Twelve acks written by two nodes in turn (how <see cref="MapFromAnotherProcess"/> was made).</summary>
    private static LWWDictionary<EntryName, RouterConfigAck> Acks()
    {
        var map = LWWDictionary<EntryName, RouterConfigAck>.Empty;
        var writer = Br1a;
        foreach (var name in Enumerable.Range(0, 12).Select(i => i == 0 ? "br1a" : $"router-{i}a"))
        {
            var ack = new RouterConfigAck(new RouterConfigStatus(name, name[..^1], 7, null, null), null);
            map = map.SetItem(writer, new EntryName(name), ack, (_, _) => 1000);
            writer = writer == Br1a ? Dc1a : Br1a;
        }

        return map;
    }
}
