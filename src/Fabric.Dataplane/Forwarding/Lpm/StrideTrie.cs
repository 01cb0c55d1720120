using System.Diagnostics;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Fabric.Dataplane.Forwarding.Lpm;

/// <summary>
/// The layout shared by the IPv4 and IPv6 route tables: a leaf-pushed multibit trie whose first
/// <see cref="RootStride"/> address bits (16 for a large table, <see cref="SmallRootStride"/> = 8 for one of at most
/// <see cref="SmallTableRoutes"/> routes) select one root node directly and whose nodes consume
/// <see cref="NodeStride"/> bits each, stored compressed in the manner of Poptrie (Asai and Ohara,
/// SIGCOMM 2015). The whole trie is one <see cref="int"/> array, the arena.
/// </summary>
/// <remarks>
/// <para>
/// A slot holds either a leaf, the value of the longest prefix covering the slot's whole address range
/// (<c>-1</c>, <see cref="NoRoute"/>, when none does), or a reference to a child node,
/// <c>int.MinValue | arenaOffset</c>. Values are at least 0 and offsets below <see cref="Array.MaxLength"/>, so
/// an entry <c>&gt;= -1</c> is a leaf and any other entry is a child reference: a lookup returns the first leaf
/// it meets.
/// </para>
/// <para>
/// A node's 256 slots are stored as their runs of equal entries. The node is four words of
/// <see cref="WordLength"/> ints, one per 64 slots: a 64-bit map whose bit <c>i</c> is set when slot <c>i</c>
/// starts a run (it is the node's first slot or differs from the slot before), then <c>Base</c>, the arena
/// offset of the first run the word starts. The entry of slot <c>i</c> is
/// <c>arena[Base + popcount(map &amp; bits 0..i) - 1]</c>; a word whose first slots continue the previous word's
/// last run reads offset <c>Base - 1</c>, that very run. The runs follow the node's words in the arena, so a
/// node with few runs is one or two cache lines: 64 bytes plus 4 bytes per run, plus up to 12 bytes of padding
/// before it that keeps every node's words at a multiple of 16 bytes from the arena's start.
/// </para>
/// <para>
/// Root node <c>r</c> (the top 16 address bits) sits at offset <c>r × </c><see cref="NodeLength"/>, its runs
/// elsewhere in the arena; a root node under which no prefix is longer than /16 holds one run. An address's
/// first word is therefore found from the address alone, with no root array read before it.
/// </para>
/// </remarks>
internal static class StrideTrie
{
    /// <summary>Address bits that select a root node of a large table (tunable: 16 gives 4 MiB of root nodes).</summary>
    internal const int RootStride = 16;

    /// <summary>
    /// Address bits that select a root node of a small table: 256 root nodes (16 KiB), one more node read per lookup.
    /// A router's tables (tenant classifier, service matchers) are small: 4 MiB of root nodes each made every
    /// configuration swap fault in tens of megabytes.
    /// </summary>
    internal const int SmallRootStride = 8;

    /// <summary>Routes up to which a table takes <see cref="SmallRootStride"/> (tunable).</summary>
    internal const int SmallTableRoutes = 4096;

    /// <summary>The root stride a table of <paramref name="routes"/> routes is built with.</summary>
    internal static int RootStrideFor(int routes) => routes <= SmallTableRoutes ? SmallRootStride : RootStride;

    /// <summary>Address bits each node consumes; the four 64-bit run maps assume 8.</summary>
    internal const int NodeStride = 8;

    internal const int RootNodes = 1 << RootStride;
    internal const int NodeSlots = 1 << NodeStride;
    internal const int WordsPerNode = NodeSlots / 64;

    /// <summary>
    /// Ints per word: the 64-bit run map, <c>Base</c>, and one unused int that keeps words 16-byte aligned
    /// relative to the arena, so that no word straddles two cache lines.
    /// </summary>
    internal const int WordLength = 4;

    /// <summary>Ints of a node's words, the runs excluded.</summary>
    internal const int NodeLength = WordsPerNode * WordLength;

