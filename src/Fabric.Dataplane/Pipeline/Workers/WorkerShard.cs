using Fabric.Dataplane.Neighbors;

namespace Fabric.Dataplane.Pipeline.Workers;

/// <summary>
/// Which of a router's workers one is, and what the router's workers share: the neighbour table and the directory of
/// session owners by reverse key (both null for a router with one worker, which needs neither). Immutable.
/// </summary>
public sealed record WorkerShard(int Index, int Count, OwnerDirectory? Owners, NeighborTable? Neighbors)
{
    /// <summary>The only worker of its router.</summary>
    public static readonly WorkerShard Alone = new(0, 1, null, null);
}
