using System.Diagnostics;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Fabric.Dataplane.Forwarding.Lpm;

/// <summary>
/// The layout shared by the IPv4 and IPv6 route tables: a leaf-pushed multibit trie whose root consumes
/// <see cref="RootStride"/> address bits and whose inner nodes consume <see cref="NodeStride"/> bits each,
/// stored compressed in the manner of Poptrie (Asai and Ohara, SIGCOMM 2015).
/// </summary>
/// <remarks>
/// <para>
/// A slot holds either a leaf, the value of the longest prefix covering the slot's whole address range
/// (<c>-1</c>, <see cref="NoRoute"/>, when none does), or a reference to a child node,
/// <c>int.MinValue | nodeIndex</c>. Values are at least 0 and node indices below 2^29, so an entry
/// <c>&gt;= -1</c> is a leaf and any other entry is a child reference: a lookup returns the first leaf it meets.
/// </para>
/// <para>
/// A node's 256 slots are stored as their runs of equal entries: four <see cref="NodeWord"/>s, one per 64
/// slots, whose bit <c>i</c> is set when slot <c>i</c> starts a run (it is the node's first slot or differs
/// from the slot before), and the run entries appended to one shared entry array. The entry of slot
/// <c>i</c> is <c>entries[word.Base + popcount(word.Bits &amp; bits 0..i) - 1]</c>, where <c>Base</c> counts the
/// runs started before the word; a word whose first slots continue the previous word's last run reads
/// index <c>Base - 1</c>, that very run. A node costs 64 bytes plus 4 bytes per run.
/// </para>
/// <para>
/// The root is either a plain array of 65,536 slots (<see cref="StrideTrieArrays.Root"/>), or, with direct
/// root nodes, absent: node <c>i</c> for <c>i</c> below 65,536 is then the node of the slots under root slot
/// <c>i</c> (a uniform node when the root slot is a leaf), so the word of an address's first node step is
/// indexed by the address's top 18 bits alone and the root read leaves the lookup's chain of dependent loads.
/// </para>
/// </remarks>
internal static class StrideTrie
{
    /// <summary>Address bits the root array consumes (tunable: 16 gives a 256 KiB root).</summary>
    internal const int RootStride = 16;

    /// <summary>Address bits each inner node consumes; the 256-bit run bitmap assumes 8.</summary>
    internal const int NodeStride = 8;

    internal const int RootSlots = 1 << RootStride;
    internal const int NodeSlots = 1 << NodeStride;
    internal const int WordsPerNode = NodeSlots / 64;

    internal const int NoRoute = -1;
    internal const int ChildFlag = int.MinValue;
    internal const int NodeIndexMask = int.MaxValue;

    /// <summary>The most nodes a trie holds, so that node index × <see cref="WordsPerNode"/> fits an int.</summary>
    internal const int MaxNodes = 1 << 29;

    /// <summary>The entry of <paramref name="slot"/> (0..255) in node <paramref name="node"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static int Step(NodeWord[] words, int[] entries, int node, int slot)
    {
        // Indices are in range by construction of an immutable trie, so the bounds checks are skipped.
        ref readonly var word = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(words), (node * WordsPerNode) + (slot >> 6));
        var rank = BitOperations.PopCount(word.Bits & (ulong.MaxValue >> (63 - (slot & 63))));
        return Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(entries), word.Base + rank - 1);
    }
}

