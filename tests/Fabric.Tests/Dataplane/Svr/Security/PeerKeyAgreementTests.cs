using Fabric.Dataplane.Svr.Security;

namespace Fabric.Tests.Dataplane.Svr.Security;

public class PeerKeyAgreementTests
{
    private static readonly RouterIdentity East = SecurityFixtures.Identity("east", seed: 1);
    private static readonly RouterIdentity West = SecurityFixtures.Identity("west", seed: 2);

    [Fact]
    public void PeerKeyAgreement_BothRouters_DeriveSameDirectionalKeys()
    {
        var (east, west) = SecurityFixtures.DerivePair(East, West, epoch: 1);

        Assert.Equal(east.SendKey.ToArray(), west.ReceiveKey.ToArray());
        Assert.Equal(east.ReceiveKey.ToArray(), west.SendKey.ToArray());
        Assert.Equal(east.SendSalt.ToArray(), west.ReceiveSalt.ToArray());
        Assert.Equal(east.ReceiveSalt.ToArray(), west.SendSalt.ToArray());
        Assert.NotEqual(east.SendKey.ToArray(), east.ReceiveKey.ToArray());
        Assert.Equal(1u, east.Epoch);
    }

    [Fact]
    public void PeerKeyAgreement_DifferentEpoch_GivesDifferentKeys()
    {
        var (first, _) = SecurityFixtures.DerivePair(East, West, epoch: 1);
        var (second, _) = SecurityFixtures.DerivePair(East, West, epoch: 2);

        Assert.NotEqual(first.SendKey.ToArray(), second.SendKey.ToArray());
        Assert.NotEqual(first.ReceiveKey.ToArray(), second.ReceiveKey.ToArray());
    }

    [Fact]
    public void PeerKeyAgreement_DifferentRouterName_GivesDifferentKeys()
    {
        // Same key pairs, one router renamed: the names are bound into the derivation.
        var renamed = RouterIdentity.FromPrivateKeyBase64("west-2", West.ExportPrivateKeyBase64());
        var (original, _) = SecurityFixtures.DerivePair(East, West, epoch: 1);
        var (other, _) = SecurityFixtures.DerivePair(East, renamed, epoch: 1);

        Assert.NotEqual(original.SendKey.ToArray(), other.SendKey.ToArray());
    }

    [Fact]
    public void PeerKeyAgreement_DifferentEpochNonce_GivesDifferentKeys()
    {
        var pinned = new PinnedPeer(West.Name, West.PublicKey);
        PeerKeyAgreement.TryDerive(East, pinned, West.PublicKey, 1, SecurityFixtures.Nonce(1), SecurityFixtures.Nonce(2), out var a);
        PeerKeyAgreement.TryDerive(East, pinned, West.PublicKey, 1, SecurityFixtures.Nonce(1), SecurityFixtures.Nonce(3), out var b);

        Assert.NotEqual(a!.SendKey.ToArray(), b!.SendKey.ToArray());
    }

    [Fact]
    public void PeerKeyAgreement_PresentedKeyNotThePinnedOne_IsRefused()
    {
        var impostor = SecurityFixtures.Identity("west", seed: 99);
        var pinned = PinnedPeer.FromBase64("west", West.PublicKeyBase64);

        var result = PeerKeyAgreement.TryDerive(East, pinned, impostor.PublicKey, 1, SecurityFixtures.Nonce(1), SecurityFixtures.Nonce(2), out var keys);

        Assert.Equal(KeyAgreementResult.PeerKeyMismatch, result);
        Assert.Null(keys);
    }

    [Fact]
    public void PeerKeyAgreement_LowOrderPeerKey_IsRefused()
    {
        var zero = new byte[RouterIdentity.KeyLength];

        var result = PeerKeyAgreement.TryDerive(East, new PinnedPeer("west", zero), zero, 1, SecurityFixtures.Nonce(1), SecurityFixtures.Nonce(2), out var keys);

        Assert.Equal(KeyAgreementResult.InvalidPeerKey, result);
        Assert.Null(keys);
    }

    [Fact]
    public void PeerKeyAgreement_BadInputs_AreRefusedWithReasons()
    {
        var pinned = new PinnedPeer(West.Name, West.PublicKey);
        var twin = new PinnedPeer(East.Name, West.PublicKey);

        Assert.Equal(KeyAgreementResult.InvalidNonce, PeerKeyAgreement.TryDerive(East, pinned, West.PublicKey, 1, new byte[15], SecurityFixtures.Nonce(2), out _));
        Assert.Equal(KeyAgreementResult.InvalidEpoch, PeerKeyAgreement.TryDerive(East, pinned, West.PublicKey, 0, SecurityFixtures.Nonce(1), SecurityFixtures.Nonce(2), out _));
        Assert.Equal(KeyAgreementResult.SameRouterName, PeerKeyAgreement.TryDerive(East, twin, West.PublicKey, 1, SecurityFixtures.Nonce(1), SecurityFixtures.Nonce(2), out _));
        Assert.Equal(KeyAgreementResult.InvalidPeerKey, PeerKeyAgreement.TryDerive(East, pinned, new byte[31], 1, SecurityFixtures.Nonce(1), SecurityFixtures.Nonce(2), out _));
    }

    [Fact]
    public void PeerKeyAgreement_Rfc7748Section61_SharedSecretMatches()
    {
        var alice = RouterIdentity.FromPrivateKey("alice", Convert.FromHexString("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"));
        var bob = RouterIdentity.FromPrivateKey("bob", Convert.FromHexString("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"));
        var fromAlice = new byte[32];
        var fromBob = new byte[32];

        Assert.Equal(KeyAgreementResult.Ok, PeerKeyAgreement.TryComputeSharedSecret(alice, bob.PublicKey, fromAlice));
        Assert.Equal(KeyAgreementResult.Ok, PeerKeyAgreement.TryComputeSharedSecret(bob, alice.PublicKey, fromBob));

        Assert.Equal("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742", Convert.ToHexStringLower(fromAlice));
        Assert.Equal(fromAlice, fromBob);
    }

    [Fact]
    public void PeerKeyAgreement_Rfc5869TestCase1_OutputKeyingMaterialMatches()
    {
        var ikm = Convert.FromHexString("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b");
        var salt = Convert.FromHexString("000102030405060708090a0b0c");
        var info = Convert.FromHexString("f0f1f2f3f4f5f6f7f8f9");
        var okm = new byte[42];

        PeerKeyAgreement.DeriveKeyMaterial(ikm, salt, info, okm);

        Assert.Equal(
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865",
            Convert.ToHexStringLower(okm));
    }

    [Fact]
    public void PeerKeyAgreement_Info_IsCanonicalWhateverTheOrderOfNames()
    {
        var info = PeerKeyAgreement.BuildInfo("west", "east", 0x01020304);

        Assert.Equal(PeerKeyAgreement.BuildInfo("east", "west", 0x01020304), info);
        Assert.Equal(
            Convert.ToHexStringLower("fabric-svr-peer-path-v1"u8) + "0004" + Convert.ToHexStringLower("east"u8) + "0004" + Convert.ToHexStringLower("west"u8) + "01020304",
            Convert.ToHexStringLower(info));
    }
}
