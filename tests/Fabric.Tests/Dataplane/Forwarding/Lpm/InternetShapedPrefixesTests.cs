using Fabric.Dataplane.Forwarding.Lpm;

namespace Fabric.Tests.Dataplane.Forwarding.Lpm;

public class InternetShapedPrefixesTests
{
    [Fact]
    public void InternetShapedPrefixes_SameSeed_SameSet()
    {
        Assert.Equal(InternetShapedPrefixes.Ipv4(10_000, seed: 9), InternetShapedPrefixes.Ipv4(10_000, seed: 9));
        Assert.NotEqual(InternetShapedPrefixes.Ipv4(10_000, seed: 9), InternetShapedPrefixes.Ipv4(10_000, seed: 10));
    }

    [Fact]
    public void InternetShapedPrefixes_Ipv4_DistinctUnicastPrefixesWithHostBitsClear()
    {
        var prefixes = InternetShapedPrefixes.Ipv4(200_000, seed: 1);

        Assert.Equal(200_000, prefixes.Length);
        Assert.Equal(prefixes.Length, prefixes.Distinct().Count());
        Assert.All(prefixes, p =>
        {
            Assert.InRange(p.Length, 8, 32);
            Assert.Equal(p.Prefix, p.Prefix & Route4.Ipv4Mask(p.Length));
            Assert.InRange(p.Prefix >> 24, 1u, 223u);
            Assert.NotEqual(10u, p.Prefix >> 24);
            Assert.NotEqual(127u, p.Prefix >> 24);
        });
    }

    [Fact]
    public void InternetShapedPrefixes_Ipv4_LengthsFollowTheInternetTable()
    {
        var prefixes = InternetShapedPrefixes.Ipv4(200_000, seed: 1);

        double Share(int from, int to) => prefixes.Count(p => p.Length >= from && p.Length <= to) / (double)prefixes.Length;

        Assert.InRange(Share(24, 24), 0.57, 0.63);
        Assert.InRange(Share(22, 23), 0.13, 0.17);
        Assert.InRange(Share(16, 21), 0.18, 0.22);
        Assert.InRange(Share(8, 15), 0.02, 0.04);
        Assert.InRange(Share(25, 32), 0.01, 0.03);
    }

    [Fact]
    public void InternetShapedPrefixes_Ipv4_ManyMoreSpecificsNestInsideShorterPrefixes()
    {
        var prefixes = InternetShapedPrefixes.Ipv4(100_000, seed: 1);
        var reference = new PerLengthIpv4Reference();
        foreach (var (prefix, length) in prefixes.Where(p => p.Length <= 21))
        {
            reference.Add(prefix, length, 1);
        }

        var longer = prefixes.Where(p => p.Length >= 22).ToArray();
        var nested = longer.Count(p => reference.Lookup(p.Prefix) == 1);

        Assert.InRange(nested / (double)longer.Length, 0.4, 0.9);
    }

    [Fact]
    public void InternetShapedPrefixes_CountOutOfRange_Throws()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => InternetShapedPrefixes.Ipv4(-1, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => InternetShapedPrefixes.Ipv4(InternetShapedPrefixes.MaxCount + 1, 0));
        Assert.Empty(InternetShapedPrefixes.Ipv4(0, 0));
    }

    [Fact]
    public void InternetShapedPrefixes_Ipv6_DistinctPrefixesInGlobalUnicastWithTheInternetShape()
    {
        var prefixes = InternetShapedPrefixes.Ipv6(100_000, seed: 1);

        double Share(int from, int to) => prefixes.Count(p => p.Length >= from && p.Length <= to) / (double)prefixes.Length;

        Assert.Equal(prefixes.Length, prefixes.Distinct().Count());
        Assert.All(prefixes, p =>
        {
            Assert.InRange(p.Length, 19, 64);
            Assert.Equal(p.Prefix, p.Prefix & Route6.Ipv6Mask(p.Length));
            Assert.Equal(2u, (uint)(p.Prefix >> 124));
        });
        Assert.InRange(Share(48, 48), 0.44, 0.50);
        Assert.InRange(Share(32, 32), 0.11, 0.15);
        Assert.Equal(InternetShapedPrefixes.Ipv6(1_000, seed: 3), InternetShapedPrefixes.Ipv6(1_000, seed: 3));
    }
}
