using System.Diagnostics;
using Fabric.Actors.Cluster;
using Fabric.Router;
using System.Security.Cryptography.X509Certificates;
using Fabric.Conductor.Api;
using Fabric.Conductor.Api.Tokens;
using Fabric.Model;

namespace Fabric.Lab;

/// <summary>
/// The lab's conductor: one <c>fabric conductor</c> process in the lab's conductor namespace on its
/// first management address, its SQLite history in the lab's state directory (relative storage paths
/// are relative to it), and the routers joined to it with <c>--seed</c>. Its API speaks HTTPS with a
/// certificate from the lab's own CA, and <c>lab up</c> makes an API token for the lab (owner
/// <c>fabric lab</c>, in <see cref="TokenFileOf"/>, mode 0600) that every lab command and <c>fabric config</c>
/// send. The CLI reaches the API from inside that namespace (<see cref="NamespaceConnections"/>): nothing
/// of the lab is in the caller's namespace. Thread-safe: stateless.
/// </summary>
public static class LabConductor
{
    /// <summary>The conductor's process name (pid file and log in the state directory).</summary>
    public const string ProcessName = "conductor";

    /// <summary>Whether the lab runs a conductor: the topology gives it an address.</summary>
    public static bool Configured(FabricConfig config) => config.Conductor.Addresses.Count > 0;

    /// <summary>The seed the lab's routers join: the conductor's first address, the default cluster port.</summary>
    public static string Seed(FabricConfig config) => ClusterNodeSettings.AddressOf(config.Conductor.Addresses[0].ToString(), ClusterNodeSettings.DefaultPort);

    /// <summary>Who the lab's token speaks for: the author of every commit made through the lab.</summary>
    public const string TokenOwner = "fabric lab";

    /// <summary>The API as seen inside the lab's management network.</summary>
    public static Uri Endpoint(FabricConfig config) => new($"https://{config.Conductor.Addresses[0]}:{config.Conductor.ApiPort}/");

    /// <summary>The lab's API token (mode 0600).</summary>
    public static string TokenFileOf(LabLayout layout)
    {
        ArgumentNullException.ThrowIfNull(layout);
        return Path.Combine(layout.StateDirectory, "api.token");
    }

    /// <summary>
    /// A client for the lab's conductor, connecting from inside its namespace (needs root), trusting only the lab's CA,
    /// with <paramref name="token"/> or else the lab's own token.
    /// </summary>
    public static ConductorClient Client(LabLayout layout, FabricConfig config, string? token = null)
    {
        var handler = NamespaceConnections.HttpHandler(layout.NamespaceOf(LabBuilder.Conductor));
        var tokenFile = TokenFileOf(layout);
        token ??= File.Exists(tokenFile) ? File.ReadAllText(tokenFile).Trim() : null;
        return new ConductorClient(
            Endpoint(config),
            token,
            File.Exists(LabCertificates.AuthorityCertificateOf(layout))
                ? ConductorClient.Trusting(handler, X509Certificate2.CreateFromPem(File.ReadAllText(LabCertificates.AuthorityCertificateOf(layout))))
                : handler);
    }

    /// <summary>The document the lab runs now: the conductor's running version when it answers, else the topology it was built from.</summary>
    public static FabricConfig Running(LabLayout layout, FabricConfig built)
    {
        if (!Configured(built))
        {
            return built;
        }

        try
        {
            using var client = Client(layout, built);
            var running = client.Running().GetAwaiter().GetResult();
            return running is not null && Config.FabricConfigLoader.Load(running.Document).Config is { } model ? model : built;
        }
        catch (Exception e) when (e is HttpRequestException or ConductorApiException)
        {
            return built;
        }
    }

    /// <summary>
    /// Makes the lab's API token in the conductor's storage (before the conductor starts: it reads tokens from there) and
    /// its HTTPS certificate from the lab's CA, for the conductor's address.
    /// </summary>
    public static void Provision(LabLayout layout, FabricConfig config)
    {
        ArgumentNullException.ThrowIfNull(layout);
        ArgumentNullException.ThrowIfNull(config);
        var storage = config.Conductor.Storage;
        if (storage.Provider == StorageProvider.Sqlite)
        {
            storage = storage with { SqlitePath = Path.Combine(layout.StateDirectory, storage.SqlitePath) };
        }

        var created = ApiTokenStore.For(Conductor.Configuration.ConductorStorage.Prepare(storage, null)).Create(TokenOwner, DateTimeOffset.UtcNow).GetAwaiter().GetResult();
        Fabric.Actors.Security.PrivateFile.WriteText(TokenFileOf(layout), created.Token + "\n");
        LabCertificates.IssueApi(layout, config.Conductor.Addresses);
    }

