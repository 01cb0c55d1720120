using Fabric.Dataplane.Wire;

namespace Fabric.Dataplane.Neighbors;

/// <summary>
/// Link-layer addresses of the hosts next to the router, per port, learned from ARP, neighbour
/// discovery and the frames hosts send. A neighbour not yet known may hold one frame that waits for
/// its address (the first packet of a flow is not lost to resolution). Bounded; one writer (the worker).
/// Not thread-safe.
/// </summary>
public sealed class NeighborTable(int capacity = 65_536)
{
    private readonly Dictionary<(int Port, UInt128 Address), MacAddress> _known = new(capacity);
    private readonly Dictionary<(int Port, UInt128 Address), byte[]> _waiting = [];

    public int Count => _known.Count;

    public bool TryGet(int port, UInt128 address, out MacAddress mac) => _known.TryGetValue((port, address), out mac);

    /// <summary>Records where <paramref name="address"/> is; returns a frame that was waiting for it, if any.</summary>
    public byte[]? Learn(int port, UInt128 address, MacAddress mac)
    {
        if (mac.IsMulticast || mac == MacAddress.Zero)
        {
            return null;
        }

        if (_known.Count < capacity || _known.ContainsKey((port, address)))
        {
            _known[(port, address)] = mac;
        }

        return _waiting.Remove((port, address), out var frame) ? frame : null;
    }

    /// <summary>Keeps a copy of the frame until the neighbour answers; false when one already waits (the caller drops this one).</summary>
    public bool Hold(int port, UInt128 address, ReadOnlySpan<byte> frame)
    {
        if (_waiting.ContainsKey((port, address)) || _waiting.Count >= 1024)
        {
            return false;
        }

        _waiting[(port, address)] = frame.ToArray();
        return true;
    }
}
