using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Org.BouncyCastle.Crypto.Agreement;
using Org.BouncyCastle.Crypto.Parameters;

namespace Fabric.Dataplane.Svr.Security;

/// <summary>
/// Derives the keys of one epoch of a peer path: X25519 between the two routers' static keys, then
/// HKDF-SHA256 (RFC 5869) with
/// <list type="bullet">
/// <item>IKM = the 32-byte X25519 shared secret;</item>
/// <item>salt = nonce(first) ‖ nonce(second), each router's 16-byte per-epoch nonce;</item>
/// <item>info = "fabric-svr-peer-path-v1" ‖ u16 len ‖ UTF-8 name(first) ‖ u16 len ‖ UTF-8 name(second) ‖ u32 epoch;</item>
/// <item>OKM (72 bytes) = key(first→second) ‖ key(second→first) ‖ salt(first→second) ‖ salt(second→first),</item>
/// </list>
/// where "first" is the router whose UTF-8 name sorts first byte by byte and integers are big-endian.
/// Runs at setup and rekey, never per packet: it allocates and may throw on programming errors, but a bad
/// peer key is reported as a <see cref="KeyAgreementResult"/>. Stateless and thread-safe.
/// </summary>
public static class PeerKeyAgreement
{
    /// <summary>Length of the nonce each router contributes to an epoch.</summary>
    public const int EpochNonceLength = 16;

    /// <summary>Length of the X25519 shared secret.</summary>
    public const int SharedSecretLength = 32;

    /// <summary>Length of the HKDF output: two directional keys and two directional salts.</summary>
    public const int OutputLength = (2 * EpochKeys.KeyLength) + (2 * EpochKeys.SaltLength);

    /// <summary>The label that opens the HKDF info, so these keys serve nothing else.</summary>
    public static ReadOnlySpan<byte> InfoLabel => "fabric-svr-peer-path-v1"u8;

    /// <summary>
    /// Checks the peer's presented key against the pinned one, then derives the epoch's keys as seen from
    /// <paramref name="local"/>. <paramref name="keys"/> is null unless the result is <see cref="KeyAgreementResult.Ok"/>.
    /// </summary>
    public static KeyAgreementResult TryDerive(
        RouterIdentity local,
        PinnedPeer peer,
        ReadOnlySpan<byte> presentedPeerKey,
        uint epoch,
        ReadOnlySpan<byte> localNonce,
        ReadOnlySpan<byte> peerNonce,
        out EpochKeys? keys)
    {
        keys = null;
        if (presentedPeerKey.Length != RouterIdentity.KeyLength)
        {
            return KeyAgreementResult.InvalidPeerKey;
        }

        if (!CryptographicOperations.FixedTimeEquals(presentedPeerKey, peer.PublicKey))
        {
            return KeyAgreementResult.PeerKeyMismatch;
        }

        if (localNonce.Length != EpochNonceLength || peerNonce.Length != EpochNonceLength)
        {
            return KeyAgreementResult.InvalidNonce;
        }

        if (epoch == 0)
        {
            return KeyAgreementResult.InvalidEpoch;
        }

        var localName = Encoding.UTF8.GetBytes(local.Name);
        var peerName = Encoding.UTF8.GetBytes(peer.Name);
        var order = localName.AsSpan().SequenceCompareTo(peerName);
        if (order == 0)
        {
            return KeyAgreementResult.SameRouterName;
        }

        var localIsFirst = order < 0;
        Span<byte> secret = stackalloc byte[SharedSecretLength];
        Span<byte> okm = stackalloc byte[OutputLength];
        try
        {
            var agreed = TryComputeSharedSecret(local, presentedPeerKey, secret);
            if (agreed != KeyAgreementResult.Ok)
            {
                return agreed;
            }

            Span<byte> salt = stackalloc byte[2 * EpochNonceLength];
            (localIsFirst ? localNonce : peerNonce).CopyTo(salt);
            (localIsFirst ? peerNonce : localNonce).CopyTo(salt[EpochNonceLength..]);
            var info = localIsFirst ? BuildInfo(localName, peerName, epoch) : BuildInfo(peerName, localName, epoch);

            DeriveKeyMaterial(secret, salt, info, okm);

            const int keyLength = EpochKeys.KeyLength;
            const int saltLength = EpochKeys.SaltLength;
            var firstToSecondKey = okm[..keyLength];
            var secondToFirstKey = okm.Slice(keyLength, keyLength);
            var firstToSecondSalt = okm.Slice(2 * keyLength, saltLength);
            var secondToFirstSalt = okm.Slice((2 * keyLength) + saltLength, saltLength);
            keys = localIsFirst
                ? new EpochKeys(epoch, firstToSecondKey, secondToFirstKey, firstToSecondSalt, secondToFirstSalt)
                : new EpochKeys(epoch, secondToFirstKey, firstToSecondKey, secondToFirstSalt, firstToSecondSalt);
            return KeyAgreementResult.Ok;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(secret);
            CryptographicOperations.ZeroMemory(okm);
        }
    }

