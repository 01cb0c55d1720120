using Fabric.Actors.Security;

namespace Fabric.Actors.Services;

/// <summary>
/// One service as this router node's dataplane has it now: the slots its load balancer picks among, in
/// order, with the sessions this node placed on each. A service with instances here balances over them
/// (<see cref="Instances"/>); otherwise over the peer routers that host it (<see cref="PeerRouters"/>).
/// </summary>
public sealed record LocalService(string Name, IReadOnlyList<LocalServiceInstance> Instances, IReadOnlyList<string> PeerRouters, IReadOnlyList<long> LocalSessions);

/// <summary>An instance behind this router: its name, container (if any), addresses, and the dataplane's health of it.</summary>
public sealed record LocalServiceInstance(string Name, string? Container, string Address, bool IsUp);

/// <summary>
/// What the service and load-balancer actors need of a router node's dataplane, and which router each node is part
/// of by the configuration it runs. Implementations are read and written from actor threads while the dataplane
/// forwards: they must be thread-safe.
/// </summary>
public interface IServiceDataplane : INodeRouters
{
    /// <summary>The services of the snapshot in force, in its order; empty before the first.</summary>
    IReadOnlyList<LocalService> Services();

    /// <summary>One service of the snapshot in force, its session counts read now; null when it has none of that name.</summary>
    LocalService? Service(string name);

    /// <summary>
    /// Hands the dataplane the sessions other routers (or the HA partner) hold on slot <paramref name="slot"/> of
    /// <paramref name="service"/>, as the cluster publishes them; ignored when the service or slot is gone.
    /// </summary>
    void ReportClusterLoad(string service, int slot, long sessionsOfOthers);

    /// <summary>
    /// Hands the dataplane whether peer router <paramref name="router"/>, slot <paramref name="slot"/> of
    /// <paramref name="service"/>, may take new sessions (its instances' health as the cluster publishes it); ignored
    /// when the service is gone, has instances here, or the slot is not that router any more.
    /// </summary>
    void ReportPeerHealth(string service, int slot, string router, bool isUp);
}
