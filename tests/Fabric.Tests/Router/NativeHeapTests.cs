using System.Runtime.InteropServices;
using Fabric.Router;
using Fabric.Tests.Support;

namespace Fabric.Tests.Router;

[Collection(ResidentMemoryMeasurement.Name)]
public sealed class NativeHeapTests
{
    private const int BlockBytes = 16 << 10;
    private const int Blocks = 2048;

    [Fact]
    public void Trim_BlocksFreedBetweenLiveOnes_LeaveTheResidentMemory()
    {
        // 32 MiB in blocks under glibc's mmap threshold, all written, then every other one freed: free() cannot give
        // those 16 MiB back (each lies between live blocks, not at the top of the heap), so they stay resident until the
        // heap is trimmed.
        var ones = Enumerable.Repeat((byte)1, BlockBytes).ToArray();
        var blocks = new nint[Blocks];
        for (var i = 0; i < Blocks; i++)
        {
            blocks[i] = Marshal.AllocHGlobal(BlockBytes);
            Marshal.Copy(ones, 0, blocks[i], BlockBytes);
        }

        try
        {
            for (var i = 0; i < Blocks; i += 2)
            {
                Marshal.FreeHGlobal(blocks[i]);
            }

            var before = ResidentBytes();
            Assert.True(NativeHeap.Trim());
            var released = before - ResidentBytes();

            Assert.True(released >= 8 << 20, $"the trim gave back {released >> 10} KiB of the 16 MiB freed");
        }
        finally
        {
            for (var i = 1; i < Blocks; i += 2)
            {
                Marshal.FreeHGlobal(blocks[i]);
            }
        }
    }

    private static long ResidentBytes() =>
        long.Parse(File.ReadAllText("/proc/self/statm").Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture) * Environment.SystemPageSize;
}
