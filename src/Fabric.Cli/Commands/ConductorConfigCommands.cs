using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Fabric.Lab;
using Fabric.Config;
using Fabric.Config.Canonical;
using Fabric.Conductor.Api;
using Fabric.Conductor.Configuration;

namespace Fabric.Cli.Commands;

/// <summary>
/// <c>fabric config commit|history|rollback|status</c>, <c>fabric telemetry</c>, <c>fabric services</c>: the operator's
/// side of a running conductor, over its API (<see cref="ConductorApi"/>) with the API token. Exit 0 on success, 1 when
/// the answer says the fabric is not as asked (a node drifts, nothing registered), 2 when the conductor refuses (every
/// reason on stderr), 3 when no conductor answers, 4 when it refuses the token.
/// </summary>
public static class ConductorConfigCommands
{

    public static IEnumerable<Command> Create() => [Commit(), History(), Rollback(), Status()];

    private static Command Commit()
    {
        var conductor = Conductor();
        var file = new Argument<FileInfo>("FILE") { Description = "The fabric document to make the running configuration." };
        var message = new Option<string>("--message", "-m") { Description = "Why: kept in the history.", Required = true };
        var command = new Command(
            "commit",
            "Validate a document on the conductor and make it the next running version, pushed to every router. The history records the token's owner as its author.")
        {
            file, message, conductor, LabName, LabState, TokenFile, ConductorCa,
        };
        command.SetAction((parse, cancel) => Call(parse, conductor, async (client, lab) =>
        {
            var path = parse.GetValue(file)!.FullName;
            var text = await File.ReadAllTextAsync(path, cancel);
            if (lab is not null && FabricConfigLoader.Load(text) is { IsValid: true, Config: { } document })
            {
                // The lab holds its routers' private keys; a document committed to it gets their identities
                // pinned, as lab up did, or the routers would refuse it. A document that does not load goes
                // as written: the conductor refuses it with every error and its line.
                // So does a router the lab runs as an HA pair (lab up --ha) keep its second node.
                var pairs = File.Exists(lab.Topology) && FabricConfigLoader.LoadFile(lab.Topology).Config is { } running ? LabBuilder.KeepPairs(document, running) : document;
                text = HoconWriter.ToHocon(CanonicalTree.Of(LabKeys.PinProvisioned(pairs, lab)));
                parse.InvocationConfiguration.Error.WriteLine($"fabric config: the lab's router identities pinned (keys in {LabKeys.DirectoryOf(lab)})");
            }

            return Report(parse, await client.Commit(text, parse.GetValue(message)!, cancel), "committed");
        }));
        return command;
    }

    private static Command Rollback()
    {
        var conductor = Conductor();
        var version = new Argument<long>("N") { Description = "The version whose content becomes running again (as a new version)." };
        var message = new Option<string>("--message", "-m") { Description = "Why (default: \"rollback to version N\")." };
        var command = new Command("rollback", "Make an earlier version's content running again, as a new version pushed to every router.")
        {
            version, message, conductor, LabName, LabState, TokenFile, ConductorCa,
        };
        command.SetAction((parse, cancel) => Call(parse, conductor, async (client, _) =>
            Report(parse, await client.Rollback(parse.GetValue(version), parse.GetValue(message) ?? "", cancel), "running")));
        return command;
    }

