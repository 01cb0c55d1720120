using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using Fabric.Dataplane.Wire;
using Fabric.Model;
using Tmds.Linux;
using static Tmds.Linux.LibC;

namespace Fabric.Dataplane.Io.Linux;

/// <summary>
/// A forwarding interface on a Linux device through an AF_PACKET raw socket bound to it.
/// Receive takes a whole batch with one recvmmsg(2) straight into the batch's buffers, which the port
/// pins the first time it sees the batch (the worker passes the same batch every round), or, opened with
/// <see cref="PacketIo.Ring"/>, copies the frames of retired blocks out of a TPACKET_V3 ring without a system
/// call (AfPacketPort.Ring.cs); Send is one
/// sendto(2) per frame, or, for frames the worker queues with <see cref="Enqueue"/>, one sendmmsg(2) per
/// <see cref="Flush"/>, with the qdisc bypassed where the kernel allows. The socket is non-blocking:
/// Receive returns 0 when nothing waits and never sleeps; <see cref="WaitAny"/> sleeps until a port
/// has frames. Frames the port sent itself are not received back (PACKET_IGNORE_OUTGOING, and
/// sll_pkttype as a fallback on kernels before 4.20). With PACKET_VNET_HDR (<see cref="AcceptsSuperPackets"/>)
/// every frame carries a virtio_net_hdr: super-packets (GSO) arrive whole with their segment size and
/// leave whole through <see cref="SendSuperPacket"/>, and the device (or the kernel's software GSO when
/// the device cannot) cuts them. Transport checksums a local sender left partial on an ordinary frame
/// (checksum offload) are completed before the pipeline sees the frame.
/// Nothing allocates per packet.
/// </summary>
/// <remarks>
/// Not thread-safe: one worker thread drives a port; <see cref="Dispose"/> once that worker has stopped.
/// Opening needs CAP_NET_RAW (the socket) and CAP_NET_ADMIN (bringing the device up when it is down).
/// Frames larger than a batch buffer are dropped and counted in <see cref="Truncated"/>; super-packets of
/// a kind Fabric does not cut (UDP fragmentation offload) in <see cref="UnsupportedOffloads"/>.
/// </remarks>
public sealed unsafe partial class AfPacketPort : IPacketPort, IDisposable
{
    /// <summary>
    /// The socket's receive and send buffers. A super-packet takes up to 64 KiB of the kernel's buffer, so the
    /// default (about 200 KiB) holds only three and the kernel drops frames whenever the worker falls behind
    /// for a moment; 8 MiB holds a batch of super-packets with room to spare.
    /// </summary>
    private const int SocketBufferBytes = 8 << 20;

    /// <summary>Room per message for the PACKET_AUXDATA control message: CMSG_SPACE(20) is 40 on 64-bit Linux.</summary>
    private const int ControlSpace = 64;

    /// <summary>Frames <see cref="Enqueue"/> holds before it flushes by itself (tunable: two receive batches).</summary>
    public const int TransmitQueueLength = 128;

    private int _fd;
    private PacketBatch? _bound;
    private GCHandle[] _pins = [];
    private mmsghdr* _messages;
    private iovec* _vectors;
    private sockaddr_ll* _addresses;
    private byte* _control;
    private VirtioNetHeader* _receivedHeaders;
    private VirtioNetHeader* _sendHeader;
    private iovec* _sendVectors;
    private msghdr* _sendMessage;
    private mmsghdr* _queuedMessages;
    private iovec* _queuedVectors;
    private VirtioNetHeader* _queuedHeaders;
    private int _queued;

    private AfPacketPort(string name, int fd, int index, MacAddress mac, int mtu)
    {
        Name = name;
        _fd = fd;
        InterfaceIndex = index;
        Mac = mac;
        Mtu = mtu;
    }

    ~AfPacketPort() => Release();

    public string Name { get; }

    public MacAddress Mac { get; }

    public int Mtu { get; }

    /// <summary>The kernel's index of the device.</summary>
    public int InterfaceIndex { get; }

    /// <summary>The socket's file descriptor, for callers that poll several ports.</summary>
    public int FileDescriptor => _fd;

    /// <summary>Whether the kernel took PACKET_QDISC_BYPASS (transmit skips the device's queueing discipline).</summary>
    public bool QdiscBypass { get; private set; }

