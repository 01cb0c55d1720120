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
