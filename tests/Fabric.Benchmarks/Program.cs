using BenchmarkDotNet.Running;

namespace Fabric.Benchmarks;

/// <summary>Runs the benchmarks chosen on the command line (<c>--filter '*Lpm*' --job short</c>, for example).</summary>
public static class Program
{
    public static void Main(string[] args) => BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
}