    /// <summary>Whether the socket exchanges virtio_net_hdr with every frame (PACKET_VNET_HDR): super-packets in and out.</summary>
    public bool AcceptsSuperPackets { get; private set; }

    /// <summary>Super-packets received (each stands for several TCP segments or UDP datagrams).</summary>
    public long SuperPacketsReceived { get; private set; }

    /// <summary>Super-packets sent whole for the device to cut.</summary>
    public long SuperPacketsSent { get; private set; }

    /// <summary>Super-packets of a kind Fabric does not cut (legacy UDP fragmentation offload), dropped.</summary>
    public long UnsupportedOffloads { get; private set; }

    /// <summary>Frames the kernel dropped because the socket's receive buffer was full (PACKET_STATISTICS), read by <see cref="ReadKernelDrops"/>.</summary>
    public long KernelDrops { get; private set; }

    /// <summary>Frames dropped because they did not fit a batch buffer.</summary>
    public long Truncated { get; private set; }

    /// <summary>Frames this port sent that the socket saw again and skipped.</summary>
    public long OwnFramesSkipped { get; private set; }

    /// <summary>Frames whose partial transport checksum (a local sender's offload) the port completed.</summary>
    public long ChecksumsCompleted { get; private set; }

    /// <summary>Failed recvmmsg calls other than "nothing waits".</summary>
    public long ReceiveErrors { get; private set; }

    /// <summary>Frames the kernel did not take (its buffer full, the device down, too large).</summary>
    public long SendErrors { get; private set; }

    /// <summary>sendmmsg calls made by <see cref="Flush"/>, and frames they sent: their ratio is the transmit batch size.</summary>
    public long Flushes { get; private set; }

    public long FramesFlushed { get; private set; }

    /// <summary>The errno of the last failed receive or send, 0 when none failed.</summary>
    public int LastErrno { get; private set; }

    /// <summary>
    /// Opens an AF_PACKET socket on <paramref name="device"/>, brings the device up, and reads its MAC and MTU.
    /// With <paramref name="fanoutGroup"/> the socket joins that PACKET_FANOUT group in hash mode (with defragmentation):
    /// the kernel spreads the device's frames over the group's sockets by a flow hash that is the same for both directions
    /// of a 5-tuple, in the order the sockets joined (one socket per worker, docs/dataplane.md "Workers").
    /// With <paramref name="io"/> <see cref="PacketIo.Ring"/> the socket receives through a TPACKET_V3 ring (AfPacketPort.Ring.cs).
    /// Throws <see cref="PacketPortException"/> naming the cause: missing privileges, no such interface, a group or a ring refused.
    /// </summary>
    public static AfPacketPort Open(string device, ushort? fanoutGroup = null, PacketIo io = PacketIo.Recvmmsg)
    {
        ArgumentException.ThrowIfNullOrEmpty(device);
        var nameBytes = Encoding.UTF8.GetByteCount(device);
        if (nameBytes >= LinuxConstants.IFNAMSIZ || device.Contains('\0', StringComparison.Ordinal))
        {
            throw new PacketPortException($"no interface named {device} (Linux interface names are at most 15 bytes)", (int)ENODEV);
        }

        var fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
        {
            var error = errno;
            throw error == EPERM || error == EACCES
                ? new PacketPortException($"AF_PACKET needs root or CAP_NET_RAW (opening a socket for {device}: {Describe(error)})", error)
                : new PacketPortException($"cannot open an AF_PACKET socket for {device}: {Describe(error)}", error);
        }

        try
        {
            var request = Request(device);
            Control(fd, SIOCGIFINDEX, ref request, device, "looking up");
            var index = request.Index;

            request = Request(device);
            Control(fd, SIOCGIFFLAGS, ref request, device, "reading the flags of");
            if ((request.Flags & LinuxConstants.IFF_UP) == 0)
            {
                request.Flags |= LinuxConstants.IFF_UP;
                Control(fd, SIOCSIFFLAGS, ref request, device, "bringing up");
            }

            request = Request(device);
            Control(fd, SIOCGIFHWADDR, ref request, device, "reading the MAC address of");
            var mac = MacAddress.Read(new ReadOnlySpan<byte>(request.HardwareAddress, MacAddress.Length));

            request = Request(device);
            Control(fd, SIOCGIFMTU, ref request, device, "reading the MTU of");
            var mtu = request.Mtu;

            var port = new AfPacketPort(device, fd, index, mac, mtu);
            fd = -1; // owned by the port from here
            port.Configure(io);
            if (fanoutGroup is { } group)
            {
                port.JoinFanout(group);
            }

            return port;
        }
        finally
        {
            if (fd >= 0)
            {
                _ = close(fd);
            }
        }
    }

