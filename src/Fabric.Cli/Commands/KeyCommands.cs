using System.CommandLine;
using Fabric.Router;

namespace Fabric.Cli.Commands;

/// <summary><c>fabric keys</c>: a router's identity key pair (the private key in a file, the public key for the configuration).</summary>
public static class KeyCommands
{
    public static Command Create()
    {
        var keys = new Command("keys", "Create and read router identity keys (X25519): the private key stays in a file on the router, the public key goes into the configuration as the router node's identity; and the conductor's signing key (Ed25519).");
        keys.Subcommands.Add(Generate());
        keys.Subcommands.Add(Public());
        keys.Subcommands.Add(Conductor());
        return keys;
    }

    private static Command Conductor()
    {
        var output = new Option<FileInfo>("--out") { Description = "Where to write the conductor's private key (PKCS#8 PEM, mode 0600), e.g. /var/lib/fabric/conductor/conductor.key.", Required = true };
        var command = new Command(
            "conductor",
            "Write a new conductor signing key (Ed25519) and print its public key: give that to every router as --conductor-key, and the file to fabric conductor as --signing-key.")
        {
            output,
        };
        command.SetAction(parse => WriteKey(parse, "conductor", parse.GetValue(output)!.FullName, "each router's --conductor-key", path =>
        {
            var key = Fabric.Actors.Security.ConductorSigningKey.Generate();
            key.Write(path);
            return key.PublicKeyBase64;
        }));
        return command;
    }

    /// <summary>Writes a new key with <paramref name="write"/>, prints its public key on stdout and what it is for on stderr; exit 1 with one sentence when the file cannot be written.</summary>
    private static int WriteKey(ParseResult parse, string verb, string path, string publicKeyIs, Func<string, string> write)
    {
        try
        {
            parse.InvocationConfiguration.Output.WriteLine(write(path));
            parse.InvocationConfiguration.Error.WriteLine($"fabric keys: private key written to {path} (mode 0600); the line above is its public key, {publicKeyIs}");
            return 0;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            parse.InvocationConfiguration.Error.WriteLine($"fabric keys {verb}: {e.Message}");
            return 1;
        }
    }

    private static Command Generate()
    {
        var output = new Option<FileInfo>("--out") { Description = "Where to write the private key (mode 0600), e.g. /var/lib/fabric/NODE/identity.key.", Required = true };
        var force = new Option<bool>("--force") { Description = "Replace an existing key file." };
        var command = new Command(
            "generate",
            "Write a new private key file and print its public key: put that in the configuration as identity = \"...\" on every node of the router.")
        {
            output,
            force,
        };
        command.SetAction(parse => WriteKey(parse, "generate", parse.GetValue(output)!.FullName, "the node's identity", path =>
            RouterKeyFile.Generate(path, "router", parse.GetValue(force)).PublicKeyBase64));
        return command;
    }

    private static Command Public()
    {
        var key = new Argument<FileInfo>("KEYFILE") { Description = "A private key file." };
        var command = new Command("public", "Print the public key (the node's identity) of a private key file.") { key };
        command.SetAction(parse =>
        {
            try
            {
                parse.InvocationConfiguration.Output.WriteLine(RouterKeyFile.Read(parse.GetValue(key)!.FullName, "router").PublicKeyBase64);
                return 0;
            }
            catch (RouterKeyFileException e)
            {
                parse.InvocationConfiguration.Error.WriteLine($"fabric keys public: {e.Message}");
                return 1;
            }
        });
        return command;
    }
}
