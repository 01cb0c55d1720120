namespace Fabric.Dataplane.Forwarding.Lpm;

/// <summary>
/// An IPv6 longest-prefix-match table from prefixes to values (next-hop or route indices), built by
/// <see cref="Ipv6RouteTableBuilder"/>. Immutable, so any number of threads look up concurrently without
/// synchronization; <see cref="Lookup"/> allocates nothing.
/// </summary>
/// <remarks>
/// A leaf-pushed multibit trie: a 65,536-slot root array indexed by the top 16 address bits, then up to 14
/// compressed 256-slot nodes (see <see cref="StrideTrie"/>), one per further 8 bits the matching prefixes
/// reach: a /48 route costs at most four nodes and is found in four node steps.
/// </remarks>
public sealed class Ipv6RouteTable
{
    /// <summary>The value <see cref="Lookup"/> returns when no prefix matches.</summary>
    public const int NoRoute = StrideTrie.NoRoute;

    /// <summary>The bits of an IPv6 address, and so the longest prefix length.</summary>
    public const int AddressBits = 128;

    private readonly int[] _root;
    private readonly NodeWord[] _words;
    private readonly int[] _entries;

    internal Ipv6RouteTable(StrideTrieArrays arrays, int count)
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
    /// The value of the longest prefix that contains <paramref name="address"/> (host order: the first address
    /// octet is the most significant), or <see cref="NoRoute"/>.
    /// </summary>
    public int Lookup(UInt128 address)
    {
        // The address is walked one 64-bit half at a time: shifts of a UInt128 cost more than two of a ulong.
        var half = (ulong)(address >> 64);
        var entry = _root[(int)(half >> (64 - StrideTrie.RootStride))];
        var shift = 64 - StrideTrie.RootStride - StrideTrie.NodeStride;
        while (entry < NoRoute)
        {
            entry = StrideTrie.Step(_words, _entries, entry & StrideTrie.NodeIndexMask, (int)(half >> shift) & (StrideTrie.NodeSlots - 1));
            if (shift == 0)
            {
                half = (ulong)address;
                shift = 64;
            }

            shift -= StrideTrie.NodeStride;
        }

        return entry;
    }
}
