using Tmds.Linux;
using static Tmds.Linux.LibC;

namespace Fabric.Dataplane.Io.Linux;

/// <summary>
/// The worker's idle wait on Linux: one epoll instance over the sockets of its AF_PACKET ports (level-triggered
/// EPOLLIN, so a frame that arrived before the wait ends it at once) and an eventfd that <see cref="Wake"/> writes.
/// A wait costs one epoll_wait(2); nothing spins. Thread-safe as <see cref="IIdleWait"/> requires; dispose once the
/// worker stopped (the ports are not closed here). A <see cref="Wake"/> racing <see cref="Dispose"/> writes to the eventfd
/// before it is closed or not at all, never to a descriptor the process opened after with the same number.
/// </summary>
public sealed unsafe class EpollWait : IIdleWait
{
    private const int MaxEvents = 16;
    private readonly int _wake;
    private int _epoll;

    // The eventfd as a handle Wake holds while it writes, so Dispose closes the descriptor only once no write is under way.
    private readonly Microsoft.Win32.SafeHandles.SafeFileHandle _wakeHandle;

    public EpollWait(IReadOnlyList<AfPacketPort> ports)
    {
        ArgumentNullException.ThrowIfNull(ports);
        _epoll = epoll_create1(EPOLL_CLOEXEC);
        if (_epoll < 0)
        {
            throw new PacketPortException($"epoll_create1 failed (errno {errno})", errno);
        }

        _wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (_wake < 0)
        {
            var error = errno;
            _ = close(_epoll);
            throw new PacketPortException($"eventfd failed (errno {error})", error);
        }

        _wakeHandle = new Microsoft.Win32.SafeHandles.SafeFileHandle(_wake, ownsHandle: true);
        Add(_wake);
        foreach (var port in ports)
        {
            Add(port.FileDescriptor);
        }
    }

    /// <summary>
    /// Watches a port plugged in after the wait was made (<see cref="PluggablePort"/>); closing the port's socket ends the
    /// watch by itself. Thread-safe (epoll_ctl may run while the worker waits).
    /// </summary>
    public void Watch(AfPacketPort port)
    {
        ArgumentNullException.ThrowIfNull(port);
        epoll_event interest = default;
        interest.events = EPOLLIN;
        interest.data.fd = port.FileDescriptor;
        if (epoll_ctl(_epoll, EPOLL_CTL_ADD, port.FileDescriptor, &interest) != 0)
        {
            throw new PacketPortException($"epoll_ctl could not watch {port.Name} (errno {errno})", errno);
        }
    }

    /// <summary>Wakes that ended a wait (the eventfd was readable).</summary>
    public long Wakes { get; private set; }

    /// <summary>Waits that returned (for any reason).</summary>
    public long Waits { get; private set; }

    public void Wait(int timeoutMilliseconds)
    {
        var events = stackalloc epoll_event[MaxEvents];
        // A signal handled on this thread (the runtime's SIGCHLD handler when any thread's child process exits) ends
        // epoll_wait with EINTR, and epoll_wait is never restarted: wait again for what is left of the timeout, so a wait
        // ends only for a frame, a wake or the timeout.
        var deadline = timeoutMilliseconds < 0 ? long.MaxValue : Environment.TickCount64 + timeoutMilliseconds;
        int ready;
        while ((ready = epoll_wait(_epoll, events, MaxEvents, timeoutMilliseconds)) < 0 && errno == EINTR)
        {
            if (timeoutMilliseconds >= 0)
            {
                timeoutMilliseconds = (int)Math.Max(0, deadline - Environment.TickCount64);
            }
        }

        Waits++;
        for (var i = 0; i < ready; i++)
        {
            if (events[i].data.fd == _wake)
            {
                ulong count;
                _ = read(_wake, &count, sizeof(ulong));
                Wakes++;
            }
        }
    }

    public void Wake()
    {
        var held = false;
        try
        {
            _wakeHandle.DangerousAddRef(ref held);
            ulong one = 1;
            _ = write(_wake, &one, sizeof(ulong));
        }
        catch (ObjectDisposedException)
        {
            // Disposed: no worker waits any more.
        }
        finally
        {
            if (held)
            {
                _wakeHandle.DangerousRelease();
            }
        }
    }

    public void Dispose()
    {
        // Closes the eventfd now, or when the last Wake under way lets go of it.
        _wakeHandle.Dispose();

        if (_epoll >= 0)
        {
            _ = close(_epoll);
            _epoll = -1;
        }
    }

    private void Add(int fd)
    {
        epoll_event interest = default;
        interest.events = EPOLLIN;
        interest.data.fd = fd;
        if (epoll_ctl(_epoll, EPOLL_CTL_ADD, fd, &interest) != 0)
        {
            var error = errno;
            Dispose();
            throw new PacketPortException($"epoll_ctl could not watch descriptor {fd} (errno {error})", error);
        }
    }
}
