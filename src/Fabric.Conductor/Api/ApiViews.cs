using System.Text.Json;
using System.Text.Json.Serialization;
using Fabric.Actors.Services;
using Fabric.Config.Diff;
using Fabric.Conductor.Configuration;

namespace Fabric.Conductor.Api;

/// <summary>
/// The API's JSON: snake_case names (as the routers' counters and Prometheus name things), enums as snake_case strings,
/// no indentation. Also what the CLI prints for <c>--json</c>. Thread-safe once built.
/// </summary>
public static class ApiJson
{
    public static JsonSerializerOptions Options { get; } = Create();

    /// <summary>Applies the API's conventions to <paramref name="options"/> (ASP.NET Core's own, for the endpoints).</summary>
    public static void Configure(JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower;
        options.DictionaryKeyPolicy = null;
        options.Converters.Add(new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower));
    }

    private static JsonSerializerOptions Create()
    {
        var options = new JsonSerializerOptions(JsonSerializerDefaults.Web);
        Configure(options);
        options.MakeReadOnly(populateMissingResolver: true);
        return options;
    }
}

/// <summary>One change between two versions: <c>added</c>, <c>removed</c> or <c>changed</c> at a path, old and new values on one line.</summary>
public sealed record ChangeView(ChangeKind Kind, string Path, string? Old, string? New)
{
    public static ChangeView Of(ConfigChange change)
    {
        ArgumentNullException.ThrowIfNull(change);
        return new(change.Kind, change.Path, change.Old, change.New);
    }

    public override string ToString() => new ConfigChange(Kind, Path, Old, New).ToString();
}

/// <summary>One version of the configuration as the API lists it.</summary>
public sealed record VersionView(long Version, bool Running, string Author, DateTimeOffset Time, string Message, long? RestoredFrom, IReadOnlyList<ChangeView> Changes)
{
    public static VersionView Of(ConfigVersionSummary summary, long running)
    {
        ArgumentNullException.ThrowIfNull(summary);
        return new(summary.Number, summary.Number == running, summary.Author, summary.Time, summary.Message, summary.RestoredFrom, [.. summary.Changes.Select(ChangeView.Of)]);
    }
}

/// <summary>Every version, oldest first, and the running version's number (0 before the first commit).</summary>
public sealed record VersionListView(long Running, IReadOnlyList<VersionView> Versions);

/// <summary>One version with its document, as it was committed.</summary>
public sealed record VersionDocumentView(VersionView Version, string Document);

/// <summary>What turns version <c>from</c> into version <c>to</c>.</summary>
public sealed record DiffView(long From, long To, IReadOnlyList<ChangeView> Changes);

/// <summary>A document that loads: valid, with no errors (a refused one is a 422 problem listing them).</summary>
public sealed record ValidationView(bool Valid, IReadOnlyList<string> Routers, IReadOnlyList<string> Tenants, IReadOnlyList<string> Services);

/// <summary>A commit or rollback that became the running version: its number, the token owner who made it, why.</summary>
public sealed record CommitView(long Version, string Author, string Message);

/// <summary>A commit as JSON (the other form is the HOCON document itself as the body, with <c>?message=</c>).</summary>
public sealed record CommitRequest(string? Document, string? Message);

/// <summary>A rollback: the version whose content becomes running again, as a new version.</summary>
public sealed record RollbackRequest(long? Version, string? Message);

/// <summary>
/// One router node: the version it runs against the running one, whether it drifts, the version it could not apply
/// and why, and its role (<c>alone</c>, <c>active</c> or <c>standby</c> from its telemetry; <c>unknown</c> before its
/// first sample).
/// </summary>
public sealed record RouterNodeView(
    string Node, string Router, bool Reported, long Applied, long Running, bool Drift, long? FailedVersion, string? Failure, string Role, DateTimeOffset? LastSample);

/// <summary>One router and its node, or its two nodes as an HA pair.</summary>
public sealed record RouterView(string Name, IReadOnlyList<RouterNodeView> Nodes);

/// <summary>Every router whose nodes the running document names or that reported, and whether every node runs the running version.</summary>
public sealed record RouterListView(long Running, bool Converged, IReadOnlyList<RouterView> Routers);

/// <summary>One service of the running document with its registered instances (state, load, health).</summary>
public sealed record ServiceView(string Name, IReadOnlyList<InstanceView> Instances);

/// <summary>Every service of the running document, and services instances registered for that it no longer names.</summary>
public sealed record ServiceListView(IReadOnlyList<ServiceView> Services);
