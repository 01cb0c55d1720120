using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Crypto.Signers;
using Org.BouncyCastle.Pkcs;
using Org.BouncyCastle.Security;

namespace Fabric.Actors.Security;

/// <summary>
/// What the conductor signs when it publishes a running configuration: a domain label, the version and the
/// document's text, so a signature for one version never passes for another, nor for anything else the key
/// might sign. Thread-safe: stateless.
/// </summary>
public static class RunningConfigStatement
{
    private static readonly byte[] Domain = Encoding.ASCII.GetBytes("fabric-running-config-v1\0");

    internal static void Feed(Ed25519Signer signer, long version, string text)
    {
        Span<byte> number = stackalloc byte[sizeof(long)];
        BinaryPrimitives.WriteInt64BigEndian(number, version);
        signer.BlockUpdate(Domain, 0, Domain.Length);
        signer.BlockUpdate(number);
        var utf8 = Encoding.UTF8.GetBytes(text);
        signer.BlockUpdate(utf8, 0, utf8.Length);
    }
}

/// <summary>
/// The conductor's Ed25519 signing key: only what it signs is applied by routers, which pin its public key
/// (<see cref="ConductorKeyPin"/>). Kept in a PKCS#8 PEM file readable by its owner alone (as <c>openssl genpkey
/// -algorithm ed25519</c> writes one). Thread-safe: signing is stateless over an immutable key.
/// </summary>
public sealed class ConductorSigningKey
{
    /// <summary>The key's file when none is given, in the directory the conductor runs in (beside its default SQLite file).</summary>
    public const string DefaultFileName = "conductor.key";

    private const string PemLabel = "PRIVATE KEY";
    private readonly Ed25519PrivateKeyParameters _key;

    private ConductorSigningKey(Ed25519PrivateKeyParameters key)
    {
        _key = key;
        PublicKey = key.GeneratePublicKey().GetEncoded();
    }

    /// <summary>The 32-byte public key routers pin.</summary>
    public byte[] PublicKey { get; }

    public string PublicKeyBase64 => Convert.ToBase64String(PublicKey);

    /// <summary>The public key as routers pin it.</summary>
    public ConductorKeyPin Pin => new(PublicKey);

    public static ConductorSigningKey Generate() => new(new Ed25519PrivateKeyParameters(new SecureRandom()));

    /// <summary>The key in <paramref name="pem"/>; throws <see cref="FormatException"/> unless it is one Ed25519 private key in PKCS#8 PEM.</summary>
    public static ConductorSigningKey FromPem(string pem)
    {
        ArgumentNullException.ThrowIfNull(pem);
        try
        {
            var fields = PemEncoding.Find(pem);
            if (!pem[fields.Label].SequenceEqual(PemLabel))
            {
                throw new FormatException($"expected a \"{PemLabel}\" PEM block");
            }

            return PrivateKeyFactory.CreateKey(Convert.FromBase64String(pem[fields.Base64Data])) is Ed25519PrivateKeyParameters key
                ? new ConductorSigningKey(key)
                : throw new FormatException("the key is not an Ed25519 key");
        }
        catch (Exception e) when (e is ArgumentException or InvalidCastException or IOException or Org.BouncyCastle.Security.SecurityUtilityException)
        {
            throw new FormatException(e.Message, e);
        }
    }

    /// <summary>
    /// Reads the key file at <paramref name="path"/>; throws <see cref="PrivateFileException"/> with one sentence when
    /// others may read it, it is missing, or it holds no Ed25519 key.
    /// </summary>
    public static ConductorSigningKey Read(string path)
    {
        const string what = "the conductor's signing key file";
        var text = PrivateFile.ReadText(path, what);
        try
        {
            return FromPem(text);
        }
        catch (FormatException e)
        {
            throw new PrivateFileException($"{what} {path} does not hold an Ed25519 private key in PKCS#8 PEM ({e.Message}); fabric keys conductor --out FILE writes one");
        }
    }

    /// <summary>Writes the key to <paramref name="path"/> with mode 0600; refuses to replace an existing file.</summary>
    public void Write(string path) => PrivateFile.WriteText(path, ToPem(), replace: false);

    public string ToPem() => new string(PemEncoding.Write(PemLabel, PrivateKeyInfoFactory.CreatePrivateKeyInfo(_key).GetDerEncoded())) + "\n";

    /// <summary>The signature of version <paramref name="version"/> with <paramref name="text"/> (64 bytes; Ed25519 is deterministic).</summary>
    public byte[] Sign(long version, string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var signer = new Ed25519Signer();
        signer.Init(true, _key);
        RunningConfigStatement.Feed(signer, version, text);
        return signer.GenerateSignature();
    }
}

/// <summary>
/// The conductor's public key as a router pins it (a start option, kept in the node's state): a running
/// configuration is applied only if this key signed its version and text. Immutable; thread-safe.
/// </summary>
public sealed class ConductorKeyPin
{
    public const int KeyLength = 32;

    /// <summary>An Ed25519 signature's length (RFC 8032).</summary>
    public const int SignatureLength = 64;

    private readonly Ed25519PublicKeyParameters _key;

    public ConductorKeyPin(byte[] publicKey)
    {
        ArgumentNullException.ThrowIfNull(publicKey);
        if (publicKey.Length != KeyLength)
        {
            throw new FormatException($"a conductor key is {KeyLength} bytes, not {publicKey.Length}");
        }

        _key = new Ed25519PublicKeyParameters(publicKey);
        PublicKeyBase64 = Convert.ToBase64String(publicKey);
    }

    public string PublicKeyBase64 { get; }

    /// <summary>The pin in <paramref name="base64"/>, or null with why not.</summary>
    public static ConductorKeyPin? TryParse(string? base64, out string? problem)
    {
        problem = null;
        var text = base64?.Trim() ?? "";
        try
        {
            return new ConductorKeyPin(Convert.FromBase64String(text));
        }
        catch (FormatException e)
        {
            problem = $"\"{text}\" is not a conductor key: expected the base64 of {KeyLength} bytes, as fabric conductor prints it ({e.Message})";
            return null;
        }
    }

    /// <summary>Whether <paramref name="signature"/> is this key's over version <paramref name="version"/> and <paramref name="text"/>.</summary>
    public bool Verifies(long version, string text, byte[]? signature)
    {
        if (signature is not { Length: SignatureLength } || text is null)
        {
            return false;
        }

        var verifier = new Ed25519Signer();
        verifier.Init(false, _key);
        RunningConfigStatement.Feed(verifier, version, text);
        return verifier.VerifySignature(signature);
    }
}
