namespace Fabric.Model;

/// <summary>How a router's AF_PACKET ports receive frames from the kernel (docs/dataplane.md "Receive paths").</summary>
public enum PacketIo
{
    /// <summary>recvmmsg(2): one system call copies a batch of frames into the worker's buffers.</summary>
    Recvmmsg,

    /// <summary>
    /// A PACKET_MMAP TPACKET_V3 ring shared with the kernel: frames are read from mapped blocks without a system call and
    /// copied into the worker's buffers; a block reaches the worker when it is full or its retire timeout passes.
    /// </summary>
    Ring,
}
