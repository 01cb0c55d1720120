using Fabric.Dataplane.Wire;

namespace Fabric.Dataplane.Io.InMemory;

/// <summary>A port that receives nothing and counts what is sent to it, for benchmarks. Not thread-safe.</summary>
public sealed class DiscardPort(string name, MacAddress mac, int mtu = 1500) : IPacketPort
{
    public string Name { get; } = name;

    public MacAddress Mac { get; } = mac;

    public int Mtu { get; } = mtu;

    public long Sent { get; private set; }

    public long BytesSent { get; private set; }

    public int Receive(PacketBatch batch) => 0;

    public bool Send(ReadOnlySpan<byte> frame)
    {
        Sent++;
        BytesSent += frame.Length;
        return true;
    }
}
