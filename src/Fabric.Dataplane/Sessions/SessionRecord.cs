using Fabric.Dataplane.Pipeline;
using MessagePack;

namespace Fabric.Dataplane.Sessions;

/// <summary>
/// One session as it leaves its process, to the HA partner node or to the process that starts after this one
/// (docs/sessions.md "Restarts"): both keys, what the pipeline keeps about it (<see cref="State"/>, whose
/// process-local fields do not travel), its TCP state and how long ago it was last seen. This is the only serialized
/// form of a session; <see cref="SessionRecords"/> writes and reads it. Ids that are local to a process (service
/// runtime, waypoint pool, peer keys) travel as indexes into the forwarding snapshot of <see cref="SessionExport.Version"/>,
/// which both ends compile from the same configuration; times travel as ages in nanoseconds, so the two ends'
/// clocks need not agree. The session's own rate-limit bucket does not travel (it starts full on arrival).
/// </summary>
[MessagePackObject]
public struct SessionRecord
{
    [Key(0)]
    public SessionKey Forward;

    [Key(1)]
    public SessionKey Reverse;

    /// <summary>What the pipeline keeps about the session; only its keyed fields travel (see <see cref="SessionState"/>).</summary>
    [Key(2)]
    public SessionState State;

    /// <summary>Index in the snapshot's peer paths of the path whose waypoint pool holds the session's ports, or −1.</summary>
    [Key(3)]
    public short WaypointPath;

    /// <summary>Index in the snapshot's peer paths of a path whose peer keys the session uses, or −1.</summary>
    [Key(4)]
    public short KeysPath;

    /// <summary>The TCP tracker (<see cref="TcpTracker.Packed"/>).</summary>
    [Key(5)]
    public ushort Tcp;

    /// <summary>Nanoseconds since the session was last seen, when it was exported.</summary>
    [Key(6)]
    public long IdleNanoseconds;

    /// <summary>Ingress: nanoseconds since the last reverse packet, when it was exported.</summary>
    [Key(7)]
    public long ReverseQuietNanoseconds;
}

/// <summary>The sessions one export found, and the configuration version whose snapshot their indexes refer to.</summary>
public sealed record SessionExport(long Version, SessionRecord[] Sessions);

/// <summary>
/// Every live session of a router process that stopped, one array per worker's shard (in the workers' order), made under
/// configuration <paramref name="Version"/> of that process: what it hands to the process that starts after it.
/// </summary>
public sealed record SessionHandOver(long Version, SessionRecord[][] Shards);

/// <summary>What one import did: sessions added, sessions updated, records refused (each refusal counted by reason in <see cref="WorkerCounters"/>).</summary>
public readonly record struct SessionImportResult(int Added, int Updated, int Refused);
