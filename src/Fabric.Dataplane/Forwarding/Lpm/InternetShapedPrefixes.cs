namespace Fabric.Dataplane.Forwarding.Lpm;

/// <summary>
/// Deterministic prefix sets shaped like the full Internet routing tables, for benchmarks and tests: the same
/// count and seed give the same array on every run and machine (<see cref="Random(int)"/> with a seed).
/// Host bits are cleared and no (prefix, length) repeats. Thread-safe: every call has its own state.
/// </summary>
/// <remarks>
/// <para>
/// IPv4 lengths follow the global table: /24 about 60%, /22–/23 about 15%, /16–/21 about 20%, /8–/15 about 3%,
/// /25–/32 about 2% (lengths whose address space runs out, such as /8, end up rarer). Half of the prefixes of
/// length 17 and over are more-specifics of an earlier prefix of /8–/21, as customer routes inside a provider
/// aggregate are; the others fall anywhere in 1.0.0.0–223.255.255.255 outside 10/8 and 127/8.
/// </para>
/// <para>
/// IPv6 lengths follow the global table too: /48 about 47%, /32 about 13%, /33–/47 about 30%, /49–/64 about
/// 5%, /19–/31 about 5%. Half of the prefixes longer than /32 are more-specifics of an earlier prefix of
/// /19–/32; the others fall anywhere in 2000::/4.
/// </para>
/// </remarks>
public static class InternetShapedPrefixes
{
    /// <summary>The largest set <see cref="Ipv4"/> or <see cref="Ipv6"/> generates; the space each draws from holds many more.</summary>
    public const int MaxCount = 4_000_000;

    /// <summary>Weight per IPv4 prefix length 0..32, in parts per 10,000 (tunable shape of the generated table).</summary>
    private static readonly int[] Ipv4LengthWeights =
    [
        0, 0, 0, 0, 0, 0, 0, 0,
        2, 3, 5, 10, 20, 40, 80, 140, // /8../15: 3%
        200, 150, 250, 350, 450, 600, // /16../21: 20%
        800, 700, // /22, /23: 15%
        6000, // /24: 60%
        10, 20, 20, 30, 30, 30, 10, 50, // /25../32: 2%
    ];

    private const int Ipv4AggregateLongest = 21;
    private const int Ipv4MoreSpecificShortest = 17;

    /// <summary>Weight per IPv6 prefix length 0..64, in parts per 10,000 (tunable shape of the generated table).</summary>
    private static readonly int[] Ipv6LengthWeights =
    [
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 10, 20, 20, 20, 30, 30, 40, 40, 30, 60, 150, 30, 20, // /19../31: 5%
        1300, // /32: 13%
        120, 80, 60, 300, 50, 50, 60, 500, 100, 200, 100, 800, 150, 200, 230, // /33../47: 30%
        4700, // /48: 47%
        30, 30, 30, 30, 30, 30, 30, 50, 30, 30, 30, 30, 30, 30, 30, 30, // /49../64: 5%
    ];

    private const int Ipv6AggregateLongest = 32;

    /// <summary>2000::/4, the part of global unicast space that carries routes.</summary>
    private static readonly UInt128 Ipv6Space = new(0x2000_0000_0000_0000UL, 0);

    private const int Ipv6SpaceLength = 4;

    /// <summary>
    /// <paramref name="count"/> distinct IPv4 prefixes (host order, host bits clear) with their lengths, drawn
    /// from <paramref name="seed"/>.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="count"/> is negative or above <see cref="MaxCount"/>.</exception>
    public static (uint Prefix, int Length)[] Ipv4(int count, int seed)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, MaxCount);

        var lengths = new LengthDistribution(Ipv4LengthWeights);
        var random = new Random(seed);
        var result = new (uint Prefix, int Length)[count];
        var seen = new HashSet<(uint, int)>(count);
        var aggregates = new List<(uint Prefix, int Length)>();
        var produced = 0;
        while (produced < count)
        {
            var length = lengths.Draw(random);
            uint address;
            if (length >= Ipv4MoreSpecificShortest && aggregates.Count > 0 && random.Next(2) == 0)
            {
                var aggregate = aggregates[random.Next(aggregates.Count)];
                address = aggregate.Prefix | (RandomUInt32(random) & ~Ipv4RouteTableBuilder.Mask(aggregate.Length));
            }
            else
            {
                address = RandomIpv4Unicast(random);
            }

            var prefix = address & Ipv4RouteTableBuilder.Mask(length);
            if (!seen.Add((prefix, length)))
            {
                continue;
            }

            result[produced++] = (prefix, length);
            if (length <= Ipv4AggregateLongest)
            {
                aggregates.Add((prefix, length));
            }
        }

        return result;
    }

    /// <summary>
    /// <paramref name="count"/> distinct IPv6 prefixes (host order, the first address octet most significant,
    /// host bits clear) with their lengths, drawn from <paramref name="seed"/>.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="count"/> is negative or above <see cref="MaxCount"/>.</exception>
    public static (UInt128 Prefix, int Length)[] Ipv6(int count, int seed)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, MaxCount);

        var lengths = new LengthDistribution(Ipv6LengthWeights);
        var random = new Random(seed);
        var result = new (UInt128 Prefix, int Length)[count];
        var seen = new HashSet<(UInt128, int)>(count);
        var aggregates = new List<(UInt128 Prefix, int Length)>();
        var produced = 0;
        while (produced < count)
        {
            var length = lengths.Draw(random);
            var noise = new UInt128((ulong)random.NextInt64(long.MinValue, long.MaxValue), (ulong)random.NextInt64(long.MinValue, long.MaxValue));
            var within = (Ipv6Space, Ipv6SpaceLength);
            if (length > Ipv6AggregateLongest && aggregates.Count > 0 && random.Next(2) == 0)
            {
                within = aggregates[random.Next(aggregates.Count)];
            }

            var address = within.Item1 | (noise & ~Ipv6RouteTableBuilder.Mask(within.Item2));
            var prefix = address & Ipv6RouteTableBuilder.Mask(length);
            if (!seen.Add((prefix, length)))
            {
                continue;
            }

            result[produced++] = (prefix, length);
            if (length <= Ipv6AggregateLongest)
            {
                aggregates.Add((prefix, length));
            }
        }

        return result;
    }

    private static uint RandomUInt32(Random random) => (uint)random.NextInt64(1L << 32);

    /// <summary>An address in 1.0.0.0–223.255.255.255 outside 10/8 and 127/8.</summary>
    private static uint RandomIpv4Unicast(Random random)
    {
        while (true)
        {
            var address = RandomUInt32(random);
            var firstOctet = address >> 24;
            if (firstOctet is >= 1 and <= 223 and not 10 and not 127)
            {
                return address;
            }
        }
    }

    /// <summary>Draws prefix lengths in proportion to a weight per length.</summary>
    private sealed class LengthDistribution
    {
        private readonly int[] _cumulative;

        public LengthDistribution(int[] weights)
        {
            _cumulative = new int[weights.Length];
            var total = 0;
            for (var length = 0; length < weights.Length; length++)
            {
                total += weights[length];
                _cumulative[length] = total;
            }
        }

        public int Draw(Random random)
        {
            var draw = random.Next(_cumulative[^1]);
            var length = 0;
            while (_cumulative[length] <= draw)
            {
                length++;
            }

            return length;
        }
    }
}
