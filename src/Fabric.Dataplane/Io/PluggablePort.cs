using Fabric.Dataplane.Wire;

namespace Fabric.Dataplane.Io;

/// <summary>
/// A port whose device is plugged in and taken out while the router runs (a container the CNI plugin attaches): the
/// router reserves a few at start, since a worker's ports are fixed for its life. Unplugged it has no name, receives
/// nothing and sends nothing (the frame is dropped as a port that cannot take it). The snapshot binds it by the name of
/// the device plugged in when it is compiled. Thread-safety: <see cref="Plug"/> and <see cref="Unplug"/> may be called from
/// any thread while the worker uses the port; the caller of <see cref="Unplug"/> disposes the device's port only after
/// every worker has finished the round it was in (<see cref="Routing.ForwardingEngine.PassAllWorkersAsync"/>).
/// </summary>
public sealed class PluggablePort : IPacketPort
{
    private IPacketPort? _plugged;

    /// <summary>The device's port plugged in, or null.</summary>
    public IPacketPort? Plugged => Volatile.Read(ref _plugged);

    /// <summary>The plugged device's name; empty while unplugged (no configuration names a device so).</summary>
    public string Name => Plugged?.Name ?? "";

    public MacAddress Mac => Plugged?.Mac ?? MacAddress.Zero;

    public int Mtu => Plugged?.Mtu ?? 1500;

    public bool AcceptsSuperPackets => Plugged?.AcceptsSuperPackets ?? false;

    /// <summary>Plugs <paramref name="port"/> in; throws when a device is plugged already.</summary>
    public void Plug(IPacketPort port)
    {
        ArgumentNullException.ThrowIfNull(port);
        if (Interlocked.CompareExchange(ref _plugged, port, null) is not null)
        {
            throw new InvalidOperationException($"the port already holds device {Name}");
        }
    }

    /// <summary>Takes the device's port out and returns it (null when none was plugged); the caller disposes it once the workers passed.</summary>
    public IPacketPort? Unplug() => Interlocked.Exchange(ref _plugged, null);

    public int Receive(PacketBatch batch) => Plugged is { } port ? port.Receive(batch) : 0;

    public bool Send(ReadOnlySpan<byte> frame) => Plugged is { } port && port.Send(frame);

    public bool SendSuperPacket(ReadOnlySpan<byte> frame, in SegmentationOffload offload) => Plugged is { } port && port.SendSuperPacket(frame, offload);

    public bool Enqueue(ReadOnlySpan<byte> frame, in SegmentationOffload offload) => Plugged is { } port && port.Enqueue(frame, offload);

    public int Flush() => Plugged is { } port ? port.Flush() : 0;
}
