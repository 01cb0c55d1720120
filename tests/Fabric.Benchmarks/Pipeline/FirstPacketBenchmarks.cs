using BenchmarkDotNet.Attributes;

namespace Fabric.Benchmarks.Pipeline;

/// <summary>
/// The first packet of a session, per session: a TCP SYN through the slow path (classification, service match,
/// access, admission, load balancing, insert). Local: one router pass. SVR: the ingress (peer route, waypoint pair,
/// forward metadata, authenticated) and the egress (metadata read and verified, access again, instance route). Each
/// iteration starts from fresh routers, so every SYN opens a new session (20,000: within one peer path's waypoint pairs).
/// </summary>
[MemoryDiagnoser]
[InvocationCount(1)]
public class FirstPacketBenchmarks : RouterBenchmark
{
    private const int Sessions = 20_000;

    private byte[][] _local = null!;
    private byte[][] _svr = null!;

    [GlobalSetup]
    public void Frames()
    {
        _local = new byte[Sessions][];
        _svr = new byte[Sessions][];
        for (var i = 0; i < Sessions; i++)
        {
            var port = (ushort)(10_000 + i);
            _local[i] = PipelineRouters.Frame(PipelineRouters.LocalClient, PipelineRouters.Service, port, PipelineRouters.ServicePort, Dataplane.Wire.TcpFlags.Syn, 64);
            _svr[i] = PipelineRouters.Frame(PipelineRouters.BranchClient, PipelineRouters.Service, port, PipelineRouters.ServicePort, Dataplane.Wire.TcpFlags.Syn, 64);
        }
    }

    [IterationSetup]
    public void FreshRouters() => Routers = new PipelineRouters(Sessions);

    [IterationCleanup]
    public void Check()
    {
        var dropped = Routers!.Dropped;
        Dispose();
        if (dropped > 0)
        {
            throw new InvalidOperationException($"{dropped} first packets were dropped: the benchmark measures the wrong path");
        }
    }

    [Benchmark(OperationsPerInvoke = Sessions)]
    public void LocalSyn()
    {
        foreach (var frame in _local)
        {
            Routers!.LocalForward(frame);
        }
    }

    [Benchmark(OperationsPerInvoke = Sessions)]
    public void SvrSynThroughIngressAndEgress()
    {
        foreach (var frame in _svr)
        {
            Routers!.SvrForward(frame);
        }
    }
}
