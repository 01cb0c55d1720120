using System.Runtime.InteropServices;

namespace Fabric.Dataplane.Io.Linux;

/// <summary>
/// Linux ABI values that Tmds.LibC 0.5.0 does not carry (it has AF_PACKET, SOL_PACKET, PACKET_AUXDATA,
/// PACKET_QDISC_BYPASS, PACKET_IGNORE_OUTGOING and the SIOC* requests, which are used from there).
/// Values from linux/if_ether.h, linux/if.h and linux/if_packet.h.
/// </summary>
public static class LinuxConstants
{
    /// <summary>Every protocol: what an AF_PACKET socket binds to in order to see all frames.</summary>
    public const ushort ETH_P_ALL = 0x0003;

    /// <summary>Interface names are at most 15 bytes and a terminating zero.</summary>
    public const int IFNAMSIZ = 16;

    /// <summary>The interface is administratively up.</summary>
    public const short IFF_UP = 0x1;

    /// <summary>tpacket_auxdata.tp_status: the transport checksum is partial (the sender offloaded it).</summary>
    public const uint TP_STATUS_CSUMNOTREADY = 1 << 3;

    /// <summary>tpacket_auxdata.tp_status: a VLAN tag was stripped and is in tp_vlan_tci.</summary>
    public const uint TP_STATUS_VLAN_VALID = 1 << 4;

    /// <summary>SO_RCVBUFFORCE / SO_SNDBUFFORCE (asm-generic/socket.h): set a socket buffer past the rmem_max / wmem_max limit (CAP_NET_ADMIN).</summary>
    public const int SO_RCVBUFFORCE = 33;

    public const int SO_SNDBUFFORCE = 32;

    /// <summary>Socket option (linux/if_packet.h): struct tpacket_stats, frames received and dropped since the last read.</summary>
    public const int PACKET_STATISTICS = 6;

    /// <summary>Socket option (linux/if_packet.h): every frame in and out is preceded by a struct virtio_net_hdr.</summary>
    public const int PACKET_VNET_HDR = 15;

    /// <summary>linux/if_packet.h: join a fanout group (value: group id | (mode | flags) &lt;&lt; 16).</summary>
    public const int PACKET_FANOUT = 18;

    /// <summary>Fanout mode: by the packet's (symmetric) flow hash.</summary>
    public const int PACKET_FANOUT_HASH = 0;

    /// <summary>Fanout flag: reassemble IP fragments before hashing, so every fragment reaches one socket.</summary>
    public const int PACKET_FANOUT_FLAG_DEFRAG = 0x8000;

    /// <summary>virtio_net_hdr.flags: the checksum field holds the pseudo-header sum; sum from csum_start and store at csum_offset.</summary>
    public const byte VIRTIO_NET_HDR_F_NEEDS_CSUM = 1;

    /// <summary>virtio_net_hdr.gso_type values (linux/virtio_net.h).</summary>
    public const byte VIRTIO_NET_HDR_GSO_NONE = 0;

    public const byte VIRTIO_NET_HDR_GSO_TCPV4 = 1;

    public const byte VIRTIO_NET_HDR_GSO_TCPV6 = 4;

    public const byte VIRTIO_NET_HDR_GSO_UDP_L4 = 5;

    /// <summary>virtio_net_hdr.gso_type bit: TCP with ECN (CWR only on the first segment).</summary>
    public const byte VIRTIO_NET_HDR_GSO_ECN = 0x80;
}

/// <summary>struct virtio_net_hdr (linux/virtio_net.h), little-endian as AF_PACKET exchanges it: 10 bytes.</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
internal struct VirtioNetHeader
{
    public const int Size = 10;

    public byte Flags;
    public byte GsoType;
    public ushort HeaderLength;
    public ushort GsoSize;
    public ushort ChecksumStart;
    public ushort ChecksumOffset;
}

/// <summary>struct ifreq (linux/if.h) with the union members the port uses; 40 bytes on every Linux ABI.</summary>
[StructLayout(LayoutKind.Explicit, Size = 40)]
internal unsafe struct InterfaceRequest
{
    [FieldOffset(0)]
    public fixed byte Name[LinuxConstants.IFNAMSIZ];

    [FieldOffset(16)]
    public int Index;

    [FieldOffset(16)]
    public short Flags;

    [FieldOffset(16)]
    public int Mtu;

    /// <summary>ifr_hwaddr.sa_family; the address itself follows in <see cref="HardwareAddress"/>.</summary>
    [FieldOffset(16)]
    public ushort HardwareFamily;

    [FieldOffset(18)]
    public fixed byte HardwareAddress[14];
}

/// <summary>struct tpacket_auxdata (linux/if_packet.h): what PACKET_AUXDATA delivers with each frame.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct PacketAuxData
{
    public uint Status;
    public uint Length;
    public uint SnapLength;
    public ushort MacOffset;
    public ushort NetworkOffset;
    public ushort VlanTci;
    public ushort VlanTpid;
}

