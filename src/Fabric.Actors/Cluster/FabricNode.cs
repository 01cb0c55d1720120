using Akka.Actor;
using Akka.Actor.Internal;
using Akka.Actor.Setup;
using Akka.Cluster.Tools.PublishSubscribe;
using Akka.Configuration;
using Fabric.Config.Canonical;

namespace Fabric.Actors.Cluster;

/// <summary>
/// One fabric node's actor system, started without a generic host: a router uses neither Akka.Hosting nor
/// Microsoft.Extensions' dependency injection, hosting and logging, and loads none of them but the logging DotNetty
/// (under Akka.Remote) brings for itself (docs/benchmarks.md, "Memory, 2026-12-06 (night)").
/// Built stopped; <see cref="StartAsync"/> creates the actor system from its <see cref="FabricNodeSetup"/>, starts the
/// cluster pub-sub mediator and then the node's actors; <see cref="StopAsync"/> runs Akka's coordinated shutdown (the node
/// leaves the cluster, then stops); <see cref="Dispose"/> does the same if it has not run. Akka's log goes to the node's
/// log, one line per event (<see cref="NodeLogger"/>). One owner starts and stops it; not thread-safe.
/// </summary>
public sealed class FabricNode : IDisposable
{
    private static readonly Akka.Configuration.Config LoggerConfig = ConfigurationFactory.ParseString(
        $"akka.loggers = [{HoconWriter.Quote($"{typeof(NodeLogger).FullName}, {typeof(NodeLogger).Assembly.GetName().Name}")}]");

    private readonly FabricNodeSetup _setup;
    private readonly Action<ActorSystem> _startActors;
    private readonly NodeLogSetup _log;
    private ActorSystem? _system;

    /// <param name="startActors">Starts the node's own actors, once its actor system runs.</param>
    /// <param name="log">Writes one log line: its event name and its <c>key=value</c> fields; none: Akka's log is dropped.</param>
    public FabricNode(FabricNodeSetup setup, Action<ActorSystem> startActors, Action<string, string>? log = null)
    {
        ArgumentNullException.ThrowIfNull(setup);
        ArgumentNullException.ThrowIfNull(startActors);
        _setup = setup;
        _startActors = startActors;
        _log = new NodeLogSetup(log);
    }

    /// <summary>The node's actor system; throws <see cref="InvalidOperationException"/> before <see cref="StartAsync"/>.</summary>
    public ActorSystem System => _system ?? throw new InvalidOperationException("the node's actor system is not started");

    /// <summary>
    /// Whether <paramref name="system"/> shut down because it was downed (by the split-brain resolver on the
    /// minority side of a partition, or by an operator), as opposed to leaving or a signal.
    /// </summary>
    public static bool WasDowned(ActorSystem system) =>
        CoordinatedShutdown.Get(system).ShutdownReason is CoordinatedShutdown.ClusterDowningReason;

    /// <summary>
    /// Why <paramref name="system"/> ended on its own, in the words a router logs before it joins again as a new
    /// incarnation: <c>removed-from-cluster</c> (downed) or <c>join-timed-out</c> (no seed let it join within
    /// <see cref="FabricCluster.RouterJoinTimeout"/>); null when it was stopped (it left, or a signal).
    /// </summary>
    public static string? RejoinReason(ActorSystem system) => CoordinatedShutdown.Get(system).ShutdownReason switch
    {
        CoordinatedShutdown.ClusterDowningReason => "removed-from-cluster",
        CoordinatedShutdown.ClusterJoinUnsuccessfulReason => "join-timed-out",
        _ => null,
    };

    /// <summary>
    /// Creates the actor system (it joins its seeds on its own) and starts the node's actors; once. When the actors cannot
    /// start, the actor system is terminated and their exception thrown. The token is not used: creating the actor
    /// system is not cancellable.
    /// </summary>
    public Task StartAsync(CancellationToken cancellationToken = default)
    {
        if (_system is not null)
        {
            throw new InvalidOperationException("the node is already started");
        }

        var config = LoggerConfig.WithFallback(_setup.Config);
        var bootstrap = BootstrapSetup.Create()
            .WithConfig(config)
            .WithActorRefProvider(ProviderSelection.Cluster.Instance);
        var setup = ActorSystemSetup.Create(bootstrap, _log);
        if (_setup.Tls is { } tls)
        {
            setup = setup.And(tls);
        }

        var system = CreateAndStart(config, setup);
        try
        {
            // Routers' session actors register with the mediator; conductor nodes reach them by path and take their flows by topic.
            _ = DistributedPubSub.Get(system).Mediator;
            _startActors(system);
        }
        catch
        {
            try
            {
                system.Terminate().Wait(10_000, CancellationToken.None);
            }
            catch (AggregateException)
            {
                // The start's own exception is the one to report.
            }

            throw;
        }

        _system = system;
        return Task.CompletedTask;
    }

    /// <summary>
    /// The actor system of <paramref name="config"/> and <paramref name="setup"/>, started: what <c>ActorSystem.Create(name,
    /// setup)</c> does once it has the configuration, without its first step. <c>Create</c> evaluates
    /// <c>ConfigurationFactory.Load()</c> (the <c>akka</c> section of the process's app.config) even when the setup holds a
    /// configuration, then drops it; reading it loads System.Configuration, its section types and .NET's XML reader into
    /// every router (~2.5 MB resident: docs/benchmarks.md "Memory, 2026-12-07, a router without app.config's section").
    /// <see cref="ActorSystemImpl"/> and its <c>Start</c> are the two steps <c>Create</c> takes after it (Akka.NET 1.5's
    /// public types; a test of the lab checks that a router maps none of those files and runs).
    /// </summary>
    private static ActorSystemImpl CreateAndStart(Akka.Configuration.Config config, ActorSystemSetup setup)
    {
        var system = new ActorSystemImpl(ClusterNodeSettings.SystemName, config, setup, guardianProps: null);
        system.Start();
        return system;
    }

    /// <summary>
    /// Leaves the cluster and stops the actor system (Akka's coordinated shutdown, bounded by its phases' timeouts); at once
    /// when not started or already stopped. The token is not used.
    /// </summary>
    public Task StopAsync(CancellationToken cancellationToken = default) =>
        _system is null ? Task.CompletedTask : CoordinatedShutdown.Get(_system).Run(CoordinatedShutdown.ClrExitReason.Instance);

    /// <summary>Stops the node as <see cref="StopAsync"/> does and waits for it.</summary>
    public void Dispose() => StopAsync().GetAwaiter().GetResult();
}
