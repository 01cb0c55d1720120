using Fabric.Actors.Sessions;
using Fabric.Dataplane.Routing;
using Fabric.Dataplane.Sessions;
using Fabric.Dataplane.Telemetry;
using Fabric.Tests.Dataplane.Routing;
using Fabric.Tests.Dataplane.Svr.Routers;

namespace Fabric.Tests.Actors.Sessions;

/// <summary>What the session actor reads from a router with two workers: every worker's sessions, each named once router-wide.</summary>
public sealed class EngineFlowSourceTests
{
    [Fact]
    public void EngineFlowSource_TwoWorkers_EverySessionOpenedIsReadOnceUnderTheHandleSessionQueriesGiveIt()
    {
        using var fabric = new SvrFabric(workers: 2);
        ForwardingEngineWorkersTests.CarrySessions(fabric);
        var source = new EngineFlowSource(fabric.Dc1);

        // Both workers opened sessions; what they published, named router-wide, is every session once.
        Assert.Equal(2, source.SessionEvents.Count);
        Assert.All(source.SessionEvents, ring => Assert.Contains(ring.Snapshot(), e => e.Kind == SessionEventKind.Opened));
        var opened = source.SessionEvents
            .SelectMany((ring, worker) => ring.Snapshot().Where(e => e.Kind == SessionEventKind.Opened).Select(e => source.RouterHandle(worker, e.Handle)))
            .ToArray();
        Assert.Equal(ForwardingEngineWorkersTests.Sessions, opened.Length);
        Assert.Equal(ForwardingEngineWorkersTests.Sessions, opened.Distinct().Count());

        // The session query's pages (one shard after the other) name the same sessions by the same handles.
        Assert.Equal(opened.Order(), AllPages(fabric.Dc1).Select(s => s.Handle).Order());
    }

    private static List<SessionSnapshot> AllPages(ForwardingEngine engine)
    {
        var sessions = new List<SessionSnapshot>();
        for (long cursor = 0; cursor >= 0;)
        {
            // The shard's worker answers in its round; the engine's page is finished by a continuation on the thread pool.
            var answer = engine.QuerySessionsAsync(new SessionQuery(null, null, null, SessionQuery.MaxLimit, cursor, TopByBytes: false));
            Assert.True(
                SpinWait.SpinUntil(() => engine.RunOnce() >= 0 && answer.IsCompleted, TimeSpan.FromSeconds(10)),
                "the session query was not answered within 10 s");

            sessions.AddRange(answer.Result.Sessions);
            cursor = answer.Result.Next;
        }

        return sessions;
    }
}
