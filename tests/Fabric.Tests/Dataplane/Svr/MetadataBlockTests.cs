using System.Buffers.Binary;
using Fabric.Bench;
using Fabric.Dataplane.Sessions;
using Fabric.Dataplane.Svr;
using FsCheck.Xunit;
using Fabric.Tests.Support;

namespace Fabric.Tests.Dataplane.Svr;

[Collection(AllocationMeasurement.Name)]
public class MetadataBlockTests
{
    private static readonly Guid FixtureSessionId = Guid.Parse("6f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f1");

    private static readonly SvrMetadata FixtureMetadata = new()
    {
        SecurityId = 7,
        ForwardContext = new MetadataContext(SessionKey.V4(0x0A000001, 0xC0A80164, 50000, 443, 6)),
        SessionId = FixtureSessionId,
        Tenant = "dev.engineering",
        Service = "web",
    };

    [Fact]
    public void MetadataBlock_FirstPacketFixture_ReadsBaseAndSections()
    {
        var bytes = SvrFixtures.Bytes(SvrFixtures.FirstPacket);

        Assert.True(MetadataBlock.TryCreate(bytes, out var block, out var error));

        Assert.Equal(MetadataError.None, error);
        Assert.Equal(1, block.Version);
        Assert.Equal(20, block.HeaderLength);
        Assert.Equal(63, block.PayloadLength);
        Assert.Equal(83, block.TotalLength);
        Assert.Equal("0010000400000007", Convert.ToHexStringLower(block.HeaderTlvs));
        Assert.Equal(63, block.PayloadTlvs.Length);
        Assert.False(block.IsPayloadEncrypted);
        Assert.False(block.IsBare);
        Assert.True(block.TryFindPayloadTlv(MetadataTlvType.Service, out var service));
        Assert.Equal("web"u8.ToArray(), service.ToArray());
        Assert.False(block.TryFindHeaderTlv(MetadataTlvType.Service, out _));
    }

    [Fact]
    public void MetadataBlock_FirstPacketFixture_EnumeratesTlvsInOrder()
    {
        var bytes = SvrFixtures.Bytes(SvrFixtures.FirstPacket);
        Assert.True(MetadataBlock.TryCreate(bytes, out var block));
        var types = new List<MetadataTlvType>();
        var lengths = new List<int>();

        foreach (var (type, value) in block.EnumerateHeaderTlvs())
        {
            types.Add(type);
            lengths.Add(value.Length);
        }

        foreach (var (type, value) in block.EnumeratePayloadTlvs())
        {
            types.Add(type);
            lengths.Add(value.Length);
        }

        Assert.Equal(
            [MetadataTlvType.SecurityId, MetadataTlvType.ForwardContextV4, MetadataTlvType.SessionId, MetadataTlvType.Tenant, MetadataTlvType.Service],
            types);
        Assert.Equal([4, 13, 16, 15, 3], lengths);
    }

    [Fact]
    public void SvrMetadata_FirstPacketFixture_ParsesEveryField()
    {
        var bytes = SvrFixtures.Bytes(SvrFixtures.FirstPacket);
        Assert.True(MetadataBlock.TryCreate(bytes, out var block));

        Assert.True(SvrMetadata.TryParse(block, out var metadata, out var error));

        Assert.Equal(MetadataError.None, error);
        Assert.Equal(7u, metadata.SecurityId);
        var forward = Assert.NotNull(metadata.ForwardContext);
        Assert.False(forward.IsIpv6);
        Assert.Equal((UInt128)0x0A000001, forward.Key.Source);
        Assert.Equal((UInt128)0xC0A80164, forward.Key.Destination);
        Assert.Equal(50000, forward.Key.SourcePort);
        Assert.Equal(443, forward.Key.DestinationPort);
        Assert.Equal(6, forward.Key.Protocol);
        Assert.Equal(FixtureSessionId, metadata.SessionId);
        Assert.Equal("dev.engineering", metadata.Tenant);
        Assert.Equal("web", metadata.Service);
        Assert.Null(metadata.ReverseContext);
        Assert.Null(metadata.Control);
        Assert.False(metadata.PayloadEncrypted);
        Assert.Equal(FixtureMetadata, metadata);
    }

