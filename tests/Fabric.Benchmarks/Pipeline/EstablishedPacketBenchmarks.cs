using BenchmarkDotNet.Attributes;
using Fabric.Dataplane.Wire;

namespace Fabric.Benchmarks.Pipeline;

/// <summary>
/// A packet of an established session, per packet, 1400-byte frames over 64 sessions (state in cache): the fast path
/// (lookup, TCP state, policing, TTL, MTU, NAT or SVR rewrite, next hop). Local: one router pass each way. SVR: ingress
/// and egress, handshake done, nothing added to the packet.
/// </summary>
[MemoryDiagnoser]
public class EstablishedPacketBenchmarks : RouterBenchmark
{
    private const int Sessions = 64;
    private const int Rounds = 16;

    private (byte[] Forward, byte[] Reverse)[] _local = null!;
    private (byte[] Forward, byte[] Reverse)[] _svr = null!;

    [GlobalSetup]
    public void Sessions64()
    {
        var routers = Routers = new PipelineRouters(Sessions * 2);
        _local = Open(PipelineRouters.LocalClient, routers.LocalForward, routers.LocalReverse);
        _svr = Open(PipelineRouters.BranchClient, routers.SvrForward, routers.SvrReverse);
        for (var i = 0; i < 8; i++)
        {
            Local();
            Svr();
        }

        if (routers.Dropped > 0)
        {
            throw new InvalidOperationException($"{routers.Dropped} packets were dropped: the benchmark measures the wrong path");
        }
    }

    [GlobalCleanup]
    public void Stop() => Dispose();

    [Benchmark(OperationsPerInvoke = Sessions * Rounds * 2)]
    public void Local()
    {
        for (var round = 0; round < Rounds; round++)
        {
            foreach (var (forward, reverse) in _local)
            {
                Routers!.LocalForward(forward);
                Routers.LocalReverse(reverse);
            }
        }
    }

    [Benchmark(OperationsPerInvoke = Sessions * Rounds * 2)]
    public void Svr()
    {
        for (var round = 0; round < Rounds; round++)
        {
            foreach (var (forward, reverse) in _svr)
            {
                Routers!.SvrForward(forward);
                Routers.SvrReverse(reverse);
            }
        }
    }

    /// <summary>Opens the sessions (SYN, SYN-ACK) and returns their data frames each way.</summary>
    private static (byte[] Forward, byte[] Reverse)[] Open(uint client, Action<byte[]> forward, Action<byte[]> reverse)
    {
        var frames = new (byte[] Forward, byte[] Reverse)[Sessions];
        for (var i = 0; i < Sessions; i++)
        {
            var port = (ushort)(20_000 + i);
            forward(PipelineRouters.Frame(client, PipelineRouters.Service, port, PipelineRouters.ServicePort, TcpFlags.Syn, 64));
            reverse(PipelineRouters.Frame(PipelineRouters.Service, client, PipelineRouters.ServicePort, port, TcpFlags.Syn | TcpFlags.Ack, 64));
            frames[i] = (
                PipelineRouters.Frame(client, PipelineRouters.Service, port, PipelineRouters.ServicePort, TcpFlags.Ack, 1400),
                PipelineRouters.Frame(PipelineRouters.Service, client, PipelineRouters.ServicePort, port, TcpFlags.Ack, 1400));
        }

        return frames;
    }
}
