using Fabric.Fuzz.Config;
using Fabric.Fuzz.PacketPath;
using Fabric.Fuzz.Serialization;
using Fabric.Tests.Support;

namespace Fabric.Fuzz;

/// <summary>
/// One thing the fuzzer feeds: a function of untrusted bytes that returns when the code under test behaved and
/// throws when it did not (an exception escaped it, or it broke a contract the target checks). AFL sees only the
/// throw; the unit tests replay the kept corpus and every kept crash through the same function.
/// </summary>
public abstract class FuzzTarget
{
    public static IReadOnlyList<FuzzTarget> All { get; } = [new PacketPathTarget(), new ConfigTarget(), new SerializerTarget()];

    /// <summary>The name used on the command line and for the corpus and crash folders.</summary>
    public abstract string Name { get; }

    /// <summary>One line: what is fed and what is checked.</summary>
    public abstract string Description { get; }

    /// <summary>Runs one input. Throws <see cref="FuzzFinding"/> (or whatever escaped the code under test) when it shows a bug.</summary>
    public abstract void Run(byte[] input);

    /// <summary>Runs one input with nothing left over from inputs before it (what a crash file's replay needs).</summary>
    public virtual void RunAlone(byte[] input) => Run(input);

    /// <summary>The inputs fuzzing starts from before any corpus is kept: named, valid, and each reaching somewhere different.</summary>
    public abstract IEnumerable<(string Name, byte[] Input)> Seeds();

    /// <summary>The kept, minimised corpus (afl-cmin's output, in the repository).</summary>
    public string CorpusDirectory => Repository.PathOf(Path.Combine("tests", "Fabric.Fuzz", "corpus", Name));

    /// <summary>Every crash the fuzzer found, kept after its fix so it stays fixed.</summary>
    public string CrashDirectory => Repository.PathOf(Path.Combine("tests", "Fabric.Fuzz", "crashes", Name));

    public static FuzzTarget? Named(string name) => All.FirstOrDefault(t => t.Name == name);
}

/// <summary>The code under test broke a contract the target checks; the message says which and how.</summary>
public sealed class FuzzFinding : Exception
{
    public FuzzFinding(string message)
        : base(message)
    {
    }

    public FuzzFinding(string message, Exception inner)
        : base(message, inner)
    {
    }

    public FuzzFinding()
    {
    }
}
