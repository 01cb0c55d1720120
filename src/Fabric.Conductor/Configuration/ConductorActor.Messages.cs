using Fabric.Actors.Serialization;

namespace Fabric.Conductor.Configuration;

/// <summary>Ask for the configuration history.</summary>
[WireMessage("fabric.config.get-history.v1")]
public sealed record GetConfigHistory;

/// <summary>What a commit or rollback came to: the new version, or every reason it was refused (nothing changed).</summary>
[WireMessage("fabric.config.result.v1")]
public sealed record ConfigCommandResult(bool Accepted, long? Version, IReadOnlyList<string> Errors);

/// <summary>One version as the history lists it.</summary>
[WireMessage("fabric.config.version-summary.v1")]
public sealed record ConfigVersionSummary(long Number, string Author, DateTimeOffset Time, string Message, long? RestoredFrom, IReadOnlyList<string> Changes);

/// <summary>The whole history, oldest first, and the running version (0 before the first commit).</summary>
[WireMessage("fabric.config.history.v1")]
public sealed record ConfigHistoryView(long Running, IReadOnlyList<ConfigVersionSummary> Versions, string? RunningText);

/// <summary>Ask which router node runs which version.</summary>
[WireMessage("fabric.config.get-rollout.v1")]
public sealed record GetConfigRollout;

/// <summary>The running version and every router node's place relative to it.</summary>
[WireMessage("fabric.config.rollout.v1")]
public sealed record ConfigRolloutView(long Running, IReadOnlyList<RouterRollout> Nodes)
{
    /// <summary>Every node runs the running version.</summary>
    public bool Converged => Nodes.Count > 0 && Nodes.All(n => !n.Drift);
}

/// <summary>One router node: the version it applied, the one it could not and why, whether it drifts from the running version.</summary>
/// <param name="Reported">False for a node the configuration names that has not been heard from.</param>
[WireMessage("fabric.config.router-rollout.v1")]
public sealed record RouterRollout(string Node, string Router, bool Reported, long Applied, long? FailedVersion, string? Failure, bool Drift);
