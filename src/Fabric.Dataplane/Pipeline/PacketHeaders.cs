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
    // Ordered so that the struct packs into 64 octets (one store clears it): the one-octet fields share the first word.
    public ushort EtherType;
    public bool IsIpv6;

    /// <summary>For TCP, the segment's header length in octets (20–60); else 0.</summary>
    public byte TcpHeaderLength;

    public int NetworkOffset;
    public int TransportOffset;

    /// <summary>For TCP, the segment's sequence number; else 0. Nothing after the parse rewrites it (SVR leaves the TCP header as it is).</summary>
    public uint TcpSequence;

    public SessionKey Key;
    public byte TcpFlags;
    public bool IsIcmpError;
    public int IpLength;
}
