using Fabric.Bench;
using Fabric.Dataplane.Svr;
using Fabric.Dataplane.Wire;
using Fabric.Tests.Dataplane.Routing;
using Fabric.Tests.Dataplane.Wire;
using FsCheck.Xunit;
using Fabric.Tests.Support;

namespace Fabric.Tests.Dataplane.Svr;

[Collection(AllocationMeasurement.Name)]
public class MetadataInsertionTests
{
    public enum Shape
    {
        Ipv4Udp,
        Ipv4Tcp,
        Ipv6Udp,
        Ipv6Tcp,
        Ipv6DestinationOptionsUdp,
    }

    private const uint ClientV4 = 0x0A000001;
    private const uint ServerV4 = 0xC0A80164;
    private static readonly UInt128 ClientV6 = IpAddressConversions.ParseIpv6("fd00::1");
    private static readonly UInt128 ServerV6 = IpAddressConversions.ParseIpv6("fd00:0:0:2::80");

    [Theory]
    [InlineData(Shape.Ipv4Udp)]
    [InlineData(Shape.Ipv4Tcp)]
    [InlineData(Shape.Ipv6Udp)]
    [InlineData(Shape.Ipv6Tcp)]
    [InlineData(Shape.Ipv6DestinationOptionsUdp)]
    public void MetadataInsertion_InsertThenStrip_RestoresPacketWithValidChecksums(Shape shape)
    {
        var original = Build(shape, "GET / HTTP/1.1\r\n"u8);
        var block = SvrFixtures.Bytes(SvrFixtures.FirstPacket);
        var buffer = new byte[original.Length + 200];
        original.CopyTo(buffer, 0);

        Assert.True(MetadataInsertion.TryInsert(buffer, original.Length, block, out var insertedLength));

        Assert.Equal(original.Length + block.Length, insertedLength);
        var payload = AssertValid(buffer.AsSpan(0, insertedLength));
        Assert.Equal([.. block, .. "GET / HTTP/1.1\r\n"u8.ToArray()], payload);
        Assert.True(MetadataInsertion.TryLocate(buffer, insertedLength, out var located, out var error));
        Assert.Equal(MetadataError.None, error);
        Assert.Equal(block, located.Bytes.ToArray());

        Assert.True(MetadataInsertion.TryStrip(buffer, insertedLength, out var strippedLength));

        Assert.Equal(original.Length, strippedLength);
        AssertValid(buffer.AsSpan(0, strippedLength));
        Assert.Equal(original, buffer[..strippedLength]);
    }

    [Theory]
    [InlineData(Shape.Ipv4Udp)]
    [InlineData(Shape.Ipv4Tcp)]
    [InlineData(Shape.Ipv6Udp)]
    [InlineData(Shape.Ipv6Tcp)]
    public void MetadataInsertion_PayloadStartingWithCookieSentWithoutMetadata_SurvivesBareBlock(Shape shape)
    {
        // The original payload is itself a valid metadata block followed by data: the worst false positive.
        var originalPayload = SvrFixtures.Bytes(SvrFixtures.FirstPacket + "00ff");
        var original = Build(shape, originalPayload);
        var buffer = new byte[original.Length + MetadataBlock.BareLength];
        original.CopyTo(buffer, 0);
        Assert.True(MetadataInsertion.NeedsBareBlock(originalPayload));
        var bare = new byte[MetadataBlock.BareLength];
        Assert.True(MetadataBlock.TryWriteBare(bare));

        Assert.True(MetadataInsertion.TryInsert(buffer, original.Length, bare, out var sentLength));
        Assert.True(MetadataInsertion.TryLocate(buffer, sentLength, out var located, out _));
        Assert.True(located.IsBare);
        Assert.True(MetadataInsertion.TryStrip(buffer, sentLength, out var receivedLength));

        Assert.Equal(original, buffer[..receivedLength]);
        Assert.Equal(originalPayload, AssertValid(buffer.AsSpan(0, receivedLength)));
    }

    [Theory]
    [InlineData(Shape.Ipv4Udp)]
    [InlineData(Shape.Ipv6Tcp)]
    public void MetadataInsertion_PayloadStartingWithCookieSentWithMetadata_NeedsNoBareBlock(Shape shape)
    {
        var originalPayload = SvrFixtures.Bytes(SvrFixtures.Bare + "68656c6c6f");
        var original = Build(shape, originalPayload);
        var block = SvrFixtures.Bytes(SvrFixtures.FirstPacket);
        var buffer = new byte[original.Length + block.Length];
        original.CopyTo(buffer, 0);

        Assert.True(MetadataInsertion.TryInsert(buffer, original.Length, block, out var sentLength));
        Assert.True(MetadataInsertion.TryStrip(buffer, sentLength, out var receivedLength));

        Assert.Equal(original, buffer[..receivedLength]);
        Assert.Equal(originalPayload, AssertValid(buffer.AsSpan(0, receivedLength)));
    }

