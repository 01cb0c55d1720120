namespace Fabric.Dataplane.Forwarding.Lpm;

/// <summary>
/// An IPv6 longest-prefix-match table from prefixes to values (next-hop or route indices), built by
/// <see cref="Ipv6RouteTableBuilder"/>. Immutable, so any number of threads look up concurrently without
/// synchronization; <see cref="Lookup"/> allocates nothing.
/// </summary>
/// <remarks>
/// A leaf-pushed multibit trie of compressed nodes (see <see cref="StrideTrie"/>): the top 16 address bits
/// select a root node directly (the top 8 for a table of at most <see cref="StrideTrie.SmallTableRoutes"/> routes), then
/// one node per further 8 bits the matching prefixes reach, so a lookup under a /48 reads at most four nodes (five in a
/// small table). An empty large table would hold 4.25 MiB (the root nodes), a small one 17 KiB; with 200,000
/// Internet-shaped prefixes (<see cref="InternetShapedPrefixes.Ipv6"/>, seed 1) it holds 36.8 MB (35.1 MiB,
/// 184 bytes per prefix) and builds in about half a second. Correctness and no allocation come first here:
/// a lookup walks one node per 8 bits, so it costs several times an IPv4 lookup.
/// </remarks>
public sealed class Ipv6RouteTable
{
    /// <summary>The value <see cref="Lookup"/> returns when no prefix matches.</summary>
    public const int NoRoute = StrideTrie.NoRoute;

    /// <summary>The bits of an IPv6 address, and so the longest prefix length.</summary>
    public const int AddressBits = 128;

    private const int SlotMask = StrideTrie.NodeSlots - 1;

    private readonly int[] _arena;
    private readonly int _rootStride;

    internal Ipv6RouteTable(int[] arena, int count, int rootStride)
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
    /// The value of the longest prefix that contains <paramref name="address"/> (host order: the first address
    /// octet is the most significant), or <see cref="NoRoute"/>.
    /// </summary>
    public int Lookup(UInt128 address)
    {
        // The address is walked one 64-bit half at a time: shifts of a UInt128 cost more than two of a ulong.
        var half = (ulong)(address >> 64);
        var shift = 64 - _rootStride - StrideTrie.NodeStride;
        var rootNode = (int)(half >> (64 - _rootStride)) * StrideTrie.NodeLength;
        var entry = StrideTrie.Step(_arena, rootNode, (int)(half >> shift) & SlotMask);
        while (entry < NoRoute)
        {
            shift -= StrideTrie.NodeStride;
            if (shift < 0)
            {
                half = (ulong)address;
                shift += 64;
            }

            entry = StrideTrie.Step(_arena, entry & StrideTrie.OffsetMask, (int)(half >> shift) & SlotMask);
        }

        return entry;
    }
}
