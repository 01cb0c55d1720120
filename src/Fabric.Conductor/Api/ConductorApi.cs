using System.Diagnostics;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using Akka.Actor;
using Akka.Cluster.Tools.PublishSubscribe;
using Fabric.Conductor.Api.Live;
using Fabric.Conductor.Api.Tokens;
using Fabric.Conductor.Configuration;
using Fabric.Config;
using Fabric.Http;
using Fabric.Http.Metrics;
using Fabric.Model;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Fabric.Conductor.Api;

/// <summary>Where and how the conductor's API listens.</summary>
/// <param name="OpenReads">Reads need no token (the document's <c>conductor.open-reads</c>); writes always do.</param>
/// <param name="Certificate">HTTPS with this certificate (and its key); plain HTTP without one.</param>
/// <param name="MaxBodyBytes">The largest request body taken (413 above it).</param>
public sealed record ConductorApiOptions(IPAddress Address, int Port, bool OpenReads, X509Certificate2? Certificate = null, long MaxBodyBytes = ConductorApiOptions.DefaultMaxBodyBytes)
{
    /// <summary>4 MiB: a fabric document of several thousand routers, well under what a commit can carry.</summary>
    public const long DefaultMaxBodyBytes = 4 * 1024 * 1024;

    public static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(15);
}

/// <summary>
/// The conductor's HTTP API on ASP.NET Core minimal APIs (Kestrel): the configuration's versions, the routers, the
/// services and the telemetry as resources under <c>/v1</c>, a live stream of events (<c>/v1/events</c>, Server-Sent
/// Events), an OpenAPI description at <c>/openapi/v1.json</c>, and
/// <c>/metrics</c>, <c>/healthz</c>, <c>/readyz</c> (<see cref="OperationsEndpoints"/>). Every write needs a bearer token
/// (<see cref="BearerTokenHandler"/>); reads too unless <see cref="ConductorApiOptions.OpenReads"/>. Every error is an
/// RFC 9457 problem; a path that exists answers another method with 405. Each request is one or two asks of the
/// conductor singleton (through its proxy, so any conductor node serves the API).
/// </summary>
public static class ConductorApi
{
    public const string ReadPolicy = "read";
    public const string WritePolicy = "write";
    public const string OpenApiPath = "/openapi/v1.json";

