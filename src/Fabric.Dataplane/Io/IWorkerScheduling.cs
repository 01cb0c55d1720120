namespace Fabric.Dataplane.Io;

/// <summary>
/// How a worker thread is scheduled: the worker applies it to its own thread once, before its first round. An
/// implementation that cannot apply its policy leaves the thread as it was and says why through its own channel;
/// it never throws (the worker runs either way).
/// </summary>
public interface IWorkerScheduling
{
    /// <summary>Applies the policy to the calling thread.</summary>
    void ApplyToCurrentThread();
}
