namespace Fabric.Dataplane.Io;

/// <summary>
/// One frame's bytes in a preallocated buffer, with the port it arrived on or leaves by.
/// Buffers are owned by a worker and reused batch after batch; nothing on the packet path allocates
/// one. Not thread-safe.
/// </summary>
public sealed class PacketBuffer
{
    /// <summary>Room for a jumbo frame; an IPv4 or IPv6 packet never needs more without GSO.</summary>
    public const int DefaultCapacity = 9216;

    /// <summary>Room for a super-packet a port with segmentation offload hands over: the kernel's 64 KiB GSO limit and an Ethernet header.</summary>
    public const int SuperPacketCapacity = 65536 + 64;

    /// <summary>A buffer on the pinned object heap: ports may hand its address to the kernel and keep it until a flush.</summary>
    public PacketBuffer(int capacity = DefaultCapacity) => Data = GC.AllocateArray<byte>(capacity, pinned: true);

    public byte[] Data { get; }

    /// <summary>Bytes of the frame, from the start of <see cref="Data"/>.</summary>
    public int Length { get; set; }

    /// <summary>The port the frame arrived on (after receive) or leaves by (before send).</summary>
    public int Port { get; set; }

    public Span<byte> Frame => Data.AsSpan(0, Length);

    /// <summary>Whether the frame is a super-packet and how its checksum stands (set by the port on receive).</summary>
    public SegmentationOffload Offload;
}

/// <summary>A fixed set of buffers a port fills on receive and drains on send. Not thread-safe.</summary>
public sealed class PacketBatch
{
    private readonly PacketBuffer[] _buffers;

    public PacketBatch(int capacity, int bufferCapacity = PacketBuffer.DefaultCapacity)
    {
        _buffers = new PacketBuffer[capacity];
        for (var i = 0; i < capacity; i++)
        {
            _buffers[i] = new PacketBuffer(bufferCapacity);
        }
    }

    public int Capacity => _buffers.Length;

    /// <summary>How many of the buffers hold frames, from index 0.</summary>
    public int Count { get; set; }

    public PacketBuffer this[int index] => _buffers[index];

    /// <summary>The next free buffer, or null when the batch is full.</summary>
    public PacketBuffer? Append()
    {
        if (Count == _buffers.Length)
        {
            return null;
        }

        var buffer = _buffers[Count++];
        buffer.Length = 0;
        buffer.Offload = default;
        return buffer;
    }
}
