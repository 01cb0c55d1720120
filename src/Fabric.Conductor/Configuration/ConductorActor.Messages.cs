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
