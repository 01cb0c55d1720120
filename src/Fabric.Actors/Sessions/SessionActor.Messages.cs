using Fabric.Actors.Security;
using Fabric.Actors.Serialization;

namespace Fabric.Actors.Sessions;

/// <summary>
/// The conductor to a router node's <see cref="SessionActor"/>: a page of its sessions (see
/// <see cref="Dataplane.Sessions.SessionQuery"/>): of a tenant, a service, with an address on either side (any when
/// null), at most <paramref name="Limit"/> (capped at 256) from <paramref name="Cursor"/>, or the top by bytes.
/// </summary>
[WireMessage("fabric.sessions.query.v1")]
public sealed record QuerySessions(string? Tenant, string? Service, string? Address, int Limit, long Cursor, bool TopByBytes);

/// <summary>
/// A page of a router node's sessions: the configuration version it runs, the sessions, the cursor of the next page
/// (−1: none), the live sessions in its table; or why the query could not be answered.
/// </summary>
[WireMessage("fabric.sessions.page.v1")]
public sealed record SessionPageView(string Node, string Router, long Version, IReadOnlyList<SessionView> Sessions, long Next, int Live, string? Error = null);

/// <summary>The conductor to a router node's <see cref="SessionActor"/>: its drop counts and its most recent drops (at most <paramref name="Limit"/>).</summary>
[WireMessage("fabric.drops.query.v1")]
public sealed record QueryDrops(int Limit);

/// <summary>A router node's drops: counts by reason, tenant and service since it started, and the most recent, newest last.</summary>
[WireMessage("fabric.drops.v1")]
public sealed record DropsView(string Node, string Router, long Version, IReadOnlyList<DropCountView> Counts, IReadOnlyList<DropView> Recent);

/// <summary>One session opening (<c>opened</c>) or closing (<c>closed</c>, its counters final).</summary>
public sealed record SessionEventView(string Kind, SessionView Session, long UnixMilliseconds);

/// <summary>
/// Sessions that opened and closed at a router node since its last batch, oldest first, and how many it could not
/// report (its dataplane's ring overflowed before it was drained).
/// </summary>
[WireMessage("fabric.sessions.events.v1")]
public sealed record SessionEventBatch(string Node, string Router, IReadOnlyList<SessionEventView> Events, long Lost);

/// <summary>Drops at a router node since its last batch, oldest first, and how many it could not report.</summary>
[WireMessage("fabric.drops.events.v1")]
public sealed record DropEventBatch(string Node, string Router, IReadOnlyList<DropView> Drops, long Lost);

/// <summary>
/// A router node's <see cref="SessionActor"/> to another's (<paramref name="To"/>): clients (<paramref name="Addresses"/>)
/// that the configuration <paramref name="Version"/> moved from your router to mine (<paramref name="Node"/>'s, whose
/// cluster address is <paramref name="From"/>) arrived here; give me their sessions. Answered with one or more
/// <see cref="ClientSessionsGiven"/> (docs/mobility.md "A client moves"); refused unless it comes from an actor at
/// <paramref name="From"/> and <paramref name="Seal"/> is <paramref name="Node"/>'s over every other field (with cluster TLS).
/// </summary>
/// <param name="From">The asking node's cluster address (<c>akka.tcp://system@host:port</c>): the answer goes to an actor there, so a member elsewhere that replays the request gets nothing.</param>
/// <param name="Seal">The asking node's seal over <see cref="Statement()"/> (<see cref="NodeSigner"/>); null when the cluster runs without TLS.</param>
[WireMessage("fabric.sessions.client-give-up.v3")]
public sealed record GiveUpClientSessions(string Node, string To, string From, long Version, IReadOnlyList<string> Addresses, NodeSeal? Seal)
{
    /// <summary>
    /// What the asking node signs: who asks, from where, whom, under which version, for which clients (in the order asked):
    /// a seal made for one node asked, one sender's address, one version or one set of clients says nothing of another.
    /// </summary>
    public static NodeStatement Statement(string node, string to, string from, long version, IReadOnlyList<string> addresses)
    {
        ArgumentNullException.ThrowIfNull(addresses);
        var statement = new NodeStatement("fabric.sessions.client-give-up.v3").Add(node).Add(to).Add(from).Add(version).Add((long)addresses.Count);
        foreach (var address in addresses)
        {
            statement.Add(address);
        }

        return statement;
    }

    /// <summary>The request <paramref name="node"/> at <paramref name="from"/> sends <paramref name="to"/>, sealed by <paramref name="signer"/> (none: unsealed, for a cluster without TLS).</summary>
    public static GiveUpClientSessions Sealed(string node, string to, string from, long version, IReadOnlyList<string> addresses, NodeSigner? signer) =>
        new(node, to, from, version, addresses, signer?.Seal(Statement(node, to, from, version, addresses)));

    public NodeStatement Statement() => Statement(Node, To, From, Version, Addresses ?? []);
}

/// <summary>
/// Part <paramref name="Part"/> of <paramref name="Parts"/> of the answer to the <see cref="GiveUpClientSessions"/> of
/// configuration <paramref name="Version"/> that router node <paramref name="Node"/> was sent: the sessions it gave up for
/// clients that moved away, already removed there, as <see cref="Dataplane.Sessions.SessionRecords"/> bytes whose tenant
/// and service index <paramref name="Tenants"/> and <paramref name="Services"/> (names: the records mean the same under any
/// configuration version; at most <see cref="ClientHandOver.MaxRecordsPerMessage"/> a part); or why there are none.
/// </summary>
[WireMessage("fabric.sessions.client-given.v2")]
public sealed record ClientSessionsGiven(
    string Node, long Version, byte[] Records, int Part, int Parts, string? Error = null,
    IReadOnlyList<string>? Tenants = null, IReadOnlyList<string>? Services = null);

/// <summary>Where flows travel in the cluster: the pub-sub topic of the batches, and the path each node's session actor is reached by.</summary>
public static class FlowDistribution
{
    /// <summary>The Distributed Pub-Sub topic of <see cref="SessionEventBatch"/> and <see cref="DropEventBatch"/>: conductor nodes subscribe.</summary>
    public const string Topic = "fabric-flows";

    /// <summary>The path a router node's session actor registers with the pub-sub mediator under (one per node, so one name per node).</summary>
    public static string PathOf(string node) => $"/user/{SessionActor.NameOf(node)}";
}
