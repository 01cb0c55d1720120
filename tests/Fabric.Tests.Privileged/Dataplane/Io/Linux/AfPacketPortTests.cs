using System.Buffers.Binary;
using Fabric.Bench;
using Fabric.Router;
using Fabric.Dataplane.Io;
using Fabric.Dataplane.Io.Linux;
using Fabric.Dataplane.Wire;
using Fabric.Model;
using Fabric.Tests.Dataplane.Routing;
using Fabric.Tests.Support;

namespace Fabric.Tests.Dataplane.Io.Linux;

/// <summary>
/// Error paths of opening a port, and checksum completion. The missing-privilege path ("AF_PACKET needs
/// root or CAP_NET_RAW") is not tested: the tests run as root, and dropping CAP_NET_RAW needs a second process.
/// </summary>
[Collection(AllocationMeasurement.Name)]
public sealed class AfPacketPortTests
{
    [Fact]
    public void Open_UnknownInterface_SaysNoInterfaceNamed()
    {
        var error = Assert.Throws<PacketPortException>(() => AfPacketPort.Open("fabt-none0"));

        Assert.Equal("no interface named fabt-none0", error.Message);
        Assert.Equal(19, error.Errno); // ENODEV
    }

    [Fact]
    public void Open_NameLongerThanLinuxAllows_SaysNoInterfaceNamed()
    {
        var error = Assert.Throws<PacketPortException>(() => AfPacketPort.Open("a-name-of-16-byt"));

        Assert.StartsWith("no interface named a-name-of-16-byt", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Open_Loopback_ReadsMtuAndZeroMac()
    {
        using var port = AfPacketPort.Open("lo");

        Assert.Equal("lo", port.Name);
        Assert.Equal(MacAddress.Zero, port.Mac);
        Assert.True(port.Mtu >= 1500);
        Assert.True(port.InterfaceIndex > 0);
    }

    [Theory]
    [InlineData(PacketIo.Recvmmsg, "p")]
    [InlineData(PacketIo.Ring, "q")]
    public void SendAndReceive_OverVethPair_FramesArriveInOneBatchAndSenderSkipsItsOwn(PacketIo io, string tag)
    {
        using var wire = new NetworkNamespaces();
        var a = $"f{tag}a-{NetworkNamespaces.Suffix}";
        var b = $"f{tag}b-{NetworkNamespaces.Suffix}";
        wire.AddVethPair(a, b);
        using var portA = AfPacketPort.Open(a, io: io);
        using var portB = AfPacketPort.Open(b, io: io);
        Assert.Equal(io == PacketIo.Ring, portB.ReceivesFromRing);
        var batch = new PacketBatch(8);
        Assert.Equal(0, portB.Receive(batch)); // nothing waits: returns at once
        Assert.Contains(",UP", ExternalCommand.Run("ip", "-o", "link", "show", "dev", a).Output, StringComparison.Ordinal);

        var frame = new byte[60];
        portB.Mac.Write(frame);
        portA.Mac.Write(frame.AsSpan(6));
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(12), 0x88B5); // IEEE local experimental EtherType
        AfPacketPort[] waitOn = [portB];

        Assert.Equal(3, Exchange(portA, portB, batch, frame, waitOn));
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(60, batch[i].Length);
            Assert.Equal(i, batch[i].Data[14]);
        }

        batch.Count = 0;
        Assert.Equal(0, portA.Receive(batch)); // its own transmissions are not received back
        Assert.Equal(0, portA.SendErrors);

        // Warmed up by the first exchange, a second one allocates nothing.
        batch.Count = 0;
        var (received, allocated) = ThreadAllocations.During(() => Exchange(portA, portB, batch, frame, waitOn));
        Assert.Equal(3, received);
        Assert.Equal(0, allocated);
        Assert.Equal(io == PacketIo.Ring, portB.RingBlocksRead > 0);

        // Sends three frames tagged 0, 1, 2 and receives until three arrived (or 5 s passed).
        static int Exchange(AfPacketPort from, AfPacketPort to, PacketBatch batch, byte[] frame, AfPacketPort[] waitOn)
        {
            for (byte i = 0; i < 3; i++)
            {
                frame[14] = i;
                from.Send(frame);
            }

            var received = 0;
            var deadline = Environment.TickCount64 + 5000;
            while (received < 3 && Environment.TickCount64 < deadline)
            {
                received += to.Receive(batch);
                if (received < 3)
                {
                    AfPacketPort.WaitAny(waitOn, 100);
                }
            }

            return received;
        }
    }

