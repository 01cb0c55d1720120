using Akka.Actor;
using Akka.DistributedData;
using Fabric.Actors.Telemetry;

namespace Fabric.Conductor.Telemetry;

/// <summary>
/// The conductor's telemetry collector: follows <see cref="TelemetryDistribution.Latest"/> and keeps every
/// node's samples in a <see cref="TelemetryStore"/>; answers <see cref="GetTelemetry"/>. In memory: a
/// restarted conductor starts a new history (routers keep sampling).
/// </summary>
public sealed class TelemetryCollector : ReceiveActor
{
    private readonly TelemetryStore _store;

    public TelemetryCollector(TimeProvider time)
    {
        _store = new TelemetryStore(time);
        Receive<Changed>(changed => changed.Key.Equals(TelemetryDistribution.Latest), changed =>
        {
            foreach (var sample in changed.Get(TelemetryDistribution.Latest).Entries.Values)
            {
                _store.Add(sample);
            }
        });
        Receive<GetTelemetry>(query => Sender.Tell(_store.View(query.Node)));
    }

    public static Props Props(TimeProvider time) => Akka.Actor.Props.Create(() => new TelemetryCollector(time));

    protected override void PreStart() => DistributedData.Get(Context.System).Replicator.Tell(Dsl.Subscribe(TelemetryDistribution.Latest, Self));
}
