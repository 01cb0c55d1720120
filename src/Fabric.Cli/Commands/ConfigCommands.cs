using System.CommandLine;
using Fabric.Config;
using Fabric.Config.Canonical;
using Fabric.Config.Diff;
using Fabric.Model;
using Fabric.Model.Validation;

namespace Fabric.Cli.Commands;

/// <summary><c>fabric config</c>: check, print and compare fabric documents.</summary>
public static class ConfigCommands
{
    public static Command Create()
    {
        var config = new Command("config", "Validate, show and compare fabric configuration documents (HOCON); commit, roll back and list them on a running conductor.");
        config.Subcommands.Add(Validate());
        config.Subcommands.Add(Show());
        config.Subcommands.Add(Diff());
        foreach (var command in ConductorConfigCommands.Create())
        {
            config.Subcommands.Add(command);
        }

        return config;
    }

    private static Command Validate()
    {
        var file = new Argument<FileInfo>("FILE") { Description = "The fabric document to check." };
        var command = new Command("validate", "Check a fabric document. Exit 0 when valid (with a warning on stderr for each choice that weakens the fabric); exit 2 with every error on stderr, one per line, as 'path: what is wrong (line N)'.")
        {
            file,
        };
        command.SetAction(parse =>
        {
            var path = parse.GetValue(file)!.FullName;
            if (Load(path, parse.InvocationConfiguration.Error) is not { } model)
            {
                return FabricCommandLine.UsageOrInvalid;
            }

            foreach (var warning in FabricWarnings.Of(model))
            {
                parse.InvocationConfiguration.Error.WriteLine($"{parse.GetValue(file)!.Name}: warning: {warning}");
            }

            parse.InvocationConfiguration.Output.WriteLine(
                $"{parse.GetValue(file)!.Name}: valid ({Count(model.Tenants.Count, "tenant")}, {Count(model.Services.Count, "service")}, {Count(model.Routers.Count, "router")})");
            return 0;
        });
        return command;
    }

    private static Command Show()
    {
        var file = new Argument<FileInfo>("FILE") { Description = "The fabric document to print." };
        var json = new Option<bool>("--json") { Description = "Print canonical JSON for tools instead of HOCON." };
        var command = new Command("show", "Print a fabric document in canonical form: every default filled in, names in order. Exit 2 if it is invalid.")
        {
            file,
            json,
        };
        command.SetAction(parse =>
        {
            if (Load(parse.GetValue(file)!.FullName, parse.InvocationConfiguration.Error) is not { } model)
            {
                return FabricCommandLine.UsageOrInvalid;
            }

            var tree = CanonicalTree.Of(model);
            parse.InvocationConfiguration.Output.Write(parse.GetValue(json) ? HoconWriter.ToJson(tree) : HoconWriter.ToHocon(tree));
            return 0;
        });
        return command;
    }

    private static Command Diff()
    {
        var before = new Argument<FileInfo>("OLD") { Description = "The earlier document." };
        var after = new Argument<FileInfo>("NEW") { Description = "The later document." };
        var command = new Command("diff", "List what changed between two fabric documents by path: '+' added, '-' removed, '~' changed. Exit 0 when equal, 1 when different, 2 on error.")
        {
            before,
            after,
        };
        command.SetAction(parse =>
        {
            var error = parse.InvocationConfiguration.Error;
            var old = Load(parse.GetValue(before)!.FullName, error);
            var now = Load(parse.GetValue(after)!.FullName, error);
            if (old is null || now is null)
            {
                return FabricCommandLine.UsageOrInvalid;
            }

            var changes = ConfigDiff.Compare(old, now);
            foreach (var change in changes)
            {
                parse.InvocationConfiguration.Output.WriteLine(change);
            }

            return changes.Count == 0 ? 0 : 1;
        });
        return command;
    }

    /// <summary>Loads a document, or writes each of its errors to <paramref name="error"/> prefixed with the file and returns null.</summary>
    internal static FabricConfig? Load(string path, TextWriter error)
    {
        var result = FabricConfigLoader.LoadFile(path);
        foreach (var problem in result.Errors)
        {
            error.WriteLine($"{Path.GetFileName(path)}: {problem}");
        }

        if (!result.IsValid)
        {
            error.WriteLine($"{Path.GetFileName(path)}: {Count(result.Errors.Count, "error")}");
        }

        return result.Config;
    }

    private static string Count(int n, string noun) => $"{n} {noun}{(n == 1 ? "" : "s")}";
}
