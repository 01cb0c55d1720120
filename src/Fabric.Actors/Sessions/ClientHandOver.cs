using System.Net;
using Fabric.Dataplane.Forwarding;
using Fabric.Dataplane.Sessions;

namespace Fabric.Actors.Sessions;

/// <summary>
/// The rules of a client's hand-over between two routers' session actors (docs/mobility.md "A client moves"), apart from
/// the actor: whom a router asks, whom it answers, and how the records are cut into messages. Thread-safe: stateless.
/// </summary>
public static class ClientHandOver
{
    /// <summary>
    /// Records per <see cref="ClientSessionsGiven"/> at most: a record takes at most about 203 bytes in the serialized form
    /// (an IPv6 session with every counter at its largest), so a message stays under 100 KiB, below Akka's 128 KiB remote frame.
    /// </summary>
    public const int MaxRecordsPerMessage = 500;

    /// <summary>
    /// The clients that arrived at this router with <paramref name="snapshot"/> — since <paramref name="seen"/>, the
    /// snapshot the caller read before, when given (<see cref="ForwardingSnapshot.ArrivalsSince"/>: a snapshot compiled
    /// between, never read, does not hide them) — grouped by the router each came from, as addresses in text.
    /// </summary>
    public static IReadOnlyList<(string FromRouter, IReadOnlyList<string> Addresses)> Arrivals(ForwardingSnapshot snapshot, ForwardingSnapshot? seen = null)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        return [.. (seen is null ? snapshot.ArrivedClients : snapshot.ArrivalsSince(seen))
            .GroupBy(a => a.Value, StringComparer.Ordinal)
            .OrderBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => (g.Key, (IReadOnlyList<string>)[.. g.Select(a => Text(a.Key)).Order(StringComparer.Ordinal)]))];
    }

    /// <summary>The nodes of <paramref name="router"/> in <paramref name="snapshot"/>'s configuration: each is asked (the active node of a pair holds the sessions).</summary>
    public static IReadOnlyList<string> NodesOf(ForwardingSnapshot snapshot, string router)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        return [.. snapshot.RouterOfNode.Where(n => n.Value == router).Select(n => n.Key).Order(StringComparer.Ordinal)];
    }

    /// <summary>
    /// Null when this router (running <paramref name="snapshot"/>) may give up to node <paramref name="node"/> the sessions
    /// of <paramref name="addresses"/>: its configuration lists every one of them under <paramref name="node"/>'s router,
    /// which is not this one. Else why not; <paramref name="clients"/> holds the addresses parsed.
    /// </summary>
    public static string? Refusal(ForwardingSnapshot snapshot, string node, IReadOnlyList<string> addresses, out ClientAddress[] clients)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        ArgumentNullException.ThrowIfNull(addresses);
        clients = new ClientAddress[addresses.Count];
        if (!snapshot.RouterOfNode.TryGetValue(node, out var router))
        {
            return $"node {node} is no router node of version {snapshot.Version}";
        }

        if (router == snapshot.Router)
        {
            return $"node {node} is part of this router, {router}";
        }

        for (var i = 0; i < addresses.Count; i++)
        {
            if (!IPAddress.TryParse(addresses[i], out var address))
            {
                return $"\"{addresses[i]}\" is not an IP address";
            }

            clients[i] = ClientAddress.Of(address);
            if (!snapshot.RouterOfContainer.TryGetValue(clients[i], out var placed) || placed != router)
            {
                return $"version {snapshot.Version} does not list {addresses[i]} under router {router}";
            }
        }

        return null;
    }

    /// <summary>
    /// Bytes a part's records and names take at most: under Akka's 128 KiB remote frame with room for the message's other
    /// fields and the serializer's framing.
    /// </summary>
    public const int MaxBytesPerMessage = 100 * 1024;

    /// <summary>Serialized bytes a record takes at most (an IPv6 session with every counter at its largest).</summary>
    private const int MaxRecordBytes = 203;

    /// <summary>
    /// Whether the clients of <paramref name="answered"/> (a request whose answer, or refusal, is now complete) are still
    /// awaited from another node: one of <paramref name="unanswered"/> (the requests not yet answered in full) asks for the
    /// same clients under the same version. Both nodes of an HA pair are asked; the standby refuses at once, and the
    /// clients' arrival grace ends only when the active node's records have come too.
    /// </summary>
    public static bool StillAwaited(IEnumerable<GiveUpClientSessions> unanswered, GiveUpClientSessions answered)
    {
        ArgumentNullException.ThrowIfNull(unanswered);
        ArgumentNullException.ThrowIfNull(answered);
        return unanswered.Any(other => other.Version == answered.Version && other.Addresses.SequenceEqual(answered.Addresses, StringComparer.Ordinal));
    }

    /// <summary>
    /// <paramref name="given"/>'s records as the parts of an answer to a request of configuration <paramref name="version"/>
    /// (at least one, empty when there are none): at most <see cref="MaxRecordsPerMessage"/> records a part and
    /// <see cref="MaxBytesPerMessage"/> bytes of records and names, each part with the tenant and service names its own
    /// records use (its records index them).
    /// </summary>
    public static IReadOnlyList<ClientSessionsGiven> Parts(string node, long version, ClientSessionRecords given)
    {
        ArgumentNullException.ThrowIfNull(given);
        var cut = new List<List<(SessionRecord, string, string)>> { new() };
        var names = new HashSet<string>(StringComparer.Ordinal);
        var bytes = 0;
        foreach (var record in given.Sessions)
        {
            var tenant = given.TenantOf(record) ?? string.Empty;
            var service = given.ServiceOf(record) ?? string.Empty;
            var cost = MaxRecordBytes + NameBytes(names, "t:" + tenant) + NameBytes(names, "s:" + service);
            if (cut[^1].Count == MaxRecordsPerMessage || (cut[^1].Count > 0 && bytes + cost > MaxBytesPerMessage))
            {
                cut.Add([]);
                names.Clear();
                cost = MaxRecordBytes + NameBytes(names, "t:" + tenant) + NameBytes(names, "s:" + service);
                bytes = 0;
            }

            names.Add("t:" + tenant);
            names.Add("s:" + service);
            bytes += cost;
            cut[^1].Add((record, tenant, service));
        }

        var messages = new ClientSessionsGiven[cut.Count];
        for (var i = 0; i < cut.Count; i++)
        {
            var part = ClientSessionRecords.Of(given.Version, cut[i]);
            messages[i] = new ClientSessionsGiven(node, version, SessionRecords.Serialize(part.Sessions), i + 1, cut.Count, Tenants: part.Tenants, Services: part.Services);
        }

        return messages;
    }

    /// <summary>The records of <paramref name="part"/>, their tenant and service indexing its names.</summary>
    public static ClientSessionRecords Records(ClientSessionsGiven part)
    {
        ArgumentNullException.ThrowIfNull(part);
        return new ClientSessionRecords(part.Version, SessionRecords.Deserialize(part.Records), [.. part.Tenants ?? []], [.. part.Services ?? []]);
    }

    /// <summary>Bytes <paramref name="name"/> (prefixed by its kind) adds to a part that has <paramref name="names"/>: none when it has it.</summary>
    private static int NameBytes(HashSet<string> names, string name) => names.Contains(name) ? 0 : System.Text.Encoding.UTF8.GetByteCount(name) + 5;

    private static string Text(ClientAddress address) => address.IsIpv6
        ? Dataplane.Wire.IpAddressConversions.ToIPAddress(address.Address).ToString()
        : Dataplane.Wire.IpAddressConversions.ToIPAddress((uint)address.Address).ToString();
}
