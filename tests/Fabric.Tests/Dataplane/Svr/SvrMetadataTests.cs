using Fabric.Dataplane.Sessions;
using Fabric.Dataplane.Svr;
using FsCheck.Xunit;

namespace Fabric.Tests.Dataplane.Svr;

public class SvrMetadataTests
{
    private delegate void Build(ref MetadataWriter writer);

    [Property(MaxTest = 500)]
    public bool SvrMetadata_RandomValue_SurvivesEmitCreateParse(int seed)
    {
        var original = RandomMetadata(new Random(seed));
        var bytes = new byte[original.EmitLength + 7];

        var length = original.Emit(bytes);

        return length == original.EmitLength
            && MetadataBlock.TryCreate(bytes, out var block, out _)
            && block.TotalLength == length
            && SvrMetadata.TryParse(block, out var parsed, out var error)
            && error == MetadataError.None
            && parsed == original;
    }

    [Fact]
    public void SvrMetadata_EveryField_SurvivesEmitAndParse()
    {
        var original = new SvrMetadata
        {
            FragmentInfo = new MetadataFragmentInfo(0xDEADBEEF, 0x1234, 0x2000, 1400),
            SecurityPolicy = "aes-gcm-256",
            SecurityId = 9,
            ForwardContext = new MetadataContext(SessionKey.V6(UInt128.MaxValue, 1, 1, 2, 17)),
            ReverseContext = new MetadataContext(SessionKey.V4(0xC0000201, 0xC6336401, 443, 50000, 6)),
            SessionId = Guid.NewGuid(),
            Tenant = "dev.engineering",
            GlobalInterfaceId = 12,
            Service = "Zürich-web",
            TcpSynCarriedAsUdp = true,
            SessionsInService = ulong.MaxValue,
            SourceRouter = "edge-1",
            DestinationRouter = "dc-2",
            DisableForwardMetadata = true,
            Control = MetadataControl.DeleteSession,
            RemainingSessionTime = 1900,
            SessionHealthCheck = 1,
        };
        var bytes = new byte[original.EmitLength];
        original.Emit(bytes);

        Assert.True(MetadataBlock.TryCreate(bytes, out var block, out var createError), createError.ToString());
        Assert.True(SvrMetadata.TryParse(block, out var parsed, out var parseError), parseError.ToString());

        Assert.Equal(original, parsed);
        Assert.Equal(12 + 14 + 15 + 8, block.HeaderLength);
    }

    [Theory]
    [InlineData(MetadataTlvType.Tenant, MetadataTlvType.Tenant)]
    [InlineData(MetadataTlvType.ForwardContextV4, MetadataTlvType.ForwardContextV6)]
    [InlineData(MetadataTlvType.ReverseContextV6, MetadataTlvType.ReverseContextV6)]
    [InlineData(MetadataTlvType.Control, MetadataTlvType.Control)]
    public void SvrMetadata_KnownTypeTwice_IsRejectedAsDuplicate(MetadataTlvType first, MetadataTlvType second)
    {
        var error = ParsePayload((ref MetadataWriter writer) =>
        {
            writer.AddTlv(first, new byte[Math.Max(1, MetadataTlvTypes.ValueLengthOf(first))]);
            writer.AddTlv(second, new byte[Math.Max(1, MetadataTlvTypes.ValueLengthOf(second))]);
        });

        Assert.Equal(MetadataError.DuplicateTlv, error);
    }

    [Fact]
    public void SvrMetadata_ForwardAndReverseContexts_AreNotDuplicates()
    {
        var error = ParsePayload((ref MetadataWriter writer) =>
        {
            writer.AddForwardContextV4(1, 2, 3, 4, 6);
            writer.AddReverseContextV4(2, 1, 4, 3, 6);
        });

        Assert.Equal(MetadataError.None, error);
    }

    [Theory]
    [InlineData(MetadataTlvType.ForwardContextV4, 12)]
    [InlineData(MetadataTlvType.ForwardContextV4, 37)]
    [InlineData(MetadataTlvType.ReverseContextV6, 13)]
    [InlineData(MetadataTlvType.SessionId, 15)]
    [InlineData(MetadataTlvType.SessionId, 17)]
    [InlineData(MetadataTlvType.GlobalInterfaceId, 2)]
    [InlineData(MetadataTlvType.SessionsInService, 4)]
    [InlineData(MetadataTlvType.TcpSynCarriedAsUdp, 1)]
    [InlineData(MetadataTlvType.DisableForwardMetadata, 1)]
    [InlineData(MetadataTlvType.Control, 0)]
    [InlineData(MetadataTlvType.Control, 2)]
    [InlineData(MetadataTlvType.RemainingSessionTime, 8)]
    [InlineData(MetadataTlvType.SessionHealthCheck, 2)]
    [InlineData(MetadataTlvType.Tenant, 0)]
    [InlineData(MetadataTlvType.Service, 0)]
    public void SvrMetadata_WrongValueLength_IsRejectedAsBadValueLength(MetadataTlvType type, int length)
    {
        var error = ParsePayload((ref MetadataWriter writer) => writer.AddTlv(type, new byte[length]));

        Assert.Equal(MetadataError.BadValueLength, error);
    }

