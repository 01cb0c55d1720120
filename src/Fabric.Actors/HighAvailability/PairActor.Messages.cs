using Fabric.Actors.Security;
using Fabric.Actors.Serialization;
using Fabric.Dataplane.HighAvailability;
using Fabric.Dataplane.Pipeline;
using Fabric.Dataplane.Sessions;

namespace Fabric.Actors.HighAvailability;

/// <summary>
/// Sessions the active node of an HA pair sends its partner: established ones new or changed since its last
/// batch, made under configuration <paramref name="Version"/>. A batch holds at most
/// <see cref="PairActor.MaxSessionsPerBatch"/> sessions (Akka's remote frame limit).
/// </summary>
/// <param name="Incarnation">The sending node's run as its heartbeats name it (<see cref="PairLink.Incarnation"/>): the partner takes batches of the run its authenticated heartbeats come from.</param>
/// <param name="Sequence">Grows with every batch of the run: a batch not above the last one taken is a replay.</param>
/// <param name="Seal">The sending node's seal over all of it (<see cref="NodeSigner"/>); null when the cluster runs without TLS.</param>
[WireMessage("fabric.ha.sessions.v2")]
public sealed record PairSessionBatch(string Node, long Version, ulong Incarnation, long Sequence, IReadOnlyList<ReplicatedSession> Sessions, NodeSeal? Seal)
{
    /// <summary>What the sending node signs: every field of the batch and of each session.</summary>
    public static NodeStatement Statement(string node, long version, ulong incarnation, long sequence, IReadOnlyList<ReplicatedSession> sessions)
    {
        ArgumentNullException.ThrowIfNull(sessions);
        var statement = new NodeStatement("fabric.ha.sessions.v2").Add(node).Add(version).Add((long)incarnation).Add(sequence).Add(sessions.Count);
        foreach (var session in sessions)
        {
            session.AddTo(statement);
        }

        return statement;
    }

    public NodeStatement Statement() => Statement(Node, Version, Incarnation, Sequence, Sessions);
}

/// <summary>A <see cref="SessionRecord"/> on the wire: addresses as two 64-bit halves (MessagePack has no 128-bit integer).</summary>
public sealed record ReplicatedSession(
    ulong ForwardSourceHigh, ulong ForwardSourceLow, ulong ForwardDestinationHigh, ulong ForwardDestinationLow, ushort ForwardSourcePort, ushort ForwardDestinationPort, byte ForwardProtocol, bool ForwardIsIpv6,
    ulong ReverseSourceHigh, ulong ReverseSourceLow, ulong ReverseDestinationHigh, ulong ReverseDestinationLow, ushort ReverseSourcePort, ushort ReverseDestinationPort, byte ReverseProtocol, bool ReverseIsIpv6,
    short Tenant, short Service, short Instance, short ForwardPort, short ReversePort, bool IsIpv6, byte Svr, bool SendMetadata, byte OriginalProtocol, byte Unanswered, bool Sealed,
    short WaypointPath, ushort LocalWaypointPort, ushort PeerWaypointPort, short KeysPath, uint SessionId, ushort Tcp,
    long IdleNanoseconds, long ReverseQuietNanoseconds, long ForwardPackets, long ForwardBytes, long ReversePackets, long ReverseBytes)
{
    public static ReplicatedSession From(in SessionRecord r) => new(
        (ulong)(r.Forward.Source >> 64), (ulong)r.Forward.Source, (ulong)(r.Forward.Destination >> 64), (ulong)r.Forward.Destination, r.Forward.SourcePort, r.Forward.DestinationPort, r.Forward.Protocol, r.Forward.IsIpv6,
        (ulong)(r.Reverse.Source >> 64), (ulong)r.Reverse.Source, (ulong)(r.Reverse.Destination >> 64), (ulong)r.Reverse.Destination, r.Reverse.SourcePort, r.Reverse.DestinationPort, r.Reverse.Protocol, r.Reverse.IsIpv6,
        r.Tenant, r.Service, r.Instance, r.ForwardPort, r.ReversePort, r.IsIpv6, (byte)r.Svr, r.SendMetadata, r.OriginalProtocol, r.Unanswered, r.Sealed,
        r.WaypointPath, r.LocalWaypointPort, r.PeerWaypointPort, r.KeysPath, r.SessionId, r.Tcp,
        r.IdleNanoseconds, r.ReverseQuietNanoseconds, r.ForwardPackets, r.ForwardBytes, r.ReversePackets, r.ReverseBytes);

    /// <summary>Adds every field, in declaration order, to what a node signs.</summary>
    public void AddTo(NodeStatement statement)
    {
        ArgumentNullException.ThrowIfNull(statement);
        statement
            .Add((long)ForwardSourceHigh).Add((long)ForwardSourceLow).Add((long)ForwardDestinationHigh).Add((long)ForwardDestinationLow)
            .Add(ForwardSourcePort).Add(ForwardDestinationPort).Add(ForwardProtocol).Add(ForwardIsIpv6)
            .Add((long)ReverseSourceHigh).Add((long)ReverseSourceLow).Add((long)ReverseDestinationHigh).Add((long)ReverseDestinationLow)
            .Add(ReverseSourcePort).Add(ReverseDestinationPort).Add(ReverseProtocol).Add(ReverseIsIpv6)
            .Add(Tenant).Add(Service).Add(Instance).Add(ForwardPort).Add(ReversePort).Add(IsIpv6).Add(Svr).Add(SendMetadata).Add(OriginalProtocol).Add(Unanswered).Add(Sealed)
            .Add(WaypointPath).Add(LocalWaypointPort).Add(PeerWaypointPort).Add(KeysPath).Add(SessionId).Add(Tcp)
            .Add(IdleNanoseconds).Add(ReverseQuietNanoseconds).Add(ForwardPackets).Add(ForwardBytes).Add(ReversePackets).Add(ReverseBytes);
    }

    public SessionRecord ToRecord() => new()
    {
        Forward = new SessionKey(new UInt128(ForwardSourceHigh, ForwardSourceLow), new UInt128(ForwardDestinationHigh, ForwardDestinationLow), ForwardSourcePort, ForwardDestinationPort, ForwardProtocol, ForwardIsIpv6),
        Reverse = new SessionKey(new UInt128(ReverseSourceHigh, ReverseSourceLow), new UInt128(ReverseDestinationHigh, ReverseDestinationLow), ReverseSourcePort, ReverseDestinationPort, ReverseProtocol, ReverseIsIpv6),
        Tenant = Tenant,
        Service = Service,
        Instance = Instance,
        ForwardPort = ForwardPort,
        ReversePort = ReversePort,
        IsIpv6 = IsIpv6,
        Svr = (SvrRole)Svr,
        SendMetadata = SendMetadata,
        OriginalProtocol = OriginalProtocol,
        Unanswered = Unanswered,
        Sealed = Sealed,
        WaypointPath = WaypointPath,
        LocalWaypointPort = LocalWaypointPort,
        PeerWaypointPort = PeerWaypointPort,
        KeysPath = KeysPath,
        SessionId = SessionId,
        Tcp = Tcp,
        IdleNanoseconds = IdleNanoseconds,
        ReverseQuietNanoseconds = ReverseQuietNanoseconds,
        ForwardPackets = ForwardPackets,
        ForwardBytes = ForwardBytes,
        ReversePackets = ReversePackets,
        ReverseBytes = ReverseBytes,
    };
}
