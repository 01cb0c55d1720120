using Fabric.Actors.Security;
using Fabric.Actors.Serialization;
using Fabric.Dataplane.Sessions;

namespace Fabric.Actors.HighAvailability;

/// <summary>
/// Sessions the active node of an HA pair sends its partner: established ones new or changed since its last
/// batch, made under configuration <paramref name="Version"/>. A batch holds at most
/// <see cref="PairActor.MaxSessionsPerBatch"/> sessions (Akka's remote frame limit).
/// </summary>
/// <param name="Incarnation">The sending node's run as its heartbeats name it (<see cref="PairLink.Incarnation"/>): the partner takes batches of the run its authenticated heartbeats come from.</param>
/// <param name="Sequence">Grows with every batch of the run: a batch not above the last one taken is a replay.</param>
/// <param name="Sessions">The sessions as <see cref="SessionRecords"/> writes them (the one serialized form of a session), read only once the seal holds.</param>
/// <param name="Seal">The sending node's seal over all of it (<see cref="NodeSigner"/>); null when the cluster runs without TLS.</param>
[WireMessage("fabric.ha.sessions.v3")]
public sealed record PairSessionBatch(string Node, long Version, ulong Incarnation, long Sequence, byte[] Sessions, NodeSeal? Seal)
{
    /// <summary>What the sending node signs: every field of the batch, the sessions' bytes as they travel.</summary>
    public static NodeStatement Statement(string node, long version, ulong incarnation, long sequence, byte[] sessions) =>
        new NodeStatement("fabric.ha.sessions.v3").Add(node).Add(version).Add((long)incarnation).Add(sequence).Add(sessions);

    public NodeStatement Statement() => Statement(Node, Version, Incarnation, Sequence, Sessions);
}
