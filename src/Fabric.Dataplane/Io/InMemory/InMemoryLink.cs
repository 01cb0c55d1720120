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
    private FanoutMember[]? _members;
    public string Name { get; } = name;

    public MacAddress Mac { get; } = mac;

    public int Mtu { get; } = mtu;

    internal void Connect(Action<byte[]> send) => _send = send;

    internal void Deliver(byte[] frame)
    {
        if (_members is { } members)
        {
            members[FanoutHash.Of(frame) % (uint)members.Length].Deliver(frame);
            return;
        }

        _inbox.Enqueue(frame);
    }

    /// <summary>
    /// Splits what this port receives among <paramref name="members"/> ports, one per worker of a router, as the kernel's
    /// <c>PACKET_FANOUT_HASH</c> spreads a device's frames over the AF_PACKET sockets of a fanout group: by a hash that is
    /// the same for both directions of one 5-tuple (<see cref="FanoutHash"/>); frames that are not IP go to the first.
    /// Each member sends through this port. Call before frames arrive; the port itself then receives nothing.
    /// </summary>
    public IPacketPort[] Fanout(int members)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(members, 1);
        var created = new FanoutMember[members];
        for (var i = 0; i < members; i++)
        {
            created[i] = new FanoutMember(this);
        }

        _members = created;
        return created;
    }

    public int Receive(PacketBatch batch) => FanoutMember.Drain(_inbox, batch);

    public bool Send(ReadOnlySpan<byte> frame)
    {
        _send(frame.ToArray());
        return true;
    }

    /// <summary>Takes the next frame that arrived at this end, for tests that act as the far side.</summary>
    public bool TryTake(out byte[] frame) => _inbox.TryDequeue(out frame!);
}

/// <summary>One worker's share of a fanned-out <see cref="InMemoryPort"/>: it receives its part and sends through the port. Thread-safe.</summary>
internal sealed class FanoutMember(InMemoryPort port) : IPacketPort
{
    private readonly ConcurrentQueue<byte[]> _inbox = new();

    public string Name => port.Name;

    public MacAddress Mac => port.Mac;

    public int Mtu => port.Mtu;

    internal void Deliver(byte[] frame) => _inbox.Enqueue(frame);

    /// <summary>Moves queued frames into <paramref name="batch"/> until it is full or the queue is empty; returns how many.</summary>
    internal static int Drain(ConcurrentQueue<byte[]> inbox, PacketBatch batch)
    {
        var added = 0;
        while (batch.Count < batch.Capacity && inbox.TryDequeue(out var frame))
        {
            var buffer = batch.Append()!;
            frame.CopyTo(buffer.Data, 0);
            buffer.Length = frame.Length;
            added++;
        }

        return added;
    }

    public int Receive(PacketBatch batch) => FanoutMember.Drain(_inbox, batch);

    public bool Send(ReadOnlySpan<byte> frame) => port.Send(frame);
}

/// <summary>
/// A flow hash that is the same for both directions of a 5-tuple (addresses and ports added, not ordered), as the
/// kernel's symmetric flow hash that <c>PACKET_FANOUT_HASH</c> uses; 0 for frames that are not IPv4 or IPv6.
/// </summary>
public static class FanoutHash
{
    public static uint Of(ReadOnlySpan<byte> frame)
    {
        if (frame.Length < 14)
        {
            return 0;
        }

        var etherType = (frame[12] << 8) | frame[13];
        ulong addresses;
        int protocol;
        int transportAt;
        if (etherType == 0x0800 && frame.Length >= 34)
        {
            addresses = (ulong)System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(frame[26..])
                + System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(frame[30..]);
            protocol = frame[23];
            transportAt = 14 + ((frame[14] & 0xF) * 4);
        }
        else if (etherType == 0x86DD && frame.Length >= 54)
        {
            addresses = 0;
            for (var at = 22; at < 54; at += 8)
            {
                addresses += System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(frame[at..]);
            }

            protocol = frame[20];
            transportAt = 54;
        }
        else
        {
            return 0;
        }

        ulong ports = 0;
        if (protocol is 6 or 17 && frame.Length >= transportAt + 4)
        {
            ports = (ulong)System.Buffers.Binary.BinaryPrimitives.ReadUInt16BigEndian(frame[transportAt..])
                + System.Buffers.Binary.BinaryPrimitives.ReadUInt16BigEndian(frame[(transportAt + 2)..]);
        }

        var hash = (addresses * 0x9E37_79B9_7F4A_7C15) ^ ((ports << 8 | (uint)protocol) * 0xBF58_476D_1CE4_E5B9);
        return (uint)(hash >> 32);
    }
}
