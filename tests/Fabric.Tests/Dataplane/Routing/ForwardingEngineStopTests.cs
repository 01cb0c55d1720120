using Fabric.Dataplane.Routing;
using Fabric.Dataplane.Sessions;

namespace Fabric.Tests.Dataplane.Routing;

/// <summary>What a control plane that asks an engine as it stops gets back: an answer, never a wait without end.</summary>
public sealed class ForwardingEngineStopTests
{
    private static readonly TimeSpan Answered = TimeSpan.FromSeconds(5);

    [Fact]
    public async Task RequestsMadeAfterTheEngineStopped_AreAnswered_AsTheStopAnswersWhatItFindsQueued()
    {
        var engine = ForwardingEngine.WithWorkers("r1", [new WorkerPorts([]), new WorkerPorts([])]);
        engine.Start();
        engine.Dispose();

        // An HA export answers with nothing to export, as before the first configuration.
        var export = await engine.ExportSessionsAsync(everything: true).WaitAsync(Answered, TestContext.Current.CancellationToken);
        Assert.Equal((0L, 0), (export.Version, export.Sessions.Length));

        // A session query (one that spans workers, and one that a single worker scans) fails saying the engine stopped.
        var query = engine.QuerySessionsAsync(new SessionQuery());
        await Assert.ThrowsAsync<ObjectDisposedException>(() => query.WaitAsync(Answered, TestContext.Current.CancellationToken));
        var single = new ForwardingEngine("r2", []);
        single.Start();
        single.Dispose();
        await Assert.ThrowsAsync<ObjectDisposedException>(() => single.QuerySessionsAsync(new SessionQuery()).WaitAsync(Answered, TestContext.Current.CancellationToken));

        // A caller waiting for every worker to pass a round (a port being unplugged) goes on.
        await engine.PassAllWorkersAsync().WaitAsync(Answered, TestContext.Current.CancellationToken);
    }
}
