using System.Runtime.InteropServices;

namespace Fabric.Dataplane.Io.Linux;

/// <summary>
/// Runs the worker under <c>SCHED_FIFO</c> at <see cref="Priority"/>: a frame that wakes it is handled at once
/// instead of waiting for the time slice of whatever else holds the core (the control plane, the endpoints
/// themselves on a small machine). The worker sleeps whenever it has nothing to do, so it takes a core only under
/// load, and the kernel's real-time throttling (by default 95% of each second) keeps the rest of the machine
/// running even then. Needs <c>CAP_SYS_NICE</c>; without it the worker keeps the normal policy and
/// <paramref name="refused"/> hears why.
/// </summary>
public sealed partial class RealtimeScheduling(int priority, Action<string> refused) : IWorkerScheduling
{
    private const int SchedFifo = 1;

    /// <summary>The SCHED_FIFO priority (1–99); a low one leaves room above for what the operator runs.</summary>
    public int Priority { get; } = priority is >= 1 and <= 99
        ? priority
        : throw new ArgumentOutOfRangeException(nameof(priority), priority, "a SCHED_FIFO priority is 1 to 99");

    public unsafe void ApplyToCurrentThread()
    {
        var parameter = Priority;
        if (sched_setscheduler(0, SchedFifo, &parameter) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            refused($"the packet worker runs with normal scheduling: SCHED_FIFO priority {Priority} was refused ({Marshal.GetPInvokeErrorMessage(errno)}); grant CAP_SYS_NICE for low latency under load");
        }
    }

    /// <summary>sched_setscheduler(2) on thread <paramref name="tid"/> (0: the calling thread); <paramref name="parameter"/> points at a struct sched_param (one int).</summary>
    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial int sched_setscheduler(int tid, int policy, int* parameter);
}
