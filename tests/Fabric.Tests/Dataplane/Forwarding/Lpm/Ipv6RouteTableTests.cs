using Fabric.Bench;
using Fabric.Dataplane.Forwarding.Lpm;
using Fabric.Dataplane.Wire;
using FsCheck;
using FsCheck.Fluent;
using Fabric.Tests.Support;

namespace Fabric.Tests.Dataplane.Forwarding.Lpm;

[Collection(AllocationMeasurement.Name)]
public class Ipv6RouteTableTests
{
    private static UInt128 Ip(string text) => IpAddressConversions.ParseIpv6(text);

    private static Ipv6RouteTable Table(params (string Prefix, int Length, int Value)[] routes)
    {
        var builder = new Ipv6RouteTableBuilder();
        foreach (var (prefix, length, value) in routes)
        {
            builder.Add(Ip(prefix), length, value);
        }

        return builder.Build();
    }

    [Fact]
    public void Ipv6RouteTable_Empty_ReturnsNoRouteEverywhere()
    {
        var table = new Ipv6RouteTableBuilder().Build();

        Assert.Equal(0, table.Count);
        foreach (var address in new[] { UInt128.Zero, UInt128.One, Ip("2001:db8::1"), UInt128.MaxValue })
        {
            Assert.Equal(Ipv6RouteTable.NoRoute, table.Lookup(address));
        }
    }

    [Fact]
    public void Ipv6RouteTable_DefaultRoute_MatchesEveryAddressNotCoveredByALongerPrefix()
    {
        var table = Table(("::", 0, 7), ("2001:db8::", 32, 1));

        Assert.Equal(7, table.Lookup(UInt128.Zero));
        Assert.Equal(7, table.Lookup(UInt128.MaxValue));
        Assert.Equal(1, table.Lookup(Ip("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff")));
        Assert.Equal(7, table.Lookup(Ip("2001:db9::")));
    }

    [Fact]
    public void Ipv6RouteTable_HostRoute_MatchesOnlyThatAddress()
    {
        var table = Table(("2001:db8::", 64, 1), ("2001:db8::77", 128, 2), ("::", 128, 3), ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 128, 4));

