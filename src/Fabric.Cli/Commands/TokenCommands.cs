using System.CommandLine;
using System.Globalization;
using Fabric.Actors.Security;
using Fabric.Conductor.Api.Tokens;
using Fabric.Conductor.Configuration;
using Microsoft.Extensions.Configuration;

namespace Fabric.Cli.Commands;

/// <summary>
/// <c>fabric conductor token create|list|revoke</c>: the API's bearer tokens, written straight into the conductor's
/// storage (the document's <c>conductor.storage</c>: the SQLite file, relative to the current directory as for
/// <c>fabric conductor</c>, or PostgreSQL). Whoever can write that storage can make tokens; the conductor need not run.
/// A running conductor takes a new token at once and stops taking a revoked one within a few seconds.
/// </summary>
public static class TokenCommands
{
    public static Command Create()
    {
        var token = new Command("token", "Create, list and revoke the conductor API's bearer tokens (kept hashed in the conductor's storage).");
        token.Subcommands.Add(CreateToken());
        token.Subcommands.Add(List());
        token.Subcommands.Add(Revoke());
        return token;
    }

    private static Option<FileInfo> Config() => new("--config") { Description = "The fabric document: its conductor.storage says where tokens are kept.", Required = true };

    private static Command CreateToken()
    {
        var config = Config();
        var owner = new Option<string>("--owner") { Description = "Who the token speaks for: the author of every commit made with it.", Required = true };
        var output = new Option<FileInfo?>("--out") { Description = "Write the token to this file (mode 0600; give it to the CLI with --token-file) instead of printing it." };
        var command = new Command("create", "Create a token for OWNER and print it once (only its hash is kept): give it to the CLI as FABRIC_TOKEN or in a --token-file.") { config, owner, output };
        command.SetAction((parse, cancel) => Run(parse, config, async store =>
        {
            var created = await store.Create(parse.GetValue(owner)!, DateTimeOffset.UtcNow, cancel);
            if (parse.GetValue(output) is { } file)
            {
                PrivateFile.WriteText(file.FullName, created.Token + "\n");
                parse.InvocationConfiguration.Output.WriteLine($"token {created.Info.Id} for {created.Info.Owner} written to {file.FullName}");
            }
            else
            {
                parse.InvocationConfiguration.Output.WriteLine(created.Token);
                parse.InvocationConfiguration.Error.WriteLine($"token {created.Info.Id} for {created.Info.Owner}: shown once, only its hash is kept");
            }

            return 0;
        }));
        return command;
    }

    private static Command List()
    {
        var config = Config();
        var command = new Command("list", "List every token: id, owner, when it was created, and when it was revoked (never the token itself).") { config };
        command.SetAction((parse, cancel) => Run(parse, config, async store =>
        {
            var output = parse.InvocationConfiguration.Output;
            output.WriteLine($"{"ID",-14} {"OWNER",-24} {"CREATED",-21} REVOKED");
            foreach (var t in await store.List(cancel))
            {
                output.WriteLine($"{t.Id,-14} {t.Owner,-24} {Time(t.Created),-21} {(t.Revoked is { } revoked ? Time(revoked) : "-")}");
            }

            return 0;
        }));
        return command;
    }

    private static Command Revoke()
    {
        var config = Config();
        var id = new Argument<string>("ID") { Description = "The token's id, as 'token list' shows it." };
        var command = new Command("revoke", "Revoke a token: the conductor refuses it within a few seconds. Exit 1 when there is no such token.") { id, config };
        command.SetAction((parse, cancel) => Run(parse, config, async store =>
        {
            if (await store.Revoke(parse.GetValue(id)!, DateTimeOffset.UtcNow, cancel))
            {
                parse.InvocationConfiguration.Output.WriteLine($"token {parse.GetValue(id)} revoked");
                return 0;
            }

            parse.InvocationConfiguration.Error.WriteLine($"fabric conductor token: no token {parse.GetValue(id)} that is not revoked already");
            return 1;
        }));
        return command;
    }

    private static async Task<int> Run(ParseResult parse, Option<FileInfo> config, Func<ApiTokenStore, Task<int>> action)
    {
        var error = parse.InvocationConfiguration.Error;
        if (ConfigCommands.Load(parse.GetValue(config)!.FullName, error) is not { } model)
        {
            return FabricCommandLine.UsageOrInvalid;
        }

        try
        {
            var environment = new ConfigurationBuilder().AddEnvironmentVariables().Build();
            return await action(ApiTokenStore.For(ConductorStorage.Prepare(model.Conductor.Storage, environment)));
        }
        catch (Exception e) when (e is ApiTokenException or PrivateFileException or IOException or UnauthorizedAccessException)
        {
            error.WriteLine($"fabric conductor token: {e.Message}");
            return FabricCommandLine.UsageOrInvalid;
        }
    }

    private static string Time(DateTimeOffset time) => time.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture);
}
