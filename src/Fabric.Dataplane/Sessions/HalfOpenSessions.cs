namespace Fabric.Dataplane.Sessions;

/// <summary>
/// The sessions of one table in the order they were opened, as candidates for eviction under pressure: a ring of
/// (handle, generation) with a fixed capacity, allocated once. An entry goes stale when its session ends, its slot is
/// reused (the generation differs) or it is answered; the owner checks that when it reads one, marks it with
/// <see cref="Clear"/>, and <see cref="Trim"/> drops stale entries from the old end. When the ring is full, adding
/// forgets the oldest entry (that session is then never evicted, only expired). Not thread-safe: the worker owns it.
/// </summary>
public sealed class HalfOpenSessions
{
    private readonly Entry[] _ring;
    private int _head;
    private int _count;

    public HalfOpenSessions(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _ring = new Entry[capacity];
    }

    /// <summary>Entries held, stale ones included.</summary>
    public int Count => _count;

    /// <summary>Adds the newest session.</summary>
    public void Add(int handle, uint generation)
    {
        if (_count == _ring.Length)
        {
            Advance();
        }

        _ring[Slot(_count)] = new Entry(handle, generation);
        _count++;
    }

    /// <summary>The handle and generation of the <paramref name="age"/>-th oldest entry (0: the oldest); the handle is −1 once cleared.</summary>
    public (int Handle, uint Generation) At(int age)
    {
        var entry = _ring[Slot(age)];
        return (entry.Handle, entry.Generation);
    }

    /// <summary>Marks the <paramref name="age"/>-th oldest entry stale.</summary>
    public void Clear(int age) => _ring[Slot(age)] = new Entry(-1, 0);

    /// <summary>Drops cleared entries from the old end.</summary>
    public void Trim()
    {
        while (_count > 0 && _ring[_head].Handle < 0)
        {
            Advance();
        }
    }

    private void Advance()
    {
        _head = _head + 1 == _ring.Length ? 0 : _head + 1;
        _count--;
    }

    private int Slot(int age)
    {
        var slot = _head + age;
        return slot >= _ring.Length ? slot - _ring.Length : slot;
    }

    private readonly record struct Entry(int Handle, uint Generation);
}
