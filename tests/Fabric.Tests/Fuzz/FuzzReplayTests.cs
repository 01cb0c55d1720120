using Fabric.Fuzz;

namespace Fabric.Tests.Fuzz;

/// <summary>
/// The fuzz smoke run, without AFL: every input of each target's kept corpus passes the target (in order, as the
/// fuzzer ran them), and every kept crash, each on its own, passes too (it stays fixed). scripts/fuzz.sh grows
/// the corpus; docs/security.md ("Fuzzing") says what each target checks.
/// </summary>
public sealed class FuzzReplayTests
{
    public static TheoryData<string> Targets => [.. FuzzTarget.All.Select(t => t.Name)];

    [Theory]
    [MemberData(nameof(Targets))]
    public void Corpus_EveryKeptInput_PassesItsTarget(string name)
    {
        var target = FuzzTarget.Named(name)!;
        var files = Directory.EnumerateFiles(target.CorpusDirectory).Order(StringComparer.Ordinal).ToList();

        Assert.NotEmpty(files);
        foreach (var file in files)
        {
            Replay(() => target.Run(File.ReadAllBytes(file)), file);
        }
    }

    [Theory]
    [MemberData(nameof(Targets))]
    public void Crashes_EveryKeptCrash_PassesItsTargetAlone(string name)
    {
        var target = FuzzTarget.Named(name)!;
        var files = Directory.Exists(target.CrashDirectory) ? Directory.EnumerateFiles(target.CrashDirectory).Order(StringComparer.Ordinal).ToList() : [];
        foreach (var file in files)
        {
            Replay(() => target.RunAlone(File.ReadAllBytes(file)), file);
        }
    }

    private static void Replay(Action run, string file)
    {
        try
        {
            run();
        }
        catch (Exception e)
        {
            Assert.Fail($"{Path.GetRelativePath(Tests.Support.Repository.Root, file)} fails again:\n{e}");
        }
    }
}
