using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Fabric.Conductor.Api;
using Fabric.Conductor.Configuration;

namespace Fabric.Cli.Commands;

/// <summary>
/// <c>fabric config commit|history|rollback|status</c>: the operator's side of a running conductor,
/// over its admin endpoint (<see cref="ConductorAdminEndpoint"/>). Exit 0 on success, 2 when the
/// conductor refuses (every reason on stderr), 1 when no conductor answers.
/// </summary>
public static class ConductorConfigCommands
{

    public static IEnumerable<Command> Create() => [Commit(), History(), Rollback(), Status()];

    private static Command Commit()
    {
        var conductor = Conductor();
        var file = new Argument<FileInfo>("FILE") { Description = "The fabric document to make the running configuration." };
        var message = new Option<string>("--message", "-m") { Description = "Why: kept in the history.", Required = true };
        var author = Author();
        var command = new Command("commit", "Validate a document on the conductor and make it the next running version, pushed to every router.") { file, message, author, conductor };
        command.SetAction((parse, cancel) => Call(parse, conductor, async client =>
        {
            var path = parse.GetValue(file)!.FullName;
            var text = await File.ReadAllTextAsync(path, cancel);
            return Report(parse, await client.Commit(new CommitConfig(text, parse.GetValue(author)!, parse.GetValue(message)!), cancel), "committed");
        }));
        return command;
    }

    private static Command Rollback()
    {
        var conductor = Conductor();
        var version = new Argument<long>("N") { Description = "The version whose content becomes running again (as a new version)." };
        var message = new Option<string>("--message", "-m") { Description = "Why (default: \"rollback to version N\")." };
        var author = Author();
        var command = new Command("rollback", "Make an earlier version's content running again, as a new version pushed to every router.") { version, message, author, conductor };
        command.SetAction((parse, cancel) => Call(parse, conductor, async client =>
            Report(parse, await client.Rollback(new RollbackConfig(parse.GetValue(version), parse.GetValue(author)!, parse.GetValue(message) ?? ""), cancel), "running")));
        return command;
    }

    private static Command History()
    {
        var conductor = Conductor();
        var json = new Option<bool>("--json") { Description = "Print the history as JSON." };
        var command = new Command("history", "List every version, oldest first, with author, time, message and what changed; '*' marks the running one.") { json, conductor };
        command.SetAction((parse, cancel) => Call(parse, conductor, async client =>
        {
            var history = await client.History(cancel);
            var output = parse.InvocationConfiguration.Output;
            if (parse.GetValue(json))
            {
                output.WriteLine(JsonSerializer.Serialize(history, ConductorAdminEndpoint.Json));
                return 0;
            }

            foreach (var v in history.Versions)
            {
                var restored = v.RestoredFrom is { } from ? $" (restores {from})" : "";
                output.WriteLine($"{(v.Number == history.Running ? '*' : ' ')} {v.Number,4}  {v.Time.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture)}  {v.Author}  {v.Message}{restored}");
                foreach (var change in v.Changes)
                {
                    output.WriteLine($"          {change}");
                }
            }

            return 0;
        }));
        return command;
    }

    private static Command Status()
    {
        var conductor = Conductor();
        var command = new Command("status", "Show which version each router node runs; exit 0 when every node runs the running version, 1 when any drifts.") { conductor };
        command.SetAction((parse, cancel) => Call(parse, conductor, async client =>
        {
            var rollout = await client.Rollout(cancel);
            var output = parse.InvocationConfiguration.Output;
            output.WriteLine($"running version {rollout.Running}");
            foreach (var n in rollout.Nodes)
            {
                var state = !n.Reported ? "not reported"
                    : n.FailedVersion is { } failed ? $"failed version {failed}: {n.Failure}"
                    : n.Drift ? "drift" : "ok";
                output.WriteLine($"  {n.Node,-16} {n.Router,-12} applied {n.Applied,-4} {state}");
            }

            return rollout.Converged ? 0 : 1;
        }));
        return command;
    }

    private static Option<string?> Conductor() => new("--conductor")
    {
        Description = "The conductor's admin endpoint (default: $FABRIC_CONDUCTOR, else http://127.0.0.1:8480).",
    };

    private static Option<string> Author() => new("--author")
    {
        Description = "Who: kept in the history (default: the user name).",
        DefaultValueFactory = _ => Environment.UserName,
    };

    private static int Report(ParseResult parse, ConfigCommandResult result, string verb)
    {
        if (result.Accepted)
        {
            parse.InvocationConfiguration.Output.WriteLine($"version {result.Version} {verb}");
            return 0;
        }

        foreach (var problem in result.Errors)
        {
            parse.InvocationConfiguration.Error.WriteLine($"refused: {problem}");
        }

        return FabricCommandLine.UsageOrInvalid;
    }

    private static async Task<int> Call(ParseResult parse, Option<string?> conductor, Func<ConductorClient, Task<int>> call)
    {
        var given = parse.GetValue(conductor);
        if (given is not null && !Uri.TryCreate(given, UriKind.Absolute, out _))
        {
            parse.InvocationConfiguration.Error.WriteLine($"fabric config: --conductor {given} is not a URL such as http://10.99.0.2:8480");
            return FabricCommandLine.UsageOrInvalid;
        }

        var address = given is null ? ConductorClient.DefaultAddress : new Uri(given);
        using var client = new ConductorClient(address);
        try
        {
            return await call(client);
        }
        catch (HttpRequestException e)
        {
            parse.InvocationConfiguration.Error.WriteLine($"fabric config: no conductor answers at {address} ({e.Message})");
            return 1;
        }
    }
}
