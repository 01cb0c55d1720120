using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Fabric.Dataplane.Io.Linux;
using Fabric.Dataplane.Wire;
using Tmds.Linux;
using static Tmds.Linux.LibC;

namespace Fabric.Bench;

/// <summary>
/// The small-packet load of <c>fabric bench lab</c>: one ready-made Ethernet frame (a UDP datagram whose IPv4 and UDP
/// checksums are computed once) sent over and over through a PACKET_TX_RING (TPACKET_V2) of an AF_PACKET socket bound
/// to one interface, the queueing discipline bypassed (PACKET_QDISC_BYPASS). Every slot of the ring holds the frame from
/// the start, so queueing a frame is one status store, and one send(2) per batch hands the queued slots to the kernel,
/// which wraps each in a buffer and gives it straight to the device: no UDP or IP output, no route or neighbour lookup,
/// no qdisc per frame (what an ordinary UDP socket spends most of its time on, docs/benchmarks.md). A frame the device
/// drops stays queued and goes again with the next batch, so what <see cref="Blast"/> counts is what the device took.
/// Not thread-safe: one thread sends; dispose once it has stopped.
/// </summary>
/// <remarks>
/// The kernel hands a slot back (TP_STATUS_AVAILABLE) when its buffer is freed, while a clone another socket holds may
/// still read the slot's bytes; the frame never changes, so that is harmless here and would not be with varying frames.
/// Opening needs CAP_NET_RAW.
/// </remarks>
public sealed unsafe class PacketRingSender : IDisposable
{
    /// <summary>Bytes per slot: the tpacket2_hdr and a small frame, dividing a page (tunable).</summary>
    public const int SlotBytes = 256;

    /// <summary>
    /// Slots in the ring (4 MiB): more than the frames a receiving socket's 8 MiB buffer holds, since a slot stays taken
    /// until the last owner of its buffer frees it (on kernel forwarding, the receiving socket) (tunable).
    /// </summary>
    public const int Slots = 16384;

    /// <summary>Slots queued before one send(2) hands them to the kernel (tunable).</summary>
    public const int Batch = 256;

    /// <summary>The largest frame a slot carries.</summary>
    public const int MaxFrameBytes = SlotBytes - TpacketV2.FrameOffset;

    /// <summary>The ring is mapped in blocks of one page.</summary>
    private const int BlockBytes = 4096;

    private readonly Socket _socket;
    private byte* _ring;
    private int _next;

    private PacketRingSender(Socket socket, byte* ring)
    {
        _socket = socket;
        _ring = ring;
    }

    ~PacketRingSender() => Unmap();

    /// <summary>send(2) calls on which the device refused a frame (it stays queued and goes again with the next call).</summary>
    public long Refusals { get; private set; }

    /// <summary>
    /// Takes <paramref name="packetSocket"/> (AF_PACKET, SOCK_RAW, protocol 0, so it receives nothing; made in the
    /// interface's namespace; disposed on failure), sets up its transmit ring with <paramref name="frame"/> in every slot, and binds it to
    /// interface <paramref name="interfaceIndex"/>. Throws <see cref="SocketException"/> when the kernel refuses a step.
    /// </summary>
    public static PacketRingSender Open(Socket packetSocket, int interfaceIndex, ReadOnlySpan<byte> frame)
    {
        ArgumentNullException.ThrowIfNull(packetSocket);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(frame.Length, MaxFrameBytes, nameof(frame));
        try
        {
            return Map(packetSocket, interfaceIndex, frame);
        }
        catch
        {
            packetSocket.Dispose();
            throw;
        }
    }

    private static PacketRingSender Map(Socket packetSocket, int interfaceIndex, ReadOnlySpan<byte> frame)
    {
        var fd = (int)packetSocket.Handle;
        var version = Tpacket.TPACKET_V2;
        Check(setsockopt(fd, SOL_PACKET, Tpacket.PACKET_VERSION, &version, sizeof(int)), "choosing TPACKET_V2");
        var bypass = 1;
        Check(setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &bypass, sizeof(int)), "bypassing the qdisc");
        var request = new RingRequest { BlockSize = BlockBytes, BlockCount = Slots * SlotBytes / BlockBytes, FrameSize = SlotBytes, FrameCount = Slots };
        Check(setsockopt(fd, SOL_PACKET, Tpacket.PACKET_TX_RING, &request, RingRequest.Tpacket2Length), "setting up a transmit ring");
        var mapped = mmap(null, Slots * SlotBytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (mapped == (void*)-1)
        {
            Check(-1, "mapping the transmit ring");
        }

        var sender = new PacketRingSender(packetSocket, (byte*)mapped);
        for (var slot = 0; slot < Slots; slot++)
        {
            var header = sender.Slot(slot);
            frame.CopyTo(new Span<byte>(header + TpacketV2.FrameOffset, MaxFrameBytes));
            *(uint*)(header + TpacketV2.Length) = (uint)frame.Length;
        }

        sockaddr_ll address = default;
        address.sll_family = (ushort)(int)AF_PACKET;
        address.sll_ifindex = interfaceIndex;
        if (bind(fd, (sockaddr*)&address, (uint)sizeof(sockaddr_ll)) != 0)
        {
            var error = errno;
            sender.Unmap();
            throw new SocketException(error, $"binding an AF_PACKET transmit ring to interface {interfaceIndex}: errno {error}");
        }

        return sender;
    }

