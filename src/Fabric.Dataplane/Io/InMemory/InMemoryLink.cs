using System.Collections.Concurrent;
using Fabric.Dataplane.Wire;

namespace Fabric.Dataplane.Io.InMemory;

/// <summary>
/// A point-to-point link with a port at each end: what one end sends, the other receives, in order.
/// A test double for a veth pair. Thread-safe: each end may be used from its own thread.
/// </summary>
public sealed class InMemoryLink
{
    public InMemoryLink(string nameA, MacAddress macA, string nameB, MacAddress macB, int mtu = 1500)
    {
        A = new InMemoryPort(nameA, macA, mtu);
        B = new InMemoryPort(nameB, macB, mtu);
        A.Connect(B.Deliver);
        B.Connect(A.Deliver);
    }

    public InMemoryPort A { get; }

    public InMemoryPort B { get; }
}

/// <summary>
/// A learning L2 bridge: a frame goes to the port whose MAC sent from it before, or to every other
/// port when the destination is broadcast, multicast or not yet learned. A test double for a Linux bridge.
/// Thread-safe.
/// </summary>
public sealed class InMemoryBridge
{
    private readonly List<InMemoryPort> _ports = [];
    private readonly ConcurrentDictionary<MacAddress, InMemoryPort> _learned = new();
    private readonly Lock _gate = new();

    public InMemoryPort Attach(string name, MacAddress mac, int mtu = 1500)
    {
        var port = new InMemoryPort(name, mac, mtu);
        port.Connect(frame => Forward(port, frame));
        lock (_gate)
        {
            _ports.Add(port);
        }

        return port;
    }

    private void Forward(InMemoryPort from, byte[] frame)
    {
        if (frame.Length < 12)
        {
            return;
        }

        var destination = MacAddress.Read(frame);
        _learned[MacAddress.Read(frame.AsSpan(6))] = from;
        if (!destination.IsMulticast && _learned.TryGetValue(destination, out var to))
        {
            if (to != from)
            {
                to.Deliver(frame);
            }

            return;
        }

        InMemoryPort[] ports;
        lock (_gate)
        {
            ports = [.. _ports];
        }

        foreach (var port in ports)
        {
            if (port != from)
            {
                port.Deliver(frame);
            }
        }
    }
}

/// <summary>One end of an <see cref="InMemoryLink"/> or one port of an <see cref="InMemoryBridge"/>. Thread-safe.</summary>
public sealed class InMemoryPort(string name, MacAddress mac, int mtu) : IPacketPort
{
    private readonly ConcurrentQueue<byte[]> _inbox = new();
    private Action<byte[]> _send = _ => { };
    public string Name { get; } = name;

    public MacAddress Mac { get; } = mac;

    public int Mtu { get; } = mtu;

    internal void Connect(Action<byte[]> send) => _send = send;

    internal void Deliver(byte[] frame) => _inbox.Enqueue(frame);

    public int Receive(PacketBatch batch)
    {
        var added = 0;
        while (batch.Count < batch.Capacity && _inbox.TryDequeue(out var frame))
        {
            var buffer = batch.Append()!;
            frame.CopyTo(buffer.Data, 0);
            buffer.Length = frame.Length;
            added++;
        }

        return added;
    }

    public bool Send(ReadOnlySpan<byte> frame)
    {
        _send(frame.ToArray());
        return true;
    }

    /// <summary>Takes the next frame that arrived at this end, for tests that act as the far side.</summary>
    public bool TryTake(out byte[] frame) => _inbox.TryDequeue(out frame!);
}