    /// <summary>
    /// Sleeps until one of <paramref name="ports"/> has a frame waiting or <paramref name="timeoutMs"/> passes
    /// (−1: no limit). Returns true when a port is readable. An interrupted wait returns false.
    /// Thread-safe with respect to the ports (it only polls their descriptors).
    /// </summary>
    public static bool WaitAny(IReadOnlyList<AfPacketPort> ports, int timeoutMs)
    {
        ArgumentNullException.ThrowIfNull(ports);
        if (ports.Count > 1024)
        {
            throw new ArgumentException("at most 1024 ports can be waited on at once", nameof(ports));
        }

        var fds = stackalloc pollfd[ports.Count];
        for (var i = 0; i < ports.Count; i++)
        {
            fds[i].fd = ports[i]._fd;
            fds[i].events = POLLIN;
            fds[i].revents = 0;
        }

        return poll(fds, (uint)ports.Count, timeoutMs) > 0;
    }

    public int Receive(PacketBatch batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        ObjectDisposedException.ThrowIf(_fd < 0, this);
        var start = batch.Count;
        var room = batch.Capacity - start;
        if (room <= 0)
        {
            return 0;
        }

        if (_ring != null)
        {
            return ReceiveFromRing(batch);
        }

        if (!ReferenceEquals(batch, _bound))
        {
            Bind(batch);
        }

        for (var i = start; i < batch.Capacity; i++)
        {
            var header = (msghdr*)&_messages[i];
            header->msg_namelen = (uint)sizeof(sockaddr_ll);
            header->msg_controllen = ControlSpace;
            header->msg_flags = 0;
        }

        var received = LinuxNative.recvmmsg(_fd, &_messages[start], (uint)room, MSG_DONTWAIT, null);
        if (received <= 0)
        {
            var error = received < 0 ? Marshal.GetLastPInvokeError() : 0;
            if (error != 0 && error != EAGAIN && error != EWOULDBLOCK && error != EINTR)
            {
                ReceiveErrors++;
                LastErrno = error;
            }

            return 0;
        }

        var added = 0;
        for (var i = start; i < start + received; i++)
        {
            var header = (msghdr*)&_messages[i];
            if (_addresses[i].sll_pkttype == PACKET_OUTGOING)
            {
                OwnFramesSkipped++;
                continue;
            }

            if ((header->msg_flags & MSG_TRUNC) != 0)
            {
                Truncated++;
                continue;
            }

            var length = (int)_messages[i].msg_len;
            SegmentationOffload offload = default;
            var partial = (StatusOf(header) & LinuxConstants.TP_STATUS_CSUMNOTREADY) != 0;
            if (AcceptsSuperPackets)
            {
                length -= VirtioNetHeader.Size;
                if (length < 0 || !TryReadOffload(in _receivedHeaders[i], out offload))
                {
                    UnsupportedOffloads++;
                    continue;
                }

                partial |= offload.ChecksumPartial;
            }

            var buffer = batch.Append()!;
            if (buffer != batch[i])
            {
                // An earlier frame of this call was skipped: close the gap so the batch stays dense.
                batch[i].Data.AsSpan(0, length).CopyTo(buffer.Data);
            }

            Deliver(buffer, length, partial, offload);
            added++;
        }

        return added;
    }

    /// <summary>Finishes a received frame in <paramref name="buffer"/>: its length, its offload, its checksum completed unless it is a super-packet.</summary>
    private void Deliver(PacketBuffer buffer, int length, bool partial, in SegmentationOffload offload)
    {
        buffer.Length = length;
        if (offload.IsSuperPacket)
        {
            // Its checksum stays partial: the worker cuts it (summing each packet) or sends it on partial.
            buffer.Offload = offload;
            SuperPacketsReceived++;
        }
        else if (partial && PartialChecksum.Complete(buffer.Frame))
        {
            ChecksumsCompleted++;
        }
    }