    [Fact]
    public void SvrMetadata_FirstPacketValue_EmitsFixtureByteForByte()
    {
        var destination = new byte[FixtureMetadata.EmitLength];

        var length = FixtureMetadata.Emit(destination);

        Assert.Equal(83, length);
        Assert.Equal(SvrFixtures.FirstPacket, Convert.ToHexStringLower(destination));
    }

    [Fact]
    public void MetadataWriter_FirstPacketStepByStep_WritesFixture()
    {
        var destination = new byte[128];
        var writer = new MetadataWriter(destination);

        Assert.True(writer.BeginHeader());
        Assert.True(writer.AddU32(MetadataTlvType.SecurityId, 7));
        Assert.True(writer.BeginPayload());
        Assert.True(writer.AddForwardContextV4(0x0A000001, 0xC0A80164, 50000, 443, 6));
        Assert.True(writer.AddGuid(MetadataTlvType.SessionId, FixtureSessionId));
        Assert.True(writer.AddString(MetadataTlvType.Tenant, "dev.engineering"));
        Assert.True(writer.AddString(MetadataTlvType.Service, "web"));
        Assert.True(writer.Finish(out var length));

        Assert.Equal(SvrFixtures.FirstPacket, Convert.ToHexStringLower(destination.AsSpan(0, length)));
    }

    [Fact]
    public void MetadataBlock_EveryTruncatedPrefix_IsRejectedAsTruncated()
    {
        var bytes = SvrFixtures.Bytes(SvrFixtures.FirstPacket);

        for (var length = 0; length < bytes.Length; length++)
        {
            Assert.False(MetadataBlock.TryCreate(bytes.AsSpan(0, length), out _, out var error));
            Assert.Equal(MetadataError.Truncated, error);
        }

        Assert.True(MetadataBlock.TryCreate(bytes, out _));
    }

    [Fact]
    public void MetadataBlock_TrailingL4Payload_IsOutsideTheView()
    {
        var bytes = SvrFixtures.Bytes(SvrFixtures.FirstPacket + "474554202f20485454502f312e310d0a");

        Assert.True(MetadataBlock.TryCreate(bytes, out var block));

        Assert.Equal(83, block.TotalLength);
        Assert.Equal(83, block.Bytes.Length);
    }

    [Fact]
    public void MetadataBlock_WrongCookie_IsRejectedAsBadCookie()
    {
        var bytes = SvrFixtures.Bytes(SvrFixtures.FirstPacket);
        bytes[7] ^= 1;

        Assert.False(MetadataBlock.TryCreate(bytes, out _, out var error));
        Assert.Equal(MetadataError.BadCookie, error);
        Assert.False(MetadataBlock.StartsWithCookie(bytes));
    }

    [Theory]
    [InlineData(0x0014)]
    [InlineData(0x2014)]
    [InlineData(0xF014)]
    public void MetadataBlock_OtherVersion_IsRejectedAsBadVersion(ushort word)
    {
        var bytes = SvrFixtures.Bytes(SvrFixtures.FirstPacket);
        BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(8), word);

