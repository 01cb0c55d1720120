using System.Diagnostics;
using BenchmarkDotNet.Attributes;
using Fabric.Dataplane.Forwarding.Lpm;

namespace Fabric.Benchmarks.Forwarding;

/// <summary>
/// IPv4 longest-prefix match in a table of 1,000,000 Internet-shaped prefixes, per lookup, against one
/// hash-table probe of the destination's /24 (<see cref="Dictionary{TKey, TValue}"/> of the table's /24
/// prefixes) as the baseline. Destinations are uniformly random and precomputed, 2^20 of them, so most
/// lookups miss the caches as a router's destinations do. Setup prints the table's bytes and build time.
/// </summary>
[MemoryDiagnoser]
public class LpmBenchmarks
{
    private const int PrefixCount = 1_000_000;
    private const int Lookups = 1 << 20;

    private Ipv4RouteTable _table = null!;
    private Dictionary<uint, int> _slash24 = null!;
    private uint[] _addresses = null!;

    [GlobalSetup]
    public void Setup()
    {
        var prefixes = InternetShapedPrefixes.Ipv4(PrefixCount, seed: 1);
        var builder = new Ipv4RouteTableBuilder();
        _slash24 = [];
        for (var i = 0; i < prefixes.Length; i++)
        {
            var (prefix, length) = prefixes[i];
            builder.Add(prefix, length, i);
            if (length == 24)
            {
                _slash24[prefix] = i;
            }
        }

        var stopwatch = Stopwatch.StartNew();
        _table = builder.Build();
        stopwatch.Stop();

        var random = new Random(2);
        _addresses = new uint[Lookups];
        for (var i = 0; i < _addresses.Length; i++)
        {
            _addresses[i] = (uint)random.NextInt64(1L << 32);
        }

        Console.WriteLine(
            $"// LPM table: {_table.Count} prefixes, {_table.MemoryBytes} bytes ({_table.MemoryBytes / (1024.0 * 1024.0):F1} MiB), " +
            $"built in {stopwatch.Elapsed.TotalMilliseconds:F0} ms; baseline: {_slash24.Count} /24 keys");
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Lookups)]
    public long DictionarySlash24Probe()
    {
        var dictionary = _slash24;
        long sum = 0;
        foreach (var address in _addresses)
        {
            sum += dictionary.TryGetValue(address & 0xFFFF_FF00u, out var value) ? value : -1;
        }

        return sum;
    }

    [Benchmark(OperationsPerInvoke = Lookups)]
    public long Ipv4RouteTableLookup()
    {
        var table = _table;
        long sum = 0;
        foreach (var address in _addresses)
        {
            sum += table.Lookup(address);
        }

        return sum;
    }
}
