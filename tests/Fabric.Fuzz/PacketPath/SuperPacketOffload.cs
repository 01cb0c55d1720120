using Fabric.Dataplane.Io;
using Fabric.Dataplane.Wire;

namespace Fabric.Fuzz.PacketPath;

/// <summary>The offload a port would hand with a frame that arrived as a super-packet, read from the frame's own headers.</summary>
public static class SuperPacketOffload
{
    /// <summary>
    /// TCP over IPv4 or IPv6, or UDP, as the frame's transport is; a frame of any other kind claims TCP over IPv4
    /// (what a confused port might say, which the worker must refuse).
    /// </summary>
    public static SegmentationOffload For(Span<byte> frame, ushort segmentSize, bool checksumPartial)
    {
        var offload = new SegmentationOffload { Kind = SuperPacketKind.TcpV4, SegmentSize = segmentSize };
        if (!EthernetFrame.TryCreate(frame, out var ethernet))
        {
            return offload;
        }

        var headerLength = ethernet.HeaderLength;
        byte protocol;
        int transport;
        if (ethernet.EtherType == EtherType.Ipv4 && Ipv4Packet.TryCreate(ethernet.Payload, out var v4))
        {
            protocol = v4.Protocol;
            transport = headerLength + v4.HeaderLength;
        }
        else if (ethernet.EtherType == EtherType.Ipv6 && Ipv6Packet.TryCreate(ethernet.Payload, out var v6) && v6.HasUpperLayerHeader)
        {
            protocol = v6.UpperLayerProtocol;
            transport = headerLength + v6.UpperLayerOffset;
            offload.Kind = protocol == IpProtocol.Tcp ? SuperPacketKind.TcpV6 : offload.Kind;
        }
        else
        {
            return offload;
        }

        offload.Kind = protocol == IpProtocol.Udp ? SuperPacketKind.UdpL4 : offload.Kind;
        var transportHeader = protocol == IpProtocol.Tcp && frame.Length > transport + 12 ? (frame[transport + 12] >> 4) * 4 : 8;
        offload.HeaderLength = (ushort)Math.Min(transport + transportHeader, ushort.MaxValue);
        offload.ChecksumPartial = checksumPartial;
        offload.ChecksumStart = (ushort)transport;
        offload.ChecksumOffset = (ushort)(protocol == IpProtocol.Tcp ? 16 : 6);
        return offload;
    }
}
