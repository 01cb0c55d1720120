using Akka.Cluster;
using Akka.DistributedData;
using Fabric.Actors.Serialization;

namespace Fabric.Actors.Cluster;

/// <summary>
/// The key of one entry in a replicated map (Distributed Data's <see cref="LWWDictionary{TKey, TValue}"/>). Replicas
/// compare their state every gossip round by a digest of its serialized bytes, and a map serializes its entries in the
/// order of their keys' hash codes. A <see cref="string"/>'s hash code is randomized per process, so two nodes holding
/// the same map serialized it differently, never agreed, and exchanged and merged every map whole every round: at rest
/// that was a sixth of an idle router's CPU. This key hashes its name alike in every process (FNV-1a), so equal maps
/// are equal bytes on every node. Only the replicated maps use it; the code around them reads names (<see cref="EntryNames"/>).
/// </summary>
[WireMessage("fabric.cluster.entry-name.v1")]
public sealed record EntryName(string Name)
{
    /// <summary>FNV-1a over the name's UTF-16 code units: the same value in every process and on every node.</summary>
    public override int GetHashCode()
    {
        var hash = 2166136261u;
        foreach (var unit in Name)
        {
            hash = (hash ^ unit) * 16777619u;
        }

        return (int)hash;
    }

    public override string ToString() => Name;
}

/// <summary>Reading and writing a replicated map by entry names.</summary>
public static class EntryNames
{
    /// <summary>The map's entries by name (a copy).</summary>
    public static Dictionary<string, T> ByName<T>(this LWWDictionary<EntryName, T> map)
    {
        ArgumentNullException.ThrowIfNull(map);
        var entries = new Dictionary<string, T>(map.Count, StringComparer.Ordinal);
        foreach (var (key, value) in map.Entries)
        {
            entries[key.Name] = value;
        }

        return entries;
    }

    /// <summary>The map with <paramref name="name"/> set to <paramref name="value"/>, written by <paramref name="node"/>.</summary>
    public static LWWDictionary<EntryName, T> SetItem<T>(this LWWDictionary<EntryName, T> map, UniqueAddress node, string name, T value)
    {
        ArgumentNullException.ThrowIfNull(map);
        return map.SetItem(node, new EntryName(name), value);
    }

    /// <summary>The map without <paramref name="name"/>, removed by <paramref name="node"/>.</summary>
    public static LWWDictionary<EntryName, T> Remove<T>(this LWWDictionary<EntryName, T> map, UniqueAddress node, string name)
    {
        ArgumentNullException.ThrowIfNull(map);
        return map.Remove(node, new EntryName(name));
    }
}
