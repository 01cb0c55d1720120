namespace Fabric.Dataplane.Neighbors;

/// <summary>
/// The waiting room of a <see cref="NeighborTable"/>: copies of frames that wait for a neighbour's link-layer address, kept
/// in memory allocated once by the constructor. A frame is stored in a chain of <see cref="ChunkBytes"/>-byte chunks of one
/// arena (<see cref="Chunks"/> of them, so the room holds at most <c>Chunks × ChunkBytes</c> bytes), and the frames of one
/// neighbour form a queue in arrival order. Adding, taking and dropping frames allocate nothing. Not thread-safe: the
/// table that owns it serializes every call.
/// </summary>
public sealed class HeldFrames
{
    /// <summary>Bytes of one chunk of the arena (tunable): a frame of a 1 500-octet MTU takes two.</summary>
    public const int ChunkBytes = 1024;

    /// <summary>
    /// Chunks of the arena (tunable): 8 MiB in all, room for <see cref="NeighborTable.MaxWaiting"/> frames of a 1 500-octet
    /// MTU. The kernel backs only the pages frames were ever copied to.
    /// </summary>
    public const int Chunks = 8192;

    /// <summary>The longest frame that may wait (a jumbo frame); a super-packet never waits (it leaves whole only to a known neighbour).</summary>
    public const int MaxFrameBytes = Io.PacketBuffer.DefaultCapacity;

    /// <summary>Chunks one neighbour's frames may take together (tunable): 208 KiB, Linux's <c>unres_qlen_bytes</c> default.</summary>
    public const int MaxChunksPerQueue = 208;

    private const int None = -1;

    // Never read before written: not zeroed, so the kernel backs only the pages frames were copied to.
    private readonly byte[] _arena = GC.AllocateUninitializedArray<byte>(Chunks * ChunkBytes);

    // The chunk after each chunk in its frame's chain, or in the free list.
    private readonly int[] _nextChunk = new int[Chunks];
    private readonly HeldFrame[] _frames;
    private int _freeChunk;
    private int _freeChunks = Chunks;
    private int _freeFrame;

