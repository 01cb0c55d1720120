namespace Fabric.Dataplane.Policing;

/// <summary>
/// The active sessions of one service, whichever of its admissions (one per policy it has had) took them, and its refusal
/// mark: one 64-bit word, bits 0–31 the count, bit 32 whether the service refuses, bits 33–63 the count below which it
/// takes sessions again; beside it, which admission set the mark. Kept across configuration changes while the service is configured
/// (<see cref="Forwarding.ServiceRuntimes.For"/>). Changed only through <see cref="SessionAdmission"/>; thread-safe.
/// </summary>
public sealed class AdmittedSessions
{
    private const long MarkFlag = 1L << 32;
    private const long ActiveMask = uint.MaxValue;
    private const int ResumeShift = 33;

    private long _state;

    // The admissions made over these sessions so far, and which of them set the refusal mark in force.
    private int _admissions;
    private int _markedBy;

    /// <summary>A number for a new admission over these sessions, unique among them.</summary>
    internal int NextAdmission() => Interlocked.Increment(ref _admissions);

    /// <summary>The admission that set the refusal mark last (its number); written before the mark is.</summary>
    internal int MarkedBy
    {
        get => Volatile.Read(ref _markedBy);
        set => Volatile.Write(ref _markedBy, value);
    }

    internal long Read() => Volatile.Read(ref _state);

    internal bool TryChange(long expected, long next) => Interlocked.CompareExchange(ref _state, next, expected) == expected;

    /// <summary>Gives one session's place back; the mark stays while the count is at or above its resume count.</summary>
    internal void Release()
    {
        while (true)
        {
            var state = Read();
            var active = state & ActiveMask;
            if (active == 0)
            {
                throw new InvalidOperationException("A session was released that the service never counted.");
            }

            active--;
            var next = IsMarked(state) && active > 0 && active >= ResumeBelowOf(state) ? WithActive(state, active) : active;
            if (TryChange(state, next))
            {
                return;
            }
        }
    }

    internal static int ActiveOf(long state) => (int)(state & ActiveMask);

    internal static bool IsMarked(long state) => (state & MarkFlag) != 0;

    internal static long ResumeBelowOf(long state) => (long)((ulong)state >> ResumeShift);

    internal static long Refusing(long active, long resumeBelow) => active | MarkFlag | (resumeBelow << ResumeShift);

    internal static long WithActive(long state, long active) => (state & ~ActiveMask) | active;
}
