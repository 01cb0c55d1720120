namespace Fabric.Benchmarks.Pipeline;

/// <summary>A benchmark that runs packets through a <see cref="PipelineRouters"/> pair, which it owns and disposes.</summary>
public abstract class RouterBenchmark : IDisposable
{
    private protected PipelineRouters? Routers { get; set; }

    public void Dispose()
    {
        Dispose(disposing: true);
        GC.SuppressFinalize(this);
    }

    protected virtual void Dispose(bool disposing)
    {
        if (disposing)
        {
            Routers?.Dispose();
            Routers = null;
        }
    }
}
