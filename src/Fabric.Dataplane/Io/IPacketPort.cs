using Fabric.Dataplane.Wire;

namespace Fabric.Dataplane.Io;

/// <summary>
/// A forwarding interface as the pipeline sees it: frames in and out in batches. Linux sockets,
/// in-memory links and test decorators implement it alike. A port is used by one worker at a time.
/// </summary>
public interface IPacketPort
{
    string Name { get; }

    MacAddress Mac { get; }

    int Mtu { get; }

    /// <summary>Appends received frames to <paramref name="batch"/> until it is full or none wait; returns how many it added. Never blocks.</summary>
    int Receive(PacketBatch batch);

    /// <summary>
    /// Sends one frame now, after any frames <see cref="Enqueue"/> queued. Returns false when the port cannot take it
    /// (the frame is dropped and counted by the caller). The frame may live in any memory and be reused at once.
    /// </summary>
    bool Send(ReadOnlySpan<byte> frame);

    /// <summary>
    /// Whether <see cref="SendSuperPacket"/> works: the port hands super-packets to a device that cuts them up.
    /// When false the worker cuts them into packets itself and sends those one by one.
    /// </summary>
    bool AcceptsSuperPackets => false;

    /// <summary>Sends a super-packet (or a frame with a partial checksum) with its offload. False as for <see cref="Send"/>.</summary>
    bool SendSuperPacket(ReadOnlySpan<byte> frame, in SegmentationOffload offload) => false;

    /// <summary>
    /// Queues a frame (with its offload, for a super-packet) to leave with the next <see cref="Flush"/>, after the
    /// frames queued before it. Contract: the frame's memory is pinned and unchanged until that flush (the worker's
    /// batch buffers are). A port that does not batch sends at once. False when the port cannot take the frame.
    /// </summary>
    bool Enqueue(ReadOnlySpan<byte> frame, in SegmentationOffload offload) =>
        offload.IsSuperPacket || offload.ChecksumPartial ? SendSuperPacket(frame, offload) : Send(frame);

    /// <summary>Sends every queued frame in order (one system call per batch where the port can); returns how many the port could not send.</summary>
    int Flush() => 0;
}
