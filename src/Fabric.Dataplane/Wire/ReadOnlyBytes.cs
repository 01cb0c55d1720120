using System.Runtime.InteropServices;

namespace Fabric.Dataplane.Wire;

internal static class ReadOnlyBytes
{
    /// <summary>
    /// Lets a parsed header type read through a view type over read-only input. The callers in this folder
    /// only read through the returned span; nothing writes to it.
    /// </summary>
    public static Span<byte> AsViewSource(ReadOnlySpan<byte> bytes) =>
        MemoryMarshal.CreateSpan(ref MemoryMarshal.GetReference(bytes), bytes.Length);
}