        Assert.Equal(2, table.Lookup(Ip("2001:db8::77")));
        Assert.Equal(1, table.Lookup(Ip("2001:db8::76")));
        Assert.Equal(1, table.Lookup(Ip("2001:db8::78")));
        Assert.Equal(3, table.Lookup(UInt128.Zero));
        Assert.Equal(Ipv6RouteTable.NoRoute, table.Lookup(UInt128.One));
        Assert.Equal(4, table.Lookup(UInt128.MaxValue));
        Assert.Equal(Ipv6RouteTable.NoRoute, table.Lookup(UInt128.MaxValue - 1));
    }

    [Fact]
    public void Ipv6RouteTable_NestedPrefixesAtAndBetweenStrides_LongestWins()
    {
        var table = Table(
            ("2000::", 3, 3), ("2001:db8::", 32, 32), ("2001:db8:1::", 48, 48), ("2001:db8:1:0:8000::", 65, 65),
            ("2001:db8:1:0:8000::", 77, 77));

        Assert.Equal(3, table.Lookup(Ip("3fff::1")));
        Assert.Equal(32, table.Lookup(Ip("2001:db8:2::1")));
        Assert.Equal(48, table.Lookup(Ip("2001:db8:1:0:7fff::")));
        Assert.Equal(77, table.Lookup(Ip("2001:db8:1:0:8007:ffff::")));
        Assert.Equal(65, table.Lookup(Ip("2001:db8:1:0:8008::")));
        Assert.Equal(48, table.Lookup(Ip("2001:db8:1:1::")));
        Assert.Equal(Ipv6RouteTable.NoRoute, table.Lookup(Ip("4000::")));
    }

    [Fact]
    public void Ipv6RouteTableBuilder_SamePrefixAddedAgain_ReplacesValue()
    {
        var builder = new Ipv6RouteTableBuilder();
        builder.Add(Ip("2001:db8::"), 48, 1);
        builder.Add(Ip("2001:db8::"), 64, 2);
        builder.Add(Ip("2001:db8::"), 48, 3);

        var table = builder.Build();

        Assert.Equal(2, table.Count);
        Assert.Equal(3, table.Lookup(Ip("2001:db8:0:1::")));
        Assert.Equal(2, table.Lookup(Ip("2001:db8::1")));
    }

    [Fact]
    public void Ipv6RouteTableBuilder_InvalidRoute_Throws()
    {
        var builder = new Ipv6RouteTableBuilder();

        Assert.Throws<ArgumentOutOfRangeException>(() => builder.Add(UInt128.Zero, -1, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => builder.Add(UInt128.Zero, 129, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => builder.Add(UInt128.Zero, 8, -1));
        Assert.Throws<ArgumentException>(() => builder.Add(Ip("2001:db8::1"), 64, 0));
        Assert.Equal(0, builder.Count);
    }

    private static readonly Gen<int> Lengths =
        Gen.Frequency((1, Gen.Constant(0)), (2, Gen.Constant(128)), (3, Gen.Elements(16, 32, 48, 56, 64)), (10, Gen.Choose(0, 128)));

    private static readonly Gen<UInt128> Addresses =
        from high in ArbMap.Default.GeneratorFor<ulong>()
        from low in ArbMap.Default.GeneratorFor<ulong>()
        select new UInt128(high, low);

    /// <summary>Routes near one anchor address, so that they nest, overlap and repeat.</summary>
    private static readonly Gen<Route6[]> Routes =
        from anchor in Addresses
        from routes in Gen.ListOf(
            from noise in Addresses
            from shared in Gen.Choose(0, 128)
            from length in Lengths
            from value in Gen.Choose(0, 50)
            select new Route6((anchor & Route6.Ipv6Mask(shared)) | (noise & ~Route6.Ipv6Mask(shared)), length, value))
        select routes.ToArray();

    private static readonly Gen<(Route6[] Routes, UInt128[] Probes)> Cases =
        from routes in Routes
        from probes in Gen.ArrayOf(Addresses)
        select (routes, probes);

    [FsCheck.Xunit.Property(MaxTest = 300)]
    public Property Ipv6RouteTable_RandomRoutes_AgreesWithNaiveModelOnRandomAndBoundaryAddresses() =>
        Prop.ForAll(Cases.ToArbitrary(), testCase =>
        {
            var builder = new Ipv6RouteTableBuilder();
            var model = NaiveLpm<UInt128>.Ipv6();
            foreach (var route in testCase.Routes)
            {
                builder.Add(route.Prefix, route.Length, route.Value);
                model.Add(route.Prefix, route.Length, route.Value);
            }

            var table = builder.Build();
            var probes = new List<UInt128>(testCase.Probes) { UInt128.Zero, UInt128.MaxValue };
            foreach (var route in testCase.Routes)
            {
                probes.AddRange([route.Prefix, route.Last, unchecked(route.Prefix - 1), unchecked(route.Last + 1), route.Address]);
            }

            var distinct = testCase.Routes.Select(r => (r.Prefix, r.Length)).Distinct().Count();
            return table.Count == distinct && probes.TrueForAll(address => table.Lookup(address) == model.Lookup(address));
        });

    [Fact]
    public void Ipv6RouteTable_InternetShapedPrefixes_AgreesWithPerLengthReference()
    {
        var prefixes = InternetShapedPrefixes.Ipv6(200_000, seed: 1);
        var builder = new Ipv6RouteTableBuilder();
        var byLength = new Dictionary<int, Dictionary<UInt128, int>>();
        for (var i = 0; i < prefixes.Length; i++)
        {
            var (prefix, length) = prefixes[i];
            builder.Add(prefix, length, i);
            if (!byLength.TryGetValue(length, out var routes))
            {
                byLength[length] = routes = [];
            }

            routes[prefix] = i;
        }

        var lengths = byLength.Keys.OrderDescending().ToArray();
        int Reference(UInt128 address)
        {
            foreach (var length in lengths)
            {
                if (byLength[length].TryGetValue(address & Route6.Ipv6Mask(length), out var value))
                {
                    return value;
                }
            }

            return Ipv6RouteTable.NoRoute;
        }

        var table = builder.Build();

        Assert.Equal(prefixes.Length, table.Count);
        var random = new Random(2);
        for (var i = 0; i < 100_000; i++)
        {
            // Random bits below a random generated prefix, so that most addresses fall inside routed space.
            var (prefix, length) = prefixes[random.Next(prefixes.Length)];
            var noise = new UInt128((ulong)random.NextInt64(long.MinValue, long.MaxValue), (ulong)random.NextInt64(long.MinValue, long.MaxValue));
            var address = prefix | (noise & ~Route6.Ipv6Mask(length));
            Assert.Equal(Reference(address), table.Lookup(address));
            var after = prefix | ~Route6.Ipv6Mask(length);
            Assert.Equal(Reference(unchecked(after + 1)), table.Lookup(unchecked(after + 1)));
        }
    }

    [Fact]
    public void Ipv6RouteTable_Lookup_AllocatesNothing()
    {
        var builder = new Ipv6RouteTableBuilder();
        var random = new Random(6);
        for (var i = 0; i < 5_000; i++)
        {
            var length = random.Next(16, 129);
            var address = new UInt128(0x2000_0000_0000_0000UL | (ulong)random.NextInt64(), (ulong)random.NextInt64());
            builder.Add(address & Route6.Ipv6Mask(length), length, i);
        }

        var table = builder.Build();
        var addresses = new UInt128[100_000];
        for (var i = 0; i < addresses.Length; i++)
        {
            addresses[i] = new UInt128(0x2000_0000_0000_0000UL | (ulong)random.NextInt64(), (ulong)random.NextInt64());
        }

        var sum = Sum(table, addresses);
        var allocated = ThreadAllocations.During(() =>
        {
            sum += Sum(table, addresses);
        });

        Assert.Equal(0, allocated);
        Assert.NotEqual(0L, sum);
    }

    private static long Sum(Ipv6RouteTable table, UInt128[] addresses)
    {
        long sum = 0;
        foreach (var address in addresses)
        {
            sum += table.Lookup(address);
        }

        return sum;
    }
}
