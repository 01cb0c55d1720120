using Fabric.Dataplane.Forwarding;
using Fabric.Dataplane.Sessions;

namespace Fabric.Dataplane.Pipeline;

/// <summary>
/// The sessions of clients that a configuration moved to another router, taken out of this worker's table when the
/// worker bound that configuration (<see cref="SessionRebinding"/>) and held as records with their tenant and service by
/// name (so a later configuration, which may number them otherwise, changes nothing), for the router the client went to to fetch (<see cref="SvrStage.GiveUpClient"/>) within
/// <see cref="SvrStage.ClientHandOverHold"/>; what is not fetched by then is forgotten, and what a later configuration
/// places back under this router goes on here (<see cref="SvrStage.ResumeReturnedClients"/>). Not thread-safe: the worker's.
/// </summary>
public sealed class MovedClientSessions
{
    private readonly List<(SessionRecord Record, string Tenant, string Service, long HeldSince)> _held = [];

    /// <summary>Sessions held now.</summary>
    public int Count => _held.Count;

    internal void Hold(in SessionRecord record, string tenant, string service, long now) => _held.Add((record, tenant, service, now));

    /// <summary>
    /// Takes out the held records of <paramref name="clients"/> into <paramref name="into"/>, each with its tenant's and
    /// service's names; forgets those held longer than <paramref name="holdTicks"/>.
    /// </summary>
    internal void Take(ReadOnlySpan<ClientAddress> clients, List<(SessionRecord Record, string Tenant, string Service)> into, long now, long holdTicks)
    {
        Forget(now, holdTicks);
        for (var i = _held.Count - 1; i >= 0; i--)
        {
            var (record, tenant, service, _) = _held[i];
            if (clients.Contains(new ClientAddress(record.Forward.Source, record.Forward.IsIpv6)))
            {
                into.Add((record, tenant, service));
                _held.RemoveAt(i);
            }
        }
    }

    /// <summary>
    /// Takes out the held records whose client <paramref name="next"/> lists under its own router again (a later
    /// configuration moved it back), each with its tenant's and service's names; null when there is none.
    /// </summary>
    internal List<(SessionRecord Record, string Tenant, string Service)>? TakeReturned(ForwardingSnapshot next)
    {
        List<(SessionRecord Record, string Tenant, string Service)>? returned = null;
        for (var i = _held.Count - 1; i >= 0; i--)
        {
            var (record, tenant, service, _) = _held[i];
            if (next.RouterOfContainer.TryGetValue(new ClientAddress(record.Forward.Source, record.Forward.IsIpv6), out var router)
                && router == next.Router)
            {
                (returned ??= []).Add((record, tenant, service));
                _held.RemoveAt(i);
            }
        }

        return returned;
    }

    /// <summary>Forgets the records held longer than <paramref name="holdTicks"/>.</summary>
    internal void Forget(long now, long holdTicks)
    {
        for (var i = _held.Count - 1; i >= 0; i--)
        {
            if (now - _held[i].HeldSince > holdTicks)
            {
                _held.RemoveAt(i);
            }
        }
    }
}