    [Property(MaxTest = 300)]
    public bool MetadataInsertion_RandomPayloads_RoundTripWithValidChecksums(byte shapeSeed, byte[] payload, bool cookieFirst, int metadataSeed)
    {
        payload ??= [];
        if (cookieFirst)
        {
            payload = [.. SvrFixtures.Bytes(SvrFixtures.Bare), .. payload];
        }

        var shape = (Shape)(shapeSeed % 5);
        var original = Build(shape, payload);
        var metadata = new SvrMetadata { Tenant = "t" + metadataSeed, SecurityId = (uint)metadataSeed, DisableForwardMetadata = metadataSeed % 2 == 0 };
        var block = new byte[metadata.EmitLength];
        metadata.Emit(block);
        var buffer = new byte[original.Length + block.Length + 3];
        original.CopyTo(buffer, 0);

        var inserted = MetadataInsertion.TryInsert(buffer, original.Length, block, out var sentLength);
        var sentPayload = AssertValid(buffer.AsSpan(0, sentLength));
        var located = MetadataInsertion.TryLocate(buffer, sentLength, out var view, out _)
            && SvrMetadata.TryParse(view, out var parsed, out _) && parsed == metadata;
        var stripped = MetadataInsertion.TryStrip(buffer, sentLength, out var receivedLength);

        return inserted && located && stripped
            && sentPayload.Length == block.Length + payload.Length
            && AssertValid(buffer.AsSpan(0, receivedLength)).SequenceEqual(payload)
            && buffer.AsSpan(0, receivedLength).SequenceEqual(original);
    }

    [Fact]
    public void MetadataInsertion_NoRoom_RefusesAndLeavesPacket()
    {
        var original = Build(Shape.Ipv4Udp, "abc"u8);
        var block = SvrFixtures.Bytes(SvrFixtures.FirstPacket);
        var buffer = new byte[original.Length + block.Length - 1];
        original.CopyTo(buffer, 0);

        Assert.False(MetadataInsertion.TryInsert(buffer, original.Length, block, out var length));

        Assert.Equal(original.Length, length);
        Assert.Equal(original, buffer[..original.Length]);
    }

    [Fact]
    public void MetadataInsertion_InvalidBlockOrOtherProtocolOrFragment_IsRefused()
    {
        var block = SvrFixtures.Bytes(SvrFixtures.FirstPacket);
        var icmp = Packets.Icmp(ClientV4, ServerV4, 8, 1, 1, new byte[8]);
        var fragment = Build(Shape.Ipv4Udp, "abc"u8);
        fragment[6] = 0x20; // more fragments
        Ipv4Packet.TryCreate(fragment, out var ip);
        ip.UpdateHeaderChecksum();
        var udp = Build(Shape.Ipv4Udp, "abc"u8);

        Assert.False(MetadataInsertion.TryInsert(Room(icmp, 100), icmp.Length, block, out _));
        Assert.False(MetadataInsertion.TryInsert(Room(fragment, 100), fragment.Length, block, out _));
        Assert.False(MetadataInsertion.TryInsert(Room(udp, 100), udp.Length, block.AsSpan(0, 82), out _));
        Assert.False(MetadataInsertion.TryInsert(Room(udp, 200), udp.Length, [.. block, .. block], out _));
        Assert.False(MetadataInsertion.TryInsert(Room(udp, 100), udp.Length + 1, block, out _));
        Assert.False(MetadataInsertion.TryInsert(Room(udp, 100), 0, block, out _));
    }

    [Fact]
    public void MetadataInsertion_StripWithoutBlockOrWithMalformedBlock_IsRefusedWithReason()
    {
        var plain = Build(Shape.Ipv6Udp, "hello"u8);
        var malformed = SvrFixtures.Bytes(SvrFixtures.FirstPacket);
        malformed[9] = 0x10; // header length 16 lies: the security id TLV crosses it
        var broken = Build(Shape.Ipv4Tcp, malformed);

        Assert.False(MetadataInsertion.TryStrip(plain, plain.Length, out var plainLength));
        Assert.False(MetadataInsertion.TryLocate(plain, plain.Length, out _, out var plainError));
        Assert.False(MetadataInsertion.TryStrip(broken, broken.Length, out var brokenLength));
        Assert.False(MetadataInsertion.TryLocate(broken, broken.Length, out _, out var brokenError));

        Assert.Equal(plain.Length, plainLength);
        Assert.Equal(MetadataError.None, plainError);
        Assert.Equal(broken.Length, brokenLength);
        Assert.Equal(MetadataError.BadHeaderLength, brokenError);
    }

