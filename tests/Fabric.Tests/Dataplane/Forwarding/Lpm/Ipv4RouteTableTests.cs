using Fabric.Bench;
using Fabric.Dataplane.Forwarding.Lpm;
using Fabric.Dataplane.Wire;
using FsCheck;
using FsCheck.Fluent;
using Fabric.Tests.Support;

namespace Fabric.Tests.Dataplane.Forwarding.Lpm;

[Collection(AllocationMeasurement.Name)]
public class Ipv4RouteTableTests
{
    private static uint Ip(string text) => IpAddressConversions.ParseIpv4(text);

    private static Ipv4RouteTable Table(params (string Prefix, int Length, int Value)[] routes)
    {
        var builder = new Ipv4RouteTableBuilder();
        foreach (var (prefix, length, value) in routes)
        {
            builder.Add(Ip(prefix), length, value);
        }

        return builder.Build();
    }

    [Fact]
    public void Ipv4RouteTable_Empty_ReturnsNoRouteEverywhere()
    {
        var table = new Ipv4RouteTableBuilder().Build();

        Assert.Equal(0, table.Count);
        Assert.Equal(-1, Ipv4RouteTable.NoRoute);
        foreach (var address in new[] { 0u, 1u, 0x0A000001u, 0x7FFFFFFFu, 0x80000000u, uint.MaxValue })
        {
            Assert.Equal(Ipv4RouteTable.NoRoute, table.Lookup(address));
        }
    }

    [Fact]
    public void Ipv4RouteTable_DefaultRoute_MatchesEveryAddressNotCoveredByALongerPrefix()
    {
        var table = Table(("0.0.0.0", 0, 7), ("10.0.0.0", 8, 1));

        Assert.Equal(7, table.Lookup(0));
        Assert.Equal(7, table.Lookup(uint.MaxValue));
        Assert.Equal(7, table.Lookup(Ip("9.255.255.255")));
        Assert.Equal(1, table.Lookup(Ip("10.0.0.0")));
        Assert.Equal(1, table.Lookup(Ip("10.255.255.255")));
        Assert.Equal(7, table.Lookup(Ip("11.0.0.0")));
    }

    [Fact]
    public void Ipv4RouteTable_HostRoute_MatchesOnlyThatAddress()
    {
        var table = Table(("192.0.2.0", 24, 1), ("192.0.2.77", 32, 2), ("0.0.0.0", 32, 3), ("255.255.255.255", 32, 4));

        Assert.Equal(2, table.Lookup(Ip("192.0.2.77")));
        Assert.Equal(1, table.Lookup(Ip("192.0.2.76")));
        Assert.Equal(1, table.Lookup(Ip("192.0.2.78")));
        Assert.Equal(3, table.Lookup(0));
        Assert.Equal(Ipv4RouteTable.NoRoute, table.Lookup(1));
        Assert.Equal(4, table.Lookup(uint.MaxValue));
        Assert.Equal(Ipv4RouteTable.NoRoute, table.Lookup(uint.MaxValue - 1));
    }

    [Fact]
    public void Ipv4RouteTable_NestedPrefixesAcrossStrideBoundaries_LongestWins()
    {
        var table = Table(
            ("172.16.0.0", 12, 12), ("172.16.0.0", 15, 15), ("172.16.0.0", 16, 16), ("172.16.128.0", 17, 17),
            ("172.16.200.0", 24, 24), ("172.16.200.128", 25, 25), ("172.16.200.200", 31, 31));

        Assert.Equal(12, table.Lookup(Ip("172.31.255.255")));
        Assert.Equal(15, table.Lookup(Ip("172.17.0.1")));
        Assert.Equal(16, table.Lookup(Ip("172.16.127.255")));
        Assert.Equal(17, table.Lookup(Ip("172.16.128.0")));
        Assert.Equal(17, table.Lookup(Ip("172.16.199.255")));
        Assert.Equal(24, table.Lookup(Ip("172.16.200.127")));
        Assert.Equal(25, table.Lookup(Ip("172.16.200.128")));
        Assert.Equal(31, table.Lookup(Ip("172.16.200.201")));
        Assert.Equal(25, table.Lookup(Ip("172.16.200.202")));
        Assert.Equal(17, table.Lookup(Ip("172.16.201.0")));
        Assert.Equal(Ipv4RouteTable.NoRoute, table.Lookup(Ip("172.32.0.0")));
    }

