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

    /// <summary>
    /// Ingress: the instance the session is pinned to (<see cref="InstancePins"/>: it followed its instance to another
    /// router), as that instance answers; null when it has none. A reader of a record without it (an older sender) sees null.
    /// </summary>
    [Key(8)]
    public SessionKey? PinnedInstance;
}

/// <summary>The sessions one export found, and the configuration version whose snapshot their indexes refer to.</summary>
public sealed record SessionExport(long Version, SessionRecord[] Sessions);

/// <summary>
/// The sessions a router gave up for clients that moved to another router (docs/mobility.md "A client moves"). Each
/// record's <see cref="SessionState.Tenant"/> and <see cref="SessionState.Service"/> index <paramref name="Tenants"/> and
/// <paramref name="Services"/> (names), not a forwarding snapshot, so the records mean the same to a router running any
/// configuration version: the taker looks the names up in its own; it uses none of the records' other indexes.
/// <paramref name="Version"/> is the configuration the giver ran, for the record.
/// </summary>
public sealed record ClientSessionRecords(long Version, SessionRecord[] Sessions, string[] Tenants, string[] Services)
{
    /// <summary>
    /// <paramref name="sessions"/> (each record with its tenant and service by name) as records whose tenant and service
    /// index the name lists of the result.
    /// </summary>
    public static ClientSessionRecords Of(long version, IEnumerable<(SessionRecord Record, string Tenant, string Service)> sessions)
    {
        ArgumentNullException.ThrowIfNull(sessions);
        var tenants = new List<string>();
        var services = new List<string>();
        var records = new List<SessionRecord>();
        foreach (var (record, tenant, service) in sessions)
        {
            var named = record;
            named.State.Tenant = (short)IndexOf(tenants, tenant);
            named.State.Service = (short)IndexOf(services, service);
            records.Add(named);
        }

        return new ClientSessionRecords(version, [.. records], [.. tenants], [.. services]);
    }

    /// <summary>The name of <paramref name="record"/>'s tenant, or null when it indexes none.</summary>
    public string? TenantOf(in SessionRecord record) => (uint)record.State.Tenant < (uint)Tenants.Length ? Tenants[record.State.Tenant] : null;

    /// <summary>The name of <paramref name="record"/>'s service, or null when it indexes none.</summary>
    public string? ServiceOf(in SessionRecord record) => (uint)record.State.Service < (uint)Services.Length ? Services[record.State.Service] : null;

    private static int IndexOf(List<string> names, string name)
    {
        var index = names.IndexOf(name);
        if (index < 0)
        {
            index = names.Count;
            names.Add(name);
        }

        return index;
    }
}

/// <summary>
/// Every live session of a router process that stopped, one array per worker's shard (in the workers' order), made under
/// configuration <paramref name="Version"/> of that process: what it hands to the process that starts after it.
/// </summary>
public sealed record SessionHandOver(long Version, SessionRecord[][] Shards);

/// <summary>What one import did: sessions added, sessions updated, records refused (each refusal counted by reason in <see cref="WorkerCounters"/>).</summary>
public readonly record struct SessionImportResult(int Added, int Updated, int Refused);
