using Akka.Actor;
using Akka.Cluster.Tools.PublishSubscribe;
using Fabric.Actors.Sessions;

namespace Fabric.Actors.Tracing;

/// <summary>
/// Answers <see cref="TraceQuestion"/>s about one router node from the snapshot it runs (<see cref="PacketTracer"/>).
/// Registered with the cluster's pub-sub mediator under <see cref="PathOf"/>, so the conductor reaches it by node name.
/// </summary>
public sealed class TraceActor : ReceiveActor
{
    private readonly string _node;
    private readonly IActorRef _mediator;

    public TraceActor(string node, IFlowSource source)
    {
        _node = node;
        _mediator = DistributedPubSub.Get(Context.System).Mediator;
        Receive<TraceQuestion>(question => Sender.Tell(source.Snapshot is { } snapshot
            ? PacketTracer.Trace(node, snapshot, question)
            : new TraceHop(node, "", 0, [], "dropped", "no_configuration", null, null, null, null, null, $"router node {node} runs no configuration yet")));
    }

    public static string NameOf(string node) => $"trace-{node}";

    public static string PathOf(string node) => $"/user/{NameOf(node)}";

    public static Props Props(string node, IFlowSource source) => Akka.Actor.Props.Create(() => new TraceActor(node, source));

    protected override void PreStart() => _mediator.Tell(new Put(Self));

    protected override void PostStop() => _mediator.Tell(new Remove(PathOf(_node)));
}
