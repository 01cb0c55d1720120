using Fabric.Actors.HighAvailability;
using Fabric.Dataplane.Svr.Security;

namespace Fabric.Tests.Actors.HighAvailability;

/// <summary>The HA heartbeat datagram: its bytes, its MAC, and what it refuses.</summary>
public sealed class PairHeartbeatTests
{
    private static readonly byte[] Key = [.. Enumerable.Range(1, 32).Select(i => (byte)i)];

    // Made with Python's hmac module from the fields below and Key: an implementation apart from ours.
    private const string Fixture =
        "46484201020000000123456789abcdef000000000000002afedcba987654321000000000000000030ca3d3ebd336b8768462e77adfe20699";

    private static readonly PairHeartbeat Sample = new(PairRole.Active, Incarnation: 0x0123456789abcdef, Sequence: 42, Echo: 0xfedcba9876543210, Takeovers: 3);

    [Fact]
    public void Write_FromFields_GivesTheFixtureByteForByte()
    {
        var bytes = new byte[PairHeartbeat.Length];

        Sample.Write(bytes, Key);

        Assert.Equal(Fixture, Convert.ToHexStringLower(bytes));
    }

    [Fact]
    public void TryRead_Fixture_GivesTheFields()
    {
        Assert.True(PairHeartbeat.TryRead(Convert.FromHexString(Fixture), Key, out var heartbeat));
        Assert.Equal(Sample, heartbeat);
    }

    [Fact]
    public void TryRead_AnyBitFlipped_Refused()
    {
        var bytes = Convert.FromHexString(Fixture);
        for (var bit = 0; bit < bytes.Length * 8; bit++)
        {
            var flipped = (byte[])bytes.Clone();
            flipped[bit / 8] ^= (byte)(1 << (bit % 8));
            Assert.False(PairHeartbeat.TryRead(flipped, Key, out _), $"bit {bit} flipped was taken");
        }
    }

    [Fact]
    public void TryRead_UnknownRole_Refused()
    {
        var bytes = new byte[PairHeartbeat.Length];
        (Sample with { Role = (PairRole)3 }).Write(bytes, Key);

        Assert.False(PairHeartbeat.TryRead(bytes, Key, out _));
    }

    [Fact]
    public void TryRead_TruncatedOrLonger_Refused()
    {
        var bytes = Convert.FromHexString(Fixture);
        for (var length = 0; length < bytes.Length; length++)
        {
            Assert.False(PairHeartbeat.TryRead(bytes.AsSpan(0, length), Key, out _));
        }

        Assert.False(PairHeartbeat.TryRead([.. bytes, 0], Key, out _));
    }

    [Fact]
    public void TryRead_AnotherKey_Refused()
    {
        var other = (byte[])Key.Clone();
        other[0] ^= 1;

        Assert.False(PairHeartbeat.TryRead(Convert.FromHexString(Fixture), other, out _));
    }

    [Fact]
    public void DeriveKey_EachDirectionItsOwn_AndOnlyFromTheRoutersPrivateKey()
    {
        var identity = RouterIdentity.Generate("dc1");
        var sameKeyFile = RouterIdentity.FromPrivateKeyBase64("dc1", identity.ExportPrivateKeyBase64());
        var otherRouter = RouterIdentity.Generate("dc1");

        var aToB = PairHeartbeat.DeriveKey(identity.DeriveSecret, "dc1", "dc1a", "dc1b");

        // The partner, holding the same key file, derives the same key for this direction...
        Assert.Equal(aToB, PairHeartbeat.DeriveKey(sameKeyFile.DeriveSecret, "dc1", "dc1a", "dc1b"));
        // ...but a heartbeat reflected back (the other direction) or made by any other key holder does not verify.
        Assert.NotEqual(aToB, PairHeartbeat.DeriveKey(identity.DeriveSecret, "dc1", "dc1b", "dc1a"));
        Assert.NotEqual(aToB, PairHeartbeat.DeriveKey(otherRouter.DeriveSecret, "dc1", "dc1a", "dc1b"));
        var bytes = new byte[PairHeartbeat.Length];
        Sample.Write(bytes, aToB);
        Assert.False(PairHeartbeat.TryRead(bytes, PairHeartbeat.DeriveKey(identity.DeriveSecret, "dc1", "dc1b", "dc1a"), out _));
    }
}
