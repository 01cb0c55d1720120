using Fabric.Dataplane.Svr.Security;
using Org.BouncyCastle.Crypto.Digests;
using Org.BouncyCastle.Crypto.Prng;
using Org.BouncyCastle.Security;

namespace Fabric.Tests.Dataplane.Svr.Security;

public static class SecurityFixtures
{
    public static SecureRandom SeededRandom(int seed)
    {
        var random = new SecureRandom(new DigestRandomGenerator(new Sha256Digest()));
        random.SetSeed(BitConverter.GetBytes(seed));
        return random;
    }

    public static RouterIdentity Identity(string name, int seed) => RouterIdentity.Generate(name, SeededRandom(seed));

    public static byte[] Nonce(byte fill) => Enumerable.Repeat(fill, PeerKeyAgreement.EpochNonceLength).ToArray();

    /// <summary>Derives epoch <paramref name="epoch"/> on both routers, asserting both succeed.</summary>
    public static (EpochKeys A, EpochKeys B) DerivePair(RouterIdentity a, RouterIdentity b, uint epoch)
    {
        Assert.Equal(
            KeyAgreementResult.Ok,
            PeerKeyAgreement.TryDerive(a, new PinnedPeer(b.Name, b.PublicKey), b.PublicKey, epoch, Nonce(0xA1), Nonce(0xB2), out var keysA));
        Assert.Equal(
            KeyAgreementResult.Ok,
            PeerKeyAgreement.TryDerive(b, new PinnedPeer(a.Name, a.PublicKey), a.PublicKey, epoch, Nonce(0xB2), Nonce(0xA1), out var keysB));
        return (keysA!, keysB!);
    }

    public static byte[] Bytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }
}
