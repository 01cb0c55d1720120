using Fabric.Dataplane.Sessions;

namespace Fabric.Dataplane.Pipeline;

/// <summary>
/// Where a packet's headers are and its 5-tuple, as <see cref="ParseStage"/> finds them (stages that change the packet's
/// family or length write them again). A <see cref="PacketContext"/> reads and writes them in place: the worker keeps a
/// receive batch's in an array while the batch's sessions are looked up together, and its packets then run on them without
/// a copy.
/// </summary>
public struct PacketHeaders
{
    public ushort EtherType;
    public int NetworkOffset;
    public int TransportOffset;
    public bool IsIpv6;
    public SessionKey Key;
    public byte TcpFlags;
    public bool IsIcmpError;
    public int IpLength;
}
