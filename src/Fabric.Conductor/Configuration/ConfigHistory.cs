using Fabric.Actors.Configuration;
using Fabric.Actors.Serialization;
using Fabric.Config;
using Fabric.Config.Diff;
using Fabric.Model;
using Fabric.Model.Validation;

namespace Fabric.Conductor.Configuration;

/// <summary>Ask to make a document the running configuration.</summary>
[WireMessage("fabric.config.commit.v1")]
public sealed record CommitConfig(string Text, string Author, string Message);

/// <summary>Ask to make an earlier version running again, as a new version with the same content.</summary>
[WireMessage("fabric.config.rollback.v1")]
public sealed record RollbackConfig(long Version, string Author, string Message);

/// <summary>A version became the running configuration. The only event of the history; it holds the document's text.</summary>
/// <param name="RestoredFrom">The version a rollback copied, or null for a commit.</param>
[WireMessage("fabric.config.committed.v1")]
public sealed record ConfigCommitted(long Version, string Text, string Author, DateTimeOffset Time, string Message, long? RestoredFrom);

/// <summary>One version of the configuration, with what changed from the version before it.</summary>
public sealed record ConfigVersion(
    long Number, string Text, FabricConfig Model, string Author, DateTimeOffset Time, string Message, long? RestoredFrom,
    IReadOnlyList<ConfigChange> Changes);

/// <summary>What a command decided: the event to persist, or why nothing changes.</summary>
public sealed record ConfigDecision(ConfigCommitted? Event, IReadOnlyList<ConfigError> Errors)
{
    public bool Accepted => Event is not null;

    public static ConfigDecision Refuse(string message) => new(null, [new ConfigError("", message)]);
}

/// <summary>
/// The conductor's configuration history as pure state: validate → commit → running, rollback as a
/// new version, the full history kept. <see cref="Decide(CommitConfig, DateTimeOffset)"/> never
/// changes the state; <see cref="Apply"/> folds an event in, so the same events always rebuild the
/// same history (the persistent actor replays them). Immutable; thread-safe.
/// </summary>
public sealed class ConfigHistory
{
    private readonly List<ConfigVersion> _versions;

    private ConfigHistory(List<ConfigVersion> versions) => _versions = versions;

    public static ConfigHistory Empty { get; } = new([]);

    /// <summary>Every version, oldest first; version numbers start at 1 and have no gaps.</summary>
    public IReadOnlyList<ConfigVersion> Versions => _versions;

    /// <summary>The running version, or null before the first commit.</summary>
    public ConfigVersion? Running => _versions.Count == 0 ? null : _versions[^1];

    public ConfigVersion? Find(long number) => number >= 1 && number <= _versions.Count ? _versions[(int)number - 1] : null;

    /// <summary>
    /// An invalid document is refused with every error and changes nothing, and so is one larger than
    /// <see cref="ConfigDistribution.MaxDocumentBytes"/>; a document equal to the running one is refused as
    /// "no changes"; otherwise the next version. A command that lacks a field (a message decoded from the
    /// wire may carry nulls) is refused, never thrown.
    /// </summary>
    public ConfigDecision Decide(CommitConfig command, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(command);
        if (command.Text is null)
        {
            return ConfigDecision.Refuse("a commit needs a document");
        }

        if (string.IsNullOrWhiteSpace(command.Author))
        {
            return ConfigDecision.Refuse("a commit needs an author");
        }

        var bytes = System.Text.Encoding.UTF8.GetByteCount(command.Text);
        if (bytes > ConfigDistribution.MaxDocumentBytes)
        {
            return ConfigDecision.Refuse(
                $"the document is {bytes} bytes; a document may be at most {ConfigDistribution.MaxDocumentBytes} bytes " +
                $"({ConfigDistribution.MaxDocumentBytes / (1024 * 1024)} MiB): it travels to every router in one cluster message");
        }

        var loaded = FabricConfigLoader.Load(command.Text);
        if (!loaded.IsValid)
        {
            return new ConfigDecision(null, loaded.Errors);
        }

        if (Running is { } running && running.Model == loaded.Config)
        {
            return ConfigDecision.Refuse($"no changes: the document equals the running version {running.Number}");
        }

        return new ConfigDecision(new ConfigCommitted(_versions.Count + 1, command.Text, command.Author, now, command.Message ?? "", null), []);
    }

    /// <summary>A rollback to an existing version other than the running content becomes a new version with that content.</summary>
    public ConfigDecision Decide(RollbackConfig command, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(command);
        if (string.IsNullOrWhiteSpace(command.Author))
        {
            return ConfigDecision.Refuse("a rollback needs an author");
        }

        if (Find(command.Version) is not { } target)
        {
            return ConfigDecision.Refuse(_versions.Count == 0
                ? "nothing to roll back to: no version has been committed"
                : $"no version {command.Version}: versions are 1 to {_versions.Count}");
        }

        if (Running!.Model == target.Model)
        {
            return ConfigDecision.Refuse($"no changes: version {target.Number} equals the running version {Running.Number}");
        }

        var message = string.IsNullOrWhiteSpace(command.Message) ? $"rollback to version {target.Number}" : command.Message;
        return new ConfigDecision(new ConfigCommitted(_versions.Count + 1, target.Text, command.Author, now, message, target.Number), []);
    }

    /// <summary>What changed from version <paramref name="from"/> to <paramref name="to"/> (either may be the older), or why nothing can be shown.</summary>
    public ConfigDiffView Diff(long from, long to)
    {
        if (Find(from) is not { } before || Find(to) is not { } after)
        {
            var missing = Find(from) is null ? from : to;
            return new ConfigDiffView(from, to, [], _versions.Count == 0
                ? "no version has been committed"
                : $"no version {missing}: versions are 1 to {_versions.Count}");
        }

        return new ConfigDiffView(from, to, ConfigDiff.Compare(before.Model, after.Model), null);
    }

    /// <summary>Folds a committed version in. Events come in version order; the text was valid when it was committed.</summary>
    public ConfigHistory Apply(ConfigCommitted committed)
    {
        ArgumentNullException.ThrowIfNull(committed);
        if (committed.Version != _versions.Count + 1)
        {
            throw new InvalidOperationException($"version {committed.Version} applied after version {_versions.Count}");
        }

        var model = FabricConfigLoader.Load(committed.Text).Config
            ?? throw new InvalidOperationException($"version {committed.Version} holds a document that no longer loads");
        var changes = Running is { } previous ? ConfigDiff.Compare(previous.Model, model) : ConfigDiff.Compare(EmptyModel, model);
        return new ConfigHistory([.. _versions, new ConfigVersion(
            committed.Version, committed.Text, model, committed.Author, committed.Time, committed.Message, committed.RestoredFrom, changes)]);
    }

    private static FabricConfig EmptyModel { get; } = new("", [], [], [], [], [], [], ConductorSettings.Default);
}
