using System.Net;
using System.Net.Http.Headers;
using Akka.Actor;
using Fabric.Conductor.Telemetry;
using Fabric.Conductor.Api;
using Fabric.Conductor.Api.Tokens;
using Fabric.Conductor.Configuration;
using Fabric.Conductor.Api.Live;
using Fabric.Model;
using Fabric.Tests.Support;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.TestHost;

namespace Fabric.Tests.Conductor.Api;

/// <summary>
/// A real conductor node (cluster on loopback, history in a SQLite file) with lab.conf committed as version 1 and router
/// node dc1a joined to it (a real engine on discard ports, shipping telemetry every 200 ms, registering dc1's instances),
/// and the conductor's API on ASP.NET Core's test host over it. Tokens live in the conductor's SQLite file.
/// </summary>
public sealed class ConductorApiFixture : IAsyncLifetime
{
    public static readonly string Lab = Repository.Read("hocon/lab.conf");
    private readonly string _dir = Directory.CreateTempSubdirectory("fabric-api-").FullName;
    private readonly ControlPlaneNodes _nodes = new();
    private readonly List<WebApplication> _apps = [];

    public IActorRef Conductor { get; private set; } = null!;

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
        await ControlPlaneNodes.Converged(Conductor, 1, "dc1a");
        Tokens = ApiTokenStore.For(Storage);
        Token = (await Tokens.Create("alice", DateTimeOffset.UtcNow)).Token;
        App = await Start(new ConductorApiOptions(IPAddress.Loopback, 0, OpenReads: false));
    }

    /// <summary>Another API over the same conductor and tokens, with other options.</summary>
    public async Task<WebApplication> Start(ConductorApiOptions options)
    {
        var app = ConductorApi.Build(options, Conductor, Tokens, Feed, ConductorMetrics.Create(Feed), b => b.WebHost.UseTestServer());
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
