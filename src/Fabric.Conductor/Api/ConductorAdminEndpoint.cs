using System.Net;
using System.Text.Json;
using Akka.Actor;
using Fabric.Conductor.Configuration;

namespace Fabric.Conductor.Api;

/// <summary>
/// The conductor's small HTTP endpoint for the operator CLI (<c>fabric config commit|history|rollback|status</c>):
/// JSON over HTTP on the management address and <c>conductor.api-port</c>. Each request is one ask of the
/// conductor singleton (through its proxy, so it works on any conductor node).
/// <list type="bullet">
/// <item><c>GET /v1/config/history</c> → <see cref="ConfigHistoryView"/></item>
/// <item><c>GET /v1/config/rollout</c> → <see cref="ConfigRolloutView"/></item>
/// <item><c>GET /v1/telemetry[?node=NODE]</c> → <see cref="Telemetry.TelemetryView"/></item>
/// <item><c>GET /v1/services</c> → <see cref="Fabric.Actors.Services.ServiceRegistryView"/>: the live instance registry</item>
/// <item><c>POST /v1/config/commit</c> <see cref="CommitConfig"/> → <see cref="ConfigCommandResult"/> (200 accepted, 422 refused)</item>
/// <item><c>POST /v1/config/rollback</c> <see cref="RollbackConfig"/> → <see cref="ConfigCommandResult"/> (200 accepted, 422 refused)</item>
/// </list>
/// Thread-safe; <see cref="DisposeAsync"/> stops listening and waits for the request loop.
/// </summary>
public sealed class ConductorAdminEndpoint : IAsyncDisposable
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    private static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(15);
    private const int StartAttempts = 5;
    private readonly HttpListener _listener;
    private readonly IActorRef _conductor;
    private readonly Task _loop;

    private ConductorAdminEndpoint(string host, int port, IActorRef conductor)
    {
        _conductor = conductor;
        _listener = Listen($"http://{host}:{port}/");
        _loop = Task.Run(Serve);
    }

    /// <summary>
    /// A started listener for <paramref name="prefix"/>. The managed HttpListener of Linux throws
    /// <see cref="ArgumentNullException"/> from <c>Start</c> when a client connects while it starts (its first
    /// accept can complete inside the endpoint listener's constructor, before that listener is whole:
    /// dotnet/corefx#35191), and a failed start disposes the listener and leaves its socket bound until it is
    /// finalized. A client polling the port while the conductor starts (as <c>lab up</c> does) can hit that,
    /// so a start that loses the race is retried with a fresh listener once the stray socket is released.
    /// </summary>
    private static HttpListener Listen(string prefix)
    {
        for (var attempt = 1; ; attempt++)
        {
            var listener = new HttpListener();
            listener.Prefixes.Add(prefix);
            try
            {
                listener.Start();
                return listener;
            }
            catch (Exception e) when (attempt < StartAttempts && (e is ArgumentNullException || (e is HttpListenerException && attempt > 1)))
            {
                // Only the race's exception starts a retry; "address in use" on a retry may be our own stray socket.
                listener.Close();
                GC.Collect();
                GC.WaitForPendingFinalizers();
                Thread.Sleep(100 * attempt);
            }
        }
    }

    /// <summary>Listens on <paramref name="host"/>:<paramref name="port"/>; throws <see cref="HttpListenerException"/> when the port is taken.</summary>
    public static ConductorAdminEndpoint Start(string host, int port, IActorRef conductor) => new(host, port, conductor);

    private async Task Serve()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync().ConfigureAwait(false);
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }

            _ = Task.Run(() => Answer(context));
        }
    }

    private async Task Answer(HttpListenerContext context)
    {
        var response = context.Response;
        try
        {
            var (status, body) = await Route(context.Request).ConfigureAwait(false);
            response.StatusCode = (int)status;
            response.ContentType = "application/json";
            await JsonSerializer.SerializeAsync(response.OutputStream, body, body.GetType(), Json).ConfigureAwait(false);
        }
        catch (Exception e) when (e is JsonException or AskTimeoutException or HttpListenerException)
        {
            response.StatusCode = e is JsonException ? 400 : 503;
            await JsonSerializer.SerializeAsync(response.OutputStream, new ConfigCommandResult(false, null, [e.Message]), Json).ConfigureAwait(false);
        }
#pragma warning disable CA1031 // Any other failure (the conductor answered with a failure) still gets an answer that says what went wrong, never an empty body.
        catch (Exception e)
#pragma warning restore CA1031
        {
            response.StatusCode = 500;
            await JsonSerializer.SerializeAsync(response.OutputStream, new ConfigCommandResult(false, null, [$"{e.GetType().Name}: {e.Message}"]), Json).ConfigureAwait(false);
        }
        finally
        {
            response.Close();
        }
    }

    private async Task<(HttpStatusCode, object)> Route(HttpListenerRequest request)
    {
        var path = request.Url?.AbsolutePath ?? "";
        return (request.HttpMethod, path) switch
        {
            ("GET", "/v1/config/history") => (HttpStatusCode.OK, await _conductor.Ask<ConfigHistoryView>(new GetConfigHistory(), AskTimeout).ConfigureAwait(false)),
            ("GET", "/v1/telemetry") => (HttpStatusCode.OK, await _conductor.Ask<Telemetry.TelemetryView>(new Telemetry.GetTelemetry(request.QueryString["node"]), AskTimeout).ConfigureAwait(false)),
            ("GET", "/v1/services") => (HttpStatusCode.OK, await _conductor.Ask<Fabric.Actors.Services.ServiceRegistryView>(new Fabric.Actors.Services.GetServiceRegistry(), AskTimeout).ConfigureAwait(false)),
            ("GET", "/v1/config/rollout") => (HttpStatusCode.OK, await _conductor.Ask<ConfigRolloutView>(new GetConfigRollout(), AskTimeout).ConfigureAwait(false)),
            ("POST", "/v1/config/commit") => Result(await _conductor.Ask<ConfigCommandResult>(await Read<CommitConfig>(request).ConfigureAwait(false), AskTimeout).ConfigureAwait(false)),
            ("POST", "/v1/config/rollback") => Result(await _conductor.Ask<ConfigCommandResult>(await Read<RollbackConfig>(request).ConfigureAwait(false), AskTimeout).ConfigureAwait(false)),
            _ => (HttpStatusCode.NotFound, new ConfigCommandResult(false, null, [$"no such endpoint: {request.HttpMethod} {path}"])),
        };
    }

    private static (HttpStatusCode, object) Result(ConfigCommandResult result) =>
        (result.Accepted ? HttpStatusCode.OK : HttpStatusCode.UnprocessableEntity, result);

    private static async Task<T> Read<T>(HttpListenerRequest request) =>
        await JsonSerializer.DeserializeAsync<T>(request.InputStream, Json).ConfigureAwait(false)
            ?? throw new JsonException($"the body is not a {typeof(T).Name}");

    public async ValueTask DisposeAsync()
    {
        _listener.Stop();
        await _loop.ConfigureAwait(false);
        _listener.Close();
    }
}
