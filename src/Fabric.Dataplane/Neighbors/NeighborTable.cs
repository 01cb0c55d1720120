using Fabric.Dataplane.Wire;

namespace Fabric.Dataplane.Neighbors;

/// <summary>
/// Link-layer addresses of the hosts next to the router, per port, learned from ARP, neighbour
/// discovery and the frames hosts send. Frames for a neighbour not yet known wait for its address
/// (up to <see cref="MaxWaitingPerNeighbor"/>, as Linux queues unresolved packets), so the first
/// packets of flows are not lost to resolution. Bounded; one writer (the worker).
/// Not thread-safe.
/// </summary>
public sealed class NeighborTable(int capacity = 65_536)
{
    /// <summary>Frames that may wait for one unresolved neighbour (tunable).</summary>
    public const int MaxWaitingPerNeighbor = 64;

    /// <summary>Frames that may wait for all unresolved neighbours together (tunable).</summary>
    public const int MaxWaiting = 4096;

    private readonly Dictionary<(int Port, UInt128 Address), MacAddress> _known = new(capacity);
    private readonly Dictionary<(int Port, UInt128 Address), List<byte[]>> _waiting = [];
    private int _waitingFrames;

    public int Count => _known.Count;

    public bool TryGet(int port, UInt128 address, out MacAddress mac) => _known.TryGetValue((port, address), out mac);

    /// <summary>Records where <paramref name="address"/> is; returns the frames that were waiting for it, if any.</summary>
    public List<byte[]>? Learn(int port, UInt128 address, MacAddress mac)
    {
        if (mac.IsMulticast || mac == MacAddress.Zero)
        {
            return null;
        }

        if (_known.Count < capacity || _known.ContainsKey((port, address)))
        {
            _known[(port, address)] = mac;
        }

        if (!_waiting.Remove((port, address), out var frames))
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
        if (_waitingFrames >= MaxWaiting)
        {
            return null;
        }

        var first = !_waiting.TryGetValue((port, address), out var frames);
        if (first)
        {
            _waiting[(port, address)] = frames = [];
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