    [Theory]
    [InlineData(MetadataTlvType.SecurityId, 3)]
    [InlineData(MetadataTlvType.FragmentInfo, 8)]
    [InlineData(MetadataTlvType.PayloadEncrypted, 1)]
    [InlineData(MetadataTlvType.SecurityPolicy, 0)]
    public void SvrMetadata_WrongHeaderValueLength_IsRejectedAsBadValueLength(MetadataTlvType type, int length)
    {
        var bytes = new byte[64];
        var writer = new MetadataWriter(bytes);
        writer.BeginHeader();
        Assert.True(writer.AddTlv(type, new byte[length]));
        writer.Finish(out var total);
        Assert.True(MetadataBlock.TryCreate(bytes.AsSpan(0, total), out var block));

        Assert.False(SvrMetadata.TryParse(block, out _, out var error));
        Assert.Equal(MetadataError.BadValueLength, error);
    }

    [Fact]
    public void SvrMetadata_InvalidUtf8Tenant_IsRejectedAsBadTlv()
    {
        var error = ParsePayload((ref MetadataWriter writer) => writer.AddTlv(MetadataTlvType.Tenant, [0x61, 0xC3]));

        Assert.Equal(MetadataError.BadTlv, error);
    }

    [Fact]
    public void SvrMetadata_UnknownTypesAndPathMetrics_AreSkipped()
    {
        var bytes = new byte[128];
        var writer = new MetadataWriter(bytes);
        writer.BeginHeader();
        Assert.True(writer.AddTlv(MetadataTlvType.PathMetrics, new byte[10]));
        Assert.True(writer.AddTlv((MetadataTlvType)9, [1, 2, 3]));
        writer.BeginPayload();
        Assert.True(writer.AddTlv((MetadataTlvType)999, [4]));
        Assert.True(writer.AddTlv((MetadataTlvType)999, [5]));
        Assert.True(writer.AddString(MetadataTlvType.Service, "web"));
        writer.Finish(out var length);
        Assert.True(MetadataBlock.TryCreate(bytes.AsSpan(0, length), out var block));

        Assert.True(SvrMetadata.TryParse(block, out var metadata, out var error));

        Assert.Equal(MetadataError.None, error);
        Assert.Equal(new SvrMetadata { Service = "web" }, metadata);
    }

    [Fact]
    public void SvrMetadata_ControlCodes_KeepTheirWireValues()
    {
        Assert.Equal(1, (byte)MetadataControl.Keepalive);
        Assert.Equal(2, (byte)MetadataControl.EnableMetadata);
        Assert.Equal(3, (byte)MetadataControl.DisableMetadata);
        Assert.Equal(6, (byte)MetadataControl.DeleteSession);
        Assert.Equal(8, (byte)MetadataControl.HealthCheck);
        var metadata = new SvrMetadata { Control = MetadataControl.HealthCheck };
        var bytes = new byte[metadata.EmitLength];
        metadata.Emit(bytes);

        Assert.Equal("4c48dbc6ddf6670c" + "100c" + "0005" + "0018" + "0001" + "08", Convert.ToHexStringLower(bytes));
    }

    [Fact]
    public void SvrMetadata_Emit_ThrowsForShortDestinationOrUnencodableValue()
    {
        var metadata = new SvrMetadata { Tenant = "a" };

        Assert.Throws<ArgumentOutOfRangeException>(() => metadata.Emit(new byte[metadata.EmitLength - 1]));
        Assert.Throws<InvalidOperationException>(() => new SvrMetadata { Tenant = "" }.Emit(new byte[64]));
        var wideV4 = new SvrMetadata { ForwardContext = new MetadataContext(new SessionKey((UInt128)uint.MaxValue + 1, 1, 1, 1, 6, IsIpv6: false)) };
        Assert.Throws<InvalidOperationException>(() => wideV4.Emit(new byte[64]));
    }

    [Fact]
    public void MetadataWriter_ShortSpan_FailsWithoutWritingPastIt()
    {
        var bytes = new byte[40];
        var writer = new MetadataWriter(bytes.AsSpan(0, 33));

        Assert.True(writer.BeginHeader());
        Assert.True(writer.BeginPayload());
        Assert.True(writer.AddForwardContextV4(1, 2, 3, 4, 6));
        Assert.False(writer.AddU8(MetadataTlvType.Control, 1));
        Assert.False(writer.AddString(MetadataTlvType.Tenant, "ab"));
        Assert.True(writer.AddFlag(MetadataTlvType.TcpSynCarriedAsUdp));
        Assert.False(writer.AddFlag(MetadataTlvType.DisableForwardMetadata));
        Assert.True(writer.Finish(out var length));

        Assert.Equal(33, length);
        Assert.All(bytes[33..], b => Assert.Equal(0, b));
        Assert.True(MetadataBlock.TryCreate(bytes.AsSpan(0, length), out var block));
        Assert.Equal(12, block.HeaderLength);
        Assert.Equal(17 + 4, block.PayloadLength);
        Assert.False(new MetadataWriter(new byte[11]).BeginHeader());
    }

