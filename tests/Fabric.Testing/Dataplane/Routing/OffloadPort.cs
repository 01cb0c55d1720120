using System.Buffers.Binary;
using Fabric.Dataplane.Io;
using Fabric.Dataplane.Wire;

namespace Fabric.Tests.Dataplane.Routing;

/// <summary>
/// A port decorator that takes super-packets whole, as an AF_PACKET socket with <c>PACKET_VNET_HDR</c> does: ordinary
/// frames go on through the port it wraps; a super-packet (or partial-checksum frame) is kept, with its offload, in a
/// buffer allocated once, and goes no further. The test plays the device: it hands the kept frame to the next router
/// whole (as a veth delivers it) or cuts it with <see cref="Segment"/> (as the kernel would). Not thread-safe.
/// </summary>
public sealed class OffloadPort(IPacketPort inner) : IPacketPort
{
    private const int EthernetHeaderLength = 14;
    private const byte Fin = 0x01;
    private const byte Psh = 0x08;
    private const byte Cwr = 0x80;
    private readonly byte[] _last = new byte[PacketBuffer.SuperPacketCapacity];

    public IPacketPort Inner => inner;

    public string Name => inner.Name;

    public MacAddress Mac => inner.Mac;

    public int Mtu => inner.Mtu;

    public bool AcceptsSuperPackets => true;

    /// <summary>The last frame sent with an offload (empty before any).</summary>
    public ReadOnlySpan<byte> Last => _last.AsSpan(0, LastLength);

    public int LastLength { get; private set; }

    /// <summary>The offload the last such frame was sent with.</summary>
    public SegmentationOffload LastOffload { get; private set; }

    /// <summary>Frames sent with an offload so far.</summary>
    public long SentWhole { get; private set; }

    public int Receive(PacketBatch batch) => inner.Receive(batch);

    public bool Send(ReadOnlySpan<byte> frame) => inner.Send(frame);

    public bool SendSuperPacket(ReadOnlySpan<byte> frame, in SegmentationOffload offload)
    {
        frame.CopyTo(_last);
        LastLength = frame.Length;
        LastOffload = offload;
        SentWhole++;
        return true;
    }

    public bool Enqueue(ReadOnlySpan<byte> frame, in SegmentationOffload offload) =>
        offload.IsSuperPacket || offload.ChecksumPartial ? SendSuperPacket(frame, offload) : inner.Enqueue(frame, offload);

    public int Flush() => inner.Flush();

