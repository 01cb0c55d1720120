using Akka.Event;
using Fabric.Actors.Cluster;

namespace Fabric.Actors.Security;

/// <summary>
/// The entries of a Distributed Data dictionary that each node writes under its own name (acks, telemetry), as a
/// reader believes them: an entry counts when it names the node it is filed under and, with cluster TLS, carries
/// that node's seal (<see cref="NodeVerifier"/>); without cluster TLS nothing can be checked and every entry that
/// names its own node counts. A refusal is logged once per node and reason. Not thread-safe: one per actor.
/// </summary>
public sealed class NodeEntries(ClusterTls? tls, TimeProvider time, ILoggingAdapter log, string what)
{
    private readonly NodeVerifier? _verifier = tls is null ? null : new NodeVerifier(tls, time);
    private readonly Dictionary<string, string> _refused = new(StringComparer.Ordinal);

    /// <summary>Whether the entry filed under <paramref name="key"/>, naming <paramref name="named"/>, is that node's own statement.</summary>
    public bool Believe(string key, string named, NodeStatement statement, NodeSeal? seal)
    {
        ArgumentNullException.ThrowIfNull(key);
        var problem = !string.Equals(named, key, StringComparison.Ordinal)
            ? $"it is filed under node {key} but names node {named}"
            : _verifier?.Problem(key, statement, seal);
        if (problem is null)
        {
            _refused.Remove(key);
            return true;
        }

        if (!_refused.TryGetValue(key, out var last) || last != problem)
        {
            _refused[key] = problem;
            log.Warning("{0} of node {1} refused: {2}", what, key, problem);
        }

        return false;
    }
}
