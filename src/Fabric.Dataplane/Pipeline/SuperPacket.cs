using System.Buffers.Binary;
using Fabric.Dataplane.Io;
using Fabric.Dataplane.Wire;

namespace Fabric.Dataplane.Pipeline;

/// <summary>
/// Super-packets (GSO): one frame standing for many TCP segments or UDP datagrams that share its headers.
/// Measures them, cuts them into the packets they stand for (the software segmentation the kernel would do),
/// and readies a rewritten one to leave whole with a partial checksum. Every function works on a parsed
/// frame (Ethernet, IPv4 or IPv6 without extension headers before the transport, TCP or UDP). Pure and
/// thread-safe; nothing allocates.
/// </summary>
public static class SuperPacket
{
    private const byte Fin = 0x01;
    private const byte Psh = 0x08;
    private const byte Cwr = 0x80;
    private const int TcpChecksumOffset = 16;
    private const int UdpChecksumOffset = 6;

    /// <summary>
    /// Where the headers a segment repeats end (past the TCP or UDP header, from the frame start) and how many
    /// packets the frame stands for. False when the frame's transport does not match <paramref name="offload"/>'s
    /// kind or the segment size is zero: such a frame cannot be cut.
    /// </summary>
    public static bool TryMeasure(ref PacketContext context, in SegmentationOffload offload, out int headerEnd, out int segments)
    {
        headerEnd = 0;
        segments = 0;
        var protocol = context.Key.Protocol;
        var matches = offload.Kind switch
        {
            SuperPacketKind.TcpV4 => protocol == IpProtocol.Tcp && !context.IsIpv6,
            SuperPacketKind.TcpV6 => protocol == IpProtocol.Tcp && context.IsIpv6,
            SuperPacketKind.UdpL4 => protocol == IpProtocol.Udp,
            _ => false,
        };
        if (!matches || offload.SegmentSize == 0 || context.IsIcmpError)
        {
            return false;
        }

        var ipEnd = context.NetworkOffset + context.IpLength;
        headerEnd = context.TransportOffset + TransportHeaderLength(context.Frame, context.TransportOffset, protocol);
        if (headerEnd > ipEnd)
        {
            return false;
        }

        var payload = ipEnd - headerEnd;
        segments = Math.Max(1, (payload + offload.SegmentSize - 1) / offload.SegmentSize);
        return true;
    }

    /// <summary>
    /// Writes packet <paramref name="index"/> of the parsed super-packet in hand (<paramref name="context"/>'s frame, its
    /// repeated headers ending at <paramref name="headerEnd"/> and its IP packet at <paramref name="ipEnd"/>, from the
    /// frame start) into <paramref name="output"/>, as the overload over the frame's parts does: returns the frame's length,
    /// or 0 when <paramref name="output"/> is too small or <paramref name="index"/> is past the end.
    /// </summary>
    public static int Cut(ref PacketContext context, int headerEnd, int ipEnd, int segmentSize, int index, Span<byte> output) => Cut(
        context.Frame, context.NetworkOffset, context.TransportOffset, headerEnd, ipEnd, context.IsIpv6, context.Key.Protocol,
        segmentSize, index, output);

