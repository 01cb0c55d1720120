using Fabric.Dataplane.Io;

namespace Fabric.Dataplane.Pipeline.Workers;

/// <summary>
/// A bounded ring that carries frames from one worker (the one the kernel's fanout gave them to) to the worker that
/// owns their session (docs/dataplane.md "Workers"). Frames are copied into preallocated slots, so nothing allocates
/// and the producer's batch buffer is free again at once; the consumer processes a frame in its slot and then
/// releases it. Frames leave in the order they entered: a flow handed over stays in order. A full ring refuses the
/// frame (<see cref="TryWrite"/> returns false and counts it in <see cref="Refused"/>); the producer drops it.
/// Thread-safe for exactly one producer thread and one consumer thread.
/// </summary>
/// <remarks>
/// A frame larger than a slot (a super-packet, up to 64 KiB) goes whole into one of a few large slots, which the ring
/// uses in the same FIFO order as its slots: the slot that carries the frame in sequence names the large slot that holds
/// it, so small frames and super-packets of one flow still leave in the order they entered.
/// </remarks>
public sealed class HandOffRing
{
    private readonly PacketBuffer[] _slots;
    private readonly int _mask;
    private readonly PacketBuffer[] _large;

    // Per slot: the sequence number of the large slot holding its frame, or -1 when the frame is in the slot itself.
    private readonly long[] _largeOf;

    // Written by the producer only (the next large slot to fill); published with _tail.
    private long _largeTail;

    // Written by the consumer only (the next large slot to give back), read by the producer.
    private long _largeHead;

    // Written by the producer only (the next slot to fill), read by the consumer.
    private long _tail;

    // Written by the consumer only (the next slot to read), read by the producer.
    private long _head;

    private long _refused;

    /// <param name="capacity">Slots; a power of two.</param>
    /// <param name="slotCapacity">Bytes per slot: the largest frame that is not a super-packet.</param>
    /// <param name="superPacketSlots">Large slots (<see cref="PacketBuffer.SuperPacketCapacity"/> bytes each) for frames larger than a slot; 0 when the producer's ports never receive super-packets.</param>
    public HandOffRing(int capacity, int slotCapacity = PacketBuffer.DefaultCapacity, int superPacketSlots = 0)
    {
        if (capacity < 1 || (capacity & (capacity - 1)) != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(capacity), capacity, "a hand-off ring holds a power of two of slots");
        }

        ArgumentOutOfRangeException.ThrowIfNegative(superPacketSlots);
        _slots = new PacketBuffer[capacity];
        _largeOf = new long[capacity];
        for (var i = 0; i < capacity; i++)
        {
            _slots[i] = new PacketBuffer(slotCapacity);
        }

        _mask = capacity - 1;
        _large = new PacketBuffer[superPacketSlots];
        for (var i = 0; i < superPacketSlots; i++)
        {
            _large[i] = new PacketBuffer(PacketBuffer.SuperPacketCapacity);
        }
    }

    public int Capacity => _slots.Length;

    /// <summary>Super-packets (frames larger than a slot) the ring holds at most at once.</summary>
    public int SuperPacketCapacity => _large.Length;

    /// <summary>Frames waiting for the consumer (a moment's view from another thread).</summary>
    public int Count => (int)(Volatile.Read(ref _tail) - Volatile.Read(ref _head));

    /// <summary>Frames refused because the ring was full (or, for a frame larger than a slot, its large slots were, or it has none).</summary>
    public long Refused => Interlocked.Read(ref _refused);

    /// <summary>Producer: copies <paramref name="frame"/> (bytes, port, offload) into the next slot; false when the ring is full.</summary>
    public bool TryWrite(PacketBuffer frame)
    {
        ArgumentNullException.ThrowIfNull(frame);
        return TryWrite(frame.Frame, frame.Port, frame.Offload);
    }

    /// <summary>Producer: copies <paramref name="frame"/>, the port it came in on and its offload into the next slot; false when the ring is full.</summary>
    public bool TryWrite(ReadOnlySpan<byte> frame, int port, in SegmentationOffload offload)
    {
        var tail = _tail;
        var large = frame.Length > _slots[0].Data.Length;
        if (tail - Volatile.Read(ref _head) == _slots.Length
            || (large && (_largeTail - Volatile.Read(ref _largeHead) == _large.Length || frame.Length > PacketBuffer.SuperPacketCapacity)))
        {
            Interlocked.Increment(ref _refused);
            return false;
        }

        PacketBuffer slot;
        if (large)
        {
            slot = _large[_largeTail % _large.Length];
            _largeOf[tail & _mask] = _largeTail++;
        }
        else
        {
            slot = _slots[tail & _mask];
            _largeOf[tail & _mask] = -1;
        }

        frame.CopyTo(slot.Data);
        slot.Length = frame.Length;
        slot.Port = port;
        slot.Offload = offload;

        // Publishes the slot's bytes before the new tail: the consumer never sees a slot half written.
        Volatile.Write(ref _tail, tail + 1);
        return true;
    }

    /// <summary>Consumer: the oldest frame, left in its slot until <see cref="Release"/>; false when the ring is empty.</summary>
    public bool TryPeek(out PacketBuffer frame) => TryPeek(0, out frame);

    /// <summary>
    /// Consumer: the frame <paramref name="offset"/> places after the oldest, left in its slot until released (a consumer
    /// may process several, send them in one batch, then release them together); false when fewer frames wait.
    /// </summary>
    public bool TryPeek(int offset, out PacketBuffer frame)
    {
        var at = _head + offset;
        if (at >= Volatile.Read(ref _tail))
        {
            frame = null!;
            return false;
        }

        var large = _largeOf[at & _mask];
        frame = large < 0 ? _slots[at & _mask] : _large[large % _large.Length];
        return true;
    }

    /// <summary>Consumer: gives the <paramref name="count"/> oldest slots <see cref="TryPeek(int, out PacketBuffer)"/> returned back to the producer.</summary>
    public void Release(int count = 1)
    {
        // The large slots in use are taken and given back in order: the last one among the released frees all before it.
        for (var at = _head + count - 1; at >= _head; at--)
        {
            if (_largeOf[at & _mask] is var large and >= 0)
            {
                Volatile.Write(ref _largeHead, large + 1);
                break;
            }
        }

        Volatile.Write(ref _head, _head + count);
    }
}