/// <summary>One quarter of a compressed node: the run-start bits of 64 slots and the runs started before them.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct NodeWord
{
    public ulong Bits;
    public int Base;
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
/// The arrays of a built trie; <see cref="Root"/> is empty with direct root nodes. <see cref="MemoryBytes"/> counts their payload: 4 bytes per root slot and
/// entry, 16 per <see cref="NodeWord"/> (12 bytes of fields padded to 16).
/// </summary>
internal sealed record StrideTrieArrays(int[] Root, NodeWord[] Words, int[] Entries)
{
    public long MemoryBytes => (Root.LongLength * sizeof(int)) + (Words.LongLength * Unsafe.SizeOf<NodeWord>()) + (Entries.LongLength * sizeof(int));
}

/// <summary>
/// Builds the arrays of a <see cref="StrideTrie"/> from routes with distinct (prefix, length), depth first:
/// each node paints the routes that end within its stride into a scratch array of its slots, builds a child
/// for each slot that longer routes pass through (the child inherits the slot's painted value), then
/// compresses the scratch array. Not thread-safe; one instance builds one trie.
/// </summary>
internal sealed class StrideTrieBuilder
{
    private readonly PrefixRoute[] _routes;
    private readonly bool _directRoot;
    private readonly int[][] _scratch;
    private NodeWord[] _words;
    private int _wordCount;
    private int[] _entries = new int[4096];
    private int _entryCount;

    private StrideTrieBuilder(PrefixRoute[] routes, int addressBits, bool directRoot)
    {
        _routes = routes;
        _directRoot = directRoot;
        _wordCount = directRoot ? StrideTrie.RootSlots * StrideTrie.WordsPerNode : 0;
        _words = new NodeWord[Math.Max(_wordCount, 1024)];
        var levels = (addressBits - StrideTrie.RootStride) / StrideTrie.NodeStride;
        _scratch = new int[levels + 1][];
        for (var level = 1; level <= levels; level++)
        {
            _scratch[level] = new int[StrideTrie.NodeSlots];
        }
    }

    /// <summary>
    /// Builds the trie of <paramref name="routes"/>, which this method sorts in place. Every route has a
    /// length in 0..<paramref name="addressBits"/>, no bits set beyond it, and a value of at least 0; no two
    /// routes share prefix and length. With <paramref name="directRoot"/>, the root is held as direct root
    /// nodes rather than an array.
    /// </summary>
    public static StrideTrieArrays Build(PrefixRoute[] routes, int addressBits, bool directRoot)
    {
        Array.Sort(routes);
        var builder = new StrideTrieBuilder(routes, addressBits, directRoot);
        var root = new int[StrideTrie.RootSlots];
        builder.Fill(root, 0, routes.Length, 0, StrideTrie.RootStride, StrideTrie.NoRoute);
        if (directRoot)
        {
            for (var slot = 0; slot < root.Length; slot++)
            {
                if (root[slot] >= StrideTrie.NoRoute)
                {
                    builder.StoreUniform(slot, root[slot]);
                }
            }

            root = [];
        }

        return new StrideTrieArrays(root, Trimmed(builder._words, builder._wordCount), Trimmed(builder._entries, builder._entryCount));
    }

    /// <summary>
    /// Paints <paramref name="slots"/>, the node consuming bits <paramref name="depth"/>..depth+stride, with the
    /// routes <c>[from, to)</c>, all within the node's address range and longer than <paramref name="depth"/>
    /// (the root takes every route, /0 included), and builds the children below it.
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

            var level = ((end - StrideTrie.RootStride) / StrideTrie.NodeStride) + 1;
            var child = _scratch[level];
            Fill(child, at, next, end, StrideTrie.NodeStride, slots[slot]);
            var reserved = _directRoot && depth == 0 ? slot : -1;
            slots[slot] = StrideTrie.ChildFlag | Compress(child, reserved);
            at = next;
        }
    }

    private static int Slot(UInt128 key, int depth, int stride) => (int)((key << depth) >> (128 - stride));

    /// <summary>
    /// Stores the runs of a node's 256 slots as node <paramref name="reserved"/> (a direct root node) or, when
    /// it is negative, as a new node; returns the node's index.
    /// </summary>
    private int Compress(int[] slots, int reserved)
    {
        var node = reserved >= 0 ? reserved : _wordCount / StrideTrie.WordsPerNode;
        if (node >= StrideTrie.MaxNodes)
        {
            throw new InvalidOperationException($"A route table holds at most {StrideTrie.MaxNodes} trie nodes.");
        }

        if (reserved < 0)
        {
            EnsureCapacity(ref _words, _wordCount + StrideTrie.WordsPerNode);
            _wordCount += StrideTrie.WordsPerNode;
        }

        EnsureCapacity(ref _entries, _entryCount + StrideTrie.NodeSlots);
        for (var w = 0; w < StrideTrie.WordsPerNode; w++)
        {
            ulong bits = 0;
            var wordBase = _entryCount;
            for (var bit = 0; bit < 64; bit++)
            {
                var slot = (w * 64) + bit;
                if (slot == 0 || slots[slot] != slots[slot - 1])
                {
                    bits |= 1UL << bit;
                    _entries[_entryCount++] = slots[slot];
                }
            }

            _words[(node * StrideTrie.WordsPerNode) + w] = new NodeWord { Bits = bits, Base = wordBase };
        }

        return node;
    }

    /// <summary>Stores node <paramref name="node"/> as one run of <paramref name="entry"/>: what <see cref="Compress"/> makes of 256 equal slots.</summary>
    private void StoreUniform(int node, int entry)
    {
        EnsureCapacity(ref _entries, _entryCount + 1);
        var first = node * StrideTrie.WordsPerNode;
        _words[first] = new NodeWord { Bits = 1, Base = _entryCount };
        for (var w = 1; w < StrideTrie.WordsPerNode; w++)
        {
            _words[first + w] = new NodeWord { Bits = 0, Base = _entryCount + 1 };
        }

        _entries[_entryCount++] = entry;
    }

    private static T[] Trimmed<T>(T[] array, int count) => count == array.Length ? array : array[..count];

    private static void EnsureCapacity<T>(ref T[] array, int needed)
    {
        if (needed > array.Length)
        {
            Array.Resize(ref array, Math.Max(needed, (int)Math.Min(Array.MaxLength, 2L * array.Length)));
        }
    }
}
