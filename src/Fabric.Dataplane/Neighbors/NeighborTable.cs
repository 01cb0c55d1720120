using Fabric.Dataplane.Wire;

namespace Fabric.Dataplane.Neighbors;

/// <summary>
/// Link-layer addresses of the hosts next to the router, per port, learned from ARP, neighbour
/// discovery and the frames hosts send. Frames for a neighbour not yet known wait for its address
/// (up to <see cref="MaxWaitingPerNeighbor"/>, as Linux queues unresolved packets), so the first
/// packets of flows are not lost to resolution. Bounded. Not thread-safe unless made <c>shared</c>: a router with
/// several workers gives them one shared table (an ARP reply reaches one worker, but every worker sends to that
/// neighbour), whose operations then hold a lock.
/// </summary>
/// <param name="shared">Whether several workers use the table at once (each operation then holds a lock).</param>
public sealed class NeighborTable(int capacity = 65_536, bool shared = false)
{
    private readonly Lock? _gate = shared ? new Lock() : null;

    /// <summary>Frames that may wait for one unresolved neighbour (tunable).</summary>
    public const int MaxWaitingPerNeighbor = 64;

    /// <summary>Frames that may wait for all unresolved neighbours together (tunable).</summary>
    public const int MaxWaiting = 4096;

    private readonly Dictionary<NeighborKey, MacAddress> _known = new(capacity);
    private readonly Dictionary<NeighborKey, List<byte[]>> _waiting = [];
    private int _waitingFrames;

    public int Count
    {
        get
        {
            if (_gate is null)
            {
                return _known.Count;
            }

            lock (_gate)
            {
                return _known.Count;
            }
        }
    }

    public bool TryGet(int port, UInt128 address, out MacAddress mac)
    {
        if (_gate is null)
        {
            return _known.TryGetValue(new NeighborKey(port, address), out mac);
        }

        lock (_gate)
        {
            return _known.TryGetValue(new NeighborKey(port, address), out mac);
        }
    }

    /// <summary>Records where <paramref name="address"/> is; returns the frames that were waiting for it, if any.</summary>
    public List<byte[]>? Learn(int port, UInt128 address, MacAddress mac)
    {
        if (_gate is null)
        {
            return LearnLocked(port, address, mac);
        }

        lock (_gate)
        {
            return LearnLocked(port, address, mac);
        }
    }

    private List<byte[]>? LearnLocked(int port, UInt128 address, MacAddress mac)
    {
        if (mac.IsMulticast || mac == MacAddress.Zero)
        {
            return null;
        }

        var key = new NeighborKey(port, address);
        if (_known.TryGetValue(key, out var known) && known == mac && _waitingFrames == 0)
        {
            // The common case on the packet path: a host we know, where we knew it.
            return null;
        }

        if (_known.Count < capacity || _known.ContainsKey(key))
        {
            _known[key] = mac;
        }

        if (!_waiting.Remove(key, out var frames))
        {
            return null;
        }

        _waitingFrames -= frames.Count;
        return frames;
    }

    /// <summary>
    /// Keeps a copy of the frame until the neighbour answers. Returns whether this is the first frame
    /// waiting for it (the caller asks for the address then), or null when no more may wait (the caller drops it).
    /// </summary>
    public bool? Hold(int port, UInt128 address, ReadOnlySpan<byte> frame)
    {
        if (_gate is null)
        {
            return HoldLocked(port, address, frame);
        }

        lock (_gate)
        {
            return HoldLocked(port, address, frame);
        }
    }

    private bool? HoldLocked(int port, UInt128 address, ReadOnlySpan<byte> frame)
    {
        if (_waitingFrames >= MaxWaiting)
        {
            return null;
        }

        var key = new NeighborKey(port, address);
        var first = !_waiting.TryGetValue(key, out var frames);
        if (first)
        {
            _waiting[key] = frames = [];
        }
        else if (frames!.Count >= MaxWaitingPerNeighbor)
        {
            return null;
        }

        frames!.Add(frame.ToArray());
        _waitingFrames++;
        return first;
    }
}

/// <summary>A neighbour: the port it is on and its address (IPv4 in the low 32 bits).</summary>
internal readonly record struct NeighborKey(int Port, UInt128 Address)
{
    public bool Equals(NeighborKey other) => Port == other.Port && Address == other.Address;

    public override int GetHashCode()
    {
        var low = (ulong)Address;
        var high = (ulong)(Address >> 64);
        return (int)((low ^ (high * 0x9E37_79B9_7F4A_7C15) ^ ((ulong)(uint)Port << 40)) * 0xBF58_476D_1CE4_E5B9 >> 32);
    }
}
