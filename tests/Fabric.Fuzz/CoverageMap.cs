using SharpFuzz.Common;

namespace Fabric.Fuzz;

/// <summary>
/// The branch map the instrumented assemblies write (AFL's shared memory under the fuzzer, a map of the harness's
/// own otherwise). Setup that runs instrumented code (building a fabric, warming caches) is hidden from it, so an
/// input's trace shows only what the input made the code do, whether or not setup ran in the same execution.
/// Without a map (the unit tests run the targets uninstrumented) there is nothing to hide.
/// </summary>
public static class CoverageMap
{
    private const int Size = 1 << 16;

    /// <summary>Runs <paramref name="setup"/> and puts the map back as it was before.</summary>
    public static T Hidden<T>(Func<T> setup)
    {
        ArgumentNullException.ThrowIfNull(setup);
        unsafe
        {
            if (Trace.SharedMem == null)
            {
                return setup();
            }
        }

        byte[] saved;
        int previous;
        unsafe
        {
            saved = new Span<byte>(Trace.SharedMem, Size).ToArray();
            previous = Trace.PrevLocation;
        }

        try
        {
            return setup();
        }
        finally
        {
            unsafe
            {
                saved.CopyTo(new Span<byte>(Trace.SharedMem, Size));
                Trace.PrevLocation = previous;
            }
        }
    }
}
