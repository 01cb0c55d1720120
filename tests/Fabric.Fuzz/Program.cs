using Fabric.Fuzz;
using SharpFuzz;

// The fuzz harness's command line (scripts/fuzz.sh drives it; docs/security.md, "Fuzzing", says how):
//   dotnet Fabric.Fuzz.dll run TARGET                  one input per run from standard input, under afl-fuzz (SharpFuzz)
//   dotnet Fabric.Fuzz.dll seeds TARGET DIR            writes the target's seed inputs into DIR
//   dotnet Fabric.Fuzz.dll replay [--alone] TARGET PATH...
//                                                      runs files (or every file of folders) in order without AFL, each
//                                                      --alone (nothing left over from the one before); exit 1 if any fails
//   dotnet Fabric.Fuzz.dll list                        the targets
// Exit codes: 0 done, 1 an input failed, 2 usage.

if (args is ["list"])
{
    foreach (var target in FuzzTarget.All)
    {
        Console.WriteLine($"{target.Name,-12} {target.Description}");
    }

    return 0;
}

// Instrumented assemblies (scripts/fuzz.sh) write every branch they take into AFL's shared map; outside AFL (seeds,
// replay) they get a map of their own. Under AFL, SharpFuzz points them at AFL's.
unsafe
{
    SharpFuzz.Common.Trace.SharedMem = (byte*)System.Runtime.InteropServices.NativeMemory.AllocZeroed(1 << 16);
}

var alone = args is ["replay", "--alone", ..];
if (alone)
{
    args = ["replay", .. args[2..]];
}

if (args.Length < 2 || FuzzTarget.Named(args[1]) is not { } chosen)
{
    Console.Error.WriteLine("usage: Fabric.Fuzz (run TARGET | seeds TARGET DIR | replay [--alone] TARGET PATH... | list); targets: "
        + string.Join(", ", FuzzTarget.All.Select(t => t.Name)));
    return 2;
}

switch (args[0])
{
    case "run":
        // Out of process: a stack overflow or a hang kills only the child, which SharpFuzz restarts and reports as a crash.
        Fuzzer.OutOfProcess.Run(stream =>
        {
            using var memory = new MemoryStream();
            stream.CopyTo(memory);
            chosen.Run(memory.ToArray());
        });
        return 0;
    case "seeds" when args.Length == 3:
        Directory.CreateDirectory(args[2]);
        var written = 0;
        foreach (var (name, input) in chosen.Seeds())
        {
            File.WriteAllBytes(Path.Combine(args[2], name), input);
            written++;
        }

        Console.WriteLine($"{written} seeds for {chosen.Name} in {args[2]}");
        return 0;
    case "replay" when args.Length > 2:
        var files = args[2..].SelectMany<string, string>(p => Directory.Exists(p) ? Directory.EnumerateFiles(p).Order(StringComparer.Ordinal) : [p]).ToList();
        var failed = 0;
        foreach (var file in files)
        {
            try
            {
                var input = File.ReadAllBytes(file);
                if (alone)
                {
                    chosen.RunAlone(input);
                }
                else
                {
                    chosen.Run(input);
                }
            }
            catch (Exception e)
            {
                failed++;
                Console.WriteLine($"FAIL {file}\n{Signature(e)}\n{e}\n");
            }
        }

        Console.WriteLine($"{files.Count - failed} passed, {failed} failed ({chosen.Name})");
        return failed == 0 ? 0 : 1;
    default:
        Console.Error.WriteLine("usage: Fabric.Fuzz (run TARGET | seeds TARGET DIR | replay [--alone] TARGET PATH... | list)");
        return 2;
}

// What tells one bug from another: the innermost exception's type and the first frame of Fabric's own code it passed.
static string Signature(Exception e)
{
    var inner = e;
    while (inner.InnerException is not null)
    {
        inner = inner.InnerException;
    }

    var frame = (inner.StackTrace ?? "").Split('\n').Select(l => l.Trim()).FirstOrDefault(l => l.StartsWith("at Fabric.", StringComparison.Ordinal)) ?? "";
    return $"{inner.GetType().Name}: {inner.Message.Split('\n')[0]} {frame}";
}
