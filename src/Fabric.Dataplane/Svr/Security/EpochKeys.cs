using System.Security.Cryptography;

namespace Fabric.Dataplane.Svr.Security;

/// <summary>
/// The key material of one epoch of one peer path, seen from the local router: the key and nonce salt it
/// seals with (local → peer) and the ones it opens with (peer → local). The peer holds the same two pairs
/// swapped. Disposing wipes the material. Not thread-safe; it lives only between derivation and install.
/// </summary>
public sealed class EpochKeys : IDisposable
{
    /// <summary>Length of each directional key; AES-128-GCM uses its first 16 bytes.</summary>
    public const int KeyLength = 32;

    /// <summary>Length of each directional nonce salt (the fixed field of the AES-GCM nonce).</summary>
    public const int SaltLength = 4;

    private readonly byte[] _material;

    internal EpochKeys(uint epoch, ReadOnlySpan<byte> sendKey, ReadOnlySpan<byte> receiveKey, ReadOnlySpan<byte> sendSalt, ReadOnlySpan<byte> receiveSalt)
    {
        Epoch = epoch;
        _material = new byte[(2 * KeyLength) + (2 * SaltLength)];
        sendKey.CopyTo(_material.AsSpan(0, KeyLength));
        receiveKey.CopyTo(_material.AsSpan(KeyLength, KeyLength));
        sendSalt.CopyTo(_material.AsSpan(2 * KeyLength, SaltLength));
        receiveSalt.CopyTo(_material.AsSpan((2 * KeyLength) + SaltLength, SaltLength));
    }

    /// <summary>The epoch number, which is also the SecurityId carried in metadata TLV 16.</summary>
    public uint Epoch { get; }

    /// <summary>
    /// The first counter the sending direction uses (within the key phase's half). 0 for keys from fresh
    /// nonces; a clock epoch's keys (<see cref="ClockEpochs"/>) can be derived again after a restart, so they
    /// start at the nanoseconds since the epoch began, above every counter sent with them before.
    /// </summary>
    public ulong FirstSendCounter { get; internal set; }

    public ReadOnlySpan<byte> SendKey => _material.AsSpan(0, KeyLength);

    public ReadOnlySpan<byte> ReceiveKey => _material.AsSpan(KeyLength, KeyLength);

    public ReadOnlySpan<byte> SendSalt => _material.AsSpan(2 * KeyLength, SaltLength);

    public ReadOnlySpan<byte> ReceiveSalt => _material.AsSpan((2 * KeyLength) + SaltLength, SaltLength);

    public void Dispose() => CryptographicOperations.ZeroMemory(_material);
}
