using System.Buffers.Binary;
using System.Security.Cryptography;

namespace Fabric.Dataplane.Svr.Security;

/// <summary>
/// Per-packet AEAD of one direction of one epoch of a peer path, with the CPU's AES instructions through
/// .NET's <see cref="AesGcm"/>. Created once at key install, never per packet.
/// <para>
/// Wire form: the payload is sealed in place and followed by a 24-byte trailer, an explicit big-endian
/// 8-byte counter then the 16-byte tag. The 12-byte nonce is the direction's 4-byte salt ‖ the counter.
/// A sending sealer owns its direction's counter and refuses any counter not above the last one it used,
/// so a (key, nonce) pair never repeats. The counter's top bit is the epoch's key phase (epoch &amp; 1): it
/// lets a receiver pick the current or previous epoch for packets that carry no metadata.
/// </para>
/// <para>
/// <see cref="PayloadProtection.Encrypt"/> is AES-GCM with the associated data as AAD and the payload as
/// plaintext. <see cref="PayloadProtection.IntegrityOnly"/> is GMAC: empty plaintext and AAD =
/// associated data ‖ payload ‖ u32 length of the associated data (the length keeps the split between the
/// two unambiguous); it copies both into a per-thread scratch buffer allocated once per thread.
/// </para>
/// Not thread-safe: a direction has one owner (the worker that sends or receives on the peer path).
/// </summary>
public sealed class PacketSealer : IDisposable
{
    /// <summary>Length of the explicit counter at the start of the trailer.</summary>
    public const int CounterLength = 8;

    /// <summary>Length of the AES-GCM tag at the end of the trailer.</summary>
    public const int TagLength = 16;

    /// <summary>Bytes a sealed packet carries beyond its payload: counter and tag.</summary>
    public const int TrailerLength = CounterLength + TagLength;

    /// <summary>Length of the AES-GCM nonce: salt ‖ counter.</summary>
    public const int NonceLength = EpochKeys.SaltLength + CounterLength;

    /// <summary>The largest associated data plus payload an integrity-only packet may have.</summary>
    public const int MaxIntegrityInputLength = 128 * 1024;

    private const int KeyPhaseShift = 63;
    private const ulong CountersPerPhase = 1UL << KeyPhaseShift;
    private const int MinScratchLength = 16 * 1024;

    [ThreadStatic]
    private static byte[]? _integrityScratch;

    private readonly AesGcm _aes;
    private readonly byte[] _nonce = new byte[NonceLength];
    private readonly IReplayGuard? _replayGuard;
    private readonly ulong _keyPhase;
    private readonly ulong _lastCounter;
    private ulong _nextCounter;

    private PacketSealer(ReadOnlySpan<byte> key, ReadOnlySpan<byte> salt, int keyPhase, IReplayGuard? replayGuard)
    {
        if (salt.Length != EpochKeys.SaltLength)
        {
            throw new ArgumentException($"The nonce salt is {EpochKeys.SaltLength} bytes.", nameof(salt));
        }

        ArgumentOutOfRangeException.ThrowIfNegative(keyPhase);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(keyPhase, 1);
        _aes = new AesGcm(key, TagLength);
        salt.CopyTo(_nonce);
        _replayGuard = replayGuard;
        _keyPhase = (ulong)keyPhase;
        _nextCounter = _keyPhase << KeyPhaseShift;
        _lastCounter = _nextCounter + (CountersPerPhase - 2);
    }

    /// <summary>Packets sealed with this key so far (what rekey-by-count looks at).</summary>
    public long SealedCount { get; private set; }

    /// <summary>Packets opened with verdict <see cref="OpenVerdict.Ok"/> so far.</summary>
    public long OpenedCount { get; private set; }

    /// <summary>The counter <see cref="SealNext"/> uses next.</summary>
    public ulong NextCounter => _nextCounter;

    /// <summary>The key phase (0 or 1) carried in the top bit of every counter this sealer uses or accepts.</summary>
    public int KeyPhase => (int)_keyPhase;

