using Fabric.Dataplane.Wire;

namespace Fabric.Dataplane.Io.InMemory;

/// <summary>
/// A port that receives nothing and drops what is sent to it, for benchmarks. It implements <see cref="Enqueue"/> itself,
/// as <see cref="Linux.AfPacketPort"/> does, so that a benchmark's packet reaches the port by the one interface call a real
/// port's does (the interface's default would call <see cref="Send"/> through a second). Thread-safe: it keeps no state.
/// </summary>
public sealed class DiscardPort(string name, MacAddress mac, int mtu = 1500) : IPacketPort
{
    public string Name { get; } = name;

    public MacAddress Mac { get; } = mac;

    public int Mtu { get; } = mtu;

    public int Receive(PacketBatch batch) => 0;

    public bool Send(ReadOnlySpan<byte> frame) => true;

    /// <summary>Takes a frame as <see cref="Send"/> does; refuses a super-packet or a partial checksum, as a port without offloads does.</summary>
    public bool Enqueue(ReadOnlySpan<byte> frame, in SegmentationOffload offload) => !(offload.IsSuperPacket || offload.ChecksumPartial);
}
