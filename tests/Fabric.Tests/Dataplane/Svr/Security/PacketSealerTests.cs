using System.Buffers.Binary;
using Fabric.Bench;
using Fabric.Dataplane.Svr.Security;
using FsCheck;
using Fabric.Tests.Support;

namespace Fabric.Tests.Dataplane.Svr.Security;

[Collection(AllocationMeasurement.Name)]
public class PacketSealerTests
{
    private static readonly byte[] Key = SecurityFixtures.Bytes(32, seed: 1);
    private static readonly byte[] Salt = [0xDE, 0xAD, 0xBE, 0xEF];

    private static (PacketSealer Sender, PacketSealer Receiver) Pair() =>
        (PacketSealer.ForSending(Key, Salt), PacketSealer.ForReceiving(Key, Salt, new BitmapReplayGuard()));

    [Fact]
    public void PacketSealer_EncryptedRoundTrip_RestoresPayloadAndHidesIt()
    {
        var (sender, receiver) = Pair();
        var ad = SecurityFixtures.Bytes(40, seed: 2);
        var original = SecurityFixtures.Bytes(1400, seed: 3);
        var payload = (byte[])original.Clone();
        var trailer = new byte[PacketSealer.TrailerLength];

        Assert.Equal(PacketSealer.TrailerLength, sender.Seal(ad, payload, 5, trailer));
        Assert.NotEqual(original, payload);
        Assert.Equal(5ul, PacketSealer.SequenceOf(BinaryPrimitives.ReadUInt64BigEndian(trailer)));

        Assert.Equal(OpenVerdict.Ok, receiver.Open(ad, payload, trailer));
        Assert.Equal(original, payload);
    }

    [Fact]
    public void PacketSealer_IntegrityOnlyRoundTrip_LeavesPayloadInClearAndVerifies()
    {
        var (sender, receiver) = Pair();
        var ad = SecurityFixtures.Bytes(40, seed: 2);
        var original = SecurityFixtures.Bytes(1400, seed: 3);
        var payload = (byte[])original.Clone();
        var trailer = new byte[PacketSealer.TrailerLength];

        Assert.Equal(PacketSealer.TrailerLength, sender.SealNext(ad, payload, trailer, PayloadProtection.IntegrityOnly));
        Assert.Equal(original, payload);

        Assert.Equal(OpenVerdict.Ok, receiver.Open(ad, payload, trailer, PayloadProtection.IntegrityOnly));
        Assert.Equal(original, payload);
    }

    [Fact]
    public void PacketSealer_IntegrityOnly_BindsWhereAssociatedDataEnds()
    {
        var (sender, receiver) = Pair();
        var packet = SecurityFixtures.Bytes(100, seed: 4);
        var trailer = new byte[PacketSealer.TrailerLength];
        sender.SealNext(packet.AsSpan(0, 40), packet.AsSpan(40), trailer, PayloadProtection.IntegrityOnly);

        // Same bytes, split one byte later: must not verify.
        Assert.Equal(OpenVerdict.BadTag, receiver.Open(packet.AsSpan(0, 41), packet.AsSpan(41), trailer, PayloadProtection.IntegrityOnly));
    }

    [Fact]
    public void PacketSealer_OpenedWithTheOtherProtection_IsBadTag()
    {
        var (sender, receiver) = Pair();
        var payload = SecurityFixtures.Bytes(64, seed: 5);
        var trailer = new byte[PacketSealer.TrailerLength];
        sender.SealNext([1, 2, 3], payload, trailer, PayloadProtection.IntegrityOnly);

        Assert.Equal(OpenVerdict.BadTag, receiver.Open([1, 2, 3], payload, trailer, PayloadProtection.Encrypt));
    }

