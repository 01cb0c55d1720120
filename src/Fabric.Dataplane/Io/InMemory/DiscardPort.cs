using Fabric.Dataplane.Wire;

namespace Fabric.Dataplane.Io.InMemory;

/// <summary>A port that receives nothing and drops what is sent to it, for benchmarks. Thread-safe: it keeps no state.</summary>
public sealed class DiscardPort(string name, MacAddress mac, int mtu = 1500) : IPacketPort
{
    public string Name { get; } = name;

    public MacAddress Mac { get; } = mac;

    public int Mtu { get; } = mtu;

    public int Receive(PacketBatch batch) => 0;

    public bool Send(ReadOnlySpan<byte> frame) => true;
}