    public bool Send(ReadOnlySpan<byte> frame)
    {
        ObjectDisposedException.ThrowIf(_fd < 0, this);
        if (_queued > 0)
        {
            Flush();
        }

        if (AcceptsSuperPackets)
        {
            *_sendHeader = default;
            return SendWithHeader(frame);
        }

        fixed (byte* data = frame)
        {
            var sent = sendto(_fd, data, frame.Length, MSG_DONTWAIT, null, 0);
            if (sent == frame.Length)
            {
                return true;
            }

            SendErrors++;
            LastErrno = sent < 0 ? errno : 0;
            return false;
        }
    }

    /// <summary>
    /// Sends a super-packet (or a frame with a partial checksum) whole with its virtio_net_hdr: the device cuts
    /// it into packets of <see cref="SegmentationOffload.SegmentSize"/> and completes the checksums (the kernel
    /// does it in software when the device cannot). False when the port has no PACKET_VNET_HDR or the kernel refused.
    /// </summary>
    public bool SendSuperPacket(ReadOnlySpan<byte> frame, in SegmentationOffload offload)
    {
        ObjectDisposedException.ThrowIf(_fd < 0, this);
        if (!AcceptsSuperPackets)
        {
            return false;
        }

        if (_queued > 0)
        {
            Flush();
        }

        WriteHeader(_sendHeader, offload);
        if (!SendWithHeader(frame))
        {
            return false;
        }

        if (offload.IsSuperPacket)
        {
            SuperPacketsSent++;
        }

        return true;
    }

    /// <summary>
    /// Queues the frame for <see cref="Flush"/> (which runs by itself when <see cref="TransmitQueueLength"/> frames
    /// wait). The frame must stay pinned and unchanged until then, as <see cref="IPacketPort.Enqueue"/> says: the
    /// queue holds its address, not a copy. A super-packet on a port without PACKET_VNET_HDR is refused.
    /// </summary>
    public bool Enqueue(ReadOnlySpan<byte> frame, in SegmentationOffload offload)
    {
        ObjectDisposedException.ThrowIf(_fd < 0, this);
        if (!AcceptsSuperPackets && (offload.IsSuperPacket || offload.ChecksumPartial))
        {
            return false;
        }

        if (_queued == TransmitQueueLength)
        {
            Flush();
        }

        var i = _queued++;
        var vector = &_queuedVectors[i * 2];
        var header = (msghdr*)&_queuedMessages[i];
        header->msg_iov = vector;
        if (AcceptsSuperPackets)
        {
            WriteHeader(&_queuedHeaders[i], offload);
            vector->iov_base = &_queuedHeaders[i];
            vector->iov_len = VirtioNetHeader.Size;
            vector++;
            header->msg_iovlen = 2;
        }
        else
        {
            header->msg_iovlen = 1;
        }

        vector->iov_base = Unsafe.AsPointer(ref MemoryMarshal.GetReference(frame));
        vector->iov_len = frame.Length;
        if (offload.IsSuperPacket)
        {
            SuperPacketsSent++;
        }

        return true;
    }

    /// <summary>Sends the queued frames with as few sendmmsg(2) calls as the kernel allows; returns how many it refused (counted in <see cref="SendErrors"/>).</summary>
    public int Flush()
    {
        if (_queued == 0 || _fd < 0)
        {
            return 0;
        }

        var sent = 0;
        while (sent < _queued)
        {
            var result = LinuxNative.sendmmsg(_fd, &_queuedMessages[sent], (uint)(_queued - sent), MSG_DONTWAIT);
            Flushes++;
            if (result <= 0)
            {
                LastErrno = result < 0 ? Marshal.GetLastPInvokeError() : 0;
                if (LastErrno == EINTR)
                {
                    continue;
                }

                break;
            }

            sent += result;
        }

        FramesFlushed += sent;
        var refused = _queued - sent;
        SendErrors += refused;
        _queued = 0;
        return refused;
    }

