using Fabric.Dataplane.Forwarding;
using Fabric.Dataplane.Sessions;

namespace Fabric.Dataplane.Pipeline;

/// <summary>
/// The sessions of clients that a configuration moved to another router, taken out of this worker's table when the
/// worker bound that configuration (<see cref="SessionRebinding"/>) and held as records, under the configuration's
/// version, for the router the client went to to fetch (<see cref="SvrStage.GiveUpClient"/>) within
/// <see cref="SvrStage.ClientHandOverHold"/>; what is not fetched by then is forgotten. Not thread-safe: the worker's.
/// </summary>
public sealed class MovedClientSessions
{
    private readonly List<(SessionRecord Record, long Version, long HeldSince)> _held = [];

    /// <summary>Sessions held now.</summary>
    public int Count => _held.Count;

    internal void Hold(in SessionRecord record, long version, long now) => _held.Add((record, version, now));

    /// <summary>
    /// Takes out the held records of <paramref name="clients"/> made under <paramref name="version"/> into
    /// <paramref name="into"/>; forgets those held longer than <paramref name="holdTicks"/> and those of other versions (their
    /// tenant and service indexes mean nothing to a router running <paramref name="version"/>).
    /// </summary>
    internal void Take(ReadOnlySpan<ClientAddress> clients, long version, List<SessionRecord> into, long now, long holdTicks)
    {
        Forget(now, holdTicks);
        for (var i = _held.Count - 1; i >= 0; i--)
        {
            var (record, heldVersion, _) = _held[i];
            if (heldVersion != version)
            {
                _held.RemoveAt(i);
            }
            else if (clients.Contains(new ClientAddress(record.Forward.Source, record.Forward.IsIpv6)))
            {
                into.Add(record);
                _held.RemoveAt(i);
            }
        }
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
