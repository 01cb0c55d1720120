namespace Fabric.Model;

/// <summary>How peer paths protect what a service policy asks to protect, and how often keys turn over.</summary>
/// <param name="RekeyAfterPackets">A new key after this many packets on a peer path, whatever the time.</param>
public sealed record SecurityPolicy(string Name, Cipher Cipher, TimeSpan RekeyInterval, long RekeyAfterPackets)
{
    public const string DefaultName = "default";

    public static SecurityPolicy Default { get; } = new(DefaultName, Cipher.Aes256Gcm, TimeSpan.FromHours(1), 1L << 32);
}

public enum Cipher
{
    Aes128Gcm,
    Aes256Gcm,
}
