using System.Buffers.Binary;
using System.Security.Cryptography;

namespace Fabric.Dataplane.Svr.Security;

/// <summary>
/// Per-packet AEAD of one direction of one epoch of a peer path, with the CPU's AES instructions through
/// .NET's <see cref="AesGcm"/>. Created once at key install, never per packet.
/// <para>
/// Wire form: the payload is sealed in place and followed by a 24-byte trailer, an explicit big-endian
/// 8-byte counter then the 16-byte tag. The 12-byte nonce is the direction's 4-byte salt ‖ the counter.
/// The counter is key phase (1 bit) ‖ sequence (<see cref="SequenceBits"/>) ‖ sender (<see cref="SenderBits"/>):
/// the top bit is the epoch's key phase (epoch &amp; 1), which lets a receiver pick the current or previous
/// epoch for packets that carry no metadata; the sender field is the sending node's per-boot random value,
/// so two processes holding the same key (a restart within an epoch whose clock stepped back, the two
/// nodes of an HA pair) draw from disjoint nonce spaces; the sequence counts the sender's packets. A
/// sending sealer refuses any sequence not above the last one it used, so within one sender a (key,
/// nonce) pair never repeats. A receiver's replay window runs over the sequence.
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

    /// <summary>Low bits of the counter that hold the sender's per-boot value.</summary>
    public const int SenderBits = 20;

    /// <summary>Bits of the counter between key phase and sender that count the sender's packets.</summary>
    public const int SequenceBits = KeyPhaseShift - SenderBits;

    /// <summary>The largest sequence a sender uses within one epoch.</summary>
    public const ulong MaxSequence = (1UL << SequenceBits) - 1;

    private const int KeyPhaseShift = 63;
    private const ulong SenderMask = (1UL << SenderBits) - 1;
    private const int MinScratchLength = 16 * 1024;

    [ThreadStatic]
    private static byte[]? _integrityScratch;

    private readonly AesGcm _aes;
    private readonly byte[] _nonce = new byte[NonceLength];
    private readonly IReplayGuard? _replayGuard;
    private readonly ulong _keyPhase;
    private readonly ulong _sender;
    private ulong _nextSequence;

    private PacketSealer(ReadOnlySpan<byte> key, ReadOnlySpan<byte> salt, int keyPhase, IReplayGuard? replayGuard, uint sender)
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
        _sender = sender & SenderMask;
    }

    /// <summary>Packets sealed with this key so far (what rekey-by-count looks at).</summary>
    public long SealedCount { get; private set; }

    /// <summary>Packets opened with verdict <see cref="OpenVerdict.Ok"/> so far.</summary>
    public long OpenedCount { get; private set; }

    /// <summary>The sequence <see cref="SealNext"/> uses next.</summary>
    public ulong NextSequence => _nextSequence;

    /// <summary>The sender value in the low bits of every counter this sealer sends (0 for a receiving sealer).</summary>
    public uint Sender => (uint)_sender;

    /// <summary>The receiving direction's replay guard (null for a sending sealer), kept when the same epoch is installed again.</summary>
    internal IReplayGuard? ReplayGuard => _replayGuard;

    /// <summary>The key phase (0 or 1) carried in the top bit of every counter this sealer uses or accepts.</summary>
    public int KeyPhase => (int)_keyPhase;

    /// <summary>
    /// A sealer for the sending direction: key of 16 (AES-128) or 32 (AES-256) bytes, 4-byte salt, the
    /// sender's per-boot value (its low <see cref="SenderBits"/> bits are used). Its first sequence is
    /// <paramref name="firstSequence"/>, at most half of <see cref="MaxSequence"/> (a larger one is taken as
    /// that half, so the sealer always has room): a key that may have been used before by the same sender
    /// starts above every sequence used with it.
    /// </summary>
    public static PacketSealer ForSending(ReadOnlySpan<byte> key, ReadOnlySpan<byte> salt, int keyPhase = 0, ulong firstSequence = 0, uint sender = 0) =>
        new(key, salt, keyPhase, replayGuard: null, sender)
        {
            _nextSequence = Math.Min(firstSequence, MaxSequence / 2),
        };

    /// <summary>A sealer for the receiving direction; it owns <paramref name="replayGuard"/> (over sequences) for this epoch.</summary>
    public static PacketSealer ForReceiving(ReadOnlySpan<byte> key, ReadOnlySpan<byte> salt, IReplayGuard replayGuard, int keyPhase = 0)
    {
        ArgumentNullException.ThrowIfNull(replayGuard);
        return new PacketSealer(key, salt, keyPhase, replayGuard, sender: 0);
    }

    /// <summary>The key phase of a received trailer's counter, or -1 when the trailer is truncated.</summary>
    public static int ReadKeyPhase(ReadOnlySpan<byte> trailer) =>
        trailer.Length < TrailerLength ? -1 : (int)(BinaryPrimitives.ReadUInt64BigEndian(trailer) >> KeyPhaseShift);

    /// <summary>The sequence field of a counter.</summary>
    public static ulong SequenceOf(ulong counter) => (counter >> SenderBits) & MaxSequence;

    /// <summary>The sender field of a counter.</summary>
    public static uint SenderOf(ulong counter) => (uint)(counter & SenderMask);

    /// <summary>Seals with the next sequence of this direction; see <see cref="Seal"/>.</summary>
    public int SealNext(ReadOnlySpan<byte> associatedData, Span<byte> payloadInPlace, Span<byte> trailer, PayloadProtection protection = PayloadProtection.Encrypt) =>
        Seal(associatedData, payloadInPlace, _nextSequence, trailer, protection);

    /// <summary>
    /// Seals the payload in place (encrypted or, for integrity-only, untouched) and writes the trailer with
    /// the counter of <paramref name="sequence"/>. Returns <see cref="TrailerLength"/>, or 0 when it refuses:
    /// the sequence is not above the last one used or beyond <see cref="MaxSequence"/>, the trailer is too
    /// short, or an integrity-only input is too long.
    /// </summary>
    public int Seal(ReadOnlySpan<byte> associatedData, Span<byte> payloadInPlace, ulong sequence, Span<byte> trailer, PayloadProtection protection = PayloadProtection.Encrypt)
    {
        if (trailer.Length < TrailerLength || sequence < _nextSequence || sequence > MaxSequence)
        {
            return 0;
        }

        var counter = (_keyPhase << KeyPhaseShift) | (sequence << SenderBits) | _sender;
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
        _nextSequence = sequence + 1;
        SealedCount++;
        return TrailerLength;
    }

    /// <summary>
    /// Verifies a sealed packet and, for <see cref="PayloadProtection.Encrypt"/>, decrypts the payload in
    /// place. The replay guard is consulted first (with the counter's sequence) and marked only once the
    /// tag verifies. On any verdict
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

        var sequence = SequenceOf(counter);
        if (!guard.IsAcceptable(sequence))
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

        guard.MarkSeen(sequence);
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
