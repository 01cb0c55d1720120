using Akka.Actor;
using Akka.Cluster.Tools.PublishSubscribe;
using Akka.Event;
using Akka.Persistence;
using Fabric.Actors.Cluster;
using Fabric.Actors.Security;
using Fabric.Actors.Telemetry;

namespace Fabric.Conductor.Telemetry;

/// <summary>
/// The conductor's telemetry collector: subscribes to <see cref="TelemetryDistribution.Topic"/> and keeps every
/// node's samples in a <see cref="TelemetryStore"/>; answers <see cref="GetTelemetry"/>. Persistent, in the
/// conductor's own storage (Akka.Persistence.Sql: the SQLite file or PostgreSQL): each sample it keeps is an
/// event; once as many samples as the store holds have been persisted since the last snapshot (and at least
/// <c>snapshotEvery</c>), the whole store (what retention keeps: 1 h of samples, a day of rollups) becomes a
/// snapshot, and the events and snapshots before it are deleted. Every sample is so written about twice, whatever
/// the number of router nodes; the journal never holds more than an hour of samples; and a restarted conductor
/// has the history it had: the latest snapshot plus the samples after it, less what retention drops by then.
/// </summary>
/// <remarks>
/// A sample counts only when its node sealed it with the cluster certificate the fabric's CA issued to that node
/// (<see cref="NodeVerifier"/>; with no cluster TLS nothing can be checked and every report counts): any member
/// can publish a report naming any node. A refused report is logged once per node and reason. Where no cluster
/// feeds it (<c>subscribe</c> off), a sample arrives as a plain <see cref="CounterSample"/> message instead; with a
/// cluster such messages are not taken, since a member could send them too.
/// </remarks>
public sealed class TelemetryCollector : ReceivePersistentActor
{
    public const string Id = "fabric-telemetry";

    /// <summary>The fewest samples between snapshots: an hour of one node's samples at 5 s.</summary>
    public const int DefaultSnapshotEvery = 720;

    private readonly TimeProvider _time;
    private readonly bool _subscribe;
    private readonly int _snapshotEvery;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly NodeEntries _reports;
    private TelemetryStore _store;
    private int _sinceSnapshot;

    public TelemetryCollector(TimeProvider time, bool subscribe, int snapshotEvery, ClusterTls? tls)
    {
        _time = time;
        _subscribe = subscribe;
        _snapshotEvery = Math.Max(1, snapshotEvery);
        _reports = new NodeEntries(tls, time, _log, "telemetry");
        _store = new TelemetryStore(time);
        Recover<SnapshotOffer>(offer => offer.Snapshot is TelemetryHistory history, offer => _store = TelemetryStore.Restore(_time, (TelemetryHistory)offer.Snapshot));
        Recover<CounterSample>(sample => _store.Add(sample));
        Command<TelemetryReport>(report =>
        {
            // Only what the store would keep is checked: a report older than the node's latest (a replay) is ignored.
            if (_store.IsNew(report.Sample) && _reports.Believe(report.Sample.Node, report.Sample.Node, TelemetryReport.Statement(report.Sample), report.Seal))
            {
                Keep(report.Sample);
            }
        });
        Command<SubscribeAck>(_ => { });
        if (!subscribe)
        {
            Command<CounterSample>(Keep);
        }

        Command<GetTelemetry>(query => Sender.Tell(_store.View(query.Node, query.SinceUnixMilliseconds, query.Latest)));
        Command<SaveSnapshotSuccess>(saved =>
        {
            DeleteMessages(saved.Metadata.SequenceNr);
            DeleteSnapshots(new SnapshotSelectionCriteria(saved.Metadata.SequenceNr - 1));
        });
        Command<SaveSnapshotFailure>(failed => _log.Warning("telemetry snapshot not saved (the journal keeps the samples): {0}", failed.Cause.Message));
        Command<DeleteMessagesSuccess>(_ => { });
        Command<DeleteMessagesFailure>(failed => _log.Warning("old telemetry samples not deleted: {0}", failed.Cause.Message));
        Command<DeleteSnapshotsSuccess>(_ => { });
        Command<DeleteSnapshotsFailure>(failed => _log.Warning("old telemetry snapshots not deleted: {0}", failed.Cause.Message));
    }

    public override string PersistenceId => Id;

    /// <param name="subscribe">Subscribe to <see cref="TelemetryDistribution.Topic"/> (needs a cluster node).</param>
    /// <param name="tls">The cluster's TLS: its CA says whose seal a report carries; null when the cluster runs without TLS.</param>
    public static Props Props(TimeProvider time, bool subscribe = true, int snapshotEvery = DefaultSnapshotEvery, ClusterTls? tls = null) =>
        Akka.Actor.Props.Create(() => new TelemetryCollector(time, subscribe, snapshotEvery, tls));

    protected override void OnReplaySuccess()
    {
        if (_subscribe)
        {
            DistributedPubSub.Get(Context.System).Mediator.Tell(new Subscribe(TelemetryDistribution.Topic, Self));
        }
    }

    /// <summary>Keeps a sample the store has not seen, persists it, and snapshots the store when the interval is up.</summary>
    private void Keep(CounterSample sample)
    {
        if (!_store.Add(sample))
        {
            return;
        }

        PersistAsync(sample, _ =>
        {
            if (++_sinceSnapshot >= Math.Max(_snapshotEvery, _store.SampleCount))
            {
                _sinceSnapshot = 0;
                SaveSnapshot(_store.History());
            }
        });
    }
}