    /// <summary>
    /// The X25519 shared secret of <paramref name="local"/>'s private key and <paramref name="peerPublicKey"/>
    /// (BouncyCastle's <see cref="X25519Agreement"/>). A low-order peer key, whose result is all zeros,
    /// yields <see cref="KeyAgreementResult.InvalidPeerKey"/>.
    /// </summary>
    public static KeyAgreementResult TryComputeSharedSecret(RouterIdentity local, ReadOnlySpan<byte> peerPublicKey, Span<byte> sharedSecret)
    {
        if (peerPublicKey.Length != RouterIdentity.KeyLength || sharedSecret.Length < SharedSecretLength)
        {
            return KeyAgreementResult.InvalidPeerKey;
        }

        var agreement = new X25519Agreement();
        agreement.Init(local.PrivateKey);
        try
        {
            agreement.CalculateAgreement(new X25519PublicKeyParameters(peerPublicKey), sharedSecret[..SharedSecretLength]);
        }
        catch (InvalidOperationException)
        {
            // BouncyCastle refuses an all-zero result, which only a low-order point produces.
            CryptographicOperations.ZeroMemory(sharedSecret);
            return KeyAgreementResult.InvalidPeerKey;
        }

        return KeyAgreementResult.Ok;
    }

    /// <summary>HKDF-SHA256 extract-then-expand (RFC 5869) with the .NET implementation.</summary>
    public static void DeriveKeyMaterial(ReadOnlySpan<byte> sharedSecret, ReadOnlySpan<byte> salt, ReadOnlySpan<byte> info, Span<byte> output) =>
        HKDF.DeriveKey(HashAlgorithmName.SHA256, sharedSecret, output, salt, info);

    /// <summary>The HKDF info for two router names and an epoch, with the names put in canonical order.</summary>
    public static byte[] BuildInfo(string routerA, string routerB, uint epoch)
    {
        var a = Encoding.UTF8.GetBytes(routerA);
        var b = Encoding.UTF8.GetBytes(routerB);
        return a.AsSpan().SequenceCompareTo(b) <= 0 ? BuildInfo(a, b, epoch) : BuildInfo(b, a, epoch);
    }

    private static byte[] BuildInfo(ReadOnlySpan<byte> first, ReadOnlySpan<byte> second, uint epoch)
    {
        if (first.Length > ushort.MaxValue || second.Length > ushort.MaxValue)
        {
            throw new ArgumentException("A router name is longer than 65535 UTF-8 bytes.");
        }

        var info = new byte[InfoLabel.Length + 2 + first.Length + 2 + second.Length + 4];
        var span = info.AsSpan();
        InfoLabel.CopyTo(span);
        span = span[InfoLabel.Length..];
        BinaryPrimitives.WriteUInt16BigEndian(span, (ushort)first.Length);
        first.CopyTo(span[2..]);
        span = span[(2 + first.Length)..];
        BinaryPrimitives.WriteUInt16BigEndian(span, (ushort)second.Length);
        second.CopyTo(span[2..]);
        span = span[(2 + second.Length)..];
        BinaryPrimitives.WriteUInt32BigEndian(span, epoch);
        return info;
    }
}
