using Fabric.Dataplane.Io;
using Fabric.Dataplane.Wire;

namespace Fabric.Tests.Dataplane.Svr.Routers;

/// <summary>
/// A port decorator on a router's WAN side: it keeps a copy of every frame the router receives there (what
/// crossed the wire) and lets a test rewrite or drop frames before the router sees them.
/// </summary>
public sealed class WirePort(IPacketPort inner) : IPacketPort
{
    public string Name => inner.Name;

    public MacAddress Mac => inner.Mac;

    public int Mtu => inner.Mtu;

    /// <summary>Frames the router received on this port, in order, as they arrived.</summary>
    public List<byte[]> Received { get; } = [];

    /// <summary>Applied to each arriving frame before it is recorded; false drops it.</summary>
    public Func<byte[], bool>? Tamper { get; set; }

    public int Receive(PacketBatch batch)
    {
        var before = batch.Count;
        inner.Receive(batch);
        var kept = before;
        for (var i = before; i < batch.Count; i++)
        {
            var buffer = batch[i];
            var frame = buffer.Data.AsSpan(0, buffer.Length).ToArray();
            if (Tamper is { } tamper && !tamper(frame))
            {
                continue;
            }

            Received.Add(frame);
            var target = batch[kept++];
            frame.CopyTo(target.Data, 0);
            target.Length = frame.Length;
        }

        batch.Count = kept;
        return kept - before;
    }

    public bool Send(ReadOnlySpan<byte> frame) => inner.Send(frame);
}