    /// <summary>
    /// A TCP super-packet (GSO, 3 × 1000 payload octets) sent whole with its virtio_net_hdr arrives whole on the veth's
    /// other end with its segment size (the kernel reports hdr_len as the frame's linear part, not the headers' length):
    /// on the ring the kernel writes the virtio_net_hdr just before the frame.
    /// </summary>
    [Theory]
    [InlineData(PacketIo.Recvmmsg, "s")]
    [InlineData(PacketIo.Ring, "u")]
    public void SendSuperPacket_OverVethPair_ArrivesWholeWithItsSegmentSize(PacketIo io, string tag)
    {
        using var wire = new NetworkNamespaces();
        var a = $"f{tag}a-{NetworkNamespaces.Suffix}";
        var b = $"f{tag}b-{NetworkNamespaces.Suffix}";
        wire.AddVethPair(a, b);
        using var portA = AfPacketPort.Open(a, io: io);
        using var portB = AfPacketPort.Open(b, io: io);
        Assert.True(portA.AcceptsSuperPackets && portB.AcceptsSuperPackets, "the kernel refused PACKET_VNET_HDR");
        var payload = new byte[3000];
        Random.Shared.NextBytes(payload);
        var ip = Packets.Tcp(0xC0000201, 0xC0000202, 40000, 5201, TcpFlags.Ack, 1000, 77, payload);
        var frame = new byte[14 + ip.Length];
        portB.Mac.Write(frame);
        portA.Mac.Write(frame.AsSpan(6));
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(12), 0x0800);
        ip.CopyTo(frame, 14);
        var offload = new SegmentationOffload
        {
            Kind = SuperPacketKind.TcpV4, SegmentSize = 1000, HeaderLength = 14 + 40,
            ChecksumPartial = true, ChecksumStart = 14 + 20, ChecksumOffset = 16,
        };

        Assert.True(portA.SendSuperPacket(frame, offload), $"send failed: errno {portA.LastErrno}");
        var batch = new PacketBatch(4, PacketBuffer.SuperPacketCapacity);
        var deadline = Environment.TickCount64 + 5000;
        while (batch.Count == 0 && Environment.TickCount64 < deadline)
        {
            if (portB.Receive(batch) == 0)
            {
                AfPacketPort.WaitAny([portB], 100);
            }
        }

        Assert.Equal(1, batch.Count);
        Assert.Equal(frame.Length, batch[0].Length);
        Assert.Equal(SuperPacketKind.TcpV4, batch[0].Offload.Kind);
        Assert.Equal(1000, batch[0].Offload.SegmentSize);
        Assert.Equal(frame.AsSpan(54).ToArray(), batch[0].Frame[54..].ToArray());
        Assert.Equal(1, portB.SuperPacketsReceived);
    }

    [Theory]
    [InlineData(IpProtocol.Tcp, 16)]
    [InlineData(IpProtocol.Udp, 6)]
    public void Complete_PartialTransportChecksum_BecomesValid(byte protocol, int checksumOffset)
    {
        var ip = protocol == IpProtocol.Tcp
            ? Packets.Tcp(0x0A14010A, 0x0AC80050, 40000, 80, TcpFlags.Syn, 1, 0, [1, 2, 3])
            : Packets.Udp(0x0A14010A, 0x0AC80050, 40000, 53, [1, 2, 3]);
        var frame = new byte[14 + ip.Length];
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(12), 0x0800);
        ip.CopyTo(frame, 14);
        // What an offloading sender leaves: the folded pseudo-header sum, not complemented.
        var partial = (ushort)~Checksum.Finish(Checksum.PseudoHeaderIpv4(0x0A14010A, 0x0AC80050, protocol, ip.Length - 20));
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(14 + 20 + checksumOffset), partial);
        Assert.False(Packets.ChecksumsValid(frame[14..]));

        Assert.True(PartialChecksum.Complete(frame));

        Assert.True(Packets.ChecksumsValid(frame[14..]));
        Assert.Equal(ip, frame[14..]);
    }

    [Fact]
    public void Complete_ArpFrame_LeftAlone()
    {
        var frame = new byte[42];
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(12), 0x0806);

        Assert.False(PartialChecksum.Complete(frame));
        Assert.All(frame[14..], b => Assert.Equal(0, b));
    }
}