    [Fact]
    public void Ipv4RouteTableBuilder_SamePrefixAddedAgain_ReplacesValue()
    {
        var builder = new Ipv4RouteTableBuilder();
        builder.Add(Ip("198.51.100.0"), 24, 1);
        builder.Add(Ip("198.51.100.0"), 25, 2);
        builder.Add(Ip("198.51.100.0"), 24, 3);

        var table = builder.Build();

        Assert.Equal(2, table.Count);
        Assert.Equal(3, table.Lookup(Ip("198.51.100.200")));
        Assert.Equal(2, table.Lookup(Ip("198.51.100.1")));
    }

    [Fact]
    public void Ipv4RouteTableBuilder_BuildThenAddMore_EarlierTableUnchanged()
    {
        var builder = new Ipv4RouteTableBuilder();
        builder.Add(Ip("203.0.113.0"), 24, 1);
        var first = builder.Build();

        builder.Add(Ip("203.0.113.0"), 26, 2);
        var second = builder.Build();

        Assert.Equal(1, first.Lookup(Ip("203.0.113.5")));
        Assert.Equal(2, second.Lookup(Ip("203.0.113.5")));
        Assert.Equal((1, 2), (first.Count, second.Count));
    }

    [Fact]
    public void Ipv4RouteTable_LargestValue_RoundTrips()
    {
        var table = Table(("10.1.2.0", 24, int.MaxValue), ("10.0.0.0", 8, 0));

        Assert.Equal(int.MaxValue, table.Lookup(Ip("10.1.2.3")));
        Assert.Equal(0, table.Lookup(Ip("10.1.3.3")));
    }

