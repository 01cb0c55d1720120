using System.Buffers.Binary;
using Fabric.Bench;
using Fabric.Dataplane.Io;
using Fabric.Dataplane.Pipeline.Workers;

namespace Fabric.Tests.Dataplane.Pipeline.Workers;

public sealed class HandOffRingTests
{
    private static PacketBuffer Frame(int sequence, int length = 64, int port = 1)
    {
        var frame = new PacketBuffer { Length = length, Port = port };
        BinaryPrimitives.WriteInt32BigEndian(frame.Data, sequence);
        return frame;
    }

    [Fact]
    public void HandOffRing_FramesWritten_ReadInOrderWithTheirPortAndBytes()
    {
        var ring = new HandOffRing(8);
        Assert.True(ring.TryWrite(Frame(1, 60, port: 2)));
        Assert.True(ring.TryWrite(Frame(2, 1500, port: 3)));

        Assert.True(ring.TryPeek(out var first));
        Assert.Equal((1, 60, 2), (BinaryPrimitives.ReadInt32BigEndian(first.Data), first.Length, first.Port));
        ring.Release();
        Assert.True(ring.TryPeek(out var second));
        Assert.Equal((2, 1500, 3), (BinaryPrimitives.ReadInt32BigEndian(second.Data), second.Length, second.Port));
        ring.Release();
        Assert.False(ring.TryPeek(out _));
    }

    [Fact]
    public void HandOffRing_Full_RefusesAndCountsUntilTheConsumerReleases()
    {
        var ring = new HandOffRing(4);
        for (var i = 0; i < 4; i++)
        {
            Assert.True(ring.TryWrite(Frame(i)));
        }

        Assert.False(ring.TryWrite(Frame(4)));
        Assert.Equal(1, ring.Refused);
        Assert.Equal(4, ring.Count);

        Assert.True(ring.TryPeek(out _));
        ring.Release();
        Assert.True(ring.TryWrite(Frame(5)));
    }

    [Fact]
    public void HandOffRing_FrameLargerThanASlot_Refused()
    {
        var ring = new HandOffRing(4, slotCapacity: 2048);
        var jumbo = new PacketBuffer { Length = 9000 };

        Assert.False(ring.TryWrite(jumbo));
        Assert.Equal(1, ring.Refused);
        Assert.False(ring.TryPeek(out _));
    }

    [Fact]
    public void HandOffRing_SuperPacketsBetweenFrames_ReadWholeInTheOrderWrittenWithTheirOffload()
    {
        var ring = new HandOffRing(8, slotCapacity: 2048, superPacketSlots: 2);
        var offload = new SegmentationOffload { Kind = SuperPacketKind.TcpV4, SegmentSize = 1448, HeaderLength = 66 };
        var super = new PacketBuffer(PacketBuffer.SuperPacketCapacity) { Length = 60000, Port = 2, Offload = offload };
        BinaryPrimitives.WriteInt32BigEndian(super.Data, 2);
        super.Data[59999] = 0xAB;

        // Written in this order by one flow: small, super, small, super; a third super-packet finds both large slots taken.
        Assert.True(ring.TryWrite(Frame(1)));
        Assert.True(ring.TryWrite(super));
        Assert.True(ring.TryWrite(Frame(3)));
        BinaryPrimitives.WriteInt32BigEndian(super.Data, 4);
        Assert.True(ring.TryWrite(super));
        Assert.False(ring.TryWrite(super));
        Assert.Equal(1, ring.Refused);

        var read = new List<(int Sequence, int Length, bool Super)>();
        for (var i = 0; ring.TryPeek(i, out var frame); i++)
        {
            read.Add((BinaryPrimitives.ReadInt32BigEndian(frame.Data), frame.Length, frame.Offload.IsSuperPacket));
            if (frame.Offload.IsSuperPacket)
            {
                Assert.Equal(0xAB, frame.Data[59999]);
                Assert.Equal(1448, frame.Offload.SegmentSize);
            }
        }

        Assert.Equal([(1, 64, false), (2, 60000, true), (3, 64, false), (4, 60000, true)], read);

        // Releasing the first two gives back one large slot: one more super-packet fits, a second does not yet.
        ring.Release(2);
        Assert.True(ring.TryWrite(super));
        Assert.False(ring.TryWrite(super));
        ring.Release(3);
        Assert.True(ring.TryWrite(super));
    }

    [Fact]
    public void HandOffRing_CapacityNotAPowerOfTwo_Throws()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new HandOffRing(6));
    }

    [Fact]
    public void HandOffRing_ProducerAndConsumerThreads_EveryFrameArrivesOnceAndInOrder()
    {
        const int frames = 200_000;
        var ring = new HandOffRing(64);
        var producer = new Thread(() =>
        {
            var frame = Frame(0);
            for (var i = 0; i < frames; i++)
            {
                BinaryPrimitives.WriteInt32BigEndian(frame.Data, i);
                frame.Length = 64 + (i % 1400);
                while (!ring.TryWrite(frame))
                {
                    Thread.Yield();
                }
            }
        });
        producer.Start();

        var expected = 0;
        var disorder = 0;
        while (expected < frames)
        {
            if (!ring.TryPeek(out var frame))
            {
                Thread.Yield();
                continue;
            }

            if (BinaryPrimitives.ReadInt32BigEndian(frame.Data) != expected || frame.Length != 64 + (expected % 1400))
            {
                disorder++;
            }

            expected++;
            ring.Release();
        }

        producer.Join();
        Assert.Equal(0, disorder);
        Assert.False(ring.TryPeek(out _));
    }

    [Fact]
    public void HandOffRing_WarmedUp_AllocatesNothing()
    {
        var ring = new HandOffRing(8);
        var frame = Frame(7);
        RoundTrip(ring, frame, 100);

        var allocated = ThreadAllocations.During(() => RoundTrip(ring, frame, 10_000));

        Assert.Equal(0, allocated);

        static void RoundTrip(HandOffRing ring, PacketBuffer frame, int rounds)
        {
            for (var i = 0; i < rounds; i++)
            {
                ring.TryWrite(frame);
                ring.TryPeek(out _);
                ring.Release();
            }
        }
    }
}
