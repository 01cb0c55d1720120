using System.Buffers.Binary;
using Fabric.Dataplane.Io;
using Fabric.Dataplane.Io.Linux;
using Fabric.Dataplane.Pipeline;
using Fabric.Dataplane.Wire;
using Fabric.Tests.Dataplane.Routing;

namespace Fabric.Tests.Dataplane.Pipeline;

public sealed class SuperPacketTests
{
    private const uint Client = 0x0A14010A;
    private const uint Server = 0x0A0A011E;
    private const int Ethernet = 14;

    [Fact]
    public void Cut_TcpSuperPacket_SegmentsCarryThePayloadInOrderWithValidChecksums()
    {
        var payload = Payload(4000);
        var frame = Frame(Packets.Tcp(Client, Server, 40000, 5201, TcpFlags.Ack | TcpFlags.Psh | TcpFlags.Fin, 1000, 77, payload));
        MakePartial(frame, IpProtocol.Tcp);
        var headerEnd = Ethernet + 20 + 20;
        var output = new byte[PacketBuffer.DefaultCapacity];
        var joined = new List<byte>();
        for (var i = 0; i < 3; i++)
        {
            var length = SuperPacket.Cut(frame, Ethernet, Ethernet + 20, headerEnd, frame.Length, false, IpProtocol.Tcp, 1448, i, output);

            var ip = output.AsSpan(Ethernet, length - Ethernet).ToArray();
            Assert.True(Packets.ChecksumsValid(ip), $"segment {i}");
            Assert.Equal(i < 2 ? 20 + 20 + 1448 : 20 + 20 + 4000 - 2896, BinaryPrimitives.ReadUInt16BigEndian(ip.AsSpan(2)));
            Assert.Equal((ushort)(1 + i), BinaryPrimitives.ReadUInt16BigEndian(ip.AsSpan(4)));
            Assert.Equal((uint)(1000 + (i * 1448)), BinaryPrimitives.ReadUInt32BigEndian(ip.AsSpan(24)));
            var flags = (TcpFlags)ip[33];
            Assert.Equal(i == 2, flags.HasFlag(TcpFlags.Fin));
            Assert.Equal(i == 2, flags.HasFlag(TcpFlags.Psh));
            Assert.True(flags.HasFlag(TcpFlags.Ack));
            joined.AddRange(ip.AsSpan(40).ToArray());
        }

        Assert.Equal(payload, joined.ToArray());
        Assert.Equal(0, SuperPacket.Cut(frame, Ethernet, Ethernet + 20, headerEnd, frame.Length, false, IpProtocol.Tcp, 1448, 3, output));
    }

    [Fact]
    public void Cut_UdpSuperPacket_EachDatagramHasItsLengthAndChecksum()
    {
        var payload = Payload(2500);
        var frame = Frame(Packets.Udp(Client, Server, 40000, 5201, payload));
        MakePartial(frame, IpProtocol.Udp);
        var output = new byte[PacketBuffer.DefaultCapacity];

        var first = SuperPacket.Cut(frame, Ethernet, Ethernet + 20, Ethernet + 28, frame.Length, false, IpProtocol.Udp, 1400, 0, output);
        var firstIp = output.AsSpan(Ethernet, first - Ethernet).ToArray();
        var second = SuperPacket.Cut(frame, Ethernet, Ethernet + 20, Ethernet + 28, frame.Length, false, IpProtocol.Udp, 1400, 1, output);
        var secondIp = output.AsSpan(Ethernet, second - Ethernet).ToArray();

        Assert.True(Packets.ChecksumsValid(firstIp));
        Assert.True(Packets.ChecksumsValid(secondIp));
        Assert.Equal(8 + 1400, BinaryPrimitives.ReadUInt16BigEndian(firstIp.AsSpan(24)));
        Assert.Equal(8 + 1100, BinaryPrimitives.ReadUInt16BigEndian(secondIp.AsSpan(24)));
        Assert.Equal(payload, firstIp.AsSpan(28).ToArray().Concat(secondIp.AsSpan(28).ToArray()).ToArray());
    }

    [Fact]
    public void Cut_OutputTooSmall_ReturnsZero()
    {
        var frame = Frame(Packets.Tcp(Client, Server, 40000, 5201, TcpFlags.Ack, 1, 1, Payload(3000)));

        Assert.Equal(0, SuperPacket.Cut(frame, Ethernet, Ethernet + 20, Ethernet + 40, frame.Length, false, IpProtocol.Tcp, 1448, 0, new byte[100]));
    }

    [Fact]
    public void PrepareToLeaveWhole_AfterAddressAndPortRewrite_PartialSumCompletesToAValidChecksum()
    {
        var frame = Frame(Packets.Tcp(Client, Server, 40000, 5201, TcpFlags.Ack, 1, 1, Payload(3000)));
        // A rewrite (NAT to waypoints) that does not keep the field: new addresses and ports, stale checksum.
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(Ethernet + 12), 0xC0A80002);
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(Ethernet + 16), 0xC0A80003);
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(Ethernet + 20), 16385);
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(Ethernet + 22), 16386);
        Ipv4Packet.TryCreate(frame.AsSpan(Ethernet), out var ip);
        ip.UpdateHeaderChecksum();
        var offload = new SegmentationOffload { Kind = SuperPacketKind.TcpV4, SegmentSize = 1448 };

        SuperPacket.PrepareToLeaveWhole(frame, Ethernet, Ethernet + 20, frame.Length, false, IpProtocol.Tcp, ref offload);

        Assert.True(offload.ChecksumPartial);
        Assert.Equal(Ethernet + 20, offload.ChecksumStart);
        Assert.Equal(16, offload.ChecksumOffset);
        Assert.Equal(Ethernet + 40, offload.HeaderLength);
        // What the device does with a partial checksum: sum from ChecksumStart and store the complement.
        Assert.True(PartialChecksum.Complete(frame));
        Assert.True(Packets.ChecksumsValid(frame[Ethernet..]));
    }

    private static byte[] Payload(int length)
    {
        var payload = new byte[length];
        for (var i = 0; i < length; i++)
        {
            payload[i] = (byte)(i * 7);
        }

        return payload;
    }

    private static byte[] Frame(byte[] ip)
    {
        var frame = new byte[Ethernet + ip.Length];
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(12), 0x0800);
        ip.CopyTo(frame, Ethernet);
        return frame;
    }

    /// <summary>What a sender with segmentation offload leaves in the field: the pseudo-header sum only.</summary>
    private static void MakePartial(byte[] frame, byte protocol)
    {
        var transportLength = frame.Length - Ethernet - 20;
        var partial = (ushort)~Checksum.Finish(Checksum.PseudoHeaderIpv4(Client, Server, protocol, transportLength));
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(Ethernet + 20 + (protocol == IpProtocol.Tcp ? 16 : 6)), partial);
    }
}
