using Fabric.Dataplane.Svr.Security;

namespace Fabric.Tests.Dataplane.Svr.Security;

public class RouterIdentityTests
{
    // RFC 7748 §6.1: Alice's and Bob's private and public keys.
    private const string AlicePrivate = "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a";
    private const string AlicePublic = "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a";
    private const string BobPrivate = "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb";
    private const string BobPublic = "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f";

    [Fact]
    public void RouterIdentity_Rfc7748Section61PrivateKeys_GiveTheRfcPublicKeys()
    {
        var alice = RouterIdentity.FromPrivateKey("alice", Convert.FromHexString(AlicePrivate));
        var bob = RouterIdentity.FromPrivateKey("bob", Convert.FromHexString(BobPrivate));

        Assert.Equal(AlicePublic, Convert.ToHexStringLower(alice.PublicKey));
        Assert.Equal(BobPublic, Convert.ToHexStringLower(bob.PublicKey));
    }

    [Fact]
    public void RouterIdentity_SameSeed_GivesSameKeyPairAndOtherSeedDoesNot()
    {
        var first = SecurityFixtures.Identity("r1", seed: 7);
        var again = SecurityFixtures.Identity("r1", seed: 7);
        var other = SecurityFixtures.Identity("r1", seed: 8);

        Assert.Equal(first.PublicKeyBase64, again.PublicKeyBase64);
        Assert.NotEqual(first.PublicKeyBase64, other.PublicKeyBase64);
    }

    [Fact]
    public void RouterIdentity_PrivateKeyBase64_RoundTripsToSameIdentity()
    {
        var identity = SecurityFixtures.Identity("r1", seed: 1);

        var restored = RouterIdentity.FromPrivateKeyBase64("r1", identity.ExportPrivateKeyBase64());

        Assert.Equal(identity.PublicKeyBase64, restored.PublicKeyBase64);
        Assert.Equal(32, Convert.FromBase64String(identity.ExportPrivateKeyBase64()).Length);
    }

    [Fact]
    public void RouterIdentity_PublicKeyBase64_ParsesBackToTheKey()
    {
        var identity = SecurityFixtures.Identity("r1", seed: 2);

        Assert.True(RouterIdentity.TryParsePublicKeyBase64(identity.PublicKeyBase64, out var parsed));
        Assert.Equal(identity.PublicKey.ToArray(), parsed);
    }

    [Fact]
    public void RouterIdentity_MalformedPublicKeyBase64_IsRejected()
    {
        Assert.False(RouterIdentity.TryParsePublicKeyBase64("not base64!", out _));
        Assert.False(RouterIdentity.TryParsePublicKeyBase64(Convert.ToBase64String(new byte[31]), out _));
        Assert.False(RouterIdentity.TryParsePublicKeyBase64(Convert.ToBase64String(new byte[33]), out _));
        Assert.False(RouterIdentity.TryParsePublicKeyBase64("", out _));
        Assert.Throws<FormatException>(() => RouterIdentity.FromPrivateKeyBase64("r1", Convert.ToBase64String(new byte[16])));
    }
}
