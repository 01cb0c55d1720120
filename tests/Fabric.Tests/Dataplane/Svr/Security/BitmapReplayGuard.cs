using Fabric.Dataplane.Svr.Security;

namespace Fabric.Tests.Dataplane.Svr.Security;

/// <summary>
/// A plain 2048-counter sliding window for these tests, standing in for the dataplane's ReplayWindow.
/// Bit <c>counter mod 2048</c> records whether a counter within the window was seen. Not thread-safe.
/// </summary>
internal sealed class BitmapReplayGuard : IReplayGuard
{
    public const int WindowSize = 2048;

    private readonly ulong[] _bits = new ulong[WindowSize / 64];
    private ulong _highest;
    private bool _any;

    public bool IsAcceptable(ulong counter)
    {
        if (!_any || counter > _highest)
        {
            return true;
        }

        return _highest - counter < WindowSize && !IsSet(counter);
    }

    public void MarkSeen(ulong counter)
    {
        if (!_any)
        {
            _any = true;
            _highest = counter;
        }
        else if (counter > _highest)
        {
            if (counter - _highest >= WindowSize)
            {
                Array.Clear(_bits);
            }
            else
            {
                for (var c = _highest + 1; c <= counter; c++)
                {
                    Clear(c);
                }
            }

            _highest = counter;
        }
        else if (_highest - counter >= WindowSize)
        {
            return;
        }

        _bits[Word(counter)] |= Bit(counter);
    }

    private bool IsSet(ulong counter) => (_bits[Word(counter)] & Bit(counter)) != 0;

    private void Clear(ulong counter) => _bits[Word(counter)] &= ~Bit(counter);

    private static int Word(ulong counter) => (int)(counter % WindowSize / 64);

    private static ulong Bit(ulong counter) => 1UL << (int)(counter % 64);
}
