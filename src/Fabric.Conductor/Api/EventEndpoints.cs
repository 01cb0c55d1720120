using System.Globalization;
using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;
using System.Text.Json;
using Fabric.Conductor.Api.Live;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;

namespace Fabric.Conductor.Api;

/// <summary>
/// <c>GET /v1/events[?kinds=telemetry,rollout,session,drop]</c>: the live stream as Server-Sent Events. Its status and
/// headers go out as soon as the client is subscribed; it opens with what is known now (the rollout, each router node's
/// latest sample), then every new one as it comes: event type = the kind, id = a sequence number, data = JSON. Each client
/// reads from its own bounded channel of the <see cref="LiveFeed"/>: a client too slow to keep up loses the oldest events
/// and is told how many by a <c>dropped</c> event; nothing upstream waits.
/// </summary>
internal static class EventEndpoints
{
    public static void Map(IEndpointRouteBuilder api, LiveFeed feed)
    {
        api.MapGet("/v1/events", (string? kinds, HttpContext http) => Stream(feed, kinds, http))
            .WithTags("events").RequireAuthorization(ConductorApi.ReadPolicy)
            .Produces<string>(StatusCodes.Status200OK, "text/event-stream")
            .WithSummary("Server-Sent Events: telemetry samples, rollout progress, sessions opening and closing, drops with their rule, as they happen (?kinds=telemetry,rollout,session,drop); 'dropped' tells a slow client how many it missed.");
    }

    private static Results<ServerSentEventsResult<string>, ProblemHttpResult> Stream(LiveFeed feed, string? kinds, HttpContext http)
    {
        var known = LiveEvent.Kinds;
        var wanted = (kinds ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToHashSet(StringComparer.Ordinal);
        if (wanted.FirstOrDefault(k => !known.Contains(k)) is { } unknown)
        {
            return Problems.Of(StatusCodes.Status400BadRequest, "malformed request", $"no event kind \"{unknown}\": kinds are {string.Join(", ", known)}");
        }

        // Subscribed before the opening state is read, so nothing between the two is lost (at worst an event comes twice).
        var subscription = feed.Subscribe(wanted);
        http.Response.RegisterForDispose(subscription);
        return TypedResults.ServerSentEvents(Events(feed, subscription, wanted, http.Response, http.RequestAborted));
    }

    private static async IAsyncEnumerable<SseItem<string>> Events(
        LiveFeed feed, LiveFeed.Subscription subscription, HashSet<string> wanted, HttpResponse response, [EnumeratorCancellation] CancellationToken cancel)
    {
        // The status and headers go out now (an empty flush starts the response), not with the first event: a client that
        // asked only for kinds that are rare (drops, sessions) learns at once that it is subscribed, rather than waiting,
        // and timing out, for headers.
        await response.Body.FlushAsync(cancel).ConfigureAwait(false);
        if ((wanted.Count == 0 || wanted.Contains(LiveEvent.Rollout)) && feed.Rollout is { } rollout)
        {
            yield return Item(new LiveEvent(LiveEvent.Rollout, 0, rollout));
        }

        if (wanted.Count == 0 || wanted.Contains(LiveEvent.Telemetry))
        {
            foreach (var sample in feed.LatestSamples.OrderBy(s => s.Node, StringComparer.Ordinal))
            {
                yield return Item(new LiveEvent(LiveEvent.Telemetry, 0, new TelemetryEvent(sample.Node, sample.Router, sample.UnixMilliseconds, sample.Counters)));
            }
        }

        await foreach (var live in subscription.ReadAll(cancel).ConfigureAwait(false))
        {
            yield return Item(live);
        }
    }

    private static SseItem<string> Item(LiveEvent live) =>
        new(JsonSerializer.Serialize(live.Data, live.Data.GetType(), ApiJson.Options), live.Kind) { EventId = live.Sequence.ToString(CultureInfo.InvariantCulture) };
}
