namespace Fabric.Dataplane.Io;

/// <summary>What kind of super-packet a frame is (the kernel's GSO types as virtio-net names them).</summary>
public enum SuperPacketKind : byte
{
    /// <summary>An ordinary frame: one packet.</summary>
    None = 0,

    /// <summary>TCP over IPv4 to be cut into segments of <see cref="SegmentationOffload.SegmentSize"/> payload octets.</summary>
    TcpV4 = 1,

    /// <summary>TCP over IPv6, likewise.</summary>
    TcpV6 = 2,

    /// <summary>UDP (IPv4 or IPv6) to be cut into datagrams of <see cref="SegmentationOffload.SegmentSize"/> payload octets each (UDP_SEGMENT).</summary>
    UdpL4 = 3,
}

/// <summary>
/// The offload a frame carries besides its bytes: whether it is a super-packet (many TCP segments or UDP
/// datagrams sharing one header, cut up later by the kernel or by <see cref="Pipeline.SuperPacket"/>), and
/// whether its transport checksum field holds only the pseudo-header sum (partial: the rest is computed over
/// the bytes from <see cref="ChecksumStart"/> when the frame is cut or leaves). Offsets count from the
/// Ethernet header. A plain value; the default is an ordinary frame with a complete checksum.
/// </summary>
public struct SegmentationOffload
{
    public SuperPacketKind Kind;

    /// <summary>The explicit congestion notification variant of TCP segmentation (CWR only on the first segment).</summary>
    public bool Ecn;

    /// <summary>Payload octets per segment; 0 when <see cref="Kind"/> is None.</summary>
    public ushort SegmentSize;

    /// <summary>Octets of headers (Ethernet, IP, transport) every segment repeats.</summary>
    public ushort HeaderLength;

    /// <summary>The transport checksum field holds only the pseudo-header sum.</summary>
    public bool ChecksumPartial;

    /// <summary>Where checksumming starts (the transport header) when <see cref="ChecksumPartial"/>.</summary>
    public ushort ChecksumStart;

    /// <summary>Where the checksum field sits, from <see cref="ChecksumStart"/>.</summary>
    public ushort ChecksumOffset;

    public readonly bool IsSuperPacket => Kind != SuperPacketKind.None;
}
