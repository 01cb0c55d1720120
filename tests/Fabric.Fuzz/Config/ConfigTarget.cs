using System.Text;
using Fabric.Config;
using Fabric.Config.Canonical;
using Fabric.Tests.Support;

namespace Fabric.Fuzz.Config;

/// <summary>
/// The HOCON parser and the configuration loader (<see cref="FabricConfigLoader.Load"/>): any text either loads, and
/// then its canonical HOCON and JSON forms load back to the same model, or yields errors that each say where (a path,
/// or a line); it never throws and never overflows the stack (the harness runs out of process, so an overflow kills
/// only the child, which AFL sees as a crash).
/// </summary>
public sealed class ConfigTarget : FuzzTarget
{
    public override string Name => "config";

    public override string Description => "any text loads (and round-trips through its canonical forms) or yields errors with a path or line";

    public override void Run(byte[] input)
    {
        var text = Encoding.UTF8.GetString(input);
        var result = FabricConfigLoader.Load(text);
        if (!result.IsValid)
        {
            if (result.Errors.Count == 0)
            {
                throw new FuzzFinding("refused with no error");
            }

            foreach (var error in result.Errors)
            {
                if ((error.Path.Length == 0 && error.Line is null) || string.IsNullOrWhiteSpace(error.Message))
                {
                    throw new FuzzFinding($"an error that does not say where or what: \"{error}\"");
                }
            }

            return;
        }

        if (result.Errors.Count != 0)
        {
            throw new FuzzFinding($"loaded with {result.Errors.Count} errors: {result.Errors[0]}");
        }

        var tree = CanonicalTree.Of(result.Config!);
        foreach (var (form, canonical) in new[] { ("HOCON", HoconWriter.ToHocon(tree)), ("JSON", HoconWriter.ToJson(tree)) })
        {
            var back = FabricConfigLoader.Load(canonical);
            if (!back.IsValid)
            {
                throw new FuzzFinding($"the canonical {form} of a valid document does not load: {back.Errors[0]}\n{canonical}");
            }

            if (back.Config != result.Config)
            {
                throw new FuzzFinding($"the canonical {form} of a valid document loads to another model\n{canonical}");
            }
        }
    }

    /// <summary>Every HOCON document the repository ships (lab, reference, examples) and a few small ones.</summary>
    public override IEnumerable<(string Name, byte[] Input)> Seeds()
    {
        foreach (var file in Directory.EnumerateFiles(Repository.PathOf("hocon"), "*.conf").Order(StringComparer.Ordinal))
        {
            yield return (Path.GetFileNameWithoutExtension(file), File.ReadAllBytes(file));
        }

        yield return ("empty-fabric", "fabric { }"u8.ToArray());
        yield return ("paths", "fabric.tenants.a {}\nfabric.tenants.\"b.c\" {}\nfabric { name = \"x\" }"u8.ToArray());
        yield return ("mistakes", "fabric {\n  tenants { a {} a {} }\n  services { s { addresses = [10.0.0.1/33], transports = [{ protocol = tcp, ports = [\"0-70000\"] }] } }\n}"u8.ToArray());
    }
}
