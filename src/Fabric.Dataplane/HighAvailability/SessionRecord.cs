using Fabric.Dataplane.Pipeline;
using Fabric.Dataplane.Sessions;

namespace Fabric.Dataplane.HighAvailability;

/// <summary>
/// One session as it travels to the HA partner node: both keys, what the pipeline keeps about it, its TCP
/// state and how long ago it was last seen. Ids that are local to a process (service runtime, waypoint pool,
/// peer keys) travel as indexes into the forwarding snapshot of <see cref="SessionExport.Version"/>, which both
/// nodes of a pair compile from the same configuration; times travel as ages in nanoseconds, so the two
/// nodes' clocks need not agree. The session's own rate-limit bucket does not travel (it starts full on the
/// partner).
/// </summary>
public struct SessionRecord
{
    public SessionKey Forward;
    public SessionKey Reverse;
    public short Tenant;
    public short Service;
    public short Instance;
    public short ForwardPort;
    public short ReversePort;
    public bool IsIpv6;
    public SvrRole Svr;
    public bool SendMetadata;
    public byte OriginalProtocol;
    public byte Unanswered;
    public bool Sealed;

    /// <summary>Index in the snapshot's peer paths of the path whose waypoint pool holds the session's ports, or −1.</summary>
    public short WaypointPath;

    public ushort LocalWaypointPort;
    public ushort PeerWaypointPort;

    /// <summary>Index in the snapshot's peer paths of a path whose peer keys the session uses, or −1.</summary>
    public short KeysPath;

    public uint SessionId;

    /// <summary>The TCP tracker (<see cref="TcpTracker.Packed"/>).</summary>
    public ushort Tcp;

    /// <summary>Nanoseconds since the session was last seen, when it was exported.</summary>
    public long IdleNanoseconds;

    /// <summary>Ingress: nanoseconds since the last reverse packet, when it was exported.</summary>
    public long ReverseQuietNanoseconds;

    public long ForwardPackets;
    public long ForwardBytes;
    public long ReversePackets;
    public long ReverseBytes;
}

/// <summary>The sessions one export found, and the configuration version whose snapshot their indexes refer to.</summary>
public sealed record SessionExport(long Version, SessionRecord[] Sessions);

/// <summary>What one import did: sessions added, sessions updated, records refused (each refusal counted by reason in <see cref="WorkerCounters"/>).</summary>
public readonly record struct SessionImportResult(int Added, int Updated, int Refused);
