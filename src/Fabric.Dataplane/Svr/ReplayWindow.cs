using System.Numerics;

namespace Fabric.Dataplane.Svr;

/// <summary>
/// An anti-replay sliding window over a 64-bit packet counter (RFC 4303 §3.4.3, with the ring of bitmap words
/// of RFC 6479 so that sliding clears whole words instead of shifting bits). A counter is acceptable when it is
/// above every counter marked so far, or within <see cref="WindowSize"/> below the highest and not yet marked.
/// Check with <see cref="IsAcceptable"/> before decrypting and call <see cref="MarkSeen"/> only after the AEAD tag
/// verified, so forged packets cannot move the window. Allocates only in the constructor; not thread-safe (one
/// owner per peer path key).
/// </summary>
public sealed class ReplayWindow
{
    /// <summary>The default window: 2048 packets.</summary>
    public const int DefaultWindowSize = 2048;

    private const int BitsPerWord = 64;

    private readonly ulong[] _words;
    private readonly int _wordMask;
    private ulong _highest;

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> unless <paramref name="windowSize"/> is a positive multiple of 64.</summary>
    public ReplayWindow(int windowSize = DefaultWindowSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(windowSize, BitsPerWord, nameof(windowSize));
        if (windowSize % BitsPerWord != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(windowSize), windowSize, "The window is a whole number of 64-bit words.");
        }

        // One word more than the window so the word of the highest counter never shares a slot with the oldest
        // word still inside the window; a power of two so a slot is a mask.
        var words = (int)BitOperations.RoundUpToPowerOf2((uint)(windowSize / BitsPerWord) + 1);
        _words = new ulong[words];
        _wordMask = words - 1;
        WindowSize = windowSize;
    }

    /// <summary>How far below the highest marked counter a counter may be and still be accepted once.</summary>
    public int WindowSize { get; }

    /// <summary>The highest counter marked so far; 0 before any.</summary>
    public ulong Highest => _highest;

    /// <summary>True when <paramref name="counter"/> is new and not too old. Changes nothing.</summary>
    public bool IsAcceptable(ulong counter)
    {
        if (counter > _highest)
        {
            return true;
        }

        if (_highest - counter >= (ulong)WindowSize)
        {
            return false;
        }

        return (_words[(int)(counter / BitsPerWord) & _wordMask] & (1UL << (int)(counter % BitsPerWord))) == 0;
    }

    /// <summary>
    /// Records <paramref name="counter"/> as received, sliding the window when it is the new highest. Returns
    /// false, changing nothing, when the counter is not acceptable (already marked, or it fell out of the window
    /// after it was checked): that packet is a replay and is dropped.
    /// </summary>
    public bool MarkSeen(ulong counter)
    {
        if (!IsAcceptable(counter))
        {
            return false;
        }

        if (counter > _highest)
        {
            var from = _highest / BitsPerWord;
            var to = counter / BitsPerWord;
            var clear = Math.Min(to - from, (ulong)_words.Length);
            for (ulong i = 1; i <= clear; i++)
            {
                _words[(int)((from + i) & (ulong)_wordMask)] = 0;
            }

            _highest = counter;
        }

        _words[(int)(counter / BitsPerWord) & _wordMask] |= 1UL << (int)(counter % BitsPerWord);
        return true;
    }
}
