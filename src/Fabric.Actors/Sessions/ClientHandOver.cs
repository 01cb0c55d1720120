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

    /// <summary>The clients <paramref name="snapshot"/> brought to this router, grouped by the router each came from, as addresses in text.</summary>
    public static IReadOnlyList<(string FromRouter, IReadOnlyList<string> Addresses)> Arrivals(ForwardingSnapshot snapshot)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        return [.. snapshot.ArrivedClients
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

    /// <summary><paramref name="records"/> as the parts of an answer (at least one, empty when there are none), at most <see cref="MaxRecordsPerMessage"/> each.</summary>
    public static IReadOnlyList<ClientSessionsGiven> Parts(string node, long version, SessionRecord[] records)
    {
        ArgumentNullException.ThrowIfNull(records);
        var parts = Math.Max(1, (records.Length + MaxRecordsPerMessage - 1) / MaxRecordsPerMessage);
        var messages = new ClientSessionsGiven[parts];
        for (var i = 0; i < parts; i++)
        {
            var start = i * MaxRecordsPerMessage;
            var bytes = SessionRecords.Serialize(records.AsSpan(start, Math.Min(MaxRecordsPerMessage, records.Length - start)));
            messages[i] = new ClientSessionsGiven(node, version, bytes, i + 1, parts);
        }

        return messages;
    }

    private static string Text(ClientAddress address) => address.IsIpv6
        ? Dataplane.Wire.IpAddressConversions.ToIPAddress(address.Address).ToString()
        : Dataplane.Wire.IpAddressConversions.ToIPAddress((uint)address.Address).ToString();
}
