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
    /// The first sequence the sending direction uses (<see cref="PacketSealer"/>'s counter layout). 0 for keys
    /// from fresh nonces; a clock epoch's keys (<see cref="ClockEpochs"/>) can be derived again after a restart
    /// or by the other node of an HA pair, so they start at the 100-ns ticks since the epoch began: a receiver's
    /// replay window then takes the new sender's packets as newer than those sent with the keys before.
    /// </summary>
    public ulong FirstSendSequence { get; internal set; }

    public ReadOnlySpan<byte> SendKey => _material.AsSpan(0, KeyLength);

    public ReadOnlySpan<byte> ReceiveKey => _material.AsSpan(KeyLength, KeyLength);

    public ReadOnlySpan<byte> SendSalt => _material.AsSpan(2 * KeyLength, SaltLength);

    public ReadOnlySpan<byte> ReceiveSalt => _material.AsSpan((2 * KeyLength) + SaltLength, SaltLength);

    /// <summary>A copy the caller owns and disposes (the installed epoch keeps one, to rebuild its sealers when the cipher changes).</summary>
    internal EpochKeys Copy() => new(Epoch, SendKey, ReceiveKey, SendSalt, ReceiveSalt) { FirstSendSequence = FirstSendSequence };

    public void Dispose() => CryptographicOperations.ZeroMemory(_material);
}
