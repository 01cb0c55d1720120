using System.Diagnostics;

namespace Fabric.Dataplane.Pipeline;

/// <summary>
/// Exceptions the pipeline caught instead of letting them stop the worker: a packet that trips a bug is dropped
/// (<see cref="DropReason.PipelineFault"/>) and counted here under the stage that threw, and the worker goes on.
/// The stage is the innermost method of <c>Fabric.Dataplane.Pipeline</c> on the exception's stack
/// (<c>SvrStage.Rewrite</c>, <c>PacketWorker.Process</c>, ...). Recording allocates: it runs only when something
/// threw, never on the normal path. Thread-safe: the worker records, the control plane reads.
/// </summary>
public sealed class PipelineFaults
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, long> _byStage = new(StringComparer.Ordinal);
    private long _total;

    /// <summary>Faults caught since the worker started.</summary>
    public long Total => Volatile.Read(ref _total);

    /// <summary>The latest fault: where, what and when (worker clock ticks); null before the first.</summary>
    public PipelineFault? Last { get; private set; }

    /// <summary>Counts <paramref name="fault"/> under the stage that threw it.</summary>
    public void Record(Exception fault, long now)
    {
        ArgumentNullException.ThrowIfNull(fault);
        var stage = StageOf(fault);
        lock (_gate)
        {
            _byStage[stage] = _byStage.GetValueOrDefault(stage) + 1;
            Last = new PipelineFault(stage, fault.GetType().Name, fault.Message, now);
            _total++;
        }
    }

    /// <summary>Faults by stage (a copy).</summary>
    public IReadOnlyDictionary<string, long> ByStage()
    {
        lock (_gate)
        {
            return new Dictionary<string, long>(_byStage, StringComparer.Ordinal);
        }
    }

    /// <summary>The innermost <c>Type.Method</c> of the pipeline on the exception's stack, else its innermost frame's.</summary>
    internal static string StageOf(Exception fault)
    {
        string? innermost = null;
        foreach (var frame in new StackTrace(fault, fNeedFileInfo: false).GetFrames())
        {
            var method = frame.GetMethod();
            var type = method?.DeclaringType;
            if (method is null || type is null)
            {
                continue;
            }

            var name = $"{type.Name}.{method.Name}";
            innermost ??= name;
            if (type.Namespace == typeof(PipelineFaults).Namespace)
            {
                return name;
            }
        }

        return innermost ?? "unknown";
    }
}

/// <summary>One caught fault: the stage that threw, the exception's type and message, and when (worker clock ticks).</summary>
public sealed record PipelineFault(string Stage, string Exception, string Message, long Time);