/// <summary>
/// The PACKET_MMAP ABI every ring version shares (linux/if_packet.h, Documentation/networking/packet_mmap.rst): the
/// socket options that choose a layout and set up a ring (from a <see cref="RingRequest"/>), and the layout versions.
/// </summary>
public static class Tpacket
{
    /// <summary>Socket option: set up a receive ring.</summary>
    public const int PACKET_RX_RING = 5;

    /// <summary>Socket option: the rings' layout version (set before a ring).</summary>
    public const int PACKET_VERSION = 10;

    /// <summary>Socket option: set up a transmit ring.</summary>
    public const int PACKET_TX_RING = 13;

    /// <summary>enum tpacket_versions: TPACKET_V2, one frame a slot of a fixed size.</summary>
    public const int TPACKET_V2 = 1;

    /// <summary>enum tpacket_versions: TPACKET_V3, block-based.</summary>
    public const int TPACKET_V3 = 2;
}

/// <summary>
/// The PACKET_MMAP TPACKET_V2 transmit ring's ABI (the lab bench's sender uses it): the status values of
/// struct tpacket2_hdr.tp_status on a transmit ring and where a slot holds the frame's length and the frame.
/// </summary>
public static class TpacketV2
{
    /// <summary>tp_status: the slot is free for a frame.</summary>
    public const uint TP_STATUS_AVAILABLE = 0;

    /// <summary>tp_status: the slot's frame waits for the next send(2).</summary>
    public const uint TP_STATUS_SEND_REQUEST = 1;

    /// <summary>tp_status: the kernel is sending the slot's frame.</summary>
    public const uint TP_STATUS_SENDING = 2;

    /// <summary>tp_status: the kernel refused the slot's frame as malformed.</summary>
    public const uint TP_STATUS_WRONG_FORMAT = 4;

    /// <summary>tpacket2_hdr.tp_len: the frame's length.</summary>
    public const int Length = 4;

    /// <summary>
    /// Where a slot's frame starts: TPACKET_ALIGN(sizeof(struct tpacket2_hdr)), where the kernel reads a transmitted
    /// frame when PACKET_TX_HAS_OFF is not set.
    /// </summary>
    public const int FrameOffset = 32;
}

/// <summary>
/// The PACKET_MMAP TPACKET_V3 receive ring's ABI: status bits, and the field offsets of struct tpacket_block_desc and
/// struct tpacket3_hdr on 64-bit Linux.
/// </summary>
internal static class TpacketV3
{
    /// <summary>block_status: the kernel owns the block (the reader hands it back by writing this).</summary>
    public const uint TP_STATUS_KERNEL = 0;

    /// <summary>block_status: the block is retired and belongs to the reader.</summary>
    public const uint TP_STATUS_USER = 1;

    /// <summary>tpacket_block_desc.hdr.bh1.block_status.</summary>
    public const int BlockStatus = 8;

    /// <summary>tpacket_block_desc.hdr.bh1.num_pkts.</summary>
    public const int BlockPackets = 12;

    /// <summary>tpacket_block_desc.hdr.bh1.offset_to_first_pkt.</summary>
    public const int BlockFirstPacket = 16;

    /// <summary>tpacket3_hdr.tp_next_offset (0 for a block's last frame).</summary>
    public const int NextOffset = 0;

    /// <summary>tpacket3_hdr.tp_snaplen: the bytes in the ring.</summary>
    public const int SnapLength = 12;

    /// <summary>tpacket3_hdr.tp_len: the frame's length on the wire.</summary>
    public const int Length = 16;

    /// <summary>tpacket3_hdr.tp_status (TP_STATUS_CSUMNOTREADY and friends, as in tpacket_auxdata).</summary>
    public const int Status = 20;

    /// <summary>tpacket3_hdr.tp_mac: the frame's offset from the header; with PACKET_VNET_HDR the virtio_net_hdr sits just before it.</summary>
    public const int MacOffset = 24;

    /// <summary>The struct sockaddr_ll's sll_pkttype after the header, at TPACKET_ALIGN(sizeof(struct tpacket3_hdr)) + 10.</summary>
    public const int PacketType = 48 + 10;
}

/// <summary>
/// struct tpacket_req3 (linux/if_packet.h): a ring's geometry. Its first four fields are struct tpacket_req, all a
/// TPACKET_V2 ring reads (<see cref="Tpacket2Length"/> octets of it).
/// </summary>
[StructLayout(LayoutKind.Sequential)]
public struct RingRequest
{
    /// <summary>sizeof(struct tpacket_req): the part of the request a TPACKET_V1 or V2 ring is set up from.</summary>
    public const int Tpacket2Length = 4 * sizeof(uint);

    public uint BlockSize;
    public uint BlockCount;
    public uint FrameSize;
    public uint FrameCount;
    public uint RetireTimeoutMs;
    public uint PrivateSize;
    public uint FeatureRequest;
}