    /// <summary>The conductor's signing key file in the lab's state directory (the conductor's working directory).</summary>
    public static string SigningKeyOf(LabLayout layout)
    {
        ArgumentNullException.ThrowIfNull(layout);
        return Path.Combine(layout.StateDirectory, Fabric.Actors.Security.ConductorSigningKey.DefaultFileName);
    }

    /// <summary>Replaces the lab's conductor signing key with a new one (mode 0600); returns its public key, which every router pins.</summary>
    public static string ProvisionSigningKey(LabLayout layout)
    {
        var path = SigningKeyOf(layout);
        File.Delete(path);
        var key = Fabric.Actors.Security.ConductorSigningKey.Generate();
        key.Write(path);
        return key.PublicKeyBase64;
    }

    /// <summary>Starts the conductor process and waits until its API answers; returns its pid.</summary>
    public static int Start(LabLayout layout, FabricConfig config, TimeSpan deadline)
    {
        var log = layout.LogOf(ProcessName);
        // sh changes to the state directory first, so the document's relative SQLite path lands there.
        var pid = LabProcesses.StartDetached(
            layout.NamespaceOf(LabBuilder.Conductor),
            layout.PidFileOf(ProcessName),
            log,
            ["sh", "-c", "cd \"$0\" && exec \"$@\"", layout.StateDirectory, .. LabCertificates.Environment(layout, ProcessName), $"{ApiCertificate.CertificateKey}={LabCertificates.ApiCertificateOf(layout)}", .. FabricExecutable.CommandLine(), "conductor", "--config", layout.Topology, "--signing-key", SigningKeyOf(layout)]);
        using var client = Client(layout, config);
        // Ask only once the conductor says it started (its API listens by then), so a slow start is not mistaken for a failure.
        if (!LabProcesses.WaitFor(() => Started(log) && Answers(client), pid, deadline))
        {
            throw new LabException($"the conductor did not answer at {Endpoint(config)} (log {log}):\n{LabProcesses.Tail(log)}");
        }

        return pid;
    }

    /// <summary>Commits the lab's topology and waits until every router node runs it; returns the version and how long it took.</summary>
    public static (long Version, TimeSpan Elapsed) CommitTopology(LabLayout layout, FabricConfig config, string source, TimeSpan deadline)
    {
        var clock = Stopwatch.StartNew();
        using var client = Client(layout, config);
        var result = client.Commit(File.ReadAllText(layout.Topology), $"lab up from {source}").GetAwaiter().GetResult();
        if (!result.Accepted)
        {
            throw new LabException($"the conductor refused the topology: {string.Join("; ", result.Errors)}");
        }

        RouterListView? rollout = null;
        while (clock.Elapsed < deadline)
        {
            rollout = client.Routers().GetAwaiter().GetResult();
            if (rollout.Running == result.Version && rollout.Converged)
            {
                WaitUntilRoutersAnswer(client, clock, deadline);
                return (result.Version!.Value, clock.Elapsed);
            }

            Thread.Sleep(100);
        }

        var behind = rollout?.Routers.SelectMany(r => r.Nodes).Where(n => n.Drift || !n.Reported).Select(n => n.Failure is { } why ? $"{n.Node} ({why})" : n.Node) ?? [];
        throw new LabException($"version {result.Version} not applied by every router within {deadline.TotalSeconds:0} s: {string.Join(", ", behind)}");
    }

    /// <summary>
    /// Waits until every forwarding router node answers the conductor's questions (sessions, flows, traces). The conductor
    /// reaches them through the cluster's pub-sub mediator, which learns a node's actors by gossip a second or more after
    /// the node starts: until then <c>fabric sessions</c> or <c>fabric trace</c> would say the node did not answer.
    /// </summary>
    private static void WaitUntilRoutersAnswer(ConductorClient client, Stopwatch clock, TimeSpan deadline)
    {
        IReadOnlyList<NodeAnswerView> answers = [];
        while (clock.Elapsed < deadline)
        {
            answers = client.Sessions(new SessionFilter(Limit: 1), top: true).GetAwaiter().GetResult().Nodes;
            if (answers.Count > 0 && answers.All(a => a.Error is null))
            {
                return;
            }

            Thread.Sleep(100);
        }

        throw new LabException($"router nodes did not answer the conductor within {deadline.TotalSeconds:0} s: {string.Join("; ", answers.Where(a => a.Error is not null).Select(a => a.Error))}");
    }

    private static bool Started(string log) => File.Exists(log) && File.ReadAllText(log).Contains("event=started", StringComparison.Ordinal);

    private static bool Answers(ConductorClient client)
    {
        try
        {
            client.Routers().GetAwaiter().GetResult();
            return true;
        }
        catch (Exception e) when (e is HttpRequestException or ConductorApiException)
        {
            return false;
        }
        catch (TaskCanceledException)
        {
            return false;
        }
    }
}