    /// <summary>
    /// Ethernet, IPv4 and UDP headers with their checksums and <paramref name="payloadBytes"/> zero bytes: the datagram a
    /// UDP socket bound to <paramref name="from"/> would send to <paramref name="to"/> (TTL 64, don't-fragment, id 0).
    /// </summary>
    public static byte[] UdpFrame(MacAddress source, MacAddress destination, IPEndPoint from, IPEndPoint to, int payloadBytes)
    {
        ArgumentNullException.ThrowIfNull(from);
        ArgumentNullException.ThrowIfNull(to);
        var udpLength = UdpDatagram.HeaderLength + payloadBytes;
        var ipLength = Ipv4Packet.MinHeaderLength + udpLength;
        var frame = new byte[EthernetFrame.UntaggedHeaderLength + ipLength];
        var at = new EthernetHeader(destination, source, EtherType.Ipv4).Emit(frame);
        new Ipv4Header(0, 0, (ushort)ipLength, 0, true, false, 0, 64, IpProtocol.Udp, 0, from.Address, to.Address).Emit(frame.AsSpan(at));
        new UdpHeader((ushort)from.Port, (ushort)to.Port, (ushort)udpLength, 0).Emit(frame.AsSpan(at + Ipv4Packet.MinHeaderLength));
        var packet = Ipv4Packet.FromValidated(frame.AsSpan(at));
        packet.UpdateHeaderChecksum();
        UdpDatagram.FromValidated(packet.Payload).UpdateChecksum(packet.PseudoHeaderSum());
        return frame;
    }

    /// <summary>
    /// Sends the frame as fast as the device takes it until <paramref name="duration"/> passes; returns how many frames
    /// the device took (the offered load). Frames still queued at the deadline are not counted.
    /// </summary>
    public long Blast(TimeSpan duration)
    {
        ObjectDisposedException.ThrowIf(_ring == null, this);
        var fd = (int)_socket.Handle;
        var end = Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        long queued = 0;
        while (Stopwatch.GetTimestamp() < end)
        {
            // Queue up to a batch of the slots the kernel has handed back, in ring order, then hand them over.
            for (var i = 0; i < Batch && IsFree(Status(_next)); i++)
            {
                Volatile.Write(ref *(uint*)Slot(_next), TpacketV2.TP_STATUS_SEND_REQUEST);
                _next = (_next + 1) % Slots;
                queued++;
            }

            if (send(fd, null, 0, MSG_DONTWAIT) < 0 && errno == ENOBUFS)
            {
                Refusals++;
            }
        }

        // A slot still waiting for send(2) never left; one the kernel is sending has.
        for (var slot = 0; slot < Slots; slot++)
        {
            if ((Status(slot) & (TpacketV2.TP_STATUS_SEND_REQUEST | TpacketV2.TP_STATUS_WRONG_FORMAT)) != 0)
            {
                queued--;
            }
        }

        return queued;
    }

    public void Dispose()
    {
        Unmap();
        _socket.Dispose();
        GC.SuppressFinalize(this);
    }

    /// <summary>Free for a new frame: neither queued, nor being sent, nor refused as malformed (timestamp bits aside).</summary>
    private static bool IsFree(uint status) =>
        (status & (TpacketV2.TP_STATUS_SEND_REQUEST | TpacketV2.TP_STATUS_SENDING | TpacketV2.TP_STATUS_WRONG_FORMAT)) == TpacketV2.TP_STATUS_AVAILABLE;

    private byte* Slot(int slot) => _ring + ((long)slot * SlotBytes);

    private uint Status(int slot) => Volatile.Read(ref *(uint*)Slot(slot));

    private static void Check(int result, string what)
    {
        if (result != 0)
        {
            var error = errno;
            throw new SocketException(error, $"{what} on an AF_PACKET socket: errno {error}");
        }
    }

    private void Unmap()
    {
        if (_ring != null)
        {
            _ = munmap(_ring, Slots * SlotBytes);
            _ring = null;
        }
    }
}
