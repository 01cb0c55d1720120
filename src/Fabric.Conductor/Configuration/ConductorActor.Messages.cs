using Fabric.Actors.Serialization;
using Fabric.Config.Diff;
using Fabric.Model.Validation;

namespace Fabric.Conductor.Configuration;

/// <summary>Ask for the configuration history.</summary>
[WireMessage("fabric.config.get-history.v1")]
public sealed record GetConfigHistory;

/// <summary>What a commit or rollback came to: the new version, or every reason it was refused (nothing changed), each with its path and line.</summary>
[WireMessage("fabric.config.result.v2")]
public sealed record ConfigCommandResult(bool Accepted, long? Version, IReadOnlyList<ConfigError> Errors)
{
    /// <summary>A refusal for one reason that belongs to no path of the document.</summary>
    public static ConfigCommandResult Refused(string reason) => new(false, null, [new ConfigError("", reason)]);
}

/// <summary>One version as the history lists it, with what changed from the version before it.</summary>
[WireMessage("fabric.config.version-summary.v2")]
public sealed record ConfigVersionSummary(long Number, string Author, DateTimeOffset Time, string Message, long? RestoredFrom, IReadOnlyList<ConfigChange> Changes);

/// <summary>Ask for one version with its document: by number, or (null) the running one.</summary>
[WireMessage("fabric.config.get-version.v1")]
public sealed record GetConfigVersion(long? Number);

/// <summary>One version and its document's text; <see cref="Version"/> is null when there is no such version.</summary>
[WireMessage("fabric.config.version.v1")]
public sealed record ConfigVersionView(long Running, ConfigVersionSummary? Version, string? Text);

/// <summary>Ask what changed from one version to another (either order).</summary>
[WireMessage("fabric.config.get-diff.v1")]
public sealed record GetConfigDiff(long From, long To);

/// <summary>The changes that turn version <see cref="From"/> into <see cref="To"/>, or why there are none to show (<see cref="Problem"/>).</summary>
[WireMessage("fabric.config.diff.v1")]
public sealed record ConfigDiffView(long From, long To, IReadOnlyList<ConfigChange> Changes, string? Problem);

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
