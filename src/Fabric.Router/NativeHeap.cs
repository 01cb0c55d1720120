using System.Runtime.InteropServices;

namespace Fabric.Router;

/// <summary>
/// The process's malloc heap (glibc). The runtime, the JIT and OpenSSL allocate and free native memory as a node starts
/// (the packet path never does); glibc keeps the freed blocks between live ones resident, ~7–10 MB in a router at rest
/// (docs/benchmarks.md, "Memory, 2026-12-06, runtime"), until <see cref="Trim"/> gives their pages back. On a C library
/// without <c>malloc_trim</c> (musl) a trim does nothing and says so. Thread-safe: glibc locks each arena.
/// </summary>
public static partial class NativeHeap
{
    private static volatile bool s_unsupported;

    /// <summary>Gives every free page of the malloc heap back to the kernel; true when there were any, false when there
    /// were none or the C library has no <c>malloc_trim</c>. Takes each arena's lock for the walk (well under a
    /// millisecond at a router's heap size).</summary>
    public static bool Trim()
    {
        if (s_unsupported)
        {
            return false;
        }

        try
        {
            return malloc_trim(0) == 1;
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
        {
            s_unsupported = true;
            return false;
        }
    }

    /// <summary>Trims the heap every <paramref name="period"/>, the first time one period from now, until the timer is
    /// disposed.</summary>
    public static Timer TrimEvery(TimeSpan period) => new(static _ => Trim(), null, period, period);

    /// <summary>malloc_trim(3), glibc: gives the free pages of every malloc arena back to the kernel, those between live
    /// blocks too (free() gives back only the top of a heap); returns 1 when it gave any back.</summary>
    [LibraryImport("libc")]
    private static partial int malloc_trim(nuint pad);
}