    [Fact]
    public void MetadataInsertion_InsertLocateStrip_AllocateNothing()
    {
        var original = Build(Shape.Ipv6Tcp, new byte[100]);
        var block = SvrFixtures.Bytes(SvrFixtures.FirstPacket);
        var buffer = new byte[original.Length + block.Length];
        original.CopyTo(buffer, 0);
        var total = RoundTrip(buffer, original.Length, block);

        var allocated = ThreadAllocations.During(() =>
        {
            for (var i = 0; i < 1000; i++)
            {
                total += RoundTrip(buffer, original.Length, block);
            }
        });

        Assert.Equal(0, allocated);
        Assert.Equal(1001L * (original.Length + block.Length + original.Length + block.Length), total);
    }

    private static long RoundTrip(byte[] buffer, int length, byte[] block)
    {
        MetadataInsertion.TryInsert(buffer, length, block, out var sent);
        MetadataInsertion.TryLocate(buffer, sent, out var located, out _);
        MetadataInsertion.TryStrip(buffer, sent, out var received);
        return sent + located.TotalLength + received;
    }

    private static byte[] Room(byte[] packet, int extra)
    {
        var buffer = new byte[packet.Length + extra];
        packet.CopyTo(buffer, 0);
        return buffer;
    }

    /// <summary>Builds a packet of <paramref name="shape"/> from 50000 to 443 with correct checksums.</summary>
    private static byte[] Build(Shape shape, ReadOnlySpan<byte> payload)
    {
        switch (shape)
        {
            case Shape.Ipv4Udp:
                return Packets.Udp(ClientV4, ServerV4, 50000, 443, payload.ToArray());
            case Shape.Ipv4Tcp:
                return Packets.Tcp(ClientV4, ServerV4, 50000, 443, TcpFlags.Psh | TcpFlags.Ack, 1000, 2000, payload.ToArray());
            default:
                var tcp = shape == Shape.Ipv6Tcp;
                var transport = tcp
                    ? PacketBuilder.Tcp(new TcpHeader(50000, 443, 1000, 2000, TcpFlags.Psh | TcpFlags.Ack, 65535, 0, 0), payload)
                    : PacketBuilder.Udp(50000, 443, payload);
                var withOptions = shape == Shape.Ipv6DestinationOptionsUdp;
                // Destination options: next header UDP, length 0 (8 octets), one PadN option of 4.
                byte[] options = [IpProtocol.Udp, 0, 1, 4, 0, 0, 0, 0];
                var packet = PacketBuilder.Ipv6(
                    ClientV6,
                    ServerV6,
                    withOptions ? IpProtocol.Ipv6DestinationOptions : tcp ? IpProtocol.Tcp : IpProtocol.Udp,
                    withOptions ? [.. options, .. transport] : transport);
                Assert.True(Ipv6Packet.TryCreate(packet, out var ip));
                if (tcp)
                {
                    Assert.True(TcpSegment.TryCreate(ip.UpperLayer, out var segment));
                    segment.UpdateChecksum(ip.PseudoHeaderSum());
                }
                else
                {
                    Assert.True(UdpDatagram.TryCreate(ip.UpperLayer, out var datagram));
                    datagram.UpdateChecksum(ip.PseudoHeaderSum());
                }

                return packet;
        }
    }

    /// <summary>Asserts that the IP and L4 lengths agree with the buffer and every checksum holds; returns the L4 payload.</summary>
    private static byte[] AssertValid(Span<byte> packet)
    {
        if (Ipv4Packet.TryCreate(packet, out var ip4))
        {
            Assert.Equal(packet.Length, ip4.TotalLength);
            Assert.True(ip4.IsHeaderChecksumValid);
            return AssertTransportValid(ip4.Protocol, ip4.Payload, ip4.PseudoHeaderSum());
        }

        Assert.True(Ipv6Packet.TryCreate(packet, out var ip6));
        Assert.Equal(packet.Length, ip6.PayloadLength + Ipv6Packet.HeaderLength);
        return AssertTransportValid(ip6.UpperLayerProtocol, ip6.UpperLayer, ip6.PseudoHeaderSum());
    }

    private static byte[] AssertTransportValid(byte protocol, Span<byte> transport, ulong pseudoHeaderSum)
    {
        if (protocol == IpProtocol.Udp)
        {
            Assert.True(UdpDatagram.TryCreate(transport, out var udp));
            Assert.True(udp.IsChecksumValid(pseudoHeaderSum));
            return udp.Payload.ToArray();
        }

        Assert.Equal(IpProtocol.Tcp, protocol);
        Assert.True(TcpSegment.TryCreate(transport, out var tcp));
        Assert.True(tcp.IsChecksumValid(pseudoHeaderSum));
        return tcp.Payload.ToArray();
    }
}
