using System.Diagnostics;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Fabric.Dataplane.Forwarding.Lpm;

namespace Fabric.Benchmarks.Forwarding;

/// <summary>
/// Longest-prefix match per lookup, each family against a hash-table probe of one prefix length as the baseline
/// of its category: IPv4 in 1,000,000 Internet-shaped prefixes against a <see cref="Dictionary{TKey, TValue}"/>
/// of the table's /24 prefixes; IPv6 in 200,000 against a dictionary of the table's /48 prefixes. Destinations
/// are precomputed, 2^20 per family (IPv4 uniformly random, IPv6 random below a random table prefix), so most
/// lookups miss the caches as a router's destinations do. Setup prints each table's bytes and build time.
/// </summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class LpmBenchmarks
{
    private const int Ipv4PrefixCount = 1_000_000;
    private const int Ipv6PrefixCount = 200_000;
    private const int Lookups = 1 << 20;

    private Ipv4RouteTable _ipv4 = null!;
    private Dictionary<uint, int> _ipv4Slash24 = null!;
    private uint[] _ipv4Addresses = null!;
    private Ipv6RouteTable _ipv6 = null!;
    private Dictionary<UInt128, int> _ipv6Slash48 = null!;
    private UInt128[] _ipv6Addresses = null!;

    [GlobalSetup]
    public void Setup()
    {
        SetupIpv4();
        SetupIpv6();
    }

    private void SetupIpv4()
    {
        var prefixes = InternetShapedPrefixes.Ipv4(Ipv4PrefixCount, seed: 1);
        var builder = new Ipv4RouteTableBuilder();
        _ipv4Slash24 = [];
        for (var i = 0; i < prefixes.Length; i++)
        {
            var (prefix, length) = prefixes[i];
            builder.Add(prefix, length, i);
            if (length == 24)
            {
                _ipv4Slash24[prefix] = i;
            }
        }

        var stopwatch = Stopwatch.StartNew();
        _ipv4 = builder.Build();
        stopwatch.Stop();

        var random = new Random(2);
        _ipv4Addresses = new uint[Lookups];
        for (var i = 0; i < _ipv4Addresses.Length; i++)
        {
            _ipv4Addresses[i] = (uint)random.NextInt64(1L << 32);
        }

        Report("IPv4", _ipv4.Count, _ipv4.MemoryBytes, stopwatch.Elapsed);
    }

    private void SetupIpv6()
    {
        var prefixes = InternetShapedPrefixes.Ipv6(Ipv6PrefixCount, seed: 1);
        var builder = new Ipv6RouteTableBuilder();
        _ipv6Slash48 = [];
        for (var i = 0; i < prefixes.Length; i++)
        {
            var (prefix, length) = prefixes[i];
            builder.Add(prefix, length, i);
            if (length == 48)
            {
                _ipv6Slash48[prefix] = i;
            }
        }

        var stopwatch = Stopwatch.StartNew();
        _ipv6 = builder.Build();
        stopwatch.Stop();

        var random = new Random(2);
        _ipv6Addresses = new UInt128[Lookups];
        for (var i = 0; i < _ipv6Addresses.Length; i++)
        {
            var (prefix, length) = prefixes[random.Next(prefixes.Length)];
            var noise = new UInt128((ulong)random.NextInt64(long.MinValue, long.MaxValue), (ulong)random.NextInt64(long.MinValue, long.MaxValue));
            _ipv6Addresses[i] = prefix | (noise & (UInt128.MaxValue >> length));
        }

        Report("IPv6", _ipv6.Count, _ipv6.MemoryBytes, stopwatch.Elapsed);
    }

    private static void Report(string family, int count, long bytes, TimeSpan build) =>
        Console.WriteLine(
            $"// LPM {family} table: {count} prefixes, {bytes} bytes ({bytes / (1024.0 * 1024.0):F1} MiB, " +
            $"{bytes / (double)count:F1} bytes per prefix), built in {build.TotalMilliseconds:F0} ms");

    [Benchmark(Baseline = true, OperationsPerInvoke = Lookups)]
    [BenchmarkCategory("IPv4")]
    public long Ipv4DictionarySlash24Probe()
    {
        var dictionary = _ipv4Slash24;
        long sum = 0;
        foreach (var address in _ipv4Addresses)
        {
            sum += dictionary.TryGetValue(address & 0xFFFF_FF00u, out var value) ? value : -1;
        }

        return sum;
    }

    [Benchmark(OperationsPerInvoke = Lookups)]
    [BenchmarkCategory("IPv4")]
    public long Ipv4RouteTableLookup()
    {
        var table = _ipv4;
        long sum = 0;
        foreach (var address in _ipv4Addresses)
        {
            sum += table.Lookup(address);
        }

        return sum;
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Lookups)]
    [BenchmarkCategory("IPv6")]
    public long Ipv6DictionarySlash48Probe()
    {
        var dictionary = _ipv6Slash48;
        var mask = UInt128.MaxValue << 80;
        long sum = 0;
        foreach (var address in _ipv6Addresses)
        {
            sum += dictionary.TryGetValue(address & mask, out var value) ? value : -1;
        }

        return sum;
    }

    [Benchmark(OperationsPerInvoke = Lookups)]
    [BenchmarkCategory("IPv6")]
    public long Ipv6RouteTableLookup()
    {
        var table = _ipv6;
        long sum = 0;
        foreach (var address in _ipv6Addresses)
        {
            sum += table.Lookup(address);
        }

        return sum;
    }
}