    /// <summary>Builds the API (not started): Kestrel on the options' address, unless <paramref name="configure"/> puts another server in (the test host).</summary>
    /// <param name="feed">What the conductor node follows live: served as <c>/v1/events</c> and, through <paramref name="metrics"/>, <c>/metrics</c>.</param>
    /// <param name="mediator">The node's cluster pub-sub mediator, through which the routers' session actors are asked (<see cref="FlowEndpoints"/>); none: those routes find no router.</param>
    public static WebApplication Build(
        ConductorApiOptions options, IActorRef conductor, ApiTokenStore tokens, LiveFeed feed, FabricMetrics metrics, Action<WebApplicationBuilder>? configure = null, Action<ILoggingBuilder>? logging = null,
        IActorRef? mediator = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ApplicationName = typeof(ConductorApi).Assembly.GetName().Name });
        builder.WebHost.UseKestrelCore().UseKestrelHttpsConfiguration();
        Listen(builder.WebHost, options.Address, options.Port, options.Certificate, options.MaxBodyBytes);
        builder.Logging.ClearProviders();
        logging?.Invoke(builder.Logging);
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton(tokens);
        builder.Services.AddSingleton<ApiTokenLookup>();
        builder.Services.AddSingleton(sp => new Context(conductor, options, sp.GetRequiredService<ILoggerFactory>().CreateLogger("Fabric.Conductor.Api")) { Mediator = mediator });
        builder.Services.AddRouting();
        builder.Services.AddProblemDetails();
        builder.Services.ConfigureHttpJsonOptions(json => ApiJson.Configure(json.SerializerOptions));
        builder.Services.AddAuthentication(BearerTokenHandler.SchemeName).AddScheme<AuthenticationSchemeOptions, BearerTokenHandler>(BearerTokenHandler.SchemeName, null);
        builder.Services.AddAuthorizationBuilder()
            .AddPolicy(WritePolicy, policy => policy.RequireAuthenticatedUser())
            .AddPolicy(ReadPolicy, policy => policy.RequireAssertion(c => c.User.Identity?.IsAuthenticated == true
                // Open reads take a request with no token; a wrong token is refused all the same.
                || (options.OpenReads && c.Resource is HttpContext http && !http.Request.Headers.ContainsKey("Authorization"))));
        builder.Services.AddOpenApi("v1", o => o.AddDocumentTransformer((document, _, _) =>
        {
            document.Info.Title = "Fabric conductor API";
            document.Info.Description = "The configuration's versions, the routers, the services and the telemetry of a Fabric authority. Writes need a bearer token.";
            return Task.CompletedTask;
        }));
        configure?.Invoke(builder);

        var app = builder.Build();
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.Use(AnswerWhenTheConductorDoesNot);
        app.UseAuthentication();
        app.UseAuthorization();
        app.MapOpenApi(OpenApiPath);
        var context = app.Services.GetRequiredService<Context>();
        app.MapOperations(metrics, context.Unready).RequireAuthorization(ReadPolicy);
        ConfigEndpoints.Map(app);
        FabricEndpoints.Map(app);
        FlowEndpoints.Map(app);
        TraceEndpoints.Map(app);
        Dashboard.DashboardEndpoints.Map(app);
        EventEndpoints.Map(app, feed);
        return app;
    }

    /// <summary>
    /// Kestrel's listener on <paramref name="address"/>:<paramref name="port"/>, over HTTPS when <paramref name="certificate"/> is
    /// given. The caller puts Kestrel in (<c>UseKestrelCore</c>, and <c>UseKestrelHttpsConfiguration</c> to serve HTTPS): this
    /// only configures it, so no QUIC transport is loaded for a listener that serves HTTP/1.1 and HTTP/2 over TCP.
    /// </summary>
    private static void Listen(IWebHostBuilder web, IPAddress address, int port, X509Certificate2? certificate, long maxRequestBodyBytes)
    {
        ArgumentNullException.ThrowIfNull(web);
        web.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = maxRequestBodyBytes;
            kestrel.Listen(address, port, listen =>
            {
                if (certificate is not null)
                {
                    listen.UseHttps(certificate);
                }
            });
        });
    }

    /// <summary>An ask the conductor singleton does not answer in time (the cluster forming, the history recovering) is a 503 problem.</summary>
    private static async Task AnswerWhenTheConductorDoesNot(HttpContext http, RequestDelegate next)
    {
        try
        {
            await next(http).ConfigureAwait(false);
        }
        catch (AskTimeoutException) when (!http.Response.HasStarted)
        {
            http.Response.Clear();
            await Problems.Write(
                http, StatusCodes.Status503ServiceUnavailable, "the conductor does not answer",
                $"the conductor singleton did not answer within {ConductorApiOptions.AskTimeout.TotalSeconds:0} s (the cluster may be forming or its history recovering); try again").ConfigureAwait(false);
        }
    }

    /// <summary>What every endpoint shares: the conductor singleton's proxy, the options, the running document parsed once per version. Thread-safe.</summary>
    public sealed class Context(IActorRef conductor, ConductorApiOptions options, ILogger logger)
    {
        private Parsed? _running;

        public ConductorApiOptions Options { get; } = options;

        /// <summary>How long one router node has to answer a question asked through <see cref="AskRouterNode{T}"/>.</summary>
        public static readonly TimeSpan RouterNodeTimeout = TimeSpan.FromSeconds(5);

        /// <summary>How often an unanswered question to a router node is sent again within <see cref="RouterNodeTimeout"/>.</summary>
        public static readonly TimeSpan RouterNodeResend = TimeSpan.FromSeconds(1);

        /// <summary>The cluster's pub-sub mediator on this node: how the routers' session actors are reached by node name.</summary>
        public IActorRef? Mediator { get; init; }

        public ILogger Logger { get; } = logger;

        public Task<T> Ask<T>(object message, CancellationToken cancel) => conductor.Ask<T>(message, ConductorApiOptions.AskTimeout, cancel);

        /// <summary>
        /// Asks the actor a router node registered with the mediator under <paramref name="path"/> a read-only question and
        /// returns the first answer. The mediator learns a node's paths by gossip, a second or more after the node starts;
        /// until then it drops the question, so it is sent again every <see cref="RouterNodeResend"/> (the earlier asks stay
        /// open) until <see cref="RouterNodeTimeout"/>. Throws <see cref="AskTimeoutException"/> when nothing answered by then.
        /// </summary>
        public async Task<T> AskRouterNode<T>(string path, object message, CancellationToken cancel)
        {
            if (Mediator is not { } mediator)
            {
                throw new AskTimeoutException("this conductor node has no pub-sub mediator to reach the routers by");
            }

            var clock = Stopwatch.StartNew();
            var asked = new List<Task<T>>();
            while (true)
            {
                cancel.ThrowIfCancellationRequested();
                if (asked.FirstOrDefault(t => t.IsCompletedSuccessfully) is { } answered)
                {
                    return answered.Result;
                }

                var left = RouterNodeTimeout - clock.Elapsed;
                if (left <= TimeSpan.Zero)
                {
                    // Every ask was given at most the time left when it was sent, so all end by now or very soon.
                    await Task.WhenAny(Task.WhenAll(asked)).ConfigureAwait(false);
                    return asked.FirstOrDefault(t => t.IsCompletedSuccessfully) is { } late ? late.Result : await asked[^1].ConfigureAwait(false);
                }

                asked.Add(mediator.Ask<T>(new Send(path, message, localAffinity: false), left, cancel));
                await Task.WhenAny([.. asked, Task.Delay(left < RouterNodeResend ? left : RouterNodeResend, cancel)]).ConfigureAwait(false);
            }
        }

        /// <summary>The running document's model, or null before the first commit.</summary>
        public async Task<FabricConfig?> RunningModel(CancellationToken cancel)
        {
            var view = await Ask<ConfigVersionView>(new GetConfigVersion(null), cancel).ConfigureAwait(false);
            if (view.Version is not { } version || view.Text is not { } text)
            {
                return null;
            }

            var cached = Volatile.Read(ref _running);
            if (cached is null || cached.Version != version.Number)
            {
                cached = new Parsed(version.Number, FabricConfigLoader.Load(text).Config);
                Volatile.Write(ref _running, cached);
            }

            return cached.Model;
        }

        /// <summary>Null when the conductor singleton answers (the history is recovered and the node is in its cluster), else why not.</summary>
        public async Task<string?> Unready(CancellationToken cancel)
        {
            try
            {
                await conductor.Ask<ConfigRolloutView>(new GetConfigRollout(), TimeSpan.FromSeconds(2), cancel).ConfigureAwait(false);
                return null;
            }
            catch (AskTimeoutException)
            {
                return "the conductor singleton does not answer: the cluster is forming or the history is recovering";
            }
        }

        private sealed record Parsed(long Version, FabricConfig? Model);
    }
}
