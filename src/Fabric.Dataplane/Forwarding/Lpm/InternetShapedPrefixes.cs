namespace Fabric.Dataplane.Forwarding.Lpm;

/// <summary>
/// Deterministic prefix sets shaped like a full Internet routing table, for benchmarks and tests: the same
/// count and seed give the same array on every run and machine (<see cref="Random(int)"/> with a seed).
/// </summary>
/// <remarks>
/// Prefix lengths follow the global IPv4 table: /24 about 60%, /22–/23 about 15%, /16–/21 about 20%,
/// /8–/15 about 3%, /25–/32 about 2% (lengths whose address space runs out, such as /8, end up rarer).
/// Half of the prefixes of length 17 and over are more-specifics of an earlier prefix of /8–/21, as
/// customer routes inside a provider aggregate are; the others fall anywhere in 1.0.0.0–223.255.255.255
/// outside 10/8 and 127/8. Host bits are cleared and no (prefix, length) repeats.
/// </remarks>
public static class InternetShapedPrefixes
{
    /// <summary>The largest set <see cref="Ipv4"/> generates; the space it draws from holds many more.</summary>
    public const int MaxIpv4Count = 4_000_000;

    /// <summary>Weight per prefix length 0..32, in parts per 10,000 (tunable shape of the generated table).</summary>
    private static readonly int[] Ipv4LengthWeights =
    [
        0, 0, 0, 0, 0, 0, 0, 0,
        2, 3, 5, 10, 20, 40, 80, 140, // /8../15: 3%
        200, 150, 250, 350, 450, 600, // /16../21: 20%
        800, 700, // /22, /23: 15%
        6000, // /24: 60%
        10, 20, 20, 30, 30, 30, 10, 50, // /25../32: 2%
    ];

    private const int AggregateLongest = 21;
    private const int MoreSpecificShortest = 17;

    /// <summary>
    /// <paramref name="count"/> distinct IPv4 prefixes (host order, host bits clear) with their lengths, drawn
    /// from <paramref name="seed"/>.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="count"/> is negative or above <see cref="MaxIpv4Count"/>.</exception>
    public static (uint Prefix, int Length)[] Ipv4(int count, int seed)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, MaxIpv4Count);

        var cumulative = new int[Ipv4LengthWeights.Length];
        var total = 0;
        for (var length = 0; length < Ipv4LengthWeights.Length; length++)
        {
            total += Ipv4LengthWeights[length];
            cumulative[length] = total;
        }

        var random = new Random(seed);
        var result = new (uint Prefix, int Length)[count];
        var seen = new HashSet<ulong>(count);
        var aggregates = new List<(uint Prefix, int Length)>();
        var produced = 0;
        while (produced < count)
        {
            var draw = random.Next(total);
            var length = 0;
            while (cumulative[length] <= draw)
            {
                length++;
            }

            uint address;
            if (length >= MoreSpecificShortest && aggregates.Count > 0 && random.Next(2) == 0)
            {
                var aggregate = aggregates[random.Next(aggregates.Count)];
                address = aggregate.Prefix | (RandomUInt32(random) & ~Ipv4RouteTableBuilder.Mask(aggregate.Length));
            }
            else
            {
                address = RandomUnicast(random);
            }

            var prefix = address & Ipv4RouteTableBuilder.Mask(length);
            if (!seen.Add(((ulong)prefix << 8) | (uint)length))
            {
                continue;
            }

            result[produced++] = (prefix, length);
            if (length <= AggregateLongest)
            {
                aggregates.Add((prefix, length));
            }
        }

        return result;
    }

    private static uint RandomUInt32(Random random) => (uint)random.NextInt64(1L << 32);

    /// <summary>An address in 1.0.0.0–223.255.255.255 outside 10/8 and 127/8.</summary>
    private static uint RandomUnicast(Random random)
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
}
