using Akka.Actor;
using Akka.Persistence;

namespace Fabric.Conductor.Configuration;

/// <summary>
/// The conductor's configuration history, event sourced: a thin shell around <see cref="ConfigHistory"/>.
/// It decides with the pure state, persists the one event, applies it and replies; a refused command
/// persists nothing. Recovery replays the events, so a restarted conductor has the full history.
/// </summary>
public sealed class ConductorActor : ReceivePersistentActor
{
    public const string Id = "fabric-conductor";

    private readonly TimeProvider _time;
    private ConfigHistory _history = ConfigHistory.Empty;

    public ConductorActor(TimeProvider time)
    {
        _time = time;
        Recover<ConfigCommitted>(committed => _history = _history.Apply(committed));
        Command<CommitConfig>(command => Handle(_history.Decide(command, _time.GetUtcNow())));
        Command<RollbackConfig>(command => Handle(_history.Decide(command, _time.GetUtcNow())));
        Command<GetConfigHistory>(_ => Sender.Tell(View(_history)));
    }

    public override string PersistenceId => Id;

    public static Props Props(TimeProvider time) => Akka.Actor.Props.Create(() => new ConductorActor(time));

    private void Handle(ConfigDecision decision)
    {
        if (decision.Event is not { } committed)
        {
            Sender.Tell(new ConfigCommandResult(false, null, [.. decision.Errors.Select(e => e.ToString())]));
            return;
        }

        var replyTo = Sender;
        Persist(committed, persisted =>
        {
            _history = _history.Apply(persisted);
            replyTo.Tell(new ConfigCommandResult(true, persisted.Version, []));
        });
    }

    private static ConfigHistoryView View(ConfigHistory history) => new(
        history.Running?.Number ?? 0,
        [.. history.Versions.Select(v => new ConfigVersionSummary(
            v.Number, v.Author, v.Time, v.Message, v.RestoredFrom, [.. v.Changes.Select(c => c.ToString())]))],
        history.Running?.Text);
}
