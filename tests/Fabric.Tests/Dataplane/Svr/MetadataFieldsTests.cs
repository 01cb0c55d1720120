using Fabric.Bench;
using Fabric.Dataplane.Sessions;
using Fabric.Dataplane.Svr;
using Fabric.Tests.Support;

namespace Fabric.Tests.Dataplane.Svr;

/// <summary>
/// The one reader of metadata TLVs: the format verdict <see cref="SvrMetadata.TryParse(MetadataBlock, out SvrMetadata, out MetadataError)"/>
/// requires and the session verdict the packet path drops by, from one pass.
/// </summary>
[Collection(AllocationMeasurement.Name)]
public sealed class MetadataFieldsTests
{
    private delegate void Build(ref MetadataWriter writer);

    [Fact]
    public void Read_ForwardBlock_BothVerdictsNoneAndEveryFieldAsWritten()
    {
        var bytes = Block(
            (ref MetadataWriter writer) =>
            {
                writer.AddForwardContextV4(0x0A14010A, 0x0A0A011E, 40000, 5201, 6);
                writer.AddTlv(MetadataTlvType.SessionId, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 42]);
                writer.AddString(MetadataTlvType.Tenant, "engineering");
                writer.AddString(MetadataTlvType.Service, "bulk");
                writer.AddString(MetadataTlvType.SourceRouter, "br1");
            },
            securityId: 7);
        Assert.True(MetadataBlock.TryCreate(bytes, out var block));

        var fields = MetadataFields.Read(block);

        Assert.Equal(MetadataError.None, fields.FormatError);
        Assert.Equal(MetadataError.None, fields.SessionError);
        Assert.True(fields.HasSecurityId);
        Assert.Equal(7u, fields.SecurityId);
        Assert.True(fields.HasForwardContext);
        Assert.Equal(SessionKey.V4(0x0A14010A, 0x0A0A011E, 40000, 5201, 6), fields.ForwardContext.Key);
        Assert.False(fields.HasReverseContext);
        Assert.Equal(42, fields.SessionId[15]);
        Assert.Equal("engineering"u8, fields.Tenant);
        Assert.Equal("bulk"u8, fields.Service);
        Assert.Equal("br1"u8, fields.SourceRouter);
        Assert.False(fields.HasDestinationRouter);
    }

    [Fact]
    public void Read_UnknownTypeTwice_FormatSkipsItSessionRefusesIt()
    {
        var fields = ReadPayload((ref MetadataWriter writer) =>
        {
            writer.AddTlv((MetadataTlvType)30, [1]);
            writer.AddTlv((MetadataTlvType)30, [2]);
        });

        Assert.Equal(MetadataError.None, fields.FormatError);
        Assert.Equal(MetadataError.DuplicateTlv, fields.SessionError);
    }

    [Fact]
    public void Read_Ipv6ForwardContext_MakesASessionOfThatFamily()
    {
        var fields = ReadPayload((ref MetadataWriter writer) => writer.AddForwardContextV6(1, 2, 3, 4, 17));

        Assert.Equal(MetadataError.None, fields.FormatError);
        Assert.Equal(MetadataError.None, fields.SessionError);
        Assert.True(fields.HasForwardContext);
        Assert.Equal(Fabric.Dataplane.Sessions.SessionKey.V6(1, 2, 3, 4, 17), fields.ForwardContext.Key);
    }

    [Fact]
    public void Read_Ipv6ForwardContextOfAnotherLength_Refused()
    {
        var fields = ReadPayload((ref MetadataWriter writer) => writer.AddTlv(MetadataTlvType.ForwardContextV6, new byte[13]));

        Assert.Equal(MetadataError.BadValueLength, fields.FormatError);
        Assert.Equal(MetadataError.BadValueLength, fields.SessionError);
        Assert.False(fields.HasForwardContext);
    }

    [Fact]
    public void Read_ReverseContextOfAnotherLength_MalformedButRelayedAsNone()
    {
        var fields = ReadPayload((ref MetadataWriter writer) => writer.AddTlv(MetadataTlvType.ReverseContextV4, new byte[5]));

        Assert.Equal(MetadataError.BadValueLength, fields.FormatError);
        Assert.Equal(MetadataError.None, fields.SessionError);
        Assert.True(fields.HasReverseContext);
        Assert.Equal(default(MetadataContext), fields.ReverseContext);
    }

    [Fact]
    public void Read_TenantNotUtf8_MalformedButReadAsANameThatMatchesNone()
    {
        var fields = ReadPayload((ref MetadataWriter writer) => writer.AddTlv(MetadataTlvType.Tenant, [0x61, 0xC3]));

        Assert.Equal(MetadataError.BadTlv, fields.FormatError);
        Assert.Equal(MetadataError.None, fields.SessionError);
        Assert.Equal([0x61, 0xC3], fields.Tenant.ToArray());
    }

    [Theory]
    [InlineData(MetadataTlvType.ForwardContextV4, 12)]
    [InlineData(MetadataTlvType.SessionId, 15)]
    [InlineData(MetadataTlvType.SessionsInService, 4)]
    [InlineData(MetadataTlvType.Control, 2)]
    public void Read_FieldASessionUsesOfWrongLength_BothRefuse(MetadataTlvType type, int length)
    {
        var fields = ReadPayload((ref MetadataWriter writer) => writer.AddTlv(type, new byte[length]));

        Assert.Equal(MetadataError.BadValueLength, fields.FormatError);
        Assert.Equal(MetadataError.BadValueLength, fields.SessionError);
    }

    [Fact]
    public void Read_ReceivedBlock_AllocatesNothing()
    {
        var bytes = Block(
            (ref MetadataWriter writer) =>
            {
                writer.AddReverseContextV4(0x0A0A011E, 0x0A14010A, 5201, 40000, 6);
                writer.AddU64(MetadataTlvType.SessionsInService, 12);
                writer.AddU8(MetadataTlvType.Control, (byte)MetadataControl.Keepalive);
            },
            securityId: 3);
        Assert.True(MetadataBlock.TryCreate(bytes, out var block));
        MetadataFields.Read(block);

        var sessions = 0UL;
        var allocated = ThreadAllocations.During(() =>
        {
            // A block is a view (a ref struct), which a lambda cannot capture: the window takes its own over the same bytes.
            MetadataBlock.TryCreate(bytes, out var received);
            for (var i = 0; i < 1000; i++)
            {
                sessions += MetadataFields.Read(received).SessionsInService;
            }
        });

        Assert.Equal(0, allocated);
        Assert.Equal(12_000UL, sessions);
    }

    private static MetadataFields ReadPayload(Build build)
    {
        var bytes = Block(build, securityId: 0);
        Assert.True(MetadataBlock.TryCreate(bytes, out var block, out var error), error.ToString());
        return MetadataFields.Read(block);
    }

    private static byte[] Block(Build build, uint securityId)
    {
        var bytes = new byte[256];
        var writer = new MetadataWriter(bytes);
        writer.BeginHeader();
        if (securityId != 0)
        {
            writer.AddU32(MetadataTlvType.SecurityId, securityId);
        }

        writer.BeginPayload();
        build(ref writer);
        Assert.True(writer.Finish(out var length));
        return bytes[..length];
    }
}
