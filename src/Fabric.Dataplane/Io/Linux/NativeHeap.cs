namespace Fabric.Dataplane.Io.Linux;

/// <summary>
/// The process's malloc heap (glibc). The runtime, the JIT and OpenSSL allocate and free native memory as a process starts
/// (the packet path never does); glibc keeps the freed blocks between live ones resident, ~7–10 MB in a router at rest
/// (docs/benchmarks.md, "Memory"), until <see cref="Trim"/> gives their pages back. Thread-safe: glibc locks each arena.
/// </summary>
public static class NativeHeap
{
    /// <summary>Gives every free page of the malloc heap back to the kernel; true when there were any. Takes each arena's
    /// lock for the walk (well under a millisecond at a router's heap size).</summary>
    public static bool Trim() => LinuxNative.malloc_trim(0) == 1;

    /// <summary>Trims the heap every <paramref name="period"/>, the first time one period from now, until the timer is
    /// disposed.</summary>
    public static Timer TrimEvery(TimeSpan period) => new(static _ => Trim(), null, period, period);
}
