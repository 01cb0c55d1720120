using System.Net;
using Akka.Actor;
using Akka.Cluster.Tools.PublishSubscribe;
using Akka.Event;
using Fabric.Actors.Cluster;
using Fabric.Actors.Configuration;
using Fabric.Actors.Security;
using Fabric.Dataplane.Forwarding;
using Fabric.Dataplane.Sessions;

namespace Fabric.Actors.Sessions;

// A client that moves between routers (docs/mobility.md "A client moves"): when this node applies a configuration that
// brought clients here from another router, it asks every node of that router for their sessions
// (GiveUpClientSessions, sealed by this node with cluster TLS); a node asked gives them up only when the request is sealed
// by the node it names and its own configuration lists the clients under the asking
// node's router (whatever its version), waiting for such a configuration a little when the asker is ahead, and answers with the records in
// parts (ClientSessionsGiven); this node installs each part as it comes.
public sealed partial class SessionActor
{
    /// <summary>How long a node asked for a client's sessions waits to run the configuration the asking node runs.</summary>
    public static readonly TimeSpan ClientHandOverWait = TimeSpan.FromSeconds(3);

    /// <summary>
    /// How often a node asks again a node that has not answered: the cluster's pub-sub may not know the other node's
    /// session actor yet, and a message it cannot deliver is lost.
    /// </summary>
    public static readonly TimeSpan ClientHandOverRetry = TimeSpan.FromMilliseconds(250);

    private readonly List<(IActorRef Asker, GiveUpClientSessions Request, DateTime Until)> _waitingAsks = [];
    private readonly HashSet<string> _asked = new(StringComparer.Ordinal);
    private readonly Dictionary<string, GiveUpClientSessions> _handingOver = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (GiveUpClientSessions Request, DateTime Until)> _unanswered = new(StringComparer.Ordinal);
    private ILoggingAdapter? _log;

    // The snapshot whose arrivals were asked for: compared by identity, since the live registry's recompiles (containers
    // the CNI plugin attached) keep the version.
    private ForwardingSnapshot? _arrivalsSeen;

    private ILoggingAdapter Log => _log ??= Context.GetLogger();

    private void ReceiveClientHandOver()
    {
        Receive<ConfigurationApplied>(applied => applied.Node == _node, _ => ConfigurationChanged());
        Receive<ConfigurationApplied>(_ => { });
        Receive<Services.PlacementRecompiled>(recompiled => recompiled.Node == _node, _ => ConfigurationChanged());
        Receive<Services.PlacementRecompiled>(_ => { });
        Receive<GiveUpClientSessions>(GiveUpClient);
        Receive<ClientSessionsGiven>(TakeClient);
        Receive<AskAgain>(_ => AskUnanswered());
    }

    /// <summary>Asks every node not heard from again, until <see cref="Dataplane.Pipeline.SvrStage.ClientHandOverHold"/> after the arrival (while the other router holds the sessions).</summary>
    private void AskUnanswered()
    {
        var now = DateTime.UtcNow;
        foreach (var (node, (request, until)) in _unanswered.ToArray())
        {
            if (now >= until)
            {
                _unanswered.Remove(node);
                Log.Warning("router node {0}: node {1} did not answer for the sessions of {2}", _node, node, string.Join(", ", request.Addresses));
                continue;
            }

            _mediator.Tell(new Send(FlowDistribution.PathOf(node), request), Self);
        }

        if (_unanswered.Count == 0)
        {
            Timers.Cancel("ask-again");
        }
    }

