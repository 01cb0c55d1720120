using Fabric.Actors.Telemetry;
using Fabric.Conductor.Api.Live;

namespace Fabric.Tests.Conductor.Api;

/// <summary>The live feed's subscribers: each on its own bounded channel; a stalled one loses its oldest events, is told how many, and never holds up the feed.</summary>
public sealed class LiveFeedTests
{
    private static CounterSample Sample(string node, long time) => new(node, "r1", time, new Dictionary<string, long> { ["forwarded"] = time });

    [Fact]
    public async Task Publish_ToASubscriberThatDoesNotRead_NeverWaits_TheOldestAreDropped_AndItIsToldHowMany()
    {
        var feed = new LiveFeed();
        using var stalled = feed.Subscribe(new HashSet<string>(), capacity: 4);
        using var other = feed.Subscribe(new HashSet<string> { LiveEvent.Rollout }, capacity: 4);

        // 100 samples while nobody reads: each Publish returns at once (a blocking one would hang this test).
        for (var t = 1; t <= 100; t++)
        {
            feed.Sample(Sample("r1a", t));
        }

        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        var read = new List<LiveEvent>();
        await foreach (var live in stalled.ReadAll(cancel.Token))
        {
            read.Add(live);
            if (read.Count == 5)
            {
                break;
            }
        }

        Assert.Equal(LiveEvent.Dropped, read[0].Kind);
        Assert.Equal(96, ((DroppedEvents)read[0].Data).Count);
        Assert.Equal([97L, 98, 99, 100], read.Skip(1).Select(e => ((TelemetryEvent)e.Data).UnixMilliseconds));
        Assert.Equal(100, feed.LatestSamples.Single().UnixMilliseconds);
    }

    [Fact]
    public void Sample_RepeatsAndOlderOnes_AreNotStreamedAgain_RolloutOnlyWhenItChanges()
    {
        var feed = new LiveFeed();
        var subscriber = feed.Subscribe(new HashSet<string>());
        feed.Sample(Sample("r1a", 10));
        feed.Sample(Sample("r1a", 10));
        feed.Sample(Sample("r1a", 5));
        feed.Sample(Sample("r2a", 7));
        var rollout = new RolloutEvent(1, true, [new RolloutNodeEvent("r1a", "r1", true, 1, false, null, null)]);
        feed.Progress(rollout);
        feed.Progress(rollout with { Nodes = [.. rollout.Nodes] });
        subscriber.Dispose();

        Assert.Equal(2, feed.LatestSamples.Count);
        Assert.Equal(3, Drain(subscriber).Count);
    }

    private static List<LiveEvent> Drain(LiveFeed.Subscription subscription)
    {
        var events = new List<LiveEvent>();
        var enumerator = subscription.ReadAll().GetAsyncEnumerator();
        while (enumerator.MoveNextAsync().AsTask().GetAwaiter().GetResult())
        {
            events.Add(enumerator.Current);
        }

        return events;
    }
}
