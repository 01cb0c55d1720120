using Fabric.Dataplane.Io;
using Fabric.Dataplane.Wire;

namespace Fabric.Tests.Dataplane.Svr.Routers;

/// <summary>
/// A port decorator on a router's WAN side: it keeps a copy of every frame the router receives there (what
/// crossed the wire) and lets a test rewrite or drop frames before the router sees them.
/// </summary>
public sealed class WirePort(IPacketPort inner) : IPacketPort
{
    /// <summary>The port this one wraps.</summary>
    public IPacketPort Inner => inner;

    public string Name => inner.Name;

    public MacAddress Mac => inner.Mac;

    public int Mtu => inner.Mtu;

    /// <summary>Frames the router received on this port, in order, as they arrived.</summary>
    public List<byte[]> Received { get; } = [];

    /// <summary>Applied to each arriving frame before it is recorded; false drops it.</summary>
    public Func<byte[], bool>? Tamper { get; set; }

    /// <summary>
    /// A faulty link: given each arriving frame, the frames to deliver in its place (none: lost; two: duplicated;
    /// a changed copy: corrupted; a frame held back and given with a later one: reordered).
    /// </summary>
    public Func<byte[], IReadOnlyList<byte[]>>? Faults { get; set; }

    /// <summary>Frames to hand the router on its next receive, before what the link brings (frames a test held back).</summary>
    public Queue<byte[]> Later { get; } = new();

    public int Receive(PacketBatch batch)
    {
        var before = batch.Count;
        while (Later.Count > 0 && batch.Append() is { } held)
        {
            var frame = Later.Dequeue();
            Received.Add(frame);
            frame.CopyTo(held.Data, 0);
            held.Length = frame.Length;
        }

        var injected = batch.Count;
        inner.Receive(batch);
        var arrived = new List<byte[]>();
        for (var i = injected; i < batch.Count; i++)
        {
            arrived.Add(batch[i].Data.AsSpan(0, batch[i].Length).ToArray());
        }

        batch.Count = injected;
        foreach (var frame in arrived)
        {
            foreach (var delivered in Faults is { } faults ? faults(frame) : [frame])
            {
                if ((Tamper is { } tamper && !tamper(delivered)) || batch.Append() is not { } target)
                {
                    continue;
                }

                Received.Add(delivered);
                delivered.CopyTo(target.Data, 0);
                target.Length = delivered.Length;
            }
        }

        return batch.Count - before;
    }

    /// <summary>Thrown by the next <see cref="Send"/> instead of sending (then cleared): a bug on the transmit path.</summary>
    public Exception? ThrowOnNextSend { get; set; }

    /// <summary>
    /// While set, frames the router sends on this port are counted in <see cref="Swallowed"/> and go nowhere, so a test
    /// that counts the router's allocations counts none of the link's (an in-memory link copies each frame it carries).
    /// </summary>
    public bool Swallow { get; set; }

    /// <summary>Frames sent while <see cref="Swallow"/> was set.</summary>
    public int Swallowed { get; private set; }

    public bool Send(ReadOnlySpan<byte> frame)
    {
        if (ThrowOnNextSend is { } fault)
        {
            ThrowOnNextSend = null;
            throw fault;
        }

        if (Swallow)
        {
            Swallowed++;
            return true;
        }

        return inner.Send(frame);
    }
}