    private static void WriteHeader(VirtioNetHeader* header, in SegmentationOffload offload)
    {
        header->Flags = offload.ChecksumPartial ? LinuxConstants.VIRTIO_NET_HDR_F_NEEDS_CSUM : (byte)0;
        header->GsoType = offload.Kind switch
        {
            SuperPacketKind.TcpV4 => LinuxConstants.VIRTIO_NET_HDR_GSO_TCPV4,
            SuperPacketKind.TcpV6 => LinuxConstants.VIRTIO_NET_HDR_GSO_TCPV6,
            SuperPacketKind.UdpL4 => LinuxConstants.VIRTIO_NET_HDR_GSO_UDP_L4,
            _ => LinuxConstants.VIRTIO_NET_HDR_GSO_NONE,
        };
        if (offload.Ecn && offload.Kind is SuperPacketKind.TcpV4 or SuperPacketKind.TcpV6)
        {
            header->GsoType |= LinuxConstants.VIRTIO_NET_HDR_GSO_ECN;
        }

        header->HeaderLength = offload.HeaderLength;
        header->GsoSize = offload.IsSuperPacket ? offload.SegmentSize : (ushort)0;
        header->ChecksumStart = offload.ChecksumStart;
        header->ChecksumOffset = offload.ChecksumOffset;
    }

    private bool SendWithHeader(ReadOnlySpan<byte> frame)
    {
        fixed (byte* data = frame)
        {
            _sendVectors[1].iov_base = data;
            _sendVectors[1].iov_len = frame.Length;
            var sent = sendmsg(_fd, _sendMessage, MSG_DONTWAIT);
            _sendVectors[1].iov_base = null;
            if (sent == frame.Length + VirtioNetHeader.Size)
            {
                return true;
            }

            SendErrors++;
            LastErrno = sent < 0 ? errno : 0;
            return false;
        }
    }

    /// <summary>Reads a received virtio_net_hdr; false for a GSO kind Fabric does not cut.</summary>
    private static bool TryReadOffload(in VirtioNetHeader header, out SegmentationOffload offload)
    {
        offload = default;
        offload.ChecksumPartial = (header.Flags & LinuxConstants.VIRTIO_NET_HDR_F_NEEDS_CSUM) != 0;
        offload.ChecksumStart = header.ChecksumStart;
        offload.ChecksumOffset = header.ChecksumOffset;
        offload.HeaderLength = header.HeaderLength;
        offload.Ecn = (header.GsoType & LinuxConstants.VIRTIO_NET_HDR_GSO_ECN) != 0;
        switch (header.GsoType & ~LinuxConstants.VIRTIO_NET_HDR_GSO_ECN)
        {
            case LinuxConstants.VIRTIO_NET_HDR_GSO_NONE:
                return true;
            case LinuxConstants.VIRTIO_NET_HDR_GSO_TCPV4:
                offload.Kind = SuperPacketKind.TcpV4;
                break;
            case LinuxConstants.VIRTIO_NET_HDR_GSO_TCPV6:
                offload.Kind = SuperPacketKind.TcpV6;
                break;
            case LinuxConstants.VIRTIO_NET_HDR_GSO_UDP_L4:
                offload.Kind = SuperPacketKind.UdpL4;
                break;
            default:
                return false;
        }

        offload.SegmentSize = header.GsoSize;
        return offload.SegmentSize > 0;
    }

    public void Dispose()
    {
        Release();
        GC.SuppressFinalize(this);
    }

    public override string ToString() => $"{Name} (ifindex {InterfaceIndex}, {Mac}, mtu {Mtu})";

