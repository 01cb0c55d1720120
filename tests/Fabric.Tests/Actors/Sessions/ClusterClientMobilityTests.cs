using Akka.Actor;
using Akka.Cluster.Tools.PublishSubscribe;
using Fabric.Actors.Security;
using Fabric.Actors.Sessions;
using Fabric.Conductor.Configuration;
using Fabric.Dataplane.Pipeline;
using Fabric.Dataplane.Wire;
using Fabric.Model;
using Fabric.Tests.Dataplane.Svr.Routers;
using Fabric.Tests.Support;
using static Fabric.Tests.Dataplane.Svr.Routers.ClientMobilityTests;

namespace Fabric.Tests.Actors.Sessions;

/// <summary>
/// A client moves from br1 to br2 by a commit (docs/mobility.md "A client moves"), on the lab fabric's in-memory routers
/// driven by a real cluster: a conductor and a router node per router (dc1a, br1a, br2a) on loopback. br2's session actor
/// sees that the commit brought eng1 from br1 and asks br1's for its sessions; br1, which has already run the commit and
/// held eng1's session aside, gives it up; br2 takes it, and eng1's TCP session to web goes on from br2.
/// </summary>
public sealed class ClusterClientMobilityTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fabric-client-move-").FullName;

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    /// <param name="clusterTls">With cluster TLS br2a seals its request with its certificate, and br1a checks the seal.</param>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task CommitMovesEng1ToBr2_SessionActorsHandItsSessionOver_TcpSessionGoesOnFromBr2_WithoutReset(bool clusterTls)
    {
        using var fabric = new SvrFabric(AtBr1);
        await using var nodes = new ControlPlaneNodes(tls: clusterTls);
        var conductor = await Start(fabric, nodes);
        await Commit(conductor, fabric.DocumentText(AtBr1), 1);
        Open(fabric, 43000);
        var server = fabric.Web1.Received.Count > 0 ? fabric.Web1 : fabric.Web2;
        var atServer = server.Received.Count;

        await Commit(conductor, fabric.DocumentText(AtBr2), 2);
        await Pumping(fabric, () => fabric.Br2.Worker.Sessions.Count, count => count == 1, "br2 holding eng1's session");

        fabric.Nomad.AssertTcpEcho(Web, 43000, 80, 107, "moved!", fabric.Pump);
        Assert.Equal(atServer + 1, server.Received.Count);
        Assert.Equal(0, fabric.Br1.Worker.Sessions.Count);
        Assert.Equal(0, fabric.Br1.Worker.Resources.MovedClients.Count);
        Assert.Equal(1, fabric.Dc1.Worker.Counters.SessionsMoved);
        AssertNoReset(fabric);

        Assert.DoesNotContain(server.Received.Skip(atServer), packet => FlagsOf(packet) is { } flags && (flags & TcpFlags.Syn) != 0);

        // The answer taken, br2's session actor ends eng1's arrival grace (the routers' clock has not moved): a new datagram
        // flow of eng1 opens a session at once instead of being dropped as arriving.
        var eng1 = IpAddressConversions.ParseIpv4("10.20.1.10");
        await Pumping(fabric, () => fabric.Br2.Worker.Resources.IsArriving(eng1, isIpv6: false, fabric.Br2.Now), arriving => !arriving, "br2 ending eng1's arrival");
        var atBulk = fabric.Bulk1.Received.Count;
        fabric.Nomad.SendUdp("10.10.1.30", 46100, 5201, "new flow"u8.ToArray());
        fabric.Pump();
        Assert.Equal(atBulk + 1, fabric.Bulk1.Received.Count);
        Assert.Equal(0, fabric.Br2.DropTotal(DropReason.ClientArriving));
    }

    /// <summary>
    /// br2 as the standby node of an HA pair when eng1 arrives: it does not ask (its active partner would, and the node
    /// asked gives the sessions to whichever asks first); once it takes over it asks, takes eng1's session from br1, and
    /// the TCP session goes on from br2.
    /// </summary>
    [Fact]
    public async Task Br2aStandingBy_AsksOnlyOnceItTakesOver_ThenTheTcpSessionGoesOnFromBr2()
    {
        using var fabric = new SvrFabric(AtBr1);
        await using var nodes = new ControlPlaneNodes();
        var conductor = await Start(fabric, nodes);
        await Commit(conductor, fabric.DocumentText(AtBr1), 1);
        Open(fabric, 43002);
        var server = fabric.Web1.Received.Count > 0 ? fabric.Web1 : fabric.Web2;
        var atServer = server.Received.Count;
        var standing = fabric.Br2.StandByAsync();
        await Pumping(fabric, () => standing.IsCompleted, done => done, "br2a standing by");

        await Commit(conductor, fabric.DocumentText(AtBr2), 2);
        await Pumping(fabric, () => fabric.Br1.Worker.Resources.MovedClients.Count, held => held == 1, "br1 holding eng1's session for br2");
        // Three of the session actor's drains: a standby that asked would have taken the session by now.
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(1.5);
        await Pumping(fabric, () => DateTime.UtcNow >= until, over => over, "1.5 s");
        Assert.Equal(1, fabric.Br1.Worker.Resources.MovedClients.Count);
        Assert.Equal(0, fabric.Br2.Worker.Sessions.Count);

        var taking = fabric.Br2.TakeOverAsync();
        await Pumping(fabric, () => taking.IsCompleted, done => done, "br2a taking over");
        await Pumping(fabric, () => fabric.Br2.Worker.Sessions.Count, count => count == 1, "br2 holding eng1's session");

        fabric.Nomad.AssertTcpEcho(Web, 43002, 80, 107, "moved!", fabric.Pump);
        Assert.Equal(atServer + 1, server.Received.Count);
        Assert.Equal(0, fabric.Br1.Worker.Resources.MovedClients.Count);
        AssertNoReset(fabric);
    }

    /// <summary>
    /// br1 as the standby node of an HA pair when br2 asks for eng1's sessions: it refuses (it holds replicas; its active
    /// partner gives the sessions up), and br2 takes none from it; br2's arrival grace ends with the answer.
    /// </summary>
    [Fact]
    public async Task Br1aStandingBy_RefusesToGiveUpTheSessions_Br2TakesNoneFromIt()
    {
        using var fabric = new SvrFabric(AtBr1);
        await using var nodes = new ControlPlaneNodes();
        var conductor = await Start(fabric, nodes);
        await Commit(conductor, fabric.DocumentText(AtBr1), 1);
        Open(fabric, 43003);
        var standing = fabric.Br1.StandByAsync();
        await Pumping(fabric, () => standing.IsCompleted, done => done, "br1a standing by");

        await Commit(conductor, fabric.DocumentText(AtBr2), 2);
        var eng1 = IpAddressConversions.ParseIpv4("10.20.1.10");
        await Pumping(fabric, () => fabric.Br2.Worker.Resources.IsArriving(eng1, isIpv6: false, fabric.Br2.Now), arriving => !arriving, "br2 ending eng1's arrival on br1a's answer");

        Assert.Equal(0, fabric.Br2.Worker.Sessions.Count);
        Assert.Equal(1, fabric.Br1.Worker.Resources.MovedClients.Count);
    }

    [Fact]
    public async Task AskInBr2aName_ForAClientBr1sConfigurationKeepsAtBr1_Refused_SessionStaysAtBr1()
    {
        using var fabric = new SvrFabric(AtBr1);
        await using var nodes = new ControlPlaneNodes();
        var conductor = await Start(fabric, nodes);
        await Commit(conductor, fabric.DocumentText(AtBr1), 1);
        Open(fabric, 43001);

        // A member of the cluster runs an actor at br2a's session actor's path and asks br1a for eng1's sessions.
        var forger = await nodes.StartMember("mallory");
        var answers = new TaskCompletionSource<ClientSessionsGiven>(TaskCreationOptions.RunContinuationsAsynchronously);
        forger.ActorOf(Props.Create(() => new Asker(answers)), SessionActor.NameOf("br2a"));
        ClientSessionsGiven? answer = null;
        await Pumping(
            fabric,
            () =>
            {
                if (answers.Task.IsCompleted)
                {
                    answer = answers.Task.Result;
                    return true;
                }

                forger.ActorSelection($"/user/{SessionActor.NameOf("br2a")}").Tell(GiveUpClientSessions.Sealed("br2a", "br1a", AddressOf(forger), 1, ["10.20.1.10"], signer: null));
                return false;
            },
            answered => answered,
            "br1a answering the request");

        Assert.NotNull(answer);
        Assert.Contains("does not list 10.20.1.10 under router br2", answer.Error, StringComparison.Ordinal);
        Assert.Empty(answer.Records);
        Assert.Equal(1, fabric.Br1.Worker.Sessions.Count);
        fabric.Eng1.AssertTcpEcho(Web, 43001, 80, 107, "still here", fabric.Pump);
    }

    [Fact]
    public async Task AskInBr2aName_ForAClientMovedToBr2_NotSealedByBr2aForBr1aAndThoseClients_Refused_SessionStaysHeldAtBr1()
    {
        using var fabric = new SvrFabric(AtBr1);
        await using var nodes = new ControlPlaneNodes(tls: true);
        var conductor = await Start(fabric, nodes, "dc1a", "br1a");
        await Commit(conductor, fabric.DocumentText(AtBr1), 1, "dc1a", "br1a");
        Open(fabric, 43002);

        // br1a runs the commit that moves eng1 to br2 and holds its session for br2's nodes; br2a does not run, so nobody
        // asks for it but a member of the cluster (with a certificate of the fabric's CA issued to mallory) that runs an
        // actor at br2a's session actor's path.
        await Commit(conductor, fabric.DocumentText(AtBr2), 2, "dc1a", "br1a");
        await Pumping(fabric, () => fabric.Br1.Worker.Resources.MovedClients.Count, count => count == 1, "br1 holding eng1's session");
        var forger = await nodes.StartMember("mallory");
        var answers = new System.Collections.Concurrent.ConcurrentQueue<ClientSessionsGiven>();
        forger.ActorOf(Props.Create(() => new Asker(answers)), SessionActor.NameOf("br2a"));
        var mallory = new NodeSigner(nodes.Settings("mallory").Tls!);
        var br2a = new NodeSigner(nodes.Settings("br2a").Tls!);
        string[] eng1 = ["10.20.1.10"];
        // Each request at a version of its own (any version at or above br1a's gets an answer at once), so each answer
        // names the request it answers. br2a's seal is made for another node asked, or for other clients, than the
        // request carries: a seal br2a made, replayed.
        var here = AddressOf(forger);
        const string br2aAddress = "akka.tcp://fabric@10.99.0.2:4053";
        var forged = new (GiveUpClientSessions Request, string Refusal)[]
        {
            (GiveUpClientSessions.Sealed("br2a", "br1a", here, 2, eng1, signer: null), "not sealed with a cluster certificate"),
            (GiveUpClientSessions.Sealed("br2a", "br1a", here, 3, eng1, mallory), "sealed with node mallory's certificate, not br2a's"),
            (GiveUpClientSessions.Sealed("br2a", "br1b", here, 4, eng1, br2a) with { To = "br1a" }, "its seal does not match what it says"),
            (GiveUpClientSessions.Sealed("br2a", "br1a", here, 5, ["10.20.1.99"], br2a) with { Addresses = eng1 }, "its seal does not match what it says"),
            (GiveUpClientSessions.Sealed("br2a", "br1b", here, 6, eng1, br2a), "it is addressed to node br1b, not br1a"),
            // br2a's own request, exactly as it sealed it at its address, replayed from mallory's: the answer would go to mallory.
            (GiveUpClientSessions.Sealed("br2a", "br1a", br2aAddress, 7, eng1, br2a), $"it names sender {br2aAddress} and came from {here}"),
            (GiveUpClientSessions.Sealed("br2a", "br1a", br2aAddress, 8, eng1, br2a) with { From = here }, "its seal does not match what it says"),
        };

        var answered = new List<ClientSessionsGiven>();
        foreach (var (request, refusal) in forged)
        {
            // The probe gives every answer br1a sent so far: an answer with records means br1a gave eng1's session away.
            await Pumping(
                fabric,
                () =>
                {
                    while (answers.TryDequeue(out var given))
                    {
                        answered.Add(given);
                    }

                    forger.ActorSelection($"/user/{SessionActor.NameOf("br2a")}").Tell(request);
                    return string.Join("; ", answered.Where(given => given.Version == request.Version).Select(given => given.Error ?? $"{given.Records.Length} bytes of records"));
                },
                seen => seen.Contains(refusal, StringComparison.Ordinal),
                $"br1a refusing a request because {refusal}");
        }

        Assert.All(answered, given => Assert.Empty(given.Records));
        Assert.Equal(1, fabric.Br1.Worker.Resources.MovedClients.Count);
        Assert.Equal(0, fabric.Br2.Worker.Sessions.Count);
    }

    /// <summary>
    /// The CNI path (docs/mobility.md "A client moves by the CNI plugin"): eng1 is not in the committed document; it is
    /// attached at br1's host-based network, and each router node registers its attached clients in the cluster, so every
    /// router places eng1 at br1. Detached at br1 and attached at br2's host-based network with the same name, address and
    /// tenant, no commit: br1 holds its session at the detach, br2 counts the attach as an arrival from br1 (the
    /// departure it remembers), its session actor asks br1a with the sealed request, br1a gives the session up once the
    /// registry places eng1 at br2, and the TCP session goes on from br2 without a reset.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task RegistryMovesEng1FromBr1ToBr2_DetachThenAttach_SessionActorsHandItsSessionOver_TcpSessionGoesOnWithoutReset(bool clusterTls)
    {
        using var fabric = new SvrFabric(Attachable);
        await using var nodes = new ControlPlaneNodes(tls: clusterTls);
        var conductor = await nodes.StartConductor(new StorageSettings(StorageProvider.Sqlite, Path.Combine(_dir, "conductor.db"), null));
        var targets = new Dictionary<string, Fabric.Actors.Services.AttachingEngineTarget>();
        foreach (var (engine, node) in new[] { (fabric.Dc1, "dc1a"), (fabric.Br1, "br1a"), (fabric.Br2, "br2a") })
        {
            var target = targets[node] = new Fabric.Actors.Services.AttachingEngineTarget(engine);
            await nodes.StartRouter(new Fabric.Actors.Hosting.RouterNodeTarget(
                node, target, Services: new Fabric.Actors.Services.EngineServiceDataplane(engine), Flows: new EngineFlowSource(engine),
                Refusals: new ControlPlaneRefusals(), RemoteInstances: target));
        }

        await Commit(conductor, fabric.DocumentText(Attachable), 1);
        var eng1 = ClientAddressOf("10.20.1.10");
        targets["br1a"].Attach(new AttachedWorkload("eng1", "br1", "hosts", System.Net.IPAddress.Parse("10.20.1.10"), "engineering", Service: null));
        await Pumping(fabric, () => fabric.Br2.Snapshot.RouterOfContainer.GetValueOrDefault(eng1), router => router == "br1", "br2 placing eng1 at br1");
        Open(fabric, 43010);
        var server = fabric.Web1.Received.Count > 0 ? fabric.Web1 : fabric.Web2;
        var atServer = server.Received.Count;

        targets["br1a"].Detach("eng1");
        fabric.Pump();
        Assert.Equal(1, fabric.Br1.Worker.Resources.MovedClients.Count);
        targets["br2a"].Attach(new AttachedWorkload("eng1", "br2", "pods", System.Net.IPAddress.Parse("10.20.1.10"), "engineering", Service: null));
        await Pumping(fabric, () => fabric.Br2.Worker.Sessions.Count, count => count == 1, "br2 holding eng1's session");

        fabric.Nomad.AssertTcpEcho(Web, 43010, 80, 107, "moved!", fabric.Pump);
        Assert.Equal(atServer + 1, server.Received.Count);
        Assert.Equal(0, fabric.Br1.Worker.Resources.MovedClients.Count);
        Assert.Equal(1, fabric.Dc1.Worker.Counters.SessionsMoved);
        Assert.Equal(0, SvrFabric.Drops(fabric.Br1, DropReason.Revoked));
        AssertNoReset(fabric);
        Assert.DoesNotContain(server.Received.Skip(atServer), packet => FlagsOf(packet) is { } flags && (flags & TcpFlags.Syn) != 0);
    }

    /// <summary>
    /// lab.conf for the CNI path: eng1 not committed (the CNI plugin attaches it at br1's host-based network), br2 with a
    /// host-based network pods on eng1's prefix (its gateway 10.20.1.253) and its LAN also the gateway 10.20.1.254/24, the
    /// link the moved client's packets reach br2 on in memory.
    /// </summary>
    private static string Attachable(string text)
    {
        const string eng1 = "            eng1 { addresses = [\"10.20.1.10\"], tenant = engineering }\n";
        var edited = AtBr1(text);
        Assert.Contains(eng1, edited, StringComparison.Ordinal);
        edited = edited.Replace(eng1, string.Empty, StringComparison.Ordinal).Replace(
            "      networks {\n        lan {",
            "      networks {\n        pods {\n          model = host-based\n          gateways = [\"10.20.1.253/24\"]\n        }\n        lan {",
            StringComparison.Ordinal);
        Assert.Contains("10.20.1.253/24", edited, StringComparison.Ordinal);
        return edited;
    }

    private static Fabric.Dataplane.Forwarding.ClientAddress ClientAddressOf(string text) => Fabric.Dataplane.Forwarding.ClientAddress.Of(System.Net.IPAddress.Parse(text));

    private async Task<IActorRef> Start(SvrFabric fabric, ControlPlaneNodes nodes, params string[] only)
    {
        var conductor = await nodes.StartConductor(new StorageSettings(StorageProvider.Sqlite, Path.Combine(_dir, "conductor.db"), null));
        foreach (var (engine, node) in new[] { (fabric.Dc1, "dc1a"), (fabric.Br1, "br1a"), (fabric.Br2, "br2a") })
        {
            if (only.Length == 0 || only.Contains(node))
            {
                await nodes.StartRouter(engine, node);
            }
        }

        return conductor;
    }

    /// <summary>Commits <paramref name="text"/> as <paramref name="version"/> and waits for <paramref name="nodes"/> (all three when none) to run it.</summary>
    private static async Task Commit(IActorRef conductor, string text, long version, params string[] nodes)
    {
        var result = await conductor.Ask<ConfigCommandResult>(new CommitConfig(text, "alice", $"version {version}"), ControlPlaneNodes.Deadline, TestContext.Current.CancellationToken);
        Assert.True(result.Accepted, string.Join("; ", result.Errors));
        Assert.Equal(version, result.Version);
        await ControlPlaneNodes.Converged(conductor, version, nodes.Length == 0 ? ["dc1a", "br1a", "br2a"] : nodes);
    }

    /// <summary>Runs the routers' workers (which answer what the actors ask of them) until <paramref name="done"/>.</summary>
    private static Task<T> Pumping<T>(SvrFabric fabric, Func<T> probe, Func<T, bool> done, string what) =>
        ControlPlaneNodes.Until(
            () =>
            {
                fabric.Pump();
                return Task.FromResult(probe());
            },
            done,
            what);

    /// <summary>The cluster address of <paramref name="system"/>, as a request names its sender.</summary>
    private static string AddressOf(ActorSystem system) => ((ExtendedActorSystem)system).Provider.DefaultAddress.ToString();

    /// <summary>Sends what it is told to br1a's session actor (through the mediator) and keeps the first answer.</summary>
    private sealed class Asker : ReceiveActor
    {
        public Asker(TaskCompletionSource<ClientSessionsGiven> answers)
        {
            var mediator = DistributedPubSub.Get(Context.System).Mediator;
            Receive<GiveUpClientSessions>(request => mediator.Tell(new Send(FlowDistribution.PathOf("br1a"), request), Self));
            Receive<ClientSessionsGiven>(given => answers.TrySetResult(given));
        }

        /// <summary>Keeps every answer, in order.</summary>
        public Asker(System.Collections.Concurrent.ConcurrentQueue<ClientSessionsGiven> answers)
        {
            var mediator = DistributedPubSub.Get(Context.System).Mediator;
            Receive<GiveUpClientSessions>(request => mediator.Tell(new Send(FlowDistribution.PathOf("br1a"), request), Self));
            Receive<ClientSessionsGiven>(answers.Enqueue);
        }
    }
}
