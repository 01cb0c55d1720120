using System.Runtime.CompilerServices;

namespace Fabric.Dataplane.Sessions;

/// <summary>
/// The session lookups of one receive batch, made together before the batch's packets run so that their cache
/// misses overlap (<see cref="SessionTable{TPayload}.TryFindBatch"/>: hash every key, prefetch its index slot, then
/// its entry, then compare), and handed out one by one as each packet reaches its lookup. Nothing allocates after
/// construction. Not thread-safe: the table's owner uses it.
/// </summary>
/// <remarks>
/// A result handed out is always what <see cref="SessionTable{TPayload}.TryFind"/> would answer at that moment, even
/// after the packets before it changed the table or a stage changed the packet's key: a hit stands while the
/// session it names is live and still holds the key; a miss stands while the key is the one looked up and no key
/// came into the table since (<see cref="SessionTable{TPayload}.KeysAdded"/>). Any other lookup is made again.
/// </remarks>
public sealed class SessionLookupBatch<TPayload> where TPayload : unmanaged
{
    private readonly SessionTable<TPayload> _table;
    private readonly SessionKey[] _keys;
    private readonly int[] _handles;
    private readonly SessionDirection[] _directions;
    private long _keysAddedAt;
    private int _looked;

    /// <summary>Lookups for batches of up to <paramref name="capacity"/> keys into <paramref name="table"/>.</summary>
    public SessionLookupBatch(SessionTable<TPayload> table, int capacity)
    {
        ArgumentNullException.ThrowIfNull(table);
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _table = table;
        _keys = new SessionKey[capacity];
        _handles = new int[capacity];
        _directions = new SessionDirection[capacity];
    }

    public int Capacity => _keys.Length;

    /// <summary>Keys added since the last <see cref="Clear"/>.</summary>
    public int Count { get; private set; }

    /// <summary>Forgets the last batch: every <see cref="TryFind"/> looks up alone until the next <see cref="Run"/>.</summary>
    public void Clear()
    {
        Count = 0;
        _looked = 0;
    }

    /// <summary>Adds a key to the batch and returns its place, or −1 when the batch is full (that packet looks up alone).</summary>
    public int Add(in SessionKey key)
    {
        if (Count == _keys.Length)
        {
            return -1;
        }

        _keys[Count] = key;
        return Count++;
    }

    /// <summary>Looks up every key added since <see cref="Clear"/>, together.</summary>
    public void Run()
    {
        _table.TryFindBatch(_keys.AsSpan(0, Count), _handles, _directions);
        _keysAddedAt = _table.KeysAdded;
        _looked = Count;
    }

    /// <summary>
    /// The session <paramref name="key"/> belongs to and which of its keys it is, as
    /// <see cref="SessionTable{TPayload}.TryFind"/> answers now: from the batch's lookup at <paramref name="place"/>
    /// when it still stands (see the remarks), else looked up again. Any <paramref name="place"/> is accepted.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryFind(int place, in SessionKey key, out int handle, out SessionDirection direction)
    {
        if ((uint)place < (uint)_looked)
        {
            var found = _handles[place];
            if (found >= 0)
            {
                if (_table.Holds(found, _directions[place], key))
                {
                    handle = found;
                    direction = _directions[place];
                    return true;
                }
            }
            else if (_table.KeysAdded == _keysAddedAt && _keys[place] == key)
            {
                handle = -1;
                direction = SessionDirection.Forward;
                return false;
            }
        }

        return _table.TryFind(key, out handle, out direction);
    }
}