    /// <summary>
    /// Writes packet <paramref name="index"/> (from 0) of the super-packet <paramref name="frame"/> into
    /// <paramref name="output"/> as an ordinary frame: the shared headers with lengths, IPv4 identification and
    /// header checksum, TCP sequence number and flags (FIN and PSH only on the last segment, CWR only on the
    /// first) adjusted, and a complete transport checksum. Returns the frame's length, or 0 when
    /// <paramref name="output"/> is too small or <paramref name="index"/> is past the end.
    /// </summary>
    public static int Cut(
        ReadOnlySpan<byte> frame, int networkOffset, int transportOffset, int headerEnd, int ipEnd, bool isIpv6, byte protocol,
        int segmentSize, int index, Span<byte> output)
    {
        var payloadStart = headerEnd + (index * segmentSize);
        if (segmentSize <= 0 || index < 0 || payloadStart > ipEnd || (payloadStart == ipEnd && index > 0))
        {
            return 0;
        }

        var payloadLength = Math.Min(segmentSize, ipEnd - payloadStart);
        var length = headerEnd + payloadLength;
        if (length > output.Length)
        {
            return 0;
        }

        var last = payloadStart + payloadLength >= ipEnd;
        frame[..headerEnd].CopyTo(output);
        frame.Slice(payloadStart, payloadLength).CopyTo(output[headerEnd..]);
        var ip = output[networkOffset..length];
        var transport = output[transportOffset..length];
        if (isIpv6)
        {
            BinaryPrimitives.WriteUInt16BigEndian(ip[4..], (ushort)(length - networkOffset - Ipv6Packet.HeaderLength));
        }
        else
        {
            BinaryPrimitives.WriteUInt16BigEndian(ip[2..], (ushort)(length - networkOffset));
            var id = BinaryPrimitives.ReadUInt16BigEndian(ip[4..]);
            BinaryPrimitives.WriteUInt16BigEndian(ip[4..], (ushort)(id + index));
            var headerLength = (ip[0] & 0xF) * 4;
            ip.Slice(10, 2).Clear();
            BinaryPrimitives.WriteUInt16BigEndian(ip[10..], Checksum.Compute(ip[..headerLength]));
        }

        int checksumOffset;
        if (protocol == IpProtocol.Tcp)
        {
            var sequence = BinaryPrimitives.ReadUInt32BigEndian(transport[TcpSegment.SequenceNumberOffset..]);
            BinaryPrimitives.WriteUInt32BigEndian(transport[TcpSegment.SequenceNumberOffset..], unchecked(sequence + (uint)(index * segmentSize)));
            if (!last)
            {
                transport[TcpSegment.FlagsOffset] &= unchecked((byte)~(Fin | Psh));
            }

            if (index > 0)
            {
                transport[TcpSegment.FlagsOffset] &= unchecked((byte)~Cwr);
            }

            checksumOffset = TcpChecksumOffset;
        }
        else
        {
            BinaryPrimitives.WriteUInt16BigEndian(transport[4..], (ushort)transport.Length);
            checksumOffset = UdpChecksumOffset;
        }

        transport.Slice(checksumOffset, 2).Clear();
        var checksum = Checksum.Finish(Checksum.Add(PseudoHeader(ip, isIpv6, protocol, transport.Length), transport));
        if (checksum == 0 && protocol == IpProtocol.Udp)
        {
            checksum = 0xFFFF; // RFC 768: a computed zero is sent as all ones.
        }

        BinaryPrimitives.WriteUInt16BigEndian(transport[checksumOffset..], checksum);
        return length;
    }

    /// <summary>
    /// Readies a (rewritten) super-packet or partial-checksum frame to leave whole: its transport checksum field
    /// gets the pseudo-header sum of the addresses and length it now carries (what a device completing the
    /// checksum expects, and what the kernel's segmentation adjusts to each segment's length; rewrites of ports and
    /// other header fields need nothing, the device sums those), and <paramref name="offload"/> gets the header
    /// length and checksum position of the frame as it now is, and a TCP super-packet the segmentation type of the
    /// family it now has (a frame whose IP header changed family leaves as TCP over the other one).
    /// </summary>
    public static void PrepareToLeaveWhole(Span<byte> frame, int networkOffset, int transportOffset, int ipEnd, bool isIpv6, byte protocol, ref SegmentationOffload offload)
    {
        var ip = frame[networkOffset..ipEnd];
        var transport = frame[transportOffset..ipEnd];
        var checksumOffset = protocol == IpProtocol.Tcp ? TcpChecksumOffset : UdpChecksumOffset;
        var sum = PseudoHeader(ip, isIpv6, protocol, transport.Length);
        BinaryPrimitives.WriteUInt16BigEndian(transport[checksumOffset..], (ushort)~Checksum.Finish(sum));
        if (offload.Kind is SuperPacketKind.TcpV4 or SuperPacketKind.TcpV6)
        {
            offload.Kind = isIpv6 ? SuperPacketKind.TcpV6 : SuperPacketKind.TcpV4;
        }

        offload.ChecksumPartial = true;
        offload.ChecksumStart = (ushort)transportOffset;
        offload.ChecksumOffset = (ushort)checksumOffset;
        offload.HeaderLength = (ushort)(transportOffset + TransportHeaderLength(frame, transportOffset, protocol));
    }

    /// <summary>Octets of the TCP header (with options) or UDP header at <paramref name="transportOffset"/>.</summary>
    public static int TransportHeaderLength(ReadOnlySpan<byte> frame, int transportOffset, byte protocol) =>
        protocol == IpProtocol.Tcp ? (frame[transportOffset + TcpSegment.DataOffsetOffset] >> 4) * 4 : UdpDatagram.HeaderLength;

    private static ulong PseudoHeader(ReadOnlySpan<byte> ip, bool isIpv6, byte protocol, int transportLength) =>
        isIpv6
            ? Checksum.PseudoHeaderIpv6(BinaryPrimitives.ReadUInt128BigEndian(ip[8..]), BinaryPrimitives.ReadUInt128BigEndian(ip[24..]), protocol, transportLength)
            : Checksum.PseudoHeaderIpv4(BinaryPrimitives.ReadUInt32BigEndian(ip[12..]), BinaryPrimitives.ReadUInt32BigEndian(ip[16..]), protocol, transportLength);
}
