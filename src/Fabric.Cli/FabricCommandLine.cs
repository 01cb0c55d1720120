using System.CommandLine;
using Fabric.Cli.Commands;

namespace Fabric.Cli;

/// <summary>The <c>fabric</c> command: its verbs, and the exit codes every verb shares.</summary>
public static class FabricCommandLine
{
    /// <summary>The command line was wrong (unknown verb, missing argument) or the input was invalid (also: refused by the conductor).</summary>
    public const int UsageOrInvalid = 2;

    /// <summary>A verb that talks to the conductor got no answer from it (no connection, TLS refused, the conductor not ready).</summary>
    public const int ConductorUnreachable = 3;

    /// <summary>The conductor refused the credentials: no API token, or one it does not know or revoked.</summary>
    public const int NotAuthorized = 4;

    public static RootCommand Create()
    {
        var root = new RootCommand(
            "Fabric: a Secure Vector Routing fabric for containers. Every flow is a session that carries its " +
            "tenant and service from router to router, with no overlay.");
        root.Subcommands.Add(ConfigCommands.Create());
        root.Subcommands.Add(RouterCommands.Create());
        root.Subcommands.Add(ConductorCommands.Create());
        root.Subcommands.Add(ConductorConfigCommands.Telemetry());
        root.Subcommands.Add(ConductorConfigCommands.Services());
        foreach (var command in FlowCommands.Create())
        {
            root.Subcommands.Add(command);
        }

        root.Subcommands.Add(LabCommands.Create());
        root.Subcommands.Add(BenchCommands.Create());
        root.Subcommands.Add(KeyCommands.Create());
        root.Subcommands.Add(CertCommands.Create());
        root.Subcommands.Add(CniCommands.Create());
        return root;
    }

    /// <summary>Runs one command line, writing to the given streams; returns the process exit code.</summary>
    public static int Run(string[] args, TextWriter output, TextWriter error)
    {
        var parse = Create().Parse(args);
        if (parse.Errors.Count > 0)
        {
            foreach (var problem in parse.Errors)
            {
                error.WriteLine($"fabric: {problem.Message}");
            }

            error.WriteLine("Try 'fabric --help'.");
            return UsageOrInvalid;
        }

        return parse.Invoke(new InvocationConfiguration { Output = output, Error = error });
    }
}
