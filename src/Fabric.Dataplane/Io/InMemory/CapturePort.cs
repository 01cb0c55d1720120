using Fabric.Dataplane.Wire;

namespace Fabric.Dataplane.Io.InMemory;

/// <summary>
/// A port that receives nothing and keeps a copy of the last frame sent, in a buffer allocated once: a
/// benchmark hands it on to the next router without queues or allocation. Not thread-safe.
/// </summary>
public sealed class CapturePort(string name, MacAddress mac, int mtu = 1500) : IPacketPort
{
    private readonly byte[] _last = new byte[PacketBuffer.DefaultCapacity];

    public string Name { get; } = name;

    public MacAddress Mac { get; } = mac;

    public int Mtu { get; } = mtu;

    /// <summary>The last frame sent (empty before any).</summary>
    public ReadOnlySpan<byte> Last => _last.AsSpan(0, LastLength);

    public int LastLength { get; private set; }

    /// <summary>Frames sent so far.</summary>
    public long Sent { get; private set; }

    public int Receive(PacketBatch batch) => 0;

    public bool Send(ReadOnlySpan<byte> frame)
    {
        frame.CopyTo(_last);
        LastLength = frame.Length;
        Sent++;
        return true;
    }
}
