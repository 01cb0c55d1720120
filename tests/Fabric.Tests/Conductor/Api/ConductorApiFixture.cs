using System.Net;
using System.Net.Http.Headers;
using Akka.Actor;
using Akka.Cluster.Tools.PublishSubscribe;
using Fabric.Actors.Cluster;
using Fabric.Actors.Sessions;
using Fabric.Conductor.Telemetry;
using Fabric.Conductor.Api;
using Fabric.Conductor.Api.Tokens;
using Fabric.Conductor.Configuration;
using Fabric.Conductor.Api.Live;
using Fabric.Router;
using Fabric.Dataplane.Io;
using Fabric.Dataplane.Io.InMemory;
using Fabric.Dataplane.Routing;
using Fabric.Dataplane.Wire;
using Fabric.Model;
using Fabric.Tests.Dataplane.Routing;
using Fabric.Tests.Support;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;

namespace Fabric.Tests.Conductor.Api;

/// <summary>
/// A real conductor node (cluster on loopback, history in a SQLite file) with lab.conf committed as version 1, router
/// node dc1a joined to it (a real engine on discard ports, shipping telemetry every 200 ms, registering dc1's instances)
/// and router node br1a (a real engine forwarding on in-memory links), and the conductor's API on ASP.NET Core's test
/// host over it. Tokens live in the conductor's SQLite file.
/// </summary>
public sealed class ConductorApiFixture : IAsyncLifetime
{
    /// <summary>
    /// The lab's document, its WAN neighbourhood allowing unauthenticated metadata: br1a's engine here is built without
    /// the router's identity key, so it has no peer keys, and its SVR sessions to dc1 would otherwise be refused.
    /// </summary>
    public static readonly string Lab = LabDocuments.AllowingUnauthenticatedMetadata;
    private readonly string _dir = Directory.CreateTempSubdirectory("fabric-api-").FullName;
    private readonly ControlPlaneNodes _nodes = new();
    private readonly List<WebApplication> _apps = [];

    public IActorRef Conductor { get; private set; } = null!;

    /// <summary>Router node br1a's engine: forwarding on in-memory links, on <see cref="Br1Time"/>.</summary>
    public ForwardingEngine Br1 { get; private set; } = null!;

    public ManualTime Br1Time { get; } = new();

    /// <summary>The container (or WAN) end of each of br1a's links, by the router's device name: what a test sends from.</summary>
    public IReadOnlyDictionary<string, InMemoryPort> Br1Containers { get; private set; } = new Dictionary<string, InMemoryPort>();

    /// <summary>Sends an IPv4 packet from a container of br1 (eng1, guest1) to the router, its gateway.</summary>
    public void SendFrom(string container, byte[] ip)
    {
        var port = Br1Containers[container];
        var frame = new byte[14 + ip.Length];
        new EthernetHeader(Br1.Ports.First(p => p.Name == container).Mac, port.Mac, EtherType.Ipv4).Emit(frame);
        ip.CopyTo(frame, 14);
        port.Send(frame);
    }

    /// <summary>The conductor node's live feed (fed from the cluster), which the API serves.</summary>
    public LiveFeed Feed { get; } = new();

    public ApiTokenStore Tokens { get; private set; } = null!;

    /// <summary>A token of owner "alice".</summary>
    public string Token { get; private set; } = "";

    public WebApplication App { get; private set; } = null!;

    public StorageSettings Storage => new(StorageProvider.Sqlite, Path.Combine(_dir, "conductor.db"), null);

    public async ValueTask InitializeAsync()
    {
        Conductor = await _nodes.StartConductor(Storage, feed: Feed);
        var first = await Conductor.Ask<ConfigCommandResult>(new CommitConfig(Lab, "fixture", "lab"), ControlPlaneNodes.Deadline);
        Assert.True(first.Accepted);
        await _nodes.StartRouter(ControlPlaneNodes.Load(Lab), "dc1a", telemetryInterval: TimeSpan.FromMilliseconds(200));
        // br1a forwards for real on in-memory links (its worker on its own thread, on a clock the tests move): frames the
        // tests send from its containers' ends open sessions and are dropped as a running router's would be.
        var br1 = ControlPlaneNodes.Load(Lab).FindRouter("br1")!;
        var mac = 0x02_00_00_00_0A_00UL;
        var links = RouterProcess.Devices(br1).ToDictionary(d => d, d => new InMemoryLink(d, new MacAddress(++mac), d + "-c", new MacAddress(++mac)));
        Br1 = new ForwardingEngine("br1", [.. links.Values.Select(l => (IPacketPort)l.A)], new RouterOptions(SessionCapacity: 4096), Br1Time);
        Br1Containers = links.ToDictionary(l => l.Key, l => l.Value.B);
        var br1a = await _nodes.StartRouter(Br1, "br1a", telemetryInterval: TimeSpan.FromMilliseconds(200));
        await ControlPlaneNodes.Converged(Conductor, 1, "dc1a", "br1a");
        // br1a's session actor publishes to the conductor's subscription only once pub-sub gossip has told br1a of it.
        var mediator = DistributedPubSub.Get(br1a.System).Mediator;
        await ControlPlaneNodes.Until(
            () => mediator.Ask<CurrentTopics>(GetTopics.Instance, ControlPlaneNodes.Deadline),
            topics => topics.Topics.Contains(FlowDistribution.Topic),
            "br1a knowing the conductor's subscription to the flows topic");
        Br1.Start();
        Tokens = ApiTokenStore.For(Storage);
        Token = (await Tokens.Create("alice", DateTimeOffset.UtcNow)).Token;
        App = await Start(new ConductorApiOptions(IPAddress.Loopback, 0, OpenReads: false));
    }

    /// <summary>Another API over the same conductor and tokens, with other options.</summary>
    public async Task<WebApplication> Start(ConductorApiOptions options)
    {
        var app = ConductorApi.Build(options, Conductor, Tokens, Feed, ConductorMetrics.Create(Feed), b => b.WebHost.UseTestServer(), mediator: _nodes.ConductorMediator);
        await app.StartAsync();
        _apps.Add(app);
        return app;
    }

    /// <summary>A client of <paramref name="app"/> (default: <see cref="App"/>) sending <paramref name="token"/> (none when null).</summary>
    public HttpClient Client(string? token, WebApplication? app = null)
    {
        var client = (app ?? App).GetTestClient();
        if (token is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        return client;
    }

    public async ValueTask DisposeAsync()
    {
        Br1?.Dispose();
        foreach (var app in _apps)
        {
            await app.DisposeAsync();
        }

        await _nodes.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    /// <summary>The latest telemetry the conductor has of dc1a, once it has one.</summary>
    public Task<TelemetryView> TelemetryOfDc1a() => ControlPlaneNodes.Until(
        () => Conductor.Ask<TelemetryView>(new GetTelemetry("dc1a", Latest: true), ControlPlaneNodes.Deadline),
        v => v.Nodes.Count == 1 && v.Nodes[0].Samples.Count == 1,
        "a telemetry sample of dc1a");
}