    /// <summary>A configuration was applied (or may have been): ask for the clients it brought here; answer the asks that waited for it.</summary>
    private void ConfigurationChanged()
    {
        var snapshot = _source.Snapshot;
        // A standby node of an HA pair does not ask: its active partner does, and replicates what it takes. Were both to
        // ask, the node asked would give the sessions to whichever came first. A standby that takes over asks then for
        // what arrived since it last looked (this runs at every drain too).
        if (snapshot is not null && !ReferenceEquals(snapshot, _arrivalsSeen) && _source.IsActive)
        {
            // Every arrival since the snapshot last looked at: registry recompiles may have come between.
            var seen = _arrivalsSeen;
            _arrivalsSeen = snapshot;
            foreach (var (router, addresses) in ClientHandOver.Arrivals(snapshot, seen))
            {
                foreach (var node in ClientHandOver.NodesOf(snapshot, router))
                {
                    var request = GiveUpClientSessions.Sealed(_node, node, AddressOf(Self), snapshot.Version, addresses, _signer);
                    _asked.Add(node);
                    _unanswered[node] = (request, DateTime.UtcNow + Dataplane.Pipeline.SvrStage.ClientHandOverHold);
                    _handingOver[node] = request;
                    _mediator.Tell(new Send(FlowDistribution.PathOf(node), request), Self);
                    Timers.StartPeriodicTimer("ask-again", AskAgain.Instance, ClientHandOverRetry);
                    Log.Info("router node {0}: {1} arrived from router {2} with version {3}; asking node {4} for their sessions", _node, string.Join(", ", addresses), router, snapshot.Version, node);
                }
            }
        }

        for (var i = _waitingAsks.Count - 1; i >= 0; i--)
        {
            var (asker, request, until) = _waitingAsks[i];
            if (Answer(asker, request, DateTime.UtcNow >= until))
            {
                _waitingAsks.RemoveAt(i);
            }
        }
    }

    /// <summary>Another node asks for the sessions of clients that moved to its router.</summary>
    private void GiveUpClient(GiveUpClientSessions request)
    {
        if (!IsSessionActorOf(Sender, request.Node) || !ClusterSenders.IsLocalOrHasRole(Context, Sender, FabricCluster.RouterRole))
        {
            Log.Warning("router node {0}: refused a request for client sessions in node {1}'s name from {2}", _node, request.Node, Sender.Path);
            return;
        }

        if (SealProblem(request, Sender) is { } unsealed)
        {
            Log.Warning("router node {0}: refused a request for client sessions in node {1}'s name: {2}", _node, request.Node, unsealed);
            Sender.Tell(new ClientSessionsGiven(_node, request.Version, [], 1, 1, $"node {_node} refused the request in node {request.Node}'s name: {unsealed}"));
            return;
        }

        if (!_source.IsActive)
        {
            // Both nodes of a pair are asked; the active one holds the sessions (this one holds replicas, perhaps older).
            Sender.Tell(new ClientSessionsGiven(_node, request.Version, [], 1, 1, $"node {_node} stands by: its active partner gives up the sessions"));
            return;
        }

        if (!Answer(Sender, request, lastChance: false))
        {
            _waitingAsks.Add((Sender, request, DateTime.UtcNow + ClientHandOverWait));
        }
    }

    /// <summary>
    /// Null when <paramref name="request"/> is addressed to this node, came from an actor at the address it names (where
    /// the answer goes), and (with cluster TLS) is sealed by the node it names over its address, version and clients; else
    /// why not. The actor path and cluster role any member can run; the seal only the node holding the certificate issued
    /// to that name can make, and a member that replays it from elsewhere is refused by the address it sealed.
    /// </summary>
    private string? SealProblem(GiveUpClientSessions request, IActorRef sender) =>
        !string.Equals(request.To, _node, StringComparison.Ordinal) ? $"it is addressed to node {request.To}, not {_node}"
        : request.Addresses is null ? "it names no clients"
        : !string.Equals(request.From, AddressOf(sender), StringComparison.Ordinal) ? $"it names sender {request.From} and came from {AddressOf(sender)}"
        : _verifier?.Problem(request.Node, request.Statement(), request.Seal);

    /// <summary>The cluster address of the system <paramref name="actor"/> lives in (this node's own for a local actor).</summary>
    private static string AddressOf(IActorRef actor) =>
        (actor.Path.Address.HasLocalScope ? ((ExtendedActorSystem)Context.System).Provider.DefaultAddress : actor.Path.Address).ToString();

