using System.Buffers.Binary;
using Fabric.Dataplane.Wire;

namespace Fabric.Dataplane.Svr;

/// <summary>
/// Puts a metadata block right after the TCP or UDP header of an IP packet, and takes it out again, in place.
/// The L4 payload moves; the IPv4 total length (and header checksum), the IPv6 payload length, the UDP length
/// and the L4 checksum (full recompute, so a UDP datagram always leaves with a checksum) are fixed. The TCP
/// sequence numbers are not touched: the block exists only between two routers, and the receiving router
/// strips it before the segment reaches a host. Fragments, other protocols and malformed packets are refused
/// (false, the buffer unchanged). Pure functions over the caller's buffer; no allocation.
/// </summary>
public static class MetadataInsertion
{
    /// <summary>
    /// Inserts <paramref name="block"/> (a whole, valid metadata block) after the L4 header of the packet in
    /// the first <paramref name="ipLength"/> octets of <paramref name="ipPacketWithRoom"/>. Returns false when
    /// the buffer lacks room, a length field would overflow, the block is not exactly one valid block, or the
    /// packet is not an unfragmented TCP/UDP packet. A packet carries at most one block: the receiver strips
    /// exactly one, so a full block already shields a payload that starts with the cookie, and a packet sent
    /// without metadata gets a bare block when <see cref="NeedsBareBlock"/> says so.
    /// </summary>
    public static bool TryInsert(Span<byte> ipPacketWithRoom, int ipLength, ReadOnlySpan<byte> block, out int newIpLength)
    {
        newIpLength = ipLength;
        if (!IsOneWholeBlock(block)
            || !TryLocateL4(ipPacketWithRoom, ipLength, out var layout)
            || ipLength + block.Length > ipPacketWithRoom.Length
            || layout.L4Length + block.Length > ushort.MaxValue
            || (layout.IsIpv4 && ipLength + block.Length > ushort.MaxValue)
            || (!layout.IsIpv4 && ipLength + block.Length - Ipv6Packet.HeaderLength > ushort.MaxValue))
        {
            return false;
        }

        var payloadAt = layout.L4Offset + layout.L4HeaderLength;
        ipPacketWithRoom[payloadAt..ipLength].CopyTo(ipPacketWithRoom[(payloadAt + block.Length)..]);
        block.CopyTo(ipPacketWithRoom[payloadAt..]);
        newIpLength = ipLength + block.Length;
        FixLengthsAndChecksums(ipPacketWithRoom[..newIpLength], layout, block.Length);
        return true;
    }

    /// <summary>
    /// Grows (or, negative, shrinks) the L4 payload at its end by <paramref name="delta"/> octets, as when a
    /// sealed packet's trailer is appended or removed, and fixes the lengths and checksums. The caller has
    /// written (or read) the octets concerned. False, changing nothing, when the packet is not an unfragmented
    /// TCP/UDP packet, lacks room, or would lose part of its L4 header.
    /// </summary>
    public static bool TryResizeTail(Span<byte> buffer, int ipLength, int delta, out int newIpLength)
    {
        newIpLength = ipLength;
        if (!TryLocateL4(buffer, ipLength, out var layout)
            || ipLength + delta > buffer.Length
            || layout.L4Length + delta < layout.L4HeaderLength
            || layout.L4Length + delta > ushort.MaxValue)
        {
            return false;
        }

        newIpLength = ipLength + delta;
        FixLengthsAndChecksums(buffer[..newIpLength], layout, delta);
        return true;
    }

    /// <summary>
    /// Removes exactly one metadata block from after the L4 header; whatever follows it is the original payload,
    /// even if that starts with the cookie (the false-positive rule). Returns false, changing nothing, when the
    /// packet carries no valid block (see <see cref="TryLocate"/> for the reason).
    /// </summary>
    public static bool TryStrip(Span<byte> ipPacket, int ipLength, out int newIpLength)
    {
        newIpLength = ipLength;
        if (!TryLocate(ipPacket, ipLength, out var block, out _) || !TryLocateL4(ipPacket, ipLength, out var layout))
        {
            return false;
        }

        var length = block.TotalLength;
        var blockAt = layout.L4Offset + layout.L4HeaderLength;
        ipPacket[(blockAt + length)..ipLength].CopyTo(ipPacket[blockAt..]);
        newIpLength = ipLength - length;
        FixLengthsAndChecksums(ipPacket[..newIpLength], layout, -length);
        return true;
    }