    [Fact]
    public void MetadataWriter_OutOfOrderOrWrongSection_Fails()
    {
        var writer = new MetadataWriter(new byte[256]);

        Assert.False(writer.AddU32(MetadataTlvType.SecurityId, 1));
        Assert.False(writer.BeginPayload());
        Assert.False(writer.Finish(out _));
        Assert.True(writer.BeginHeader());
        Assert.False(writer.BeginHeader());
        Assert.False(writer.AddString(MetadataTlvType.Tenant, "a"));
        Assert.True(writer.AddU32(MetadataTlvType.SecurityId, 1));
        Assert.True(writer.BeginPayload());
        Assert.False(writer.AddU32(MetadataTlvType.SecurityId, 1));
        Assert.False(writer.AddString(MetadataTlvType.Tenant, ""));
        Assert.True(writer.AddU16((MetadataTlvType)500, 7));
        Assert.True(writer.Finish(out var length));
        Assert.False(writer.Finish(out _));
        Assert.False(writer.BeginHeader());
        Assert.Equal(12 + 8 + 6, length);
    }

    [Fact]
    public void MetadataWriter_HeaderSectionBeyondTwelveBits_Fails()
    {
        var writer = new MetadataWriter(new byte[8192]);
        writer.BeginHeader();

        Assert.True(writer.AddTlv((MetadataTlvType)500, new byte[MetadataBlock.MaxHeaderLength - 12 - 4]));
        Assert.False(writer.AddFlag(MetadataTlvType.PayloadEncrypted));
        Assert.True(writer.BeginPayload());
        Assert.True(writer.AddFlag(MetadataTlvType.TcpSynCarriedAsUdp));
        Assert.True(writer.Finish(out var length));

        Assert.Equal(MetadataBlock.MaxHeaderLength + 4, length);
    }

    private static MetadataError ParsePayload(Build build)
    {
        var bytes = new byte[256];
        var writer = new MetadataWriter(bytes);
        writer.BeginHeader();
        writer.BeginPayload();
        build(ref writer);
        Assert.True(writer.Finish(out var length));
        Assert.True(MetadataBlock.TryCreate(bytes.AsSpan(0, length), out var block, out var createError), createError.ToString());
        var parsed = SvrMetadata.TryParse(block, out _, out var error);
        Assert.Equal(parsed, error == MetadataError.None);
        return error;
    }

    private static SvrMetadata RandomMetadata(Random random)
    {
        bool Coin() => random.Next(2) == 0;
        string Name() => new(Enumerable.Range(0, random.Next(1, 24)).Select(_ => "abcdefghijklmnopqrstuvwxyz0123456789.-é語"[random.Next(40)]).ToArray());
        uint U32() => (uint)random.NextInt64(0, 1L << 32);
        MetadataContext Context()
        {
            var ipv6 = Coin();
            var source = ipv6 ? new UInt128((ulong)random.NextInt64(), (ulong)random.NextInt64()) : U32();
            var destination = ipv6 ? new UInt128((ulong)random.NextInt64(), (ulong)random.NextInt64()) : U32();
            return new MetadataContext(new SessionKey(source, destination, (ushort)random.Next(65536), (ushort)random.Next(65536), (byte)random.Next(256), ipv6));
        }

        return new SvrMetadata
        {
            FragmentInfo = Coin() ? new MetadataFragmentInfo(U32(), (ushort)random.Next(65536), (ushort)random.Next(65536), (ushort)random.Next(65536)) : null,
            PayloadEncrypted = false,
            SecurityPolicy = Coin() ? Name() : null,
            SecurityId = Coin() ? U32() : null,
            ForwardContext = Coin() ? Context() : null,
            ReverseContext = Coin() ? Context() : null,
            SessionId = Coin() ? new Guid(Enumerable.Range(0, 16).Select(_ => (byte)random.Next(256)).ToArray()) : null,
            Tenant = Coin() ? Name() : null,
            GlobalInterfaceId = Coin() ? U32() : null,
            Service = Coin() ? Name() : null,
            TcpSynCarriedAsUdp = Coin(),
            SessionsInService = Coin() ? (ulong)random.NextInt64() : null,
            SourceRouter = Coin() ? Name() : null,
            DestinationRouter = Coin() ? Name() : null,
            DisableForwardMetadata = Coin(),
            Control = Coin() ? (MetadataControl)random.Next(256) : null,
            RemainingSessionTime = Coin() ? U32() : null,
            SessionHealthCheck = Coin() ? (byte)random.Next(256) : null,
        };
    }
}