    internal const int NoRoute = -1;
    internal const int ChildFlag = int.MinValue;
    internal const int OffsetMask = int.MaxValue;

    /// <summary>The entry of <paramref name="slot"/> (0..255) in the node at arena offset <paramref name="node"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static int Step(int[] arena, int node, int slot)
    {
        // Offsets are in range by construction of an immutable trie, so the bounds checks are skipped.
        ref var word = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(arena), node + ((slot >> 6) * WordLength));
        var map = Unsafe.ReadUnaligned<ulong>(ref Unsafe.As<int, byte>(ref word));
        var rank = BitOperations.PopCount(map & (ulong.MaxValue >> (63 - (slot & 63))));
        return Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(arena), Unsafe.Add(ref word, 2) + rank - 1);
    }
}

/// <summary>A route as the trie builder sees it: the prefix left-aligned in 128 bits (an IPv4 prefix shifted left by 96).</summary>
internal readonly record struct PrefixRoute(UInt128 Key, int Length, int Value) : IComparable<PrefixRoute>
{
    /// <summary>Address order, shorter prefix first: every prefix sorts before the prefixes it contains.</summary>
    public int CompareTo(PrefixRoute other)
    {
        var byKey = Key.CompareTo(other.Key);
        return byKey != 0 ? byKey : Length.CompareTo(other.Length);
    }
}

/// <summary>
/// Builds the arena of a <see cref="StrideTrie"/> from routes with distinct (prefix, length), depth first:
/// each node paints the routes that end within its stride into a scratch array of its slots, builds a child
/// for each slot that longer routes pass through (the child inherits the slot's painted value), then
/// compresses the scratch array. Not thread-safe; one instance builds one trie.
/// </summary>
internal sealed class StrideTrieBuilder
{
    private readonly PrefixRoute[] _routes;
    private readonly int _rootStride;
    private readonly int[][] _scratch;
    private int[] _arena;
    private int _length;

    private StrideTrieBuilder(PrefixRoute[] routes, int addressBits, int rootStride)
    {
        _routes = routes;
        _rootStride = rootStride;
        var rootNodes = 1 << rootStride;
        _length = rootNodes * StrideTrie.NodeLength;
        _arena = new int[_length + rootNodes];
        var levels = (addressBits - rootStride) / StrideTrie.NodeStride;
        _scratch = new int[levels + 1][];
        _scratch[0] = new int[rootNodes];
        for (var level = 1; level <= levels; level++)
        {
            _scratch[level] = new int[StrideTrie.NodeSlots];
        }
    }

    /// <summary>
    /// Builds the arena of <paramref name="routes"/>, which this method sorts in place. Every route has a
    /// length in 0..<paramref name="addressBits"/>, no bits set beyond it, and a value of at least 0; no two
    /// routes share prefix and length.
    /// </summary>
    /// <exception cref="InvalidOperationException">The trie would outgrow the largest array.</exception>
    public static int[] Build(PrefixRoute[] routes, int addressBits, int rootStride)
    {
        Array.Sort(routes);
        var builder = new StrideTrieBuilder(routes, addressBits, rootStride);
        var root = builder._scratch[0];
        builder.Fill(root, 0, routes.Length, 0, rootStride, StrideTrie.NoRoute);
        for (var node = 0; node < root.Length; node++)
        {
            if (root[node] >= StrideTrie.NoRoute)
            {
                builder.StoreUniform(node, root[node]);
            }
        }

        return builder._length == builder._arena.Length ? builder._arena : builder._arena[..builder._length];
    }

