using Akka.Actor;
using Akka.Cluster;
using Akka.DistributedData;

namespace Fabric.Actors.Cluster;

/// <summary>
/// A node keeping its own entries of a replicated registry (the live instance registry, the attached-client registry)
/// equal to what it has: the writes are decided against the node's view, and again on the replica itself when they
/// are applied, since the view may lag the node's own writes by the notification interval (a repeat changes nothing).
/// Writes are local; gossip carries them to every node.
/// </summary>
public static class OwnEntries
{
    /// <summary>
    /// Writes to <paramref name="key"/> in this node's replica (by <paramref name="self"/>) what <paramref name="reconcile"/>
    /// decides: the entries to set and the keys to remove. Nothing is sent when, on <paramref name="view"/>, it decides
    /// nothing. <paramref name="reconcile"/> runs on the replicator's thread too: it must not read the calling actor's state.
    /// </summary>
    public static void Publish<T>(
        IActorRef replicator,
        LWWDictionaryKey<EntryName, T> key,
        UniqueAddress self,
        IReadOnlyDictionary<string, T> view,
        Func<IReadOnlyDictionary<string, T>, (IReadOnlyList<KeyValuePair<string, T>> Set, IReadOnlyList<string> Remove)> reconcile)
    {
        ArgumentNullException.ThrowIfNull(replicator);
        ArgumentNullException.ThrowIfNull(reconcile);
        var (set, remove) = reconcile(view);
        if (set.Count == 0 && remove.Count == 0)
        {
            return;
        }

        replicator.Tell(Dsl.Update(key, LWWDictionary<EntryName, T>.Empty, WriteLocal.Instance, registry =>
        {
            var (toSet, toRemove) = reconcile(registry.ByName());
            foreach (var (name, entry) in toSet)
            {
                registry = registry.SetItem(self, name, entry);
            }

            foreach (var name in toRemove)
            {
                registry = registry.Remove(self, name);
            }

            return registry;
        }));
    }
}

/// <summary>
/// A node's own registry entries as it sealed them last: an entry whose content did not change keeps the seal it had
/// (a seal is a signature; entries are reconciled every second). Not thread-safe: one per actor.
/// </summary>
/// <param name="seal">Seals one entry's content.</param>
/// <param name="contentOf">The content a sealed entry holds.</param>
public sealed class SealedOnChange<TContent, TSealed>(Func<TContent, TSealed> seal, Func<TSealed, TContent> contentOf)
    where TContent : IEquatable<TContent>
{
    private Dictionary<string, TSealed> _sealed = new(StringComparer.Ordinal);

    /// <summary>Each of <paramref name="desired"/> sealed, by key; the entries sealed before and no longer desired are forgotten.</summary>
    public Dictionary<string, TSealed> Seal(IReadOnlyDictionary<string, TContent> desired)
    {
        ArgumentNullException.ThrowIfNull(desired);
        var sealedNow = new Dictionary<string, TSealed>(StringComparer.Ordinal);
        foreach (var (key, content) in desired)
        {
            sealedNow[key] = _sealed.TryGetValue(key, out var held) && contentOf(held).Equals(content) ? held : seal(content);
        }

        _sealed = sealedNow;
        return sealedNow;
    }
}
