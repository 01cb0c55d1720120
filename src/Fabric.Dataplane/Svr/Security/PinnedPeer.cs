namespace Fabric.Dataplane.Svr.Security;

/// <summary>A peer router as configuration names it: its name and the X25519 public key pinned for it.</summary>
public sealed class PinnedPeer
{
    private readonly byte[] _publicKey;

    public PinnedPeer(string name, ReadOnlySpan<byte> publicKey)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (publicKey.Length != RouterIdentity.KeyLength)
        {
            throw new ArgumentException($"A pinned X25519 public key is {RouterIdentity.KeyLength} bytes.", nameof(publicKey));
        }

        Name = name;
        _publicKey = publicKey.ToArray();
    }

    public string Name { get; }

    public ReadOnlySpan<byte> PublicKey => _publicKey;

    /// <summary>The peer as configured: name plus base64 public key.</summary>
    public static PinnedPeer FromBase64(string name, string publicKeyBase64) =>
        RouterIdentity.TryParsePublicKeyBase64(publicKeyBase64, out var key)
            ? new PinnedPeer(name, key)
            : throw new FormatException($"The public key pinned for {name} is not base64 of {RouterIdentity.KeyLength} bytes.");
}
