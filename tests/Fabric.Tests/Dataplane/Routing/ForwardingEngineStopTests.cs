using Fabric.Dataplane.Routing;
using Fabric.Dataplane.Sessions;

namespace Fabric.Tests.Dataplane.Routing;

/// <summary>What a control plane that asks an engine as it stops gets back: an answer, never a wait without end.</summary>
public sealed class ForwardingEngineStopTests
{
    private static readonly TimeSpan Answered = TimeSpan.FromSeconds(5);

    [Fact]
    public async Task RequestsMadeAfterTheEngineStopped_FailAtOnce_SayingItStopped()
    {
        var engine = ForwardingEngine.WithWorkers("r1", [new WorkerPorts([]), new WorkerPorts([])]);
        engine.Start();
        engine.Dispose();

        // An HA export, a take-over (which must not report a dead engine as active), a session query that spans the
        // workers and one that a single worker scans.
        await Stopped(engine.ExportSessionsAsync(everything: true));
        await Stopped(engine.TakeOverAsync());
        await Stopped(engine.QuerySessionsAsync(new SessionQuery()));

        // A wait for every worker to pass a round (a device's sockets being unplugged, as the router stops) completes: no
        // worker is in any port. It must not fault: the router waits on it synchronously on its admin thread.
        await engine.PassAllWorkersAsync().WaitAsync(Answered, TestContext.Current.CancellationToken);
        var single = new ForwardingEngine("r2", []);
        single.Start();
        single.Dispose();
        await Stopped(single.QuerySessionsAsync(new SessionQuery()));

        // Stopping again changes nothing.
        engine.Dispose();
    }

    private static async Task Stopped(Task request)
    {
        var failure = await Assert.ThrowsAsync<ObjectDisposedException>(() => request.WaitAsync(Answered, TestContext.Current.CancellationToken));
        Assert.Contains("stopped", failure.Message, StringComparison.Ordinal);
    }
}
