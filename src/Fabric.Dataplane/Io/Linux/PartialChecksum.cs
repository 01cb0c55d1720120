using System.Buffers.Binary;
using Fabric.Dataplane.Wire;

namespace Fabric.Dataplane.Io.Linux;

/// <summary>
/// Completes a TCP or UDP checksum that a sender on the same host left partial (checksum offload:
/// the field holds only the pseudo-header sum, and the frame reaches an AF_PACKET socket before any
/// device computed the rest). The pipeline updates checksums incrementally, so it needs them whole.
/// Pure and thread-safe; does not allocate.
/// </summary>
public static class PartialChecksum
{
    private const int EthernetHeaderLength = 14;

    /// <summary>Recomputes the transport checksum of an untagged IPv4 or IPv6 TCP/UDP frame in place; false when the frame is not one.</summary>
    public static bool Complete(Span<byte> frame)
    {
        if (frame.Length < EthernetHeaderLength)
        {
            return false;
        }

        var ip = frame[EthernetHeaderLength..];
        switch (BinaryPrimitives.ReadUInt16BigEndian(frame[12..]))
        {
            case 0x0800 when ip.Length >= 20:
            {
                var headerLength = (ip[0] & 0xF) * 4;
                var totalLength = BinaryPrimitives.ReadUInt16BigEndian(ip[2..]);
                var fragment = BinaryPrimitives.ReadUInt16BigEndian(ip[6..]) & 0x3FFF;
                if (headerLength < 20 || totalLength < headerLength || totalLength > ip.Length || fragment != 0)
                {
                    return false;
                }

                var protocol = ip[9];
                var transport = ip[headerLength..totalLength];
                var pseudo = Checksum.PseudoHeaderIpv4(
                    BinaryPrimitives.ReadUInt32BigEndian(ip[12..]), BinaryPrimitives.ReadUInt32BigEndian(ip[16..]), protocol, transport.Length);
                return Write(transport, protocol, pseudo);
            }

            case 0x86DD when ip.Length >= 40:
            {
                var payloadLength = BinaryPrimitives.ReadUInt16BigEndian(ip[4..]);
                if (40 + payloadLength > ip.Length)
                {
                    return false;
                }

                var protocol = ip[6];
                var transport = ip.Slice(40, payloadLength);
                var pseudo = Checksum.PseudoHeaderIpv6(
                    BinaryPrimitives.ReadUInt128BigEndian(ip[8..]), BinaryPrimitives.ReadUInt128BigEndian(ip[24..]), protocol, transport.Length);
                return Write(transport, protocol, pseudo);
            }

            default:
                return false;
        }
    }

    private static bool Write(Span<byte> transport, byte protocol, ulong pseudo)
    {
        var offset = protocol switch
        {
            IpProtocol.Tcp => 16,
            IpProtocol.Udp => 6,
            _ => -1,
        };
        if (offset < 0 || transport.Length < offset + 2)
        {
            return false;
        }

        transport.Slice(offset, 2).Clear();
        var checksum = Checksum.Finish(Checksum.Add(pseudo, transport));
        if (checksum == 0 && protocol == IpProtocol.Udp)
        {
            checksum = 0xFFFF; // RFC 768: a computed zero is sent as all ones; zero means "no checksum".
        }

        BinaryPrimitives.WriteUInt16BigEndian(transport[offset..], checksum);
        return true;
    }
}
