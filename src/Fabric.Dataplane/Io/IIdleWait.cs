namespace Fabric.Dataplane.Io;

/// <summary>
/// How a worker with nothing to do sleeps: until one of its ports has a frame, someone calls <see cref="Wake"/>,
/// or the timeout (the worker's next timer) passes. The worker thread alone calls <see cref="Wait"/>; any thread
/// may call <see cref="Wake"/>, and a wake that comes while the worker is not waiting ends its next wait at once,
/// so none is lost. Implementations: <see cref="Linux.EpollWait"/> over AF_PACKET sockets and an eventfd;
/// <see cref="PollingWait"/> for ports that cannot signal (in-memory links).
/// </summary>
public interface IIdleWait : IDisposable
{
    /// <summary>Sleeps as described; <paramref name="timeoutMilliseconds"/> −1 means until a frame or a wake.</summary>
    void Wait(int timeoutMilliseconds);

    /// <summary>Ends the worker's current or next <see cref="Wait"/>. Thread-safe; never blocks.</summary>
    void Wake();
}

/// <summary>
/// The idle wait for ports that cannot signal a frame (in-memory links, test doubles): it sleeps at most
/// <see cref="PollMilliseconds"/> at a time, so a frame waits that long at worst, and a wake ends the sleep.
/// Thread-safe as <see cref="IIdleWait"/> requires.
/// </summary>
public sealed class PollingWait : IIdleWait
{
    /// <summary>The longest sleep: the latency a frame on a port that cannot signal may see.</summary>
    public const int PollMilliseconds = 1;

    private readonly ManualResetEventSlim _woken = new(false, spinCount: 0);

    public void Wait(int timeoutMilliseconds)
    {
        var sleep = timeoutMilliseconds < 0 ? PollMilliseconds : Math.Min(timeoutMilliseconds, PollMilliseconds);
        if (sleep > 0)
        {
            _woken.Wait(sleep);
        }

        _woken.Reset();
    }

    public void Wake() => _woken.Set();

    public void Dispose() => _woken.Dispose();
}
