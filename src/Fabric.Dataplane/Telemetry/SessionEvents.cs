using Fabric.Dataplane.Pipeline;
using Fabric.Dataplane.Sessions;

namespace Fabric.Dataplane.Telemetry;

public enum SessionEventKind : byte
{
    /// <summary>The pipeline inserted the session (a replica installed from an HA partner is not an opening).</summary>
    Opened,

    /// <summary>The session left the table: idle past its timeout (a closed TCP session lingers first), or replaced by a partner's replica.</summary>
    Closed,
}

/// <summary>
/// One session opening or closing, as the worker that owns the session publishes it: its slot and the slot's generation
/// while the session lived there (the two name the session within its worker for as long as it lives), both keys, what
/// the pipeline keeps about it (its counters final at a close), and when it opened and when this happened, in the worker's
/// clock ticks. A plain struct: publishing copies it into the ring, nothing allocates.
/// </summary>
public readonly record struct SessionEvent(
    SessionEventKind Kind, int Handle, uint Generation, SessionKey Forward, SessionKey Reverse, SessionState State, long Opened, long Time);

/// <summary>The latest session openings and closings of one worker, drained by the control plane. One writer (the worker); any number of readers.</summary>
public sealed class SessionEventRing(int capacity) : EventRing<SessionEvent>(capacity)
{
    /// <summary>
    /// Events kept (tunable): about 1.8 MiB per worker; at the control plane's drain interval of 250 ms it holds a burst of
    /// 32 000 sessions opened and closed per second before a reader loses any.
    /// </summary>
    public const int DefaultCapacity = 8192;
}