    /// <summary>A room for at most <paramref name="maxFrames"/> frames in all.</summary>
    public HeldFrames(int maxFrames)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxFrames, 1);
        _frames = new HeldFrame[maxFrames];
        for (var i = 0; i < Chunks; i++)
        {
            _nextChunk[i] = i + 1 < Chunks ? i + 1 : None;
        }

        for (var i = 0; i < maxFrames; i++)
        {
            _frames[i].Next = i + 1 < maxFrames ? i + 1 : None;
        }
    }

    /// <summary>Frames held now, for every neighbour together.</summary>
    public int Count { get; private set; }

    /// <summary>
    /// Appends a copy of <paramref name="frame"/> to <paramref name="queue"/>; false (nothing kept) when the frame is empty or longer
    /// than <see cref="MaxFrameBytes"/>, the queue would take more than <see cref="MaxChunksPerQueue"/> chunks, or the room
    /// has no frame or chunks left.
    /// </summary>
    public bool TryAdd(ref FrameQueue queue, ReadOnlySpan<byte> frame)
    {
        var chunks = (frame.Length + ChunkBytes - 1) / ChunkBytes;
        if (frame.IsEmpty || frame.Length > MaxFrameBytes || _freeFrame == None || chunks > _freeChunks || queue.Chunks + chunks > MaxChunksPerQueue)
        {
            return false;
        }

        var slot = _freeFrame;
        _freeFrame = _frames[slot].Next;
        var first = None;
        var last = None;
        for (var offset = 0; offset < frame.Length; offset += ChunkBytes)
        {
            var chunk = _freeChunk;
            _freeChunk = _nextChunk[chunk];
            _nextChunk[chunk] = None;
            frame.Slice(offset, Math.Min(ChunkBytes, frame.Length - offset)).CopyTo(_arena.AsSpan(chunk * ChunkBytes, ChunkBytes));
            if (last == None)
            {
                first = chunk;
            }
            else
            {
                _nextChunk[last] = chunk;
            }

            last = chunk;
        }

        _freeChunks -= chunks;
        _frames[slot] = new HeldFrame { FirstChunk = first, Length = frame.Length, Next = None };
        if (queue.Count == 0)
        {
            queue.First = slot;
        }
        else
        {
            _frames[queue.Last].Next = slot;
        }

        queue.Last = slot;
        queue.Count++;
        queue.Chunks += chunks;
        Count++;
        return true;
    }

    /// <summary>
    /// Takes the oldest frame of <paramref name="queue"/>, copied into <paramref name="into"/> (at least
    /// <see cref="MaxFrameBytes"/> long), and returns its length; −1 when the queue is empty. Its memory is free again.
    /// </summary>
    public int TakeOldest(ref FrameQueue queue, Span<byte> into)
    {
        if (queue.Count == 0)
        {
            return -1;
        }

        var slot = queue.First;
        ref readonly var held = ref _frames[slot];
        var length = held.Length;
        var chunk = held.FirstChunk;
        for (var offset = 0; offset < length; offset += ChunkBytes)
        {
            _arena.AsSpan(chunk * ChunkBytes, Math.Min(ChunkBytes, length - offset)).CopyTo(into[offset..]);
            chunk = _nextChunk[chunk];
        }

        queue.First = held.Next;
        Free(ref queue, slot);
        return length;
    }

    /// <summary>Drops every frame of <paramref name="queue"/> and returns how many there were.</summary>
    public int Clear(ref FrameQueue queue)
    {
        var dropped = queue.Count;
        while (queue.Count > 0)
        {
            var slot = queue.First;
            queue.First = _frames[slot].Next;
            Free(ref queue, slot);
        }

        return dropped;
    }

    private void Free(ref FrameQueue queue, int slot)
    {
        ref var held = ref _frames[slot];
        var chunks = (held.Length + ChunkBytes - 1) / ChunkBytes;
        var last = held.FirstChunk;
        while (_nextChunk[last] != None)
        {
            last = _nextChunk[last];
        }

        _nextChunk[last] = _freeChunk;
        _freeChunk = held.FirstChunk;
        _freeChunks += chunks;
        held = new HeldFrame { Next = _freeFrame };
        _freeFrame = slot;
        queue.Count--;
        queue.Chunks -= chunks;
        Count--;
        if (queue.Count == 0)
        {
            queue.First = None;
            queue.Last = None;
        }
    }

    /// <summary>One held frame: its first chunk, its length, and the next frame of its queue (or of the free list).</summary>
    private struct HeldFrame
    {
        public int FirstChunk;
        public int Length;
        public int Next;
    }
}

/// <summary>
/// The frames that wait for one neighbour in a <see cref="HeldFrames"/> room (first and last frame, how many, the chunks
/// they take), and when the neighbour was first and last asked for. Start from <see cref="Empty"/>.
/// </summary>
public struct FrameQueue
{
    /// <summary>A queue with no frame, asked for at <paramref name="now"/>.</summary>
    public static FrameQueue Empty(long now) => new() { First = -1, Last = -1, FirstAsked = now, LastAsked = now };

    internal int First;
    internal int Last;
    internal int Chunks;

    /// <summary>Frames in the queue.</summary>
    public int Count { get; internal set; }

    /// <summary>When the neighbour was first asked for while these frames waited.</summary>
    public long FirstAsked { get; set; }

    /// <summary>When the neighbour was last asked for.</summary>
    public long LastAsked { get; set; }
}

/// <summary>
/// Where the frames that waited for a neighbour go once its address is learned (<see cref="NeighborTable.Learn{TSender}"/>):
/// each is handed over in a buffer that is the sender's to rewrite (the destination MAC) and send during the call, and
/// that is not valid after it.
/// </summary>
public interface IHeldFrameSender
{
    /// <summary>Sends (or drops) one frame that waited.</summary>
    void Send(Span<byte> frame);
}

/// <summary>A sender that drops the frames: for a router that forwards nothing (an HA standby).</summary>
public readonly struct DiscardHeldFrames : IHeldFrameSender
{
    /// <inheritdoc/>
    public void Send(Span<byte> frame)
    {
    }
}