    private void Configure(PacketIo io)
    {
        // The socket was opened with protocol 0, so it sees nothing until bound to one device.
        SetOption(SOL_PACKET, PACKET_AUXDATA, required: true);
        _ = SetOption(SOL_PACKET, PACKET_IGNORE_OUTGOING, required: false); // Linux 4.20+; sll_pkttype covers older kernels
        QdiscBypass = SetOption(SOL_PACKET, PACKET_QDISC_BYPASS, required: false);
        AcceptsSuperPackets = SetOption(SOL_PACKET, LinuxConstants.PACKET_VNET_HDR, required: false);
        SetBuffer(LinuxConstants.SO_RCVBUFFORCE, SO_RCVBUF);
        SetBuffer(LinuxConstants.SO_SNDBUFFORCE, SO_SNDBUF);
        _sendHeader = (VirtioNetHeader*)NativeMemory.AllocZeroed((nuint)sizeof(VirtioNetHeader));
        _sendVectors = (iovec*)NativeMemory.AllocZeroed(2, (nuint)sizeof(iovec));
        _sendMessage = (msghdr*)NativeMemory.AllocZeroed((nuint)sizeof(msghdr));
        _sendVectors[0].iov_base = _sendHeader;
        _sendVectors[0].iov_len = VirtioNetHeader.Size;
        _sendMessage->msg_iov = _sendVectors;
        _sendMessage->msg_iovlen = 2;
        _queuedMessages = (mmsghdr*)NativeMemory.AllocZeroed(TransmitQueueLength, (nuint)sizeof(mmsghdr));
        _queuedVectors = (iovec*)NativeMemory.AllocZeroed(TransmitQueueLength * 2, (nuint)sizeof(iovec));
        _queuedHeaders = (VirtioNetHeader*)NativeMemory.AllocZeroed(TransmitQueueLength, (nuint)sizeof(VirtioNetHeader));
        if (io == PacketIo.Ring)
        {
            MapRing(); // after PACKET_VNET_HDR: the kernel refuses it once a ring exists
        }

        sockaddr_ll address = default;
        address.sll_family = (ushort)(int)AF_PACKET;
        address.sll_protocol = BinaryPrimitives.ReverseEndianness(LinuxConstants.ETH_P_ALL);
        address.sll_ifindex = InterfaceIndex;
        if (bind(_fd, (sockaddr*)&address, (uint)sizeof(sockaddr_ll)) != 0)
        {
            var error = errno;
            Release();
            throw new PacketPortException($"cannot bind an AF_PACKET socket to {Name}: {Describe(error)}", error);
        }
    }

    /// <summary>Joins fanout group <paramref name="group"/> of the bound socket's device (PACKET_FANOUT_HASH | PACKET_FANOUT_FLAG_DEFRAG).</summary>
    private void JoinFanout(ushort group)
    {
        var value = group | ((LinuxConstants.PACKET_FANOUT_HASH | LinuxConstants.PACKET_FANOUT_FLAG_DEFRAG) << 16);
        if (setsockopt(_fd, SOL_PACKET, LinuxConstants.PACKET_FANOUT, &value, sizeof(int)) != 0)
        {
            var error = errno;
            Release();
            throw new PacketPortException($"cannot join fanout group {group} on {Name}: {Describe(error)}", error);
        }
    }

    /// <summary>Sets a socket buffer to <see cref="SocketBufferBytes"/>: past the system limit with CAP_NET_ADMIN, else up to it.</summary>
    private void SetBuffer(int forced, int limited)
    {
        var bytes = SocketBufferBytes;
        if (setsockopt(_fd, SOL_SOCKET, forced, &bytes, sizeof(int)) != 0)
        {
            _ = setsockopt(_fd, SOL_SOCKET, limited, &bytes, sizeof(int));
        }
    }

    /// <summary>
    /// Adds the frames the kernel dropped since the last call (its receive buffer full) to <see cref="KernelDrops"/>
    /// and returns the total. One getsockopt: for the control plane, not the packet path; one thread at a time may
    /// call it while the worker drives the port (it touches only the kernel's counters and <see cref="KernelDrops"/>).
    /// </summary>
    public long ReadKernelDrops()
    {
        if (_fd < 0)
        {
            return KernelDrops;
        }

        var stats = stackalloc uint[2]; // struct tpacket_stats { tp_packets, tp_drops }
        socklen_t length = (uint)(2 * sizeof(uint));
        if (getsockopt(_fd, SOL_PACKET, LinuxConstants.PACKET_STATISTICS, stats, &length) == 0)
        {
            KernelDrops += stats[1];
        }

        return KernelDrops;
    }

    private bool SetOption(int level, int option, bool required)
    {
        var on = 1;
        if (setsockopt(_fd, level, option, &on, sizeof(int)) == 0)
        {
            return true;
        }

        if (required)
        {
            var error = errno;
            Release();
            throw new PacketPortException($"cannot set socket option {option} on {Name}: {Describe(error)}", error);
        }

        return false;
    }