    [FsCheck.Xunit.Property]
    public bool PacketSealer_AnyFlippedBit_IsBadTag(PositiveInt position, bool integrityOnly)
    {
        var protection = integrityOnly ? PayloadProtection.IntegrityOnly : PayloadProtection.Encrypt;
        var (sender, receiver) = Pair();
        var ad = SecurityFixtures.Bytes(24, seed: 6);
        var payload = SecurityFixtures.Bytes(80, seed: 7);
        var trailer = new byte[PacketSealer.TrailerLength];
        sender.Seal(ad, payload, 1000, trailer, protection);

        // One bit anywhere in associated data, payload, counter or tag.
        var bit = position.Get % ((ad.Length + payload.Length + trailer.Length) * 8);
        var index = bit / 8;
        var target = index < ad.Length ? ad
            : index < ad.Length + payload.Length ? payload
            : trailer;
        var offset = index < ad.Length ? index
            : index < ad.Length + payload.Length ? index - ad.Length
            : index - ad.Length - payload.Length;
        target[offset] ^= (byte)(1 << (bit % 8));

        return receiver.Open(ad, payload, trailer, protection) == OpenVerdict.BadTag;
    }

    [Fact]
    public void PacketSealer_SamePacketTwice_IsReplayed()
    {
        var (sender, receiver) = Pair();
        var payload = SecurityFixtures.Bytes(64, seed: 8);
        var trailer = new byte[PacketSealer.TrailerLength];
        sender.SealNext([9], payload, trailer);
        var copy = (byte[])payload.Clone();

        Assert.Equal(OpenVerdict.Ok, receiver.Open([9], payload, trailer));
        Assert.Equal(OpenVerdict.Replayed, receiver.Open([9], copy, trailer));
    }

    [Fact]
    public void PacketSealer_CounterBehindTheWindow_IsReplayed()
    {
        var (sender, receiver) = Pair();
        var trailer = new byte[PacketSealer.TrailerLength];
        var old = new byte[PacketSealer.TrailerLength];
        var oldPayload = new byte[16];
        var newPayload = new byte[16];
        sender.Seal([], oldPayload, 1, old);
        sender.Seal([], newPayload, 1 + BitmapReplayGuard.WindowSize, trailer);

        Assert.Equal(OpenVerdict.Ok, receiver.Open([], newPayload, trailer));
        Assert.Equal(OpenVerdict.Replayed, receiver.Open([], oldPayload, old));
    }

    [Fact]
    public void PacketSealer_OutOfOrderWithinWindow_IsAccepted()
    {
        var (sender, receiver) = Pair();
        var packets = Enumerable.Range(0, 4).Select(_ => (Payload: new byte[16], Trailer: new byte[PacketSealer.TrailerLength])).ToArray();
        foreach (var (payload, trailer) in packets)
        {
            sender.SealNext([], payload, trailer);
        }

        foreach (var i in new[] { 3, 0, 2, 1 })
        {
            Assert.Equal(OpenVerdict.Ok, receiver.Open([], packets[i].Payload, packets[i].Trailer));
        }
    }

    [Fact]
    public void PacketSealer_ForgedPacket_DoesNotMarkItsCounterSeen()
    {
        var (sender, receiver) = Pair();
        var payload = SecurityFixtures.Bytes(64, seed: 9);
        var trailer = new byte[PacketSealer.TrailerLength];
        sender.SealNext([7], payload, trailer);
        var forgedTrailer = (byte[])trailer.Clone();
        forgedTrailer[^1] ^= 1;

        Assert.Equal(OpenVerdict.BadTag, receiver.Open([7], (byte[])payload.Clone(), forgedTrailer));
        Assert.Equal(OpenVerdict.Ok, receiver.Open([7], payload, trailer));
    }

    [Fact]
    public void PacketSealer_ShortTrailer_IsTruncated()
    {
        var (_, receiver) = Pair();

        Assert.Equal(OpenVerdict.Truncated, receiver.Open([], new byte[16], new byte[PacketSealer.TrailerLength - 1]));
    }

    [Fact]
    public void PacketSealer_CounterNotAboveLastUsed_IsRefused()
    {
        var (sender, _) = Pair();
        var trailer = new byte[PacketSealer.TrailerLength];

        Assert.Equal(PacketSealer.TrailerLength, sender.Seal([], new byte[8], 10, trailer));
        Assert.Equal(0, sender.Seal([], new byte[8], 10, trailer));
        Assert.Equal(0, sender.Seal([], new byte[8], 9, trailer));
        Assert.Equal(0, sender.Seal([], new byte[8], PacketSealer.MaxSequence + 1, trailer));
        Assert.Equal(11ul, sender.NextSequence);
        Assert.Equal(1, sender.SealedCount);
    }

