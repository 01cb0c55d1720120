using System.Numerics;

namespace Fabric.Dataplane.Forwarding.Lpm;

/// <summary>
/// An IPv4 longest-prefix-match table from prefixes to values (next-hop or route indices), built by
/// <see cref="Ipv4RouteTableBuilder"/>. Immutable, so any number of threads look up concurrently without
/// synchronization; <see cref="Lookup"/> allocates nothing.
/// </summary>
/// <remarks>
/// A 16-8-8 leaf-pushed multibit trie with direct root nodes (see <see cref="StrideTrie"/>): the top 18 address
/// bits index the run-bitmap word of the address's /16 node directly, whose run holds the value or, below a
/// /24 with longer prefixes, a compressed node for the last 8 bits. A lookup reads two array elements, four
/// when a prefix longer than /24 shares the address's /24. With 1,000,000 Internet-shaped prefixes
/// (<see cref="InternetShapedPrefixes.Ipv4"/>, seed 1) the table holds MEMORY_FIGURE.
/// </remarks>
public sealed class Ipv4RouteTable
{
    /// <summary>The value <see cref="Lookup"/> returns when no prefix matches.</summary>
    public const int NoRoute = StrideTrie.NoRoute;

    /// <summary>The bits of an IPv4 address, and so the longest prefix length.</summary>
    public const int AddressBits = 32;

    private const int LeafBits = AddressBits - StrideTrie.RootStride - StrideTrie.NodeStride;

    private readonly NodeWord[] _words;
    private readonly int[] _entries;

    internal Ipv4RouteTable(StrideTrieArrays arrays, int count)
    {
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
        // Root node i holds words 4i..4i+3: the word of slot (address >> 8) & 255 of node address >> 16.
        var slot = (int)(address >> LeafBits) & (StrideTrie.NodeSlots - 1);
        ref readonly var word = ref _words[address >> (AddressBits - StrideTrie.RootStride - 2)];
        var entry = _entries[word.Base + BitOperations.PopCount(word.Bits & (ulong.MaxValue >> (63 - (slot & 63)))) - 1];
        if (entry >= NoRoute)
        {
            return entry;
        }

        return StrideTrie.Step(_words, _entries, entry & StrideTrie.NodeIndexMask, (int)address & (StrideTrie.NodeSlots - 1));
    }
}