    /// <summary>
    /// Cuts a super-packet as the kernel's segmentation does with what the offload says (virtio_net_hdr to skb, then
    /// <c>tcp_gso_segment</c> or <c>__udp_gso_segment</c> and the checksum completed from <c>csum_start</c>): the
    /// segmentation type must match the frame's IP family, the checksum must start at the transport header and sit at
    /// its field, and the field must hold the pseudo-header sum over the whole super-packet's transport length (the
    /// kernel adjusts it by each segment's length, then sums the segment). Each segment repeats the headers with its
    /// lengths, an IPv4 identification counted up from the header's and its header checksum, and for TCP its
    /// sequence number and flags (FIN and PSH on the last segment only, CWR on the first only). Returns the IP packets
    /// (without Ethernet); throws when the offload is one the kernel would refuse.
    /// </summary>
    public static List<byte[]> Segment(ReadOnlySpan<byte> frame, in SegmentationOffload offload)
    {
        var etherType = BinaryPrimitives.ReadUInt16BigEndian(frame[12..]);
        var isIpv6 = etherType == EtherType.Ipv6;
        if (!isIpv6 && etherType != EtherType.Ipv4)
        {
            throw new InvalidOperationException($"not IP: ethertype {etherType:x4}");
        }

        var ip = frame[EthernetHeaderLength..];
        var ipHeaderLength = isIpv6 ? Ipv6Packet.HeaderLength : (ip[0] & 0xF) * 4;
        var ipLength = isIpv6 ? Ipv6Packet.HeaderLength + BinaryPrimitives.ReadUInt16BigEndian(ip[4..]) : BinaryPrimitives.ReadUInt16BigEndian(ip[2..]);
        var protocol = isIpv6 ? ip[6] : ip[9];
        var expected = offload.Kind switch
        {
            SuperPacketKind.TcpV4 when !isIpv6 && protocol == IpProtocol.Tcp => true,
            SuperPacketKind.TcpV6 when isIpv6 && protocol == IpProtocol.Tcp => true,
            SuperPacketKind.UdpL4 when protocol == IpProtocol.Udp => true,
            _ => false,
        };
        if (!expected || ipLength + EthernetHeaderLength != frame.Length || offload.SegmentSize == 0)
        {
            throw new InvalidOperationException($"offload {offload.Kind} does not match the frame (IPv6 {isIpv6}, protocol {protocol}, length {ipLength})");
        }

        var transportStart = EthernetHeaderLength + ipHeaderLength;
        var transportHeaderLength = protocol == IpProtocol.Tcp ? (frame[transportStart + 12] >> 4) * 4 : 8;
        var checksumOffset = protocol == IpProtocol.Tcp ? 16 : 6;
        if (!offload.ChecksumPartial || offload.ChecksumStart != transportStart || offload.ChecksumOffset != checksumOffset
            || offload.HeaderLength != transportStart + transportHeaderLength)
        {
            throw new InvalidOperationException(
                $"checksum offload start {offload.ChecksumStart} offset {offload.ChecksumOffset} header {offload.HeaderLength}: expected {transportStart}, {checksumOffset}, {transportStart + transportHeaderLength}");
        }

        var headerEnd = transportStart + transportHeaderLength;
        var superTransportLength = frame.Length - transportStart;
        var partial = BinaryPrimitives.ReadUInt16BigEndian(frame[(transportStart + checksumOffset)..]);
        var segments = new List<byte[]>();
        for (var at = headerEnd; at < frame.Length; at += offload.SegmentSize)
        {
            var index = segments.Count;
            var payload = Math.Min(offload.SegmentSize, frame.Length - at);
            var last = at + payload >= frame.Length;
            var segment = new byte[headerEnd - EthernetHeaderLength + payload];
            frame[EthernetHeaderLength..headerEnd].CopyTo(segment);
            frame.Slice(at, payload).CopyTo(segment.AsSpan(headerEnd - EthernetHeaderLength));
            if (isIpv6)
            {
                BinaryPrimitives.WriteUInt16BigEndian(segment.AsSpan(4), (ushort)(segment.Length - Ipv6Packet.HeaderLength));
            }
            else
            {
                BinaryPrimitives.WriteUInt16BigEndian(segment.AsSpan(2), (ushort)segment.Length);
                BinaryPrimitives.WriteUInt16BigEndian(segment.AsSpan(4), (ushort)(BinaryPrimitives.ReadUInt16BigEndian(segment.AsSpan(4)) + index));
                segment.AsSpan(10, 2).Clear();
                BinaryPrimitives.WriteUInt16BigEndian(segment.AsSpan(10), Checksum.Compute(segment.AsSpan(0, ipHeaderLength)));
            }

            var transport = segment.AsSpan(ipHeaderLength);
            if (protocol == IpProtocol.Tcp)
            {
                var sequence = BinaryPrimitives.ReadUInt32BigEndian(transport[4..]);
                BinaryPrimitives.WriteUInt32BigEndian(transport[4..], unchecked(sequence + (uint)(index * offload.SegmentSize)));
                if (!last)
                {
                    transport[13] &= unchecked((byte)~(Fin | Psh));
                }

                if (index > 0)
                {
                    transport[13] &= unchecked((byte)~Cwr);
                }
            }
            else
            {
                BinaryPrimitives.WriteUInt16BigEndian(transport[4..], (ushort)transport.Length);
            }

            // The field's pseudo-header sum moves from the super-packet's length to the segment's, then the device sums.
            var field = (ushort)~Checksum.Finish(partial + Checksum.Delta16((ushort)superTransportLength, (ushort)transport.Length));
            BinaryPrimitives.WriteUInt16BigEndian(transport[checksumOffset..], field);
            var complete = Checksum.Finish(Checksum.Add(0, transport));
            BinaryPrimitives.WriteUInt16BigEndian(transport[checksumOffset..], complete == 0 && protocol == IpProtocol.Udp ? (ushort)0xFFFF : complete);
            segments.Add(segment);
        }

        return segments;
    }
}
