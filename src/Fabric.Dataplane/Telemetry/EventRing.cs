namespace Fabric.Dataplane.Telemetry;

/// <summary>
/// A fixed ring of the latest events of one writer, oldest overwritten first: <see cref="Add"/> never waits, never
/// allocates and never learns whether anyone reads. Readers copy what is still there and learn what they missed: each
/// keeps its own position (a count of events ever written) and passes it to <see cref="ReadFrom"/>. A reader gets at most
/// the newest <c>capacity − 1</c> events: the oldest slot is the one the writer fills next. Thread-safe for one writer and
/// any number of readers; a reader never sees an event the writer is overwriting while it copies.
/// </summary>
public class EventRing<T>
    where T : struct
{
    private readonly T[] _events;
    private long _written;

    public EventRing(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _events = new T[capacity];
    }

    public int Capacity => _events.Length;

    /// <summary>Events ever written: the position after the newest.</summary>
    public long Written => Volatile.Read(ref _written);

    /// <summary>Writes an event over the oldest one. The one writer's thread only.</summary>
    public void Add(in T item)
    {
        _events[(int)(_written % _events.Length)] = item;
        Volatile.Write(ref _written, _written + 1);
    }

    /// <summary>
    /// Appends to <paramref name="into"/> the events at positions <paramref name="from"/> and after that are still in the
    /// ring, oldest first, at most <paramref name="max"/>; returns the position to read from next. <paramref name="lost"/>
    /// counts the events after <paramref name="from"/> that were overwritten before this read (the reader was too slow).
    /// </summary>
    public long ReadFrom(long from, List<T> into, int max, out long lost)
    {
        ArgumentNullException.ThrowIfNull(into);
        var end = Written;
        var start = Math.Max(from, end - _events.Length);
        var stop = Math.Min(end, start + Math.Max(0, max));
        var at = into.Count;
        for (var i = start; i < stop; i++)
        {
            into.Add(_events[(int)(i % _events.Length)]);
        }

        // An event copied while the writer overwrote its slot is dropped: the writer was at most at position
        // `after`, so the slots of positions after `after - capacity` were not touched during the copy.
        Interlocked.MemoryBarrier();
        var firstIntact = Volatile.Read(ref _written) - _events.Length + 1;
        if (firstIntact > start)
        {
            var torn = (int)Math.Min(firstIntact - start, stop - start);
            into.RemoveRange(at, torn);
            start += torn;
        }

        lost = Math.Max(0, start - from);
        return stop;
    }

    /// <summary>The events still in the ring, oldest first (allocates: for the control plane and tests).</summary>
    public T[] Snapshot()
    {
        var events = new List<T>(_events.Length);
        ReadFrom(0, events, _events.Length, out _);
        return [.. events];
    }
}