    [Fact]
    public void Ipv4RouteTableBuilder_InvalidRoute_Throws()
    {
        var builder = new Ipv4RouteTableBuilder();

        Assert.Throws<ArgumentOutOfRangeException>(() => builder.Add(0, -1, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => builder.Add(0, 33, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => builder.Add(0, 8, -1));
        Assert.Throws<ArgumentException>(() => builder.Add(Ip("10.0.0.1"), 24, 0));
        Assert.Equal(0, builder.Count);
    }

    [Fact]
    public void Ipv4RouteTable_MemoryBytes_SmallTableTakes256RootNodesLargeOne65536()
    {
        var empty = new Ipv4RouteTableBuilder().Build();
        var oneRoute = Table(("10.0.5.0", 24, 1));
        var large = new Ipv4RouteTableBuilder();
        for (var i = 0; i <= 4096; i++)
        {
            large.Add((uint)(i << 8), 24, 1);
        }

        // A small table: 256 root nodes of 4 words (16 bytes each) and one run each.
        Assert.Equal(256L * ((4 * 16) + sizeof(int)), empty.MemoryBytes);
        // 10.0.5.0/24 adds a node for 10.0/16's last-but-one 8 bits: its words, 3 runs and at most 12 bytes of padding,
        // and 10/8's root node holds 2 runs rather than 1.
        Assert.InRange(oneRoute.MemoryBytes - empty.MemoryBytes, (4 * 16) + (3 * sizeof(int)) + sizeof(int), (4 * 16) + (3 * sizeof(int)) + sizeof(int) + 12);
        // Past 4096 routes the table takes 16 root bits: 65,536 root nodes.
        Assert.True(large.Build().MemoryBytes >= 65536L * ((4 * 16) + sizeof(int)));
    }

    private static readonly Gen<int> Lengths =
        Gen.Frequency((1, Gen.Constant(0)), (2, Gen.Constant(32)), (2, Gen.Elements(8, 16, 24)), (10, Gen.Choose(0, 32)));

    /// <summary>Routes near one anchor address, so that they nest, overlap and repeat.</summary>
    private static readonly Gen<Route4[]> Routes =
        from anchor in ArbMap.Default.GeneratorFor<uint>()
        from routes in Gen.ListOf(
            from noise in ArbMap.Default.GeneratorFor<uint>()
            from shared in Gen.Choose(0, 32)
            from length in Lengths
            from value in Gen.Choose(0, 50)
            select new Route4((anchor & Route4.Ipv4Mask(shared)) | (noise & ~Route4.Ipv4Mask(shared)), length, value))
        select routes.ToArray();

    private static readonly Gen<(Route4[] Routes, uint[] Probes)> Cases =
        from routes in Routes
        from probes in Gen.ArrayOf(ArbMap.Default.GeneratorFor<uint>())
        select (routes, probes);

    [FsCheck.Xunit.Property(MaxTest = 300)]
    public Property Ipv4RouteTable_RandomRoutes_AgreesWithNaiveModelOnRandomAndBoundaryAddresses() =>
        Prop.ForAll(Cases.ToArbitrary(), testCase =>
        {
            var builder = new Ipv4RouteTableBuilder();
            var model = NaiveLpm<uint>.Ipv4();
            foreach (var route in testCase.Routes)
            {
                builder.Add(route.Prefix, route.Length, route.Value);
                model.Add(route.Prefix, route.Length, route.Value);
            }

            var table = builder.Build();
            var probes = new List<uint>(testCase.Probes) { 0, uint.MaxValue };
            foreach (var route in testCase.Routes)
            {
                probes.AddRange([route.Prefix, route.Last, unchecked(route.Prefix - 1), unchecked(route.Last + 1), route.Address]);
            }

            var distinct = testCase.Routes.Select(r => (r.Prefix, r.Length)).Distinct().Count();
            return table.Count == distinct && probes.TrueForAll(address => table.Lookup(address) == model.Lookup(address));
        });

    [Fact]
    public void Ipv4RouteTable_MillionInternetShapedPrefixes_AgreesWithPerLengthReference()
    {
        var prefixes = InternetShapedPrefixes.Ipv4(1_000_000, seed: 1);
        var builder = new Ipv4RouteTableBuilder();
        var reference = new PerLengthIpv4Reference();
        for (var i = 0; i < prefixes.Length; i++)
        {
            var (prefix, length) = prefixes[i];
            builder.Add(prefix, length, i);
            reference.Add(prefix, length, i);
        }

        var table = builder.Build();

        Assert.Equal(1_000_000, table.Count);
        var random = new Random(2);
        for (var i = 0; i < 100_000; i++)
        {
            var address = (uint)random.NextInt64(1L << 32);
            Assert.Equal(reference.Lookup(address), table.Lookup(address));
        }

        for (var i = 0; i < prefixes.Length; i += 97)
        {
            var (prefix, length) = prefixes[i];
            var last = prefix | ~Route4.Ipv4Mask(length);
            Assert.Equal(reference.Lookup(prefix), table.Lookup(prefix));
            Assert.Equal(reference.Lookup(last), table.Lookup(last));
            Assert.Equal(reference.Lookup(unchecked(last + 1)), table.Lookup(unchecked(last + 1)));
        }
    }

    [Fact]
    public void Ipv4RouteTable_Lookup_AllocatesNothing()
    {
        var builder = new Ipv4RouteTableBuilder();
        foreach (var (prefix, length) in InternetShapedPrefixes.Ipv4(20_000, seed: 3))
        {
            builder.Add(prefix, length, length);
        }

        var table = builder.Build();
        var addresses = new uint[100_000];
        var random = new Random(4);
        for (var i = 0; i < addresses.Length; i++)
        {
            addresses[i] = (uint)random.NextInt64(1L << 32);
        }

        var sum = Sum(table, addresses);
        var allocated = ThreadAllocations.During(() =>
        {
            sum += Sum(table, addresses);
        });

        Assert.Equal(0, allocated);
        Assert.NotEqual(0L, sum);
    }

    private static long Sum(Ipv4RouteTable table, uint[] addresses)
    {
        long sum = 0;
        foreach (var address in addresses)
        {
            sum += table.Lookup(address);
        }

        return sum;
    }

    [Fact]
    public void Ipv4RouteTable_ConcurrentLookups_AgreeWithSingleThreadedLookups()
    {
        var builder = new Ipv4RouteTableBuilder();
        foreach (var (prefix, length) in InternetShapedPrefixes.Ipv4(50_000, seed: 5))
        {
            builder.Add(prefix, length, (int)(prefix >> 8));
        }

        var table = builder.Build();
        var addresses = Enumerable.Range(0, 50_000).Select(i => (uint)i * 85_899u).ToArray();
        var expected = addresses.Select(table.Lookup).ToArray();

        var results = new int[4][];
        Parallel.For(0, results.Length, t => results[t] = addresses.Select(table.Lookup).ToArray());

        Assert.All(results, result => Assert.Equal(expected, result));
    }
}
