using System.Globalization;
using Fabric.Actors.Security;
using Fabric.Dataplane.Sessions;
using MessagePack;
using MessagePack.Resolvers;

namespace Fabric.Router;

/// <summary>Whose sessions a state file holds: the router node that wrote it and the configuration its sessions were made under.</summary>
/// <param name="Identity">The node's public key; null when it runs without one.</param>
/// <param name="Configuration">The fingerprint of the configuration in force (<see cref="RouterProcess.Fingerprint"/>): session records hold indexes into its snapshot.</param>
public sealed record SessionStateOwner(string Router, string Node, string? Identity, string Configuration);

/// <summary>
/// The sessions a router node that stops on SIGTERM leaves in its state directory for the process that starts after
/// it (docs/sessions.md "Restarts"): every live session of every worker (<see cref="SessionHandOver"/>, as
/// <see cref="SessionRecords"/> writes them), whose they are, and when they were written. Written 0600 (it names every
/// flow through the router); the starting process reads it once and removes it, taking it only when it is of this
/// format, owner-only, written by the same router node with the same identity under the same configuration by as many
/// workers, and at most <see cref="MaxAge"/> ago. Holds no key material: peer keys are derived again from the node's
/// private key. Thread-safe: stateless.
/// </summary>
public static class SessionStateFile
{
    public const string FileName = "sessions.state";

    /// <summary>The format this build writes and reads; any other is refused (its first field).</summary>
    public const int Format = 1;

    /// <summary>
    /// The oldest file taken (tunable). A restart takes seconds; after a minute a host's TCP has given up on most of
    /// these sessions and may have reused their ports, so an older file would only install stale NAT bindings.
    /// </summary>
    public static readonly TimeSpan MaxAge = TimeSpan.FromSeconds(60);

    private static readonly MessagePackSerializerOptions Options = MessagePackSerializerOptions.Standard
        .WithResolver(StandardResolver.Instance)
        .WithSecurity(MessagePackSecurity.UntrustedData);

    public static string PathIn(string stateDirectory) => Path.Combine(stateDirectory, FileName);

    /// <summary>Writes <paramref name="handOver"/> for <paramref name="owner"/> at <paramref name="now"/>, replacing any file there.</summary>
    public static void Write(string stateDirectory, SessionStateOwner owner, SessionHandOver handOver, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(owner);
        ArgumentNullException.ThrowIfNull(handOver);
        var contents = new Contents
        {
            Format = Format,
            Router = owner.Router,
            Node = owner.Node,
            Identity = owner.Identity ?? "",
            Configuration = owner.Configuration,
            WrittenAt = now.ToUnixTimeMilliseconds(),
            Version = handOver.Version,
            Shards = [.. handOver.Shards.Select(shard => SessionRecords.Serialize(shard))],
        };
        PrivateFile.Write(PathIn(stateDirectory), MessagePackSerializer.Serialize(contents, Options));
    }

    /// <summary>
    /// The sessions the file in <paramref name="stateDirectory"/> leaves for <paramref name="owner"/> running
    /// <paramref name="workers"/> workers at <paramref name="now"/>; null with <paramref name="refusal"/> saying why in one
    /// sentence when there is a file but it cannot be taken, null with no refusal when there is none. The file is removed
    /// either way: it is for the next start only.
    /// </summary>
    public static SessionHandOver? Take(string stateDirectory, SessionStateOwner owner, int workers, DateTimeOffset now, out string? refusal)
    {
        ArgumentNullException.ThrowIfNull(owner);
        var path = PathIn(stateDirectory);
        refusal = null;
        if (!File.Exists(path))
        {
            return null;
        }

        try
        {
            PrivateFile.RequireOwnerOnly(path, "the session state file");
            var bytes = File.ReadAllBytes(path);
            var contents = Decode(bytes, out refusal);
            refusal ??= Problem(contents!, owner, workers, now);
            if (refusal is not null)
            {
                return null;
            }

            return new SessionHandOver(contents!.Version, [.. contents.Shards.Select(shard => SessionRecords.Deserialize(shard))]);
        }
        catch (Exception e) when (e is PrivateFileException or IOException or UnauthorizedAccessException or SessionRecordsException)
        {
            refusal = e.Message;
            return null;
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static Contents? Decode(byte[] bytes, out string? refusal)
    {
        try
        {
            var reader = new MessagePackReader(bytes);
            var format = reader.ReadArrayHeader() < 1 ? -1 : reader.ReadInt32();
            if (format != Format)
            {
                refusal = $"it is of format {format}, this build reads format {Format}";
                return null;
            }

            refusal = null;
            return MessagePackSerializer.Deserialize<Contents>(bytes, Options);
        }
        catch (Exception e) when (e is MessagePackSerializationException or EndOfStreamException)
        {
            refusal = $"it does not decode ({(e.InnerException ?? e).Message})";
            return null;
        }
    }

    private static string? Problem(Contents file, SessionStateOwner owner, int workers, DateTimeOffset now)
    {
        var age = now - DateTimeOffset.FromUnixTimeMilliseconds(file.WrittenAt);
        return file.Router != owner.Router || file.Node != owner.Node ? $"it was written by router {file.Router} node {file.Node}, not {owner.Router} node {owner.Node}"
            : file.Identity != (owner.Identity ?? "") ? $"it was written with identity \"{Show(file.Identity)}\", not this node's \"{Show(owner.Identity)}\""
            : age > MaxAge ? $"it was written {age.TotalSeconds.ToString("0", CultureInfo.InvariantCulture)} s ago, more than {MaxAge.TotalSeconds} s"
            : age < -MaxAge ? "it was written in the future (the clock stepped back)"
            : file.Configuration != owner.Configuration ? $"its sessions were made under another configuration ({Short(file.Configuration)}) than the one this node starts with ({Short(owner.Configuration)})"
            : file.Shards.Length != workers ? $"it was written by {file.Shards.Length} workers, this node runs {workers}"
            : null;

        static string Show(string? identity) => string.IsNullOrEmpty(identity) ? "none" : identity;

        static string Short(string fingerprint) => fingerprint.Length > 12 ? fingerprint[..12] : fingerprint;
    }

    /// <summary>The file's fields in the order they are written; the format comes first so any future layout can be told apart.</summary>
    [MessagePackObject]
    public sealed class Contents
    {
        [Key(0)]
        public int Format { get; set; }

        [Key(1)]
        public string Router { get; set; } = "";

        [Key(2)]
        public string Node { get; set; } = "";

        /// <summary>The writing node's public key, "" for none.</summary>
        [Key(3)]
        public string Identity { get; set; } = "";

        [Key(4)]
        public string Configuration { get; set; } = "";

        /// <summary>Unix milliseconds.</summary>
        [Key(5)]
        public long WrittenAt { get; set; }

        /// <summary>The writing process's configuration version (shown; what binds the records is <see cref="Configuration"/>).</summary>
        [Key(6)]
        public long Version { get; set; }

        /// <summary>Each worker's sessions as <see cref="SessionRecords"/> writes them.</summary>
        [Key(7)]
        public byte[][] Shards { get; set; } = [];
    }
}