    /// <summary>Pins <paramref name="batch"/>'s buffers and points one message header at each (once per batch).</summary>
    private void Bind(PacketBatch batch)
    {
        Unbind();
        var capacity = batch.Capacity;
        _messages = (mmsghdr*)NativeMemory.AllocZeroed((nuint)capacity, (nuint)sizeof(mmsghdr));
        _vectors = (iovec*)NativeMemory.AllocZeroed((nuint)(capacity * 2), (nuint)sizeof(iovec));
        _receivedHeaders = (VirtioNetHeader*)NativeMemory.AllocZeroed((nuint)capacity, (nuint)sizeof(VirtioNetHeader));
        _addresses = (sockaddr_ll*)NativeMemory.AllocZeroed((nuint)capacity, (nuint)sizeof(sockaddr_ll));
        _control = (byte*)NativeMemory.AlignedAlloc((nuint)(capacity * ControlSpace), 16);
        _pins = new GCHandle[capacity];
        for (var i = 0; i < capacity; i++)
        {
            var data = batch[i].Data;
            _pins[i] = GCHandle.Alloc(data, GCHandleType.Pinned);
            // With PACKET_VNET_HDR the kernel writes the virtio_net_hdr first, then the frame into the buffer.
            var vector = &_vectors[i * 2];
            var header = (msghdr*)&_messages[i];
            header->msg_name = &_addresses[i];
            header->msg_iov = vector;
            if (AcceptsSuperPackets)
            {
                vector->iov_base = &_receivedHeaders[i];
                vector->iov_len = VirtioNetHeader.Size;
                vector++;
                header->msg_iovlen = 2;
            }
            else
            {
                header->msg_iovlen = 1;
            }

            vector->iov_base = (void*)_pins[i].AddrOfPinnedObject();
            vector->iov_len = data.Length;
            header->msg_control = _control + (i * ControlSpace);
        }

        _bound = batch;
    }

    private void Unbind()
    {
        foreach (var pin in _pins)
        {
            if (pin.IsAllocated)
            {
                pin.Free();
            }
        }

        _pins = [];
        NativeMemory.Free(_messages);
        NativeMemory.Free(_vectors);
        NativeMemory.Free(_addresses);
        NativeMemory.AlignedFree(_control);
        NativeMemory.Free(_receivedHeaders);
        _receivedHeaders = null;
        _messages = null;
        _vectors = null;
        _addresses = null;
        _control = null;
        _bound = null;
    }

    private void Release()
    {
        UnmapRing();
        if (_fd >= 0)
        {
            _ = close(_fd);
            _fd = -1;
        }

        Unbind();
        NativeMemory.Free(_sendHeader);
        NativeMemory.Free(_sendVectors);
        NativeMemory.Free(_sendMessage);
        NativeMemory.Free(_queuedMessages);
        NativeMemory.Free(_queuedVectors);
        NativeMemory.Free(_queuedHeaders);
        _queuedMessages = null;
        _queuedVectors = null;
        _queuedHeaders = null;
        _queued = 0;
        _sendHeader = null;
        _sendVectors = null;
        _sendMessage = null;
    }

    private static uint StatusOf(msghdr* header)
    {
        for (var message = CMSG_FIRSTHDR(header); message != null; message = CMSG_NXTHDR(header, message))
        {
            if (message->cmsg_level == SOL_PACKET && message->cmsg_type == PACKET_AUXDATA)
            {
                return ((PacketAuxData*)CMSG_DATA(message))->Status;
            }
        }

        return 0;
    }

    private static InterfaceRequest Request(string device)
    {
        InterfaceRequest request = default;
        Encoding.UTF8.GetBytes(device, new Span<byte>(request.Name, LinuxConstants.IFNAMSIZ - 1));
        return request;
    }

    private static void Control(int fd, int command, ref InterfaceRequest request, string device, string what)
    {
        fixed (InterfaceRequest* pointer = &request)
        {
            if (ioctl(fd, command, pointer) == 0)
            {
                return;
            }
        }

        var error = errno;
        if (error == ENODEV || error == ENXIO)
        {
            throw new PacketPortException($"no interface named {device}", error);
        }

        if (error == EPERM || error == EACCES)
        {
            throw new PacketPortException($"{what} {device} needs root or CAP_NET_ADMIN ({Describe(error)})", error);
        }

        throw new PacketPortException($"{what} {device} failed: {Describe(error)}", error);
    }

    private static string Describe(int error) => $"{Marshal.GetPInvokeErrorMessage(error)} (errno {error})";
}
