using Akka.Event;
using Fabric.Actors.Cluster;

namespace Fabric.Actors.Security;

/// <summary>
/// What each node says about itself, in a Distributed Data dictionary (acks, its instances, its load, its tenant
/// demands) or in a pub-sub message (telemetry), as a reader believes it: an entry counts when it is filed under the key its own
/// content gives it, the node it names may write it, it is not an earlier entry of the node replayed, and, with
/// cluster TLS, it carries that node's seal (<see cref="NodeVerifier"/>); without cluster TLS no seal can be checked.
/// A refusal is logged and counted once per key and reason (<see cref="ControlPlaneRefusals.ForeignEntries"/>): the same
/// entry arriving again by gossip, as another copy, is not counted again; a key believed and then refused again is. Not thread-safe: one per actor.
/// </summary>
public sealed class NodeEntries(ClusterTls? tls, TimeProvider time, ILoggingAdapter log, string what, ControlPlaneRefusals? refusals = null)
{
    private const int MaxRemembered = 4096;
    private readonly NodeVerifier? _verifier = tls is null ? null : new NodeVerifier(tls, time);
    private readonly Dictionary<string, string> _refused = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (object Entry, string? NotAllowed, bool Believed)> _verdicts = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (string Incarnation, long Sequence)> _latest = new(StringComparer.Ordinal);

    /// <summary>Whether the entry filed under <paramref name="key"/>, naming <paramref name="named"/>, is that node's own statement (an entry filed under its node's name).</summary>
    public bool Believe(string key, string named, NodeStatement statement, NodeSeal? seal)
    {
        ArgumentNullException.ThrowIfNull(key);
        return Judge(key, $"of node {key}", !string.Equals(named, key, StringComparison.Ordinal)
            ? $"it is filed under node {key} but names node {named}"
            : _verifier?.Problem(key, statement, seal), out _);
    }

    /// <summary>
    /// Whether <paramref name="entry"/>, filed under <paramref name="key"/>, is node <paramref name="node"/>'s own
    /// statement. The verdict is kept for the entry itself and what the reader knew of the node's router: reading the
    /// same entry again checks nothing again, unless <paramref name="notAllowed"/> changed since (a configuration
    /// applied that says which router the node is part of, or moved it), which judges it afresh.
    /// </summary>
    /// <param name="ownKey">The key the entry's content files it under.</param>
    /// <param name="notAllowed">Why the node may not write this entry as the reader knows it (not a node of the router the entry names), or null.</param>
    /// <param name="order">The node's run that wrote it and the entry's sequence in that run: a lower sequence of the same run than one believed before is an earlier entry replayed.</param>
    public bool Believe<T>(
        string key, T entry, string node, string ownKey, Func<T, NodeStatement> statement, NodeSeal? seal,
        string? notAllowed = null, (string Incarnation, long Sequence)? order = null)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(entry);
        ArgumentNullException.ThrowIfNull(statement);
        if (_verdicts.TryGetValue(key, out var known) && ReferenceEquals(known.Entry, entry) && known.NotAllowed == notAllowed)
        {
            return known.Believed;
        }

        string? problem;
        if (!string.Equals(key, ownKey, StringComparison.Ordinal))
        {
            problem = $"it names node {node} and belongs under {ownKey}";
        }
        else if (notAllowed is not null)
        {
            problem = notAllowed;
        }
        else if (order is { } o && _latest.TryGetValue(key, out var latest) && latest.Incarnation == o.Incarnation && o.Sequence < latest.Sequence)
        {
            problem = $"it is an earlier entry of node {node} (sequence {o.Sequence}, after {latest.Sequence})";
        }
        else
        {
            problem = _verifier?.Problem(node, statement(entry), seal);
        }

        var believed = Judge(key, key, problem, out var newlyRefused);
        if (_verdicts.Count >= MaxRemembered)
        {
            _verdicts.Clear();
        }

        _verdicts[key] = (entry, notAllowed, believed);
        if (believed && order is { } fresh)
        {
            _latest[key] = fresh;
        }
        else if (newlyRefused)
        {
            // The same refusal read again (the entry gossiped once more, so another copy of it) is not another entry refused.
            refusals?.CountForeignEntry();
        }

        return believed;
    }

    /// <summary>
    /// The entries of a router node registry this reader believes (<see cref="Believe{T}"/>: filed under their own key,
    /// written by a node of the router they name, not replayed, sealed by that node), each as its content, by key.
    /// </summary>
    public Dictionary<string, TContent> Believed<TEntry, TContent>(IReadOnlyDictionary<string, TEntry> entries, INodeRouters? routers, Func<TEntry, TContent> contentOf)
        where TEntry : class, IRouterNodeEntry
    {
        ArgumentNullException.ThrowIfNull(entries);
        ArgumentNullException.ThrowIfNull(contentOf);
        var believed = new Dictionary<string, TContent>(StringComparer.Ordinal);
        foreach (var (key, entry) in entries)
        {
            if (Believe(key, entry, entry.Node, entry.OwnKey, e => e.Statement(), entry.Seal, NodeRouters.NotAllowed(routers, entry.Node, entry.Router), entry.Order))
            {
                believed[key] = contentOf(entry);
            }
        }

        return believed;
    }

    /// <summary>
    /// Whether the entry under <paramref name="key"/> is believed (no <paramref name="problem"/>); a refusal is logged, and
    /// <paramref name="newlyRefused"/>, only when the key was not refused for that very reason before.
    /// </summary>
    private bool Judge(string key, string subject, string? problem, out bool newlyRefused)
    {
        newlyRefused = false;
        if (problem is null)
        {
            _refused.Remove(key);
            return true;
        }

        if (!_refused.TryGetValue(key, out var last) || last != problem)
        {
            newlyRefused = true;
            if (_refused.Count >= MaxRemembered)
            {
                _refused.Clear();
            }

            _refused[key] = problem;
            log.Warning("{0} {1} refused: {2}", what, subject, problem);
        }

        return false;
    }
}

/// <summary>
/// An entry a router node writes about itself in a replicated registry (its instances, its load, its attached clients),
/// as a reader judges it (<see cref="NodeEntries.Believed{TEntry, TContent}"/>). Implemented explicitly, so the wire form
/// of an entry stays its content and seal.
/// </summary>
public interface IRouterNodeEntry
{
    /// <summary>The node that wrote it, by its own content.</summary>
    string Node { get; }

    /// <summary>The router it speaks for.</summary>
    string Router { get; }

    /// <summary>The key its content files it under.</summary>
    string OwnKey { get; }

    NodeSeal? Seal { get; }

    /// <summary>The node's run and the entry's sequence in it, for an entry a reader must not take back in time; else null.</summary>
    (string Incarnation, long Sequence)? Order { get; }

    /// <summary>What the node signs.</summary>
    NodeStatement Statement();
}