        Assert.False(MetadataBlock.TryCreate(bytes, out _, out var error));
        Assert.Equal(MetadataError.BadVersion, error);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(4)]
    [InlineData(11)]
    public void MetadataBlock_HeaderLengthBelowBase_IsRejectedAsBadHeaderLength(int headerLength)
    {
        var bytes = SvrFixtures.Bytes(SvrFixtures.FirstPacket);
        BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(8), (ushort)(0x1000 | headerLength));

        Assert.False(MetadataBlock.TryCreate(bytes, out _, out var error));
        Assert.Equal(MetadataError.BadHeaderLength, error);
    }

    [Theory]
    [InlineData(16)]
    [InlineData(19)]
    [InlineData(21)]
    [InlineData(24)]
    public void MetadataBlock_HeaderLengthLyingWithinBuffer_IsRejectedAsBadHeaderLength(int headerLength)
    {
        // Trailing octets keep the lie inside the buffer, so the security id TLV, which fits the buffer,
        // is what crosses the claimed header end.
        var bytes = SvrFixtures.Bytes(SvrFixtures.FirstPacket + "0000000000000000");
        BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(8), (ushort)(0x1000 | headerLength));

        Assert.False(MetadataBlock.TryCreate(bytes, out _, out var error));
        Assert.Equal(MetadataError.BadHeaderLength, error);
    }

    [Fact]
    public void MetadataBlock_HeaderLengthLyingBeyondBuffer_IsRejectedAsTruncated()
    {
        var bytes = SvrFixtures.Bytes(SvrFixtures.FirstPacket);
        BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(8), 0x1000 | 24);

        Assert.False(MetadataBlock.TryCreate(bytes, out _, out var error));
        Assert.Equal(MetadataError.Truncated, error);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(18)]
    [InlineData(62)]
    public void MetadataBlock_PayloadLengthShorterThanTlvs_IsRejectedAsLengthMismatch(ushort payloadLength)
    {
        var bytes = SvrFixtures.Bytes(SvrFixtures.FirstPacket);
        BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(10), payloadLength);

        Assert.False(MetadataBlock.TryCreate(bytes, out _, out var error));
        Assert.Equal(MetadataError.LengthMismatch, error);
    }

    [Fact]
    public void MetadataBlock_PayloadLengthLongerThanBuffer_IsRejectedAsTruncated()
    {
        var bytes = SvrFixtures.Bytes(SvrFixtures.FirstPacket);
        BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(10), 64);

        Assert.False(MetadataBlock.TryCreate(bytes, out _, out var error));
        Assert.Equal(MetadataError.Truncated, error);
    }

    [Theory]
    [InlineData(59, 0x0010)] // tenant claims 16: the walk lands inside the service TLV and reads a huge length
    [InlineData(78, 0x0028)] // service claims 40: past the end of the buffer
    [InlineData(22, 0x0100)] // forward context claims 256
    public void MetadataBlock_TlvLengthLyingPastBuffer_IsRejectedAsBadTlv(int lengthOffset, ushort length)
    {
        var bytes = SvrFixtures.Bytes(SvrFixtures.FirstPacket);
        BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(lengthOffset), length);

        Assert.False(MetadataBlock.TryCreate(bytes, out _, out var error));
        Assert.Equal(MetadataError.BadTlv, error);
    }

    [Fact]
    public void MetadataBlock_PayloadTypeInHeaderSection_IsRejectedAsBadTlv()
    {
        var bytes = new byte[64];
        var writer = new MetadataWriter(bytes);
        writer.BeginHeader();
        writer.AddTlv((MetadataTlvType)999, "x"u8);
        writer.Finish(out var length);
        // Rename the unknown type to Tenant, a payload type, in place.
        BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(12), (ushort)MetadataTlvType.Tenant);

        Assert.False(MetadataBlock.TryCreate(bytes.AsSpan(0, length), out _, out var error));
        Assert.Equal(MetadataError.BadTlv, error);
    }

    [Fact]
    public void MetadataBlock_Bare_IsAcceptedWithEmptySections()
    {
        var bytes = new byte[MetadataBlock.BareLength];
        Assert.True(MetadataBlock.TryWriteBare(bytes));
        Assert.False(MetadataBlock.TryWriteBare(bytes.AsSpan(1)));

        Assert.True(MetadataBlock.TryCreate(bytes, out var block));

        Assert.Equal(SvrFixtures.Bare, Convert.ToHexStringLower(bytes));
        Assert.True(block.IsBare);
        Assert.Equal(0, block.HeaderTlvs.Length);
        Assert.Equal(0, block.PayloadTlvs.Length);
        Assert.True(SvrMetadata.TryParse(block, out var metadata, out _));
        Assert.Equal(new SvrMetadata(), metadata);
    }

    [Fact]
    public void MetadataBlock_EncryptedPayload_IsNotWalkedAndParsesHeaderOnly()
    {
        var bytes = new byte[64];
        var writer = new MetadataWriter(bytes);
        writer.BeginHeader();
        writer.AddFlag(MetadataTlvType.PayloadEncrypted);
        writer.AddU32(MetadataTlvType.SecurityId, 3);
        writer.BeginPayload();
        writer.AddTlv((MetadataTlvType)999, [0xFF, 0xFF, 0xFF, 0xFF, 0xFF]);
        writer.Finish(out var length);
        // Ciphertext: the payload section no longer reads as TLVs.
        bytes.AsSpan(24, 9).Fill(0xA5);

        Assert.True(MetadataBlock.TryCreate(bytes.AsSpan(0, length), out var block, out var error), error.ToString());

        Assert.True(block.IsPayloadEncrypted);
        Assert.False(block.TryFindPayloadTlv((MetadataTlvType)999, out _));
        Assert.True(SvrMetadata.TryParse(block, out var metadata, out _));
        Assert.Equal(new SvrMetadata { PayloadEncrypted = true, SecurityId = 3 }, metadata);
        Assert.Equal(MetadataError.BadTlv, MetadataBlock.ValidatePayloadTlvs(block.PayloadTlvs));
    }

    [Property(MaxTest = 3000)]
    public void MetadataBlock_RandomBytes_NeverThrow(byte[] bytes, bool withBase, ushort word)
    {
        bytes ??= [];
        if (withBase && bytes.Length >= MetadataBlock.BaseLength)
        {
            BinaryPrimitives.WriteUInt64BigEndian(bytes, MetadataBlock.Cookie);
            BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(8), (ushort)(0x1000 | (word & 0x0FFF)));
        }

        Touch(bytes);
    }

    [Property(MaxTest = 3000)]
    public void MetadataBlock_MutatedFixture_NeverThrows(ushort position, byte value, byte cut)
    {
        var bytes = SvrFixtures.Bytes(SvrFixtures.FirstPacket);
        bytes[position % bytes.Length] = value;

        Touch(bytes.AsSpan(0, bytes.Length - (cut % 4 == 0 ? cut % bytes.Length : 0)));
    }

    [Fact]
    public void MetadataBlock_TryCreateAndTlvWalk_AllocateNothing()
    {
        var bytes = SvrFixtures.Bytes(SvrFixtures.FirstPacket);
        var scratch = new byte[128];
        var sum = Walk(bytes, scratch);

        var allocated = ThreadAllocations.During(() =>
        {
            for (var i = 0; i < 1000; i++)
            {
                sum += Walk(bytes, scratch);
            }
        });

        Assert.Equal(0, allocated);
        Assert.Equal(1001L * (5 + 83 + 83), sum);
    }

    /// <summary>Parses, enumerates, finds a TLV and writes the fixture again; returns TLVs seen plus two lengths.</summary>
    private static long Walk(Span<byte> bytes, Span<byte> scratch)
    {
        if (!MetadataBlock.TryCreate(bytes, out var block, out _))
        {
            return 0;
        }

        long count = 0;
        foreach (var tlv in block.EnumerateHeaderTlvs())
        {
            count += tlv.Value.Length > 0 ? 1 : 0;
        }

        foreach (var tlv in block.EnumeratePayloadTlvs())
        {
            count += tlv.Value.Length > 0 ? 1 : 0;
        }

        block.TryFindPayloadTlv(MetadataTlvType.SessionId, out var sessionId);
        var writer = new MetadataWriter(scratch);
        writer.BeginHeader();
        writer.AddU32(MetadataTlvType.SecurityId, 7);
        writer.BeginPayload();
        writer.AddForwardContextV4(0x0A000001, 0xC0A80164, 50000, 443, 6);
        writer.AddTlv(MetadataTlvType.SessionId, sessionId);
        writer.AddString(MetadataTlvType.Tenant, "dev.engineering");
        writer.AddString(MetadataTlvType.Service, "web");
        writer.Finish(out var length);
        return count + block.TotalLength + length;
    }

    private static void Touch(Span<byte> bytes)
    {
        _ = MetadataBlock.StartsWithCookie(bytes);
        _ = MetadataBlock.ValidatePayloadTlvs(bytes);
        _ = SvrMetadata.TryParse(bytes, bytes, out _, out _);
        if (!MetadataBlock.TryCreate(bytes, out var block, out var error))
        {
            Assert.NotEqual(MetadataError.None, error);
            return;
        }

        _ = block.Version + block.HeaderLength + block.PayloadLength + block.TotalLength + block.HeaderTlvs.Length + block.PayloadTlvs.Length;
        _ = block.IsBare | block.IsPayloadEncrypted;
        foreach (var (type, value) in block.EnumerateHeaderTlvs())
        {
            _ = (int)type + value.Length;
        }

        foreach (var (type, value) in block.EnumeratePayloadTlvs())
        {
            _ = (int)type + value.Length;
        }

        block.TryFindPayloadTlv(MetadataTlvType.Tenant, out _);
        if (SvrMetadata.TryParse(block, out var metadata, out _))
        {
            var again = new byte[metadata.EmitLength];
            metadata.Emit(again);
        }
    }
}