    /// <summary>
    /// Finds the metadata block after the L4 header of an unfragmented TCP/UDP packet. False with
    /// <see cref="MetadataError.None"/> when the packet is not such a packet or its payload does not start with
    /// the cookie; false with the reason when a block starts there but is malformed.
    /// </summary>
    public static bool TryLocate(Span<byte> ipPacket, int ipLength, out MetadataBlock block, out MetadataError error)
    {
        block = default;
        error = MetadataError.None;
        if (!TryLocateL4(ipPacket, ipLength, out var layout))
        {
            return false;
        }

        var payload = ipPacket[(layout.L4Offset + layout.L4HeaderLength)..ipLength];
        return MetadataBlock.StartsWithCookie(payload) && MetadataBlock.TryCreate(payload, out block, out error);
    }

    /// <summary>
    /// True when an original L4 payload starts with the cookie: a packet the sender sends without metadata must
    /// carry a bare block (<see cref="MetadataBlock.TryWriteBare"/>) so that the receiver's one strip leaves the
    /// payload intact.
    /// </summary>
    public static bool NeedsBareBlock(ReadOnlySpan<byte> originalL4Payload) => MetadataBlock.StartsWithCookie(originalL4Payload);

    /// <summary>True when <paramref name="block"/> is exactly one valid metadata block.</summary>
    private static bool IsOneWholeBlock(ReadOnlySpan<byte> block) =>
        MetadataBlock.TryCreate(ReadOnlyBytes.AsViewSource(block), out var view) && view.TotalLength == block.Length;

    private static bool TryLocateL4(Span<byte> buffer, int ipLength, out Layout layout)
    {
        layout = default;
        if (ipLength <= 0 || ipLength > buffer.Length)
        {
            return false;
        }

        var packet = buffer[..ipLength];
        int l4Offset;
        byte protocol;
        bool ipv4;
        switch (packet[0] >> 4)
        {
            case Ipv4Packet.Version4 when Ipv4Packet.TryCreate(packet, out var ip) && ip.TotalLength == ipLength && !ip.IsFragment:
                l4Offset = ip.HeaderLength;
                protocol = ip.Protocol;
                ipv4 = true;
                break;
            case Ipv6Packet.Version6 when Ipv6Packet.TryCreate(packet, out var ip6) && ip6.Bytes.Length == ipLength && !ip6.IsFragment:
                l4Offset = ip6.UpperLayerOffset;
                protocol = ip6.UpperLayerProtocol;
                ipv4 = false;
                break;
            default:
                return false;
        }

        int headerLength;
        switch (protocol)
        {
            case IpProtocol.Tcp when TcpSegment.TryCreate(packet[l4Offset..], out var tcp):
                headerLength = tcp.HeaderLength;
                break;
            case IpProtocol.Udp when UdpDatagram.TryCreate(packet[l4Offset..], out _):
                headerLength = UdpDatagram.HeaderLength;
                break;
            default:
                return false;
        }

        layout = new Layout(ipv4, protocol, l4Offset, headerLength, ipLength - l4Offset);
        return true;
    }

    /// <summary>Writes the new lengths after the payload moved by <paramref name="delta"/> octets and recomputes the checksums.</summary>
    private static void FixLengthsAndChecksums(Span<byte> packet, Layout layout, int delta)
    {
        var l4 = packet[layout.L4Offset..];
        ulong pseudoHeaderSum;
        if (layout.IsIpv4)
        {
            BinaryPrimitives.WriteUInt16BigEndian(packet[Ipv4Packet.TotalLengthOffset..], (ushort)packet.Length);
            Ipv4Packet.TryCreate(packet, out var ip);
            ip.UpdateHeaderChecksum();
            pseudoHeaderSum = Checksum.PseudoHeaderIpv4(ip.Source, ip.Destination, layout.Protocol, l4.Length);
        }
        else
        {
            BinaryPrimitives.WriteUInt16BigEndian(packet[Ipv6Packet.PayloadLengthOffset..], (ushort)(packet.Length - Ipv6Packet.HeaderLength));
            pseudoHeaderSum = Checksum.PseudoHeaderIpv6(
                BinaryPrimitives.ReadUInt128BigEndian(packet[Ipv6Packet.SourceOffset..]),
                BinaryPrimitives.ReadUInt128BigEndian(packet[Ipv6Packet.DestinationOffset..]),
                layout.Protocol,
                l4.Length);
        }

        if (layout.Protocol == IpProtocol.Udp)
        {
            BinaryPrimitives.WriteUInt16BigEndian(l4[UdpDatagram.LengthOffset..], (ushort)(layout.L4Length + delta));
            UdpDatagram.TryCreate(l4, out var udp);
            udp.UpdateChecksum(pseudoHeaderSum);
        }
        else
        {
            TcpSegment.TryCreate(l4, out var tcp);
            tcp.UpdateChecksum(pseudoHeaderSum);
        }
    }

    private readonly record struct Layout(bool IsIpv4, byte Protocol, int L4Offset, int L4HeaderLength, int L4Length);
}
