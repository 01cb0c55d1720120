namespace Fabric.Dataplane.Forwarding.Lpm;

/// <summary>
/// An IPv4 longest-prefix-match table from prefixes to values (next-hop or route indices), built by
/// <see cref="Ipv4RouteTableBuilder"/>. Immutable, so any number of threads look up concurrently without
/// synchronization; <see cref="Lookup"/> allocates nothing.
/// </summary>
/// <remarks>
/// A 16-8-8 leaf-pushed multibit trie: a 65,536-slot root array indexed by the top 16 address bits, then at
/// most two compressed 256-slot nodes (see <see cref="StrideTrie"/>), so a lookup reads at most five array
/// elements. With 1,000,000 Internet-shaped prefixes (<see cref="InternetShapedPrefixes.Ipv4"/>, seed 1) the
/// table holds about 7 MB (the uncompressed 16-8-8 layout of the same set needs about 70 MB, DIR-24-8 over
/// 80 MB) and builds in about a second.
/// </remarks>
public sealed class Ipv4RouteTable
{
    /// <summary>The value <see cref="Lookup"/> returns when no prefix matches.</summary>
    public const int NoRoute = StrideTrie.NoRoute;

    /// <summary>The bits of an IPv4 address, and so the longest prefix length.</summary>
    public const int AddressBits = 32;

    private const int LeafBits = AddressBits - StrideTrie.RootStride - StrideTrie.NodeStride;

    private readonly int[] _root;
    private readonly NodeWord[] _words;
    private readonly int[] _entries;

    internal Ipv4RouteTable(StrideTrieArrays arrays, int count)
    {
        _root = arrays.Root;
        _words = arrays.Words;
        _entries = arrays.Entries;
        MemoryBytes = arrays.MemoryBytes;
        Count = count;
    }

    /// <summary>The number of distinct prefixes (prefix and length) in the table.</summary>
    public int Count { get; }

    /// <summary>The bytes of the arrays the table holds (object headers excluded).</summary>
    public long MemoryBytes { get; }

    /// <summary>
    /// The value of the longest prefix that contains <paramref name="address"/> (host order), or
    /// <see cref="NoRoute"/>.
    /// </summary>
    public int Lookup(uint address)
    {
        var entry = _root[address >> StrideTrie.RootStride];
        if (entry >= NoRoute)
        {
            return entry;
        }

        entry = StrideTrie.Step(_words, _entries, entry & StrideTrie.NodeIndexMask, (int)(address >> LeafBits) & (StrideTrie.NodeSlots - 1));
        if (entry >= NoRoute)
        {
            return entry;
        }

        return StrideTrie.Step(_words, _entries, entry & StrideTrie.NodeIndexMask, (int)address & (StrideTrie.NodeSlots - 1));
    }
}
