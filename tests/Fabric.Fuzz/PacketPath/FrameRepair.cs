using System.Buffers.Binary;
using Fabric.Dataplane.Wire;

namespace Fabric.Fuzz.PacketPath;

/// <summary>
/// Makes a mutated frame's lengths and checksums agree with its bytes (IPv4 total length and header checksum,
/// IPv6 payload length, UDP length, TCP/UDP/ICMP/ICMPv6 checksums), as far as its headers parse. A fuzzer cannot
/// compute a checksum; without this nearly every mutation would stop at the parser as malformed.
/// </summary>
public static class FrameRepair
{
    public static void Repair(Span<byte> frame)
    {
        if (!EthernetFrame.TryCreate(frame, out var ethernet) || ethernet.HasVlanTag)
        {
            return;
        }

        var network = ethernet.Payload;
        switch (ethernet.EtherType)
        {
            case EtherType.Ipv4 when network.Length >= 20:
                BinaryPrimitives.WriteUInt16BigEndian(network[Ipv4Packet.TotalLengthOffset..], (ushort)Math.Min(network.Length, ushort.MaxValue));
                if (Ipv4Packet.TryCreate(network, out var v4))
                {
                    v4.UpdateHeaderChecksum();
                    if (v4.FragmentOffset == 0)
                    {
                        Transport(v4.Protocol, v4.Payload, v4.PseudoHeaderSum());
                    }
                }

                break;
            case EtherType.Ipv6 when network.Length >= Ipv6Packet.HeaderLength:
                BinaryPrimitives.WriteUInt16BigEndian(
                    network[Ipv6Packet.PayloadLengthOffset..], (ushort)Math.Min(network.Length - Ipv6Packet.HeaderLength, ushort.MaxValue));
                if (Ipv6Packet.TryCreate(network, out var v6) && v6.HasUpperLayerHeader)
                {
                    Transport(v6.UpperLayerProtocol, v6.UpperLayer, v6.PseudoHeaderSum());
                }

                break;
        }
    }

    private static void Transport(byte protocol, Span<byte> bytes, ulong pseudoHeaderSum)
    {
        switch (protocol)
        {
            case IpProtocol.Tcp when TcpSegment.TryCreate(bytes, out var tcp):
                tcp.UpdateChecksum(pseudoHeaderSum);
                break;
            case IpProtocol.Udp when bytes.Length >= 8:
                BinaryPrimitives.WriteUInt16BigEndian(bytes[4..], (ushort)bytes.Length);
                if (UdpDatagram.TryCreate(bytes, out var udp))
                {
                    udp.UpdateChecksum(pseudoHeaderSum);
                }

                break;
            case IpProtocol.Icmp when Icmpv4Packet.TryCreate(bytes, out var icmp):
                icmp.UpdateChecksum();
                break;
            case IpProtocol.Icmpv6 when Icmpv6Packet.TryCreate(bytes, out var icmp6):
                icmp6.UpdateChecksum(pseudoHeaderSum);
                break;
        }
    }
}