    /// <summary>
    /// Answers <paramref name="request"/> when the configuration this node runs lists the clients under the asking node's
    /// router, whatever its version (a later commit about something else changes nothing: the records carry their tenant
    /// and service by name, and the asker checks them against its own configuration); while it does not, waits for a
    /// configuration that does (a commit, or the live registry's placement, may reach the asker first), until the
    /// <paramref name="lastChance"/>; then answers why not. False when it should wait.
    /// </summary>
    private bool Answer(IActorRef asker, GiveUpClientSessions request, bool lastChance)
    {
        var snapshot = _source.Snapshot;
        var node = _node;
        if (snapshot is null)
        {
            if (lastChance)
            {
                asker.Tell(new ClientSessionsGiven(node, request.Version, [], 1, 1, $"node {node} runs no configuration"));
            }

            return lastChance;
        }

        if (ClientHandOver.Refusal(snapshot, request.Node, request.Addresses, out var clients) is { } refusal)
        {
            // The asker may be ahead: by a commit this node has not run yet, or by the live registry, whose placement of a
            // container the CNI plugin attached reaches each node when its gossip does, at the same version.
            if (!lastChance)
            {
                return false;
            }

            Log.Warning("router node {0}: refused to give up sessions to node {1}: {2}", node, request.Node, refusal);
            asker.Tell(new ClientSessionsGiven(node, request.Version, [], 1, 1, refusal));
            return true;
        }

        var self = Self;
        var log = Log;
        _source.GiveUpClientSessionsAsync(clients).ContinueWith(
            given =>
            {
                if (!given.IsCompletedSuccessfully)
                {
                    asker.Tell(new ClientSessionsGiven(node, request.Version, [], 1, 1, given.Exception?.GetBaseException().Message ?? "the hand-over was cancelled"), self);
                    return;
                }

                log.Info("router node {0}: gave up {1} sessions of {2} to node {3} (running version {4}, asked under {5})", node, given.Result.Sessions.Length, string.Join(", ", request.Addresses), request.Node, given.Result.Version, request.Version);
                foreach (var part in ClientHandOver.Parts(node, request.Version, given.Result))
                {
                    asker.Tell(part, self);
                }
            },
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
        return true;
    }

    /// <summary>
    /// A part of the sessions this node asked another for: installed when it comes from the session actor of a node this
    /// one asked. The last part of the answer to the latest request (or a refusal) ends the clients' arrival grace on every
    /// worker, queued after the part's records, so their new flows open sessions at once.
    /// </summary>
    private void TakeClient(ClientSessionsGiven given)
    {
        if (!_asked.Contains(given.Node) || !IsSessionActorOf(Sender, given.Node))
        {
            Log.Warning("router node {0}: refused client sessions in node {1}'s name from {2}: not asked", _node, given.Node, Sender.Path);
            return;
        }

        InstallPart(given);
        if ((given.Error is not null || given.Part == given.Parts)
            && _handingOver.TryGetValue(given.Node, out var request) && request.Version == given.Version)
        {
            // The grace ends once every node asked for these clients has answered: the standby of a pair may refuse
            // before its active partner's records come.
            _handingOver.Remove(given.Node);
            if (!ClientHandOver.StillAwaited(_handingOver.Values, request))
            {
                _ = _source.EndClientArrivalsAsync([.. request.Addresses.Select(address => ClientAddress.Of(IPAddress.Parse(address)))]);
            }
        }
    }

    private void InstallPart(ClientSessionsGiven given)
    {
        if (given.Error is not null || (_unanswered.TryGetValue(given.Node, out var asked) && asked.Request.Version == given.Version))
        {
            _unanswered.Remove(given.Node);
        }

        if (given.Error is { } error)
        {
            Log.Warning("router node {0}: node {1} gave up no client sessions: {2}", _node, given.Node, error);
            return;
        }

        ClientSessionRecords records;
        try
        {
            records = ClientHandOver.Records(given);
        }
        catch (SessionRecordsException e)
        {
            Log.Warning("router node {0}: client sessions from node {1}: {2}", _node, given.Node, e.Message);
            return;
        }

        if (records.Sessions.Length == 0)
        {
            return;
        }

        var node = _node;
        var log = Log;
        _source.TakeClientSessionsAsync(records).ContinueWith(
            taken => log.Info(
                "router node {0}: took {1} client sessions from node {2} (part {3} of {4}), refused {5}",
                node, taken.IsCompletedSuccessfully ? taken.Result.Added : 0, given.Node, given.Part, given.Parts, taken.IsCompletedSuccessfully ? taken.Result.Refused : records.Sessions.Length),
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
    }

    /// <summary>Whether <paramref name="sender"/> is at the path of <paramref name="node"/>'s session actor (its cluster role is checked apart).</summary>
    private static bool IsSessionActorOf(IActorRef sender, string node) =>
        sender.Path.Elements.SequenceEqual(["user", NameOf(node)], StringComparer.Ordinal);

    private sealed record AskAgain
    {
        public static readonly AskAgain Instance = new();
    }
}