    private static Command History()
    {
        var conductor = Conductor();
        var json = new Option<bool>("--json") { Description = "Print the history as JSON." };
        var command = new Command("history", "List every version, oldest first, with author, time, message and what changed; '*' marks the running one.") { json, conductor, LabName, LabState, TokenFile, ConductorCa };
        command.SetAction((parse, cancel) => Call(parse, conductor, async (client, _) =>
        {
            var history = await client.History(cancel);
            var output = parse.InvocationConfiguration.Output;
            if (parse.GetValue(json))
            {
                output.WriteLine(JsonSerializer.Serialize(history, ApiJson.Options));
                return 0;
            }

            foreach (var v in history.Versions)
            {
                var restored = v.RestoredFrom is { } from ? $" (restores {from})" : "";
                output.WriteLine($"{(v.Running ? '*' : ' ')} {v.Version,4}  {v.Time.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture)}  {v.Author}  {v.Message}{restored}");
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
        var command = new Command("status", "Show which version each router node runs; exit 0 when every node runs the running version, 1 when any drifts.")
        {
            conductor, LabName, LabState, TokenFile, ConductorCa,
        };
        command.SetAction((parse, cancel) => Call(parse, conductor, async (client, _) =>
        {
            var rollout = await client.Routers(cancel);
            var output = parse.InvocationConfiguration.Output;
            output.WriteLine($"running version {rollout.Running}");
            foreach (var n in rollout.Routers.SelectMany(r => r.Nodes))
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

    /// <summary><c>fabric telemetry</c>: what the conductor keeps of each router node's counters.</summary>
    public static Command Telemetry()
    {
        var conductor = Conductor();
        var node = new Option<string?>("--node") { Description = "Only this router node." };
        var json = new Option<bool>("--json") { Description = "Every kept sample and rollup as JSON." };
        var command = new Command(
            "telemetry",
            "Show the counters router nodes ship to the conductor every 5 s: the latest sample of each node (non-zero counters) and how much history is kept " +
            "(every sample for an hour, 5-minute rollups for a day).")
        {
            node, json, conductor, LabName, LabState, TokenFile, ConductorCa,
        };
        command.SetAction((parse, cancel) => Call(parse, conductor, async (client, _) =>
        {
            var view = await client.Telemetry(parse.GetValue(node), cancel);
            var output = parse.InvocationConfiguration.Output;
            if (parse.GetValue(json))
            {
                output.WriteLine(JsonSerializer.Serialize(view, ApiJson.Options));
                return 0;
            }

            if (view.Nodes.Count == 0)
            {
                output.WriteLine(parse.GetValue(node) is { } name ? $"no telemetry from router node {name}" : "no telemetry yet (router nodes ship every 5 s)");
                return 1;
            }

            foreach (var n in view.Nodes)
            {
                var latest = n.Samples.Count > 0 ? n.Samples[^1] : null;
                var at = latest is null ? "none in the last hour" : DateTimeOffset.FromUnixTimeMilliseconds(latest.UnixMilliseconds).UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture);
                output.WriteLine($"{n.Node} (router {n.Router}): {n.Samples.Count} samples, {n.Rollups.Count} five-minute rollups; latest {at}");
                foreach (var (name, value) in (latest?.Counters ?? new Dictionary<string, long>()).Where(c => c.Value != 0).OrderBy(c => c.Key, StringComparer.Ordinal))
                {
                    output.WriteLine($"  {name,-40} {value}");
                }
            }

            return 0;
        }));
        return command;
    }

    /// <summary><c>fabric services</c>: the live instance registry: which instances live behind which router, their health and load.</summary>
    public static Command Services()
    {
        var conductor = Conductor();
        var json = new Option<bool>("--json") { Description = "The registry as JSON." };
        var command = new Command(
            "services",
            "Show the live instance registry the routers keep in the cluster: every instance of every service, the router (node) it lives behind, " +
            "its address, whether it is up, down or its router unreachable, and its active sessions.")
        {
            json, conductor, LabName, LabState, TokenFile, ConductorCa,
        };
        command.SetAction((parse, cancel) => Call(parse, conductor, async (client, _) =>
        {
            var view = await client.Services(cancel);
            var output = parse.InvocationConfiguration.Output;
            if (parse.GetValue(json))
            {
                output.WriteLine(JsonSerializer.Serialize(view, ApiJson.Options));
                return 0;
            }

            var instances = view.Services.SelectMany(s => s.Instances).ToList();
            if (instances.Count == 0)
            {
                output.WriteLine("no instance registered (router nodes register theirs within a second of applying a configuration)");
                return 1;
            }

            output.WriteLine($"{"SERVICE",-12} {"INSTANCE",-16} {"ROUTER",-10} {"NODE",-10} {"STATE",-12} {"SESSIONS",8}  ADDRESS");
            foreach (var i in instances)
            {
                output.WriteLine($"{i.Service,-12} {i.Instance,-16} {i.Router,-10} {i.Node,-10} {i.State,-12} {i.Sessions,8}  {i.Address}");
            }

            return 0;
        }));
        return command;
    }

    internal static Option<string?> Conductor() => new("--conductor")
    {
        Description = "The conductor's admin endpoint (default: $FABRIC_CONDUCTOR, else the conductor of the lab that is up, else http://127.0.0.1:8480).",
    };

    // One instance each, shared by the commands: only Call reads them.
    internal static readonly Option<string?> LabName = LabCommands.CheckedLabName(new("--lab") { Description = "Talk to this lab's conductor (from inside the lab's management network; needs root)." });

    internal static readonly Option<DirectoryInfo?> LabState = new("--state-dir") { Description = $"Where labs keep their state (default {LabLayout.DefaultStateRoot})." };

    internal static readonly Option<FileInfo?> TokenFile = new("--token-file")
    {
        Description = "A file holding the API token (default: $FABRIC_TOKEN_FILE, else the token itself in $FABRIC_TOKEN; a lab's conductor gets the lab's own token).",
    };

    internal static readonly Option<FileInfo?> ConductorCa = new("--conductor-ca")
    {
        Description = "The CA certificate (PEM) that signed the conductor's HTTPS certificate (default: $FABRIC_CONDUCTOR_CA, else the system's trust store; a lab's conductor: the lab's CA).",
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

    /// <summary>
    /// Runs <paramref name="call"/> against the conductor the options name (or the lab's), turning what goes wrong into the
    /// CLI's exit codes with one line on stderr prefixed <c>fabric VERB:</c>.
    /// </summary>
    internal static async Task<int> Call(ParseResult parse, Option<string?> conductor, Func<ConductorClient, LabLayout?, Task<int>> call, string verb = "config")
    {
        var given = parse.GetValue(conductor);
        var error = parse.InvocationConfiguration.Error;
        if (given is not null && (!Uri.TryCreate(given, UriKind.Absolute, out var parsed) || parsed.Scheme is not ("http" or "https")))
        {
            error.WriteLine($"fabric {verb}: --conductor {given} is not a URL such as https://10.99.0.2:8480");
            return FabricCommandLine.UsageOrInvalid;
        }

        var lab = given is null ? LabTarget(parse, error) : null;
        if (lab is { Problem: { } problem })
        {
            error.WriteLine($"fabric {verb}: {problem}");
            return FabricCommandLine.UsageOrInvalid;
        }

        Uri address;
        ConductorClient client;
        try
        {
            var tokenFile = parse.GetValue(TokenFile)?.FullName ?? (Environment.GetEnvironmentVariable("FABRIC_TOKEN_FILE") is { Length: > 0 } named ? named : null);
            var token = tokenFile is not null ? ReadToken(tokenFile) : null;
            if (lab is { Layout: { } layout, Config: { } config })
            {
                address = LabConductor.Endpoint(config);
                client = LabConductor.Client(layout, config, token);
                error.WriteLine($"fabric {verb}: lab \"{layout.Name}\"'s conductor at {address} (from namespace {layout.NamespaceOf(LabBuilder.Conductor)})");
            }
            else
            {
                address = given is null ? ConductorClient.DefaultAddress : new Uri(given);
                var authority = parse.GetValue(ConductorCa)?.FullName ?? (Environment.GetEnvironmentVariable("FABRIC_CONDUCTOR_CA") is { Length: > 0 } ca ? ca : null);
                var handler = new SocketsHttpHandler();
                client = new ConductorClient(
                    address,
                    token ?? (Environment.GetEnvironmentVariable("FABRIC_TOKEN") is { Length: > 0 } t ? t.Trim() : null),
                    authority is null ? handler : ConductorClient.Trusting(handler, ReadAuthority(authority)));
            }
        }
        catch (IOException e)
        {
            error.WriteLine($"fabric {verb}: {e.Message}");
            return FabricCommandLine.UsageOrInvalid;
        }

        using var owned = client;
        try
        {
            return await call(client, lab?.Layout);
        }
        catch (HttpRequestException e)
        {
            error.WriteLine($"fabric {verb}: no conductor answers at {address} ({e.Message})");
            return FabricCommandLine.ConductorUnreachable;
        }
        catch (TaskCanceledException e) when (e.InnerException is TimeoutException)
        {
            error.WriteLine($"fabric {verb}: the conductor at {address} did not answer within 30 s");
            return FabricCommandLine.ConductorUnreachable;
        }
        catch (ConductorApiException e) when (e.Status == System.Net.HttpStatusCode.Unauthorized)
        {
            error.WriteLine($"fabric {verb}: the conductor at {address} refused the request: {e.Message} (give a token: --token-file FILE or FABRIC_TOKEN; 'fabric conductor token create' makes one)");
            return FabricCommandLine.NotAuthorized;
        }
        catch (ConductorApiException e)
        {
            error.WriteLine($"fabric {verb}: the conductor at {address} answered {(int)e.Status}: {e.Message}");
            return e.Status == System.Net.HttpStatusCode.ServiceUnavailable ? FabricCommandLine.ConductorUnreachable : 1;
        }
    }

    /// <summary>The token in <paramref name="path"/> (its first line); throws <see cref="IOException"/> saying why it cannot be read.</summary>
    private static string ReadToken(string path)
    {
        try
        {
            return File.ReadLines(path).FirstOrDefault()?.Trim() is { Length: > 0 } token ? token : throw new IOException($"the token file {path} is empty");
        }
        catch (UnauthorizedAccessException e)
        {
            throw new IOException($"cannot read the token file {path}: {e.Message}", e);
        }
        catch (FileNotFoundException e)
        {
            throw new IOException($"no token file {path}", e);
        }
    }

    private static System.Security.Cryptography.X509Certificates.X509Certificate2 ReadAuthority(string path)
    {
        try
        {
            return System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPem(File.ReadAllText(path));
        }
        catch (Exception e) when (e is UnauthorizedAccessException or FileNotFoundException or System.Security.Cryptography.CryptographicException or ArgumentException)
        {
            throw new IOException($"cannot read the conductor's CA certificate {path}: {e.Message}", e);
        }
    }

    /// <summary>
    /// The lab whose conductor a command without --conductor means: the one named with --lab, else (when
    /// $FABRIC_CONDUCTOR is not set) the only lab that is up with a conductor; null for none.
    /// </summary>
    private static (LabLayout? Layout, Model.FabricConfig? Config, string? Problem)? LabTarget(ParseResult parse, TextWriter error)
    {
        var root = parse.GetValue(LabState)?.FullName ?? LabLayout.DefaultStateRoot;
        var named = parse.GetValue(LabName);
        if (named is null && (Environment.GetEnvironmentVariable("FABRIC_CONDUCTOR") is { Length: > 0 } || !Environment.IsPrivilegedProcess))
        {
            return null;
        }

        var layouts = named is not null ? [new LabLayout(named, root)] : LabLayout.Running(root).Select(n => new LabLayout(n, root)).ToList();
        var conducted = layouts
            .Select(l => (Layout: l, Config: File.Exists(l.Topology) ? ConfigCommands.Load(l.Topology, error) : null))
            .Where(l => l.Config is not null && LabConductor.Configured(l.Config) && l.Layout.ExistingNamespaces().Count > 0)
            .ToList();
        return (named, conducted.Count) switch
        {
            (not null, 0) when !Environment.IsPrivilegedProcess => (null, null, $"lab \"{named}\": reaching a lab's conductor needs root; run it with sudo"),
            (not null, 0) => (null, null, $"lab \"{named}\" is not up with a conductor (state in {root})"),
            (_, 0) => null,
            (_, 1) => (conducted[0].Layout, conducted[0].Config, null),
            _ => (null, null, $"several labs are up ({string.Join(", ", conducted.Select(c => c.Layout.Name))}); say which with --lab NAME or give --conductor URL"),
        };
    }
}