    /// <summary>
    /// A sealer for the sending direction: key of 16 (AES-128) or 32 (AES-256) bytes, 4-byte salt. Its first
    /// counter is <paramref name="firstCounter"/> within the key phase's half (a key that may have been used
    /// before, as after a restart within a clock epoch, starts above every counter used with it).
    /// </summary>
    public static PacketSealer ForSending(ReadOnlySpan<byte> key, ReadOnlySpan<byte> salt, int keyPhase = 0, ulong firstCounter = 0)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(firstCounter, CountersPerPhase / 2);
        var sealer = new PacketSealer(key, salt, keyPhase, replayGuard: null);
        sealer._nextCounter += firstCounter;
        return sealer;
    }

    /// <summary>A sealer for the receiving direction; it owns <paramref name="replayGuard"/> for this epoch.</summary>
    public static PacketSealer ForReceiving(ReadOnlySpan<byte> key, ReadOnlySpan<byte> salt, IReplayGuard replayGuard, int keyPhase = 0)
    {
        ArgumentNullException.ThrowIfNull(replayGuard);
        return new PacketSealer(key, salt, keyPhase, replayGuard);
    }

    /// <summary>The key phase of a received trailer's counter, or -1 when the trailer is truncated.</summary>
    public static int ReadKeyPhase(ReadOnlySpan<byte> trailer) =>
        trailer.Length < TrailerLength ? -1 : (int)(BinaryPrimitives.ReadUInt64BigEndian(trailer) >> KeyPhaseShift);

    /// <summary>Seals with the next counter of this direction; see <see cref="Seal"/>.</summary>
    public int SealNext(ReadOnlySpan<byte> associatedData, Span<byte> payloadInPlace, Span<byte> trailer, PayloadProtection protection = PayloadProtection.Encrypt) =>
        Seal(associatedData, payloadInPlace, _nextCounter, trailer, protection);

    /// <summary>
    /// Seals the payload in place (encrypted or, for integrity-only, untouched) and writes the trailer.
    /// Returns <see cref="TrailerLength"/>, or 0 when it refuses: the counter is not above the last one
    /// used or leaves this key phase, the trailer is too short, or an integrity-only input is too long.
    /// </summary>
    public int Seal(ReadOnlySpan<byte> associatedData, Span<byte> payloadInPlace, ulong counter, Span<byte> trailer, PayloadProtection protection = PayloadProtection.Encrypt)
    {
        if (trailer.Length < TrailerLength || counter < _nextCounter || counter > _lastCounter)
        {
            return 0;
        }

        BinaryPrimitives.WriteUInt64BigEndian(_nonce.AsSpan(EpochKeys.SaltLength), counter);
        var tag = trailer.Slice(CounterLength, TagLength);
        if (protection == PayloadProtection.Encrypt)
        {
            _aes.Encrypt(_nonce, payloadInPlace, payloadInPlace, tag, associatedData);
        }
        else
        {
            var authenticated = IntegrityInput(associatedData, payloadInPlace);
            if (authenticated.IsEmpty)
            {
                return 0;
            }

            _aes.Encrypt(_nonce, ReadOnlySpan<byte>.Empty, Span<byte>.Empty, tag, authenticated);
        }

        BinaryPrimitives.WriteUInt64BigEndian(trailer, counter);
        _nextCounter = counter + 1;
        SealedCount++;
        return TrailerLength;
    }

    /// <summary>
    /// Verifies a sealed packet and, for <see cref="PayloadProtection.Encrypt"/>, decrypts the payload in
    /// place. The replay guard is consulted first and marked only once the tag verifies. On any verdict
    /// but <see cref="OpenVerdict.Ok"/> the payload's contents are unspecified (a failed decryption zeroes it).
    /// </summary>
    public OpenVerdict Open(ReadOnlySpan<byte> associatedData, Span<byte> payloadInPlace, ReadOnlySpan<byte> trailer, PayloadProtection protection = PayloadProtection.Encrypt)
    {
        var guard = _replayGuard ?? throw new InvalidOperationException("This sealer was created for sending.");
        if (trailer.Length < TrailerLength)
        {
            return OpenVerdict.Truncated;
        }

        var counter = BinaryPrimitives.ReadUInt64BigEndian(trailer);
        if (counter >> KeyPhaseShift != _keyPhase)
        {
            return OpenVerdict.BadTag;
        }

        if (!guard.IsAcceptable(counter))
        {
            return OpenVerdict.Replayed;
        }

        BinaryPrimitives.WriteUInt64BigEndian(_nonce.AsSpan(EpochKeys.SaltLength), counter);
        var tag = trailer.Slice(CounterLength, TagLength);
        try
        {
            if (protection == PayloadProtection.Encrypt)
            {
                _aes.Decrypt(_nonce, payloadInPlace, tag, payloadInPlace, associatedData);
            }
            else
            {
                var authenticated = IntegrityInput(associatedData, payloadInPlace);
                if (authenticated.IsEmpty)
                {
                    return OpenVerdict.BadTag;
                }

                _aes.Decrypt(_nonce, ReadOnlySpan<byte>.Empty, tag, Span<byte>.Empty, authenticated);
            }
        }
        catch (AuthenticationTagMismatchException)
        {
            return OpenVerdict.BadTag;
        }

        guard.MarkSeen(counter);
        OpenedCount++;
        return OpenVerdict.Ok;
    }

    public void Dispose() => _aes.Dispose();

    private static ReadOnlySpan<byte> IntegrityInput(ReadOnlySpan<byte> associatedData, ReadOnlySpan<byte> payload)
    {
        var length = associatedData.Length + payload.Length;
        if (length > MaxIntegrityInputLength)
        {
            return ReadOnlySpan<byte>.Empty;
        }

        var total = length + sizeof(uint);
        var scratch = _integrityScratch;
        if (scratch is null || scratch.Length < total)
        {
            scratch = new byte[Math.Max(MinScratchLength, (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)total))];
            _integrityScratch = scratch;
        }

        associatedData.CopyTo(scratch);
        payload.CopyTo(scratch.AsSpan(associatedData.Length));
        BinaryPrimitives.WriteUInt32BigEndian(scratch.AsSpan(length), (uint)associatedData.Length);
        return scratch.AsSpan(0, total);
    }
}
