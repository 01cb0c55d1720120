using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Security;

namespace Fabric.Dataplane.Svr.Security;

/// <summary>
/// A router's static X25519 key pair and the name it is configured under. The public key is what peers
/// pin in their configuration (32 bytes, base64); the private key lives in the router's key file.
/// Immutable and thread-safe.
/// </summary>
public sealed class RouterIdentity
{
    /// <summary>Length of an X25519 public or private key (RFC 7748).</summary>
    public const int KeyLength = 32;

    private readonly X25519PrivateKeyParameters _privateKey;
    private readonly byte[] _publicKey;

    private RouterIdentity(string name, X25519PrivateKeyParameters privateKey)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        Name = name;
        _privateKey = privateKey;
        _publicKey = privateKey.GeneratePublicKey().GetEncoded();
    }

    /// <summary>The router name bound into every key derived for this router's peer paths.</summary>
    public string Name { get; }

    public ReadOnlySpan<byte> PublicKey => _publicKey;

    /// <summary>The value a peer's configuration pins for this router.</summary>
    public string PublicKeyBase64 => Convert.ToBase64String(_publicKey);

    internal X25519PrivateKeyParameters PrivateKey => _privateKey;

    /// <summary>A new key pair from the system's cryptographic random source.</summary>
    public static RouterIdentity Generate(string name) => Generate(name, new SecureRandom());

    /// <summary>A new key pair drawn from <paramref name="random"/>; tests pass a seeded generator.</summary>
    public static RouterIdentity Generate(string name, SecureRandom random) =>
        new(name, new X25519PrivateKeyParameters(random));

    /// <summary>The identity whose private key is <paramref name="privateKey"/> (32 bytes, as in RFC 7748).</summary>
    public static RouterIdentity FromPrivateKey(string name, ReadOnlySpan<byte> privateKey)
    {
        if (privateKey.Length != KeyLength)
        {
            throw new ArgumentException($"An X25519 private key is {KeyLength} bytes, not {privateKey.Length}.", nameof(privateKey));
        }

        return new RouterIdentity(name, new X25519PrivateKeyParameters(privateKey));
    }

    /// <summary>The identity stored in a key file as base64 of the 32-byte private key.</summary>
    public static RouterIdentity FromPrivateKeyBase64(string name, string privateKeyBase64)
    {
        Span<byte> key = stackalloc byte[KeyLength];
        if (!Convert.TryFromBase64String(privateKeyBase64.Trim(), key, out var written) || written != KeyLength)
        {
            throw new FormatException($"The private key is not base64 of {KeyLength} bytes.");
        }

        try
        {
            return FromPrivateKey(name, key);
        }
        finally
        {
            System.Security.Cryptography.CryptographicOperations.ZeroMemory(key);
        }
    }

    /// <summary>
    /// A secret only holders of this private key can compute: HKDF-SHA256 of the private key with
    /// <paramref name="label"/> as salt and <paramref name="context"/> as info, filling <paramref name="destination"/>.
    /// The two nodes of an HA pair hold the same key, so they derive the same secret (their heartbeat keys);
    /// distinct labels give independent secrets, none of which reveals the key.
    /// </summary>
    public void DeriveSecret(string label, string context, Span<byte> destination)
    {
        Span<byte> key = stackalloc byte[KeyLength];
        try
        {
            ExportPrivateKey(key);
            System.Security.Cryptography.HKDF.DeriveKey(
                System.Security.Cryptography.HashAlgorithmName.SHA256, key, destination,
                System.Text.Encoding.UTF8.GetBytes(label), System.Text.Encoding.UTF8.GetBytes(context));
        }
        finally
        {
            System.Security.Cryptography.CryptographicOperations.ZeroMemory(key);
        }
    }

    /// <summary>Writes the 32-byte private key, for the key file.</summary>
    public void ExportPrivateKey(Span<byte> destination)
    {
        if (destination.Length < KeyLength)
        {
            throw new ArgumentException($"The destination must hold {KeyLength} bytes.", nameof(destination));
        }

        _privateKey.Encode(destination[..KeyLength]);
    }

    /// <summary>The private key as base64, the key file's format.</summary>
    public string ExportPrivateKeyBase64()
    {
        Span<byte> key = stackalloc byte[KeyLength];
        try
        {
            ExportPrivateKey(key);
            return Convert.ToBase64String(key);
        }
        finally
        {
            System.Security.Cryptography.CryptographicOperations.ZeroMemory(key);
        }
    }

    /// <summary>Parses a pinned public key from configuration: base64 of exactly 32 bytes.</summary>
    public static bool TryParsePublicKeyBase64(string? text, out byte[] publicKey)
    {
        publicKey = [];
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }

        var buffer = new byte[KeyLength];
        if (!Convert.TryFromBase64String(text.Trim(), buffer, out var written) || written != KeyLength)
        {
            return false;
        }

        publicKey = buffer;
        return true;
    }
}