    [Fact]
    public void PacketSealer_SealNext_UsesStrictlyIncreasingSequencesInItsKeyPhase_WithItsSender()
    {
        var sender = PacketSealer.ForSending(Key, Salt, keyPhase: 1, sender: 0xABCDE);
        var first = new byte[PacketSealer.TrailerLength];
        var second = new byte[PacketSealer.TrailerLength];

        sender.SealNext([], new byte[8], first);
        sender.SealNext([], new byte[8], second);

        Assert.Equal((1UL << 63) | 0xABCDE, BinaryPrimitives.ReadUInt64BigEndian(first));
        Assert.Equal((1UL << 63) | (1UL << PacketSealer.SenderBits) | 0xABCDE, BinaryPrimitives.ReadUInt64BigEndian(second));
        Assert.Equal(1, PacketSealer.ReadKeyPhase(second));
        Assert.Equal(1UL, PacketSealer.SequenceOf(BinaryPrimitives.ReadUInt64BigEndian(second)));
        Assert.Equal(0xABCDEu, PacketSealer.SenderOf(BinaryPrimitives.ReadUInt64BigEndian(second)));
    }

    [Fact]
    public void PacketSealer_TwoSendersWithTheSameKeyAndSequence_UseDifferentNonces_AndTheReceiverOpensEither()
    {
        var a = PacketSealer.ForSending(Key, Salt, firstSequence: 500, sender: 1);
        var b = PacketSealer.ForSending(Key, Salt, firstSequence: 500, sender: 2);
        var (_, receiver) = Pair();
        var payloadA = new byte[16];
        var payloadB = new byte[16];
        var trailerA = new byte[PacketSealer.TrailerLength];
        var trailerB = new byte[PacketSealer.TrailerLength];

        a.SealNext([], payloadA, trailerA);
        b.SealNext([], payloadB, trailerB);

        Assert.NotEqual(BinaryPrimitives.ReadUInt64BigEndian(trailerA), BinaryPrimitives.ReadUInt64BigEndian(trailerB));
        Assert.NotEqual(payloadA, payloadB);
        Assert.Equal(OpenVerdict.Ok, receiver.Open([], payloadA, trailerA));
    }

    [Fact]
    public void PacketSealer_FirstSequenceBeyondHalfTheSpace_IsClampedNotThrown()
    {
        var sender = PacketSealer.ForSending(Key, Salt, firstSequence: ulong.MaxValue);

        Assert.Equal(PacketSealer.MaxSequence / 2, sender.NextSequence);
        Assert.Equal(PacketSealer.TrailerLength, sender.SealNext([], new byte[8], new byte[PacketSealer.TrailerLength]));
    }

    [Fact]
    public void PacketSealer_WrongKey_IsBadTag()
    {
        var sender = PacketSealer.ForSending(SecurityFixtures.Bytes(32, seed: 10), Salt);
        var (_, receiver) = Pair();
        var payload = new byte[32];
        var trailer = new byte[PacketSealer.TrailerLength];
        sender.SealNext([], payload, trailer);

        Assert.Equal(OpenVerdict.BadTag, receiver.Open([], payload, trailer));
    }

    [Fact]
    public void PacketSealer_SealAndOpenAfterWarmUp_AllocateNothing()
    {
        var (sender, receiver) = Pair();
        var ad = new byte[40];
        var payload = new byte[1400];
        var trailer = new byte[PacketSealer.TrailerLength];
        var protections = new[] { PayloadProtection.Encrypt, PayloadProtection.IntegrityOnly };
        foreach (var protection in protections)
        {
            sender.SealNext(ad, payload, trailer, protection);
            receiver.Open(ad, payload, trailer, protection);
        }

        var opened = 0;
        var allocated = ThreadAllocations.During(() =>
        {
            for (var i = 0; i < 1000; i++)
            {
                var protection = protections[i & 1];
                sender.SealNext(ad, payload, trailer, protection);
                opened += receiver.Open(ad, payload, trailer, protection) == OpenVerdict.Ok ? 1 : 0;
            }
        });

        Assert.Equal(0, allocated);
        Assert.Equal(1000, opened);
    }
}
