using Akka.Remote.Transport.DotNetty;

namespace Fabric.Actors.Cluster;

/// <summary>
/// What a fabric node's actor system is made of (<see cref="FabricCluster.Setup"/>), whatever starts it: its settings,
/// the node's own overrides first, and the TLS of its remoting (none: plain TCP). The actor system is a cluster node.
/// </summary>
/// <param name="Config">Every setting of the node; Akka's reference settings are the fallback of what it leaves out.</param>
/// <param name="Tls">The node's certificate and how peers are checked; it is an object, not HOCON.</param>
public sealed record FabricNodeSetup(Akka.Configuration.Config Config, DotNettySslSetup? Tls);
