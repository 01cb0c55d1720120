using BenchmarkDotNet.Attributes;
using Fabric.Dataplane.Pipeline;
using Fabric.Dataplane.Sessions;
using Fabric.Dataplane.Wire;

namespace Fabric.Benchmarks.Sessions;

/// <summary>
/// Session lookups per key in a table of 1,000,000 sessions (the pipeline's payload), random hits: one at a time
/// (<see cref="SessionTable{TPayload}.TryFind"/>), in batches of 64 as the worker makes them
/// (<see cref="SessionLookupBatch{TPayload}"/>), and a <see cref="Dictionary{TKey, TValue}"/> probe as the baseline.
/// The keys probed are precomputed in probing order (2^20), read in sequence as from the packets in hand.
/// </summary>
[MemoryDiagnoser]
public class SessionLookupBenchmarks
{
    private const int Sessions = 1_000_000;
    private const int Lookups = 1 << 20;
    private const int Batch = 64;

    private SessionTable<SessionState> _table = null!;
    private SessionLookupBatch<SessionState> _batch = null!;
    private Dictionary<SessionKey, int> _dictionary = null!;
    private SessionKey[] _probes = null!;

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(1);
        _table = new SessionTable<SessionState>(Sessions);
        _batch = new SessionLookupBatch<SessionState>(_table, Batch);
        _dictionary = new Dictionary<SessionKey, int>(Sessions);
        var keys = new SessionKey[Sessions];
        for (var i = 0; i < keys.Length; i++)
        {
            keys[i] = SessionKey.V4((uint)random.Next(), (uint)random.Next(), (ushort)random.Next(1024, 65536), 443, IpProtocol.Tcp);
            _table.TryInsert(keys[i], keys[i].Reversed(), default, 0, long.MaxValue / 4, out _);
            _dictionary.TryAdd(keys[i], i);
        }

        _probes = new SessionKey[Lookups];
        for (var i = 0; i < _probes.Length; i++)
        {
            _probes[i] = keys[random.Next(keys.Length)];
        }
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Lookups)]
    public int Dictionary()
    {
        var sum = 0;
        foreach (var key in _probes)
        {
            sum += _dictionary.TryGetValue(key, out var value) ? value : -1;
        }

        return sum;
    }

    [Benchmark(OperationsPerInvoke = Lookups)]
    public int OneAtATime()
    {
        var sum = 0;
        foreach (var key in _probes)
        {
            sum += _table.TryFind(key, out var handle, out _) ? handle : -1;
        }

        return sum;
    }

    [Benchmark(OperationsPerInvoke = Lookups)]
    public int Batched()
    {
        var sum = 0;
        for (var i = 0; i < _probes.Length; i += Batch)
        {
            _batch.Clear();
            for (var k = 0; k < Batch; k++)
            {
                _batch.Add(_probes[i + k]);
            }

            _batch.Run();
            for (var k = 0; k < Batch; k++)
            {
                sum += _batch.TryFind(k, _probes[i + k], out var handle, out _) ? handle : -1;
            }
        }

        return sum;
    }
}
