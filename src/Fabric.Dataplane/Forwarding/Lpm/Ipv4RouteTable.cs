namespace Fabric.Dataplane.Forwarding.Lpm;

/// <summary>
/// An IPv4 longest-prefix-match table from prefixes to values (next-hop or route indices), built by
/// <see cref="Ipv4RouteTableBuilder"/>. Immutable, so any number of threads look up concurrently without
/// synchronization; <see cref="Lookup"/> allocates nothing.
/// </summary>
/// <remarks>
/// A 16-8-8 leaf-pushed multibit trie of compressed nodes (see <see cref="StrideTrie"/>): the top 16 address
/// bits select the /16's root node directly, whose run for the next 8 bits holds the value or, for a /24 that
/// longer prefixes share, a node for the last 8 bits. A lookup makes two dependent reads (a word, then a run),
/// four when a prefix longer than /24 shares the address's /24. With 1,000,000 Internet-shaped prefixes
/// (<see cref="InternetShapedPrefixes.Ipv4"/>, seed 1) the table holds 12.6 MB (12.0 MiB, 12.6 bytes per prefix)
/// and builds in under half a second; a table of at most <see cref="StrideTrie.SmallTableRoutes"/> routes takes
/// 8 root bits instead (17 KiB of root nodes, a lookup reads one more node) rather than 4.25 MiB. Uncompressed, the same
/// layout spends 1 KiB on every /16 and every /24 that longer prefixes share (tens of MiB for this set) and
/// DIR-24-8 64 MiB before its second level: the compressed trie keeps the lookup's working set in the
/// last-level cache. Node words sit 16-byte aligned in the arena, so that none straddles two cache lines.
/// </remarks>
public sealed class Ipv4RouteTable
{
    /// <summary>The value <see cref="Lookup"/> returns when no prefix matches.</summary>
    public const int NoRoute = StrideTrie.NoRoute;

    /// <summary>The bits of an IPv4 address, and so the longest prefix length.</summary>
    public const int AddressBits = 32;

    private const int SecondStrideShift = AddressBits - StrideTrie.RootStride - StrideTrie.NodeStride;

    private readonly int[] _arena;
    private readonly int _rootStride;

    internal Ipv4RouteTable(int[] arena, int count, int rootStride)
    {
        _arena = arena;
        _rootStride = rootStride;
        Count = count;
    }

    /// <summary>The number of distinct prefixes (prefix and length) in the table.</summary>
    public int Count { get; }

    /// <summary>The bytes of the array the table holds (its object header excluded).</summary>
    public long MemoryBytes => _arena.LongLength * sizeof(int);

    /// <summary>
    /// The value of the longest prefix that contains <paramref name="address"/> (host order), or
    /// <see cref="NoRoute"/>.
    /// </summary>
    public int Lookup(uint address)
    {
        if (_rootStride != StrideTrie.RootStride)
        {
            return LookupSmall(address);
        }

        var rootNode = (int)(address >> (AddressBits - StrideTrie.RootStride)) * StrideTrie.NodeLength;
        var entry = StrideTrie.Step(_arena, rootNode, (int)(address >> SecondStrideShift) & (StrideTrie.NodeSlots - 1));
        if (entry >= NoRoute)
        {
            return entry;
        }

        return StrideTrie.Step(_arena, entry & StrideTrie.OffsetMask, (int)address & (StrideTrie.NodeSlots - 1));
    }

    /// <summary>A table with <see cref="StrideTrie.SmallRootStride"/>: one node per further 8 bits, at most three.</summary>
    private int LookupSmall(uint address)
    {
        var shift = AddressBits - _rootStride - StrideTrie.NodeStride;
        var entry = StrideTrie.Step(_arena, (int)(address >> (AddressBits - _rootStride)) * StrideTrie.NodeLength, (int)(address >> shift) & (StrideTrie.NodeSlots - 1));
        while (entry < NoRoute)
        {
            shift -= StrideTrie.NodeStride;
            entry = StrideTrie.Step(_arena, entry & StrideTrie.OffsetMask, (int)(address >> shift) & (StrideTrie.NodeSlots - 1));
        }

        return entry;
    }
}