    /// <summary>
    /// Paints <paramref name="slots"/>, the node consuming bits <paramref name="depth"/>..depth+stride, with the
    /// routes <c>[from, to)</c>, all within the node's address range and longer than <paramref name="depth"/>
    /// (the root takes every route, /0 included), and builds the children below it. The root's children are
    /// the root nodes, stored at their fixed offsets.
    /// </summary>
    private void Fill(int[] slots, int from, int to, int depth, int stride, int inherited)
    {
        Array.Fill(slots, inherited);
        var end = depth + stride;
        for (var i = from; i < to; i++)
        {
            var route = _routes[i];
            if (route.Length <= end)
            {
                // Containing routes sort first, so a route overwrites exactly the ranges of routes it is nested in.
                slots.AsSpan(Slot(route.Key, depth, stride), 1 << (end - route.Length)).Fill(route.Value);
            }
        }

        var at = from;
        while (at < to)
        {
            if (_routes[at].Length <= end)
            {
                at++;
                continue;
            }

            // A route ending within this stride sorts before the longer routes of its slot, so the longer
            // routes of one slot are contiguous.
            var slot = Slot(_routes[at].Key, depth, stride);
            var next = at + 1;
            while (next < to && Slot(_routes[next].Key, depth, stride) == slot)
            {
                Debug.Assert(_routes[next].Length > end, "a shorter route follows the longer routes of its slot");
                next++;
            }

            var level = ((end - _rootStride) / StrideTrie.NodeStride) + 1;
            var child = _scratch[level];
            Fill(child, at, next, end, StrideTrie.NodeStride, slots[slot]);
            var rootNode = depth == 0 ? slot * StrideTrie.NodeLength : -1;
            slots[slot] = StrideTrie.ChildFlag | Compress(child, rootNode);
            at = next;
        }
    }

    private static int Slot(UInt128 key, int depth, int stride) => (int)((key << depth) >> (128 - stride));

    /// <summary>
    /// Stores the runs of a node's 256 slots, its words at <paramref name="rootNode"/> (a root node's offset)
    /// or, when that is negative, at the arena's end followed by its runs; returns the words' offset.
    /// </summary>
    private int Compress(int[] slots, int rootNode)
    {
        var node = rootNode;
        if (node < 0)
        {
            // Skip to a word boundary, so that the new node's words are aligned like the root nodes'.
            Reserve((StrideTrie.WordLength - (_length % StrideTrie.WordLength)) % StrideTrie.WordLength);
            node = Reserve(StrideTrie.NodeLength);
        }

        for (var w = 0; w < StrideTrie.WordsPerNode; w++)
        {
            ulong map = 0;
            var wordBase = _length;
            for (var bit = 0; bit < 64; bit++)
            {
                var slot = (w * 64) + bit;
                if (slot == 0 || slots[slot] != slots[slot - 1])
                {
                    map |= 1UL << bit;
                    // Reserve first: it may replace the arena, which an indexer on the left would read before.
                    var run = Reserve(1);
                    _arena[run] = slots[slot];
                }
            }

            WriteWord(node, w, map, wordBase);
        }

        return node;
    }

    /// <summary>Stores root node <paramref name="rootNode"/> as one run of <paramref name="entry"/>, as <see cref="Compress"/> stores 256 equal slots.</summary>
    private void StoreUniform(int rootNode, int entry)
    {
        var run = Reserve(1);
        _arena[run] = entry;
        var node = rootNode * StrideTrie.NodeLength;
        WriteWord(node, 0, 1, run);
        for (var w = 1; w < StrideTrie.WordsPerNode; w++)
        {
            WriteWord(node, w, 0, run + 1);
        }
    }

    private void WriteWord(int node, int word, ulong map, int wordBase)
    {
        var at = node + (word * StrideTrie.WordLength);
        Unsafe.WriteUnaligned(ref Unsafe.As<int, byte>(ref _arena[at]), map);
        _arena[at + 2] = wordBase;
    }

    /// <summary>Appends <paramref name="ints"/> ints to the arena; returns the offset of the first.</summary>
    private int Reserve(int ints)
    {
        var at = _length;
        if (at + ints > _arena.Length)
        {
            if ((long)at + ints > Array.MaxLength)
            {
                throw new InvalidOperationException("The route table outgrows the largest array.");
            }

            Array.Resize(ref _arena, (int)Math.Min(Array.MaxLength, Math.Max(at + ints, 2L * _arena.Length)));
        }

        _length = at + ints;
        return at;
    }
}
