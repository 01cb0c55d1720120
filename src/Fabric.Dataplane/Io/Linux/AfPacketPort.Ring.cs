using Fabric.Dataplane.Wire;
using static Tmds.Linux.LibC;

namespace Fabric.Dataplane.Io.Linux;

/// <summary>
/// The port's PACKET_MMAP receive path (<see cref="Model.PacketIo.Ring"/>): a TPACKET_V3 ring of blocks mapped from the
/// socket. The kernel writes frames into the open block and hands it over (block_status TP_STATUS_USER) when it is full
/// or <see cref="RingRetireTimeoutMs"/> after its first frame; only then does the socket poll readable, so the worker's
/// epoll wait works unchanged. Receive walks the handed-over blocks without a system call, copies each frame into the
/// batch (the batch's buffers are the worker's: the pipeline rewrites frames in place and queues them for sendmmsg),
/// and gives a block back (TP_STATUS_KERNEL) once its last frame is copied. A block may be left half-read when the batch
/// fills; the next Receive resumes inside it. With PACKET_VNET_HDR the kernel writes the virtio_net_hdr just before
/// the frame (at tp_mac − 10), so super-packets arrive whole as on the recvmmsg path.
/// </summary>
public sealed unsafe partial class AfPacketPort
{
    /// <summary>
    /// One block: a page multiple that holds a whole 64 KiB super-packet with its headers (the kernel clamps a frame
    /// to a block, which would cut a super-packet) and dozens of small frames (tunable).
    /// </summary>
    public const int RingBlockBytes = 128 << 10;

    /// <summary>Blocks in the ring: 4 MiB in all, half the recvmmsg path's 8 MiB socket buffer (tunable).</summary>
    public const int RingBlocks = 32;

    /// <summary>
    /// How long the kernel keeps a block open for more frames before it hands it over anyway, in milliseconds: the
    /// smallest the ABI takes. It bounds the delay a frame on a quiet link sees (one timer tick at least).
    /// </summary>
    public const int RingRetireTimeoutMs = 1;

    /// <summary>tp_frame_size: TPACKET_V3 frames have no fixed size; the kernel only checks this divides a block.</summary>
    private const int RingFrameBytes = 2048;

    private byte* _ring;
    private int _ringBlock;
    private byte* _ringNext;
    private int _ringLeft;

    /// <summary>Whether the port receives through a TPACKET_V3 ring.</summary>
    public bool ReceivesFromRing => _ring != null;

    /// <summary>Blocks the port read and gave back to the kernel: frames per block is the ring's batching.</summary>
    public long RingBlocksRead { get; private set; }

    private void MapRing()
    {
        var version = Tpacket.TPACKET_V3;
        if (setsockopt(_fd, SOL_PACKET, Tpacket.PACKET_VERSION, &version, sizeof(int)) != 0)
        {
            FailRing("choosing TPACKET_V3");
        }

        var request = new RingRequest
        {
            BlockSize = RingBlockBytes,
            BlockCount = RingBlocks,
            FrameSize = RingFrameBytes,
            FrameCount = RingBlockBytes / RingFrameBytes * RingBlocks,
            RetireTimeoutMs = RingRetireTimeoutMs,
        };
        if (setsockopt(_fd, SOL_PACKET, Tpacket.PACKET_RX_RING, &request, sizeof(RingRequest)) != 0)
        {
            FailRing("setting up a receive ring");
        }

        var mapped = mmap(null, RingBlockBytes * RingBlocks, PROT_READ | PROT_WRITE, MAP_SHARED, _fd, 0);
        if (mapped == (void*)-1)
        {
            FailRing("mapping the receive ring");
        }

        _ring = (byte*)mapped;
    }

    private void FailRing(string what)
    {
        var error = errno;
        Release();
        throw new PacketPortException($"{what} on {Name} failed: {Describe(error)}", error);
    }

    private void UnmapRing()
    {
        if (_ring != null)
        {
            _ = munmap(_ring, RingBlockBytes * RingBlocks);
            _ring = null;
        }
    }

    private int ReceiveFromRing(PacketBatch batch)
    {
        var added = 0;
        while (batch.Count < batch.Capacity)
        {
            if (_ringLeft == 0 && !OpenNextBlock())
            {
                break;
            }

            var frameHeader = _ringNext;
            _ringNext += *(uint*)(frameHeader + TpacketV3.NextOffset);
            if (--_ringLeft == 0)
            {
                // Copy before the block goes back: the frame's bytes live in it.
                var taken = TakeFrame(batch, frameHeader);
                ReleaseBlock();
                added += taken;
            }
            else
            {
                added += TakeFrame(batch, frameHeader);
            }
        }

        return added;
    }

    /// <summary>Starts on the next block if the kernel handed it over; false when it still fills it.</summary>
    private bool OpenNextBlock()
    {
        var block = _ring + ((long)_ringBlock * RingBlockBytes);
        if ((Volatile.Read(ref *(uint*)(block + TpacketV3.BlockStatus)) & TpacketV3.TP_STATUS_USER) == 0)
        {
            return false;
        }

        // The acquire read above orders these after the kernel's writes that precede its status store.
        _ringLeft = (int)*(uint*)(block + TpacketV3.BlockPackets);
        _ringNext = block + *(uint*)(block + TpacketV3.BlockFirstPacket);
        if (_ringLeft == 0)
        {
            ReleaseBlock();
            return OpenNextBlock();
        }

        return true;
    }

    private void ReleaseBlock()
    {
        var block = _ring + ((long)_ringBlock * RingBlockBytes);
        Volatile.Write(ref *(uint*)(block + TpacketV3.BlockStatus), TpacketV3.TP_STATUS_KERNEL);
        _ringBlock = (_ringBlock + 1) % RingBlocks;
        RingBlocksRead++;
    }

    /// <summary>Copies one ring frame into the batch; 0 when it was skipped (own, cut short by the block, an offload Fabric does not cut).</summary>
    private int TakeFrame(PacketBatch batch, byte* frameHeader)
    {
        if (frameHeader[TpacketV3.PacketType] == PACKET_OUTGOING)
        {
            OwnFramesSkipped++;
            return 0;
        }

        var captured = *(uint*)(frameHeader + TpacketV3.SnapLength);
        var length = (int)captured;
        if (captured != *(uint*)(frameHeader + TpacketV3.Length) || length > batch[batch.Count].Data.Length)
        {
            Truncated++;
            return 0;
        }

        var frame = frameHeader + *(ushort*)(frameHeader + TpacketV3.MacOffset);
        SegmentationOffload offload = default;
        var partial = (*(uint*)(frameHeader + TpacketV3.Status) & LinuxConstants.TP_STATUS_CSUMNOTREADY) != 0;
        if (AcceptsSuperPackets)
        {
            if (!TryReadOffload(in *(VirtioNetHeader*)(frame - VirtioNetHeader.Size), out offload))
            {
                UnsupportedOffloads++;
                return 0;
            }

            partial |= offload.ChecksumPartial;
        }

        var buffer = batch.Append()!;
        new ReadOnlySpan<byte>(frame, length).CopyTo(buffer.Data);
        Deliver(buffer, length, partial, offload);
        return 1;
    }
}
