using System.Runtime.InteropServices;
using Tmds.Linux;

namespace Fabric.Dataplane.Io.Linux;

/// <summary>
/// The calls Tmds.LibC 0.5.0 lacks, over its structures (the ports use them, and so do the lab bench's UDP probes).
/// errno is read with <see cref="Marshal.GetLastPInvokeError"/>.
/// </summary>
public static unsafe partial class LinuxNative
{
    /// <summary>recvmmsg(2): receives up to <paramref name="count"/> messages in one call.</summary>
    [LibraryImport("libc", SetLastError = true)]
    public static partial int recvmmsg(int fd, mmsghdr* messages, uint count, int flags, timespec* timeout);

    /// <summary>sendmmsg(2): sends up to <paramref name="count"/> messages in one call; returns how many went.</summary>
    [LibraryImport("libc", SetLastError = true)]
    public static partial int sendmmsg(int fd, mmsghdr* messages, uint count, int flags);
}
