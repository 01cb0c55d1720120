using Fabric.Dataplane.Sessions;
using Fabric.Dataplane.Routing;

namespace Fabric.Actors.HighAvailability;

/// <summary>One node of an HA pair as its <see cref="PairActor"/> drives it: the node's dataplane and what it must do to take over.</summary>
public interface IPairNode : IPairSelf
{
    Task<SessionExport> ExportSessionsAsync(bool everything);

    Task<SessionImportResult> ImportSessionsAsync(long version, SessionRecord[] records);

    /// <summary>Takes the router over: fresh peer keys first (never an AES-GCM counter the partner used), then the dataplane (see <see cref="ForwardingEngine.TakeOverAsync"/>).</summary>
    Task<bool> TakeOverAsync();

    Task<bool> StandByAsync();

    /// <summary>
    /// Keeps the router after both nodes were active (a false failover or a healed partition): fresh peer keys, since
    /// the partner sent with send counters above ours meanwhile, then the addresses announced again.
    /// </summary>
    Task<bool> ReclaimAsync();

    Task<bool> AnnounceAsync();
}

/// <summary>
/// A <see cref="ForwardingEngine"/> as a pair node. <paramref name="renewKeys"/> re-derives and hands the engine
/// the peer keys of the epoch in force with a send counter from the present (see docs/high-availability.md);
/// null when the node has no identity. Thread-safe as the engine is.
/// </summary>
public sealed class EnginePairNode(ForwardingEngine engine, Action? renewKeys) : IPairNode
{
    public bool IsActive => engine.IsActive;

    public long Takeovers => Interlocked.Read(ref engine.Worker.Counters.Takeovers);

    public Task<SessionExport> ExportSessionsAsync(bool everything) => engine.ExportSessionsAsync(everything);

    public Task<SessionImportResult> ImportSessionsAsync(long version, SessionRecord[] records) => engine.ImportSessionsAsync(version, records);

    public Task<bool> TakeOverAsync()
    {
        renewKeys?.Invoke();
        return engine.TakeOverAsync();
    }

    public Task<bool> StandByAsync() => engine.StandByAsync();

    public Task<bool> ReclaimAsync()
    {
        renewKeys?.Invoke();
        return engine.AnnounceAsync();
    }

    public Task<bool> AnnounceAsync() => engine.AnnounceAsync();
}

/// <summary>Who a node's HA partner is.</summary>
/// <param name="Partner">The partner node's name.</param>
/// <param name="PartnerHost">The partner's management address (its cluster endpoint; the cluster port is the same as this node's).</param>
/// <param name="Preferred">This node comes first in its router's configuration: it takes the router at start when both start together.</param>
public sealed record PairSettings(string Partner, string PartnerHost, bool Preferred, PairTiming? Timing = null);
