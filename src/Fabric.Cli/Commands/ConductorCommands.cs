using System.CommandLine;
using System.Runtime.InteropServices;
using Akka.Actor;
using Akka.Hosting;
using Fabric.Actors.Cluster;
using Fabric.Actors.Security;
using Fabric.Conductor.Api;
using Fabric.Conductor.Api.Tokens;
using Fabric.Conductor.Configuration;
using Fabric.Conductor.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Fabric.Cli.Commands;

/// <summary><c>fabric conductor</c>: run the conductor node (cluster role <c>conductor</c>) and its API; <c>fabric conductor token</c>: the API's tokens.</summary>
public static class ConductorCommands
{
    public static Command Create()
    {
        var config = new Option<FileInfo>("--config") { Description = "The fabric document: its conductor section gives the addresses, API port and storage.", Required = true };
        var address = new Option<string?>("--address") { Description = "Management address to bind (default: the document's first conductor address)." };
        var clusterPort = new Option<int>("--cluster-port") { Description = "The Akka cluster port.", DefaultValueFactory = _ => ClusterNodeSettings.DefaultPort };
        var apiPort = new Option<int?>("--api-port") { Description = "The admin endpoint's port (default: conductor.api-port)." };
        var seeds = new Option<string[]>("--seed") { Description = "Other cluster nodes to join (akka.tcp://fabric@HOST:PORT); this node seeds itself first.", AllowMultipleArgumentsPerToken = true };
        var signingKey = new Option<FileInfo?>("--signing-key")
        {
            Description = "The conductor's Ed25519 private key (PKCS#8 PEM, mode 0600): it signs every configuration routers apply. Default conductor.key in the current directory, created on first start; its public key is printed as conductor-key=... for the routers' --conductor-key.",
        };
        var insecure = new Option<bool>("--insecure")
        {
            Description = "Run the cluster over plain TCP when no certificate is given (FABRIC_CLUSTER_CERTIFICATE, FABRIC_CLUSTER_CA): anyone who reaches the cluster port may then join. Without it, the conductor needs cluster TLS.",
        };
        var command = new Command(
            "conductor",
            "Run the conductor node until SIGTERM or Ctrl-C: the configuration history (conductor.storage: a SQLite file, relative to the " +
            "current directory, or PostgreSQL), pushed to every router through the cluster, and its HTTP API on conductor.api-port (HTTPS when " +
            $"{ApiCertificate.CertificateKey} names a .pfx; every write needs a token from 'fabric conductor token create'). Environment variables " +
            "akka__... override Akka settings (such as akka__cluster__seed-nodes__0).")
        {
            config,
            address,
            clusterPort,
            apiPort,
            seeds,
            signingKey,
            insecure,
        };
        command.Subcommands.Add(TokenCommands.Create());
        // A synchronous action: System.CommandLine then leaves SIGTERM to this command, which stops cleanly and exits 0.
        command.SetAction(parse => Run(parse, config, address, clusterPort, apiPort, seeds, signingKey, insecure).GetAwaiter().GetResult());
        return command;
    }

    private static async Task<int> Run(
        ParseResult parse, Option<FileInfo> config, Option<string?> address, Option<int> clusterPort, Option<int?> apiPort, Option<string[]> seeds,
        Option<FileInfo?> signingKey, Option<bool> insecure)
    {
        var output = parse.InvocationConfiguration.Output;
        var error = parse.InvocationConfiguration.Error;
        // SIGTERM and SIGINT are taken before the node starts (as fabric router does): one that arrives
        // while it starts or before the endpoint listens stops it cleanly right after, instead of
        // killing the process with the default handler.
        var stop = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.TrySetResult(); });
        using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stop.TrySetResult(); });
        if (ConfigCommands.Load(parse.GetValue(config)!.FullName, error) is not { } model)
        {
            return FabricCommandLine.UsageOrInvalid;
        }

        var host = parse.GetValue(address) ?? (model.Conductor.Addresses.Count > 0 ? model.Conductor.Addresses[0].ToString() : null) ?? "127.0.0.1";
        if (!System.Net.IPAddress.TryParse(host, out var bind))
        {
            await error.WriteLineAsync($"fabric conductor: --address {host} is not an IP address");
            return FabricCommandLine.UsageOrInvalid;
        }

        var port = parse.GetValue(clusterPort);
        var self = ClusterNodeSettings.AddressOf(host, port);
        var environment = new ConfigurationBuilder().AddEnvironmentVariables().Build();
        ClusterNodeSettings cluster;
        System.Security.Cryptography.X509Certificates.X509Certificate2? certificate;
        ConductorSigningKey key;
        Model.StorageSettings prepared;
        try
        {
            cluster = new ClusterNodeSettings(host, port, [self, .. parse.GetValue(seeds) ?? []], Insecure: parse.GetValue(insecure)).Resolve(environment);
            certificate = ApiCertificate.FromConfiguration(environment);
            key = SigningKey(parse.GetValue(signingKey)?.FullName ?? Path.GetFullPath(ConductorSigningKey.DefaultFileName), output);
            prepared = ConductorStorage.Prepare(model.Conductor.Storage, environment);
        }
        catch (Exception e) when (e is ClusterTlsException or PrivateFileException or IOException or UnauthorizedAccessException)
        {
            await error.WriteLineAsync($"fabric conductor: {e.Message}");
            return FabricCommandLine.UsageOrInvalid;
        }
        catch (InvalidOperationException e)
        {
            await error.WriteLineAsync($"fabric conductor: {e.Message}");
            return FabricCommandLine.UsageOrInvalid;
        }

        var feed = new Conductor.Api.Live.LiveFeed();
        using var node = ConductorHost.Build(cluster, prepared, key, environment, l => l.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning), feed);
        await node.StartAsync();
        var system = node.Services.GetRequiredService<ActorSystem>();
        var api = parse.GetValue(apiPort) ?? model.Conductor.ApiPort;
        var scheme = certificate is null ? "http" : "https";
        using var metrics = ConductorMetrics.Create(feed);
        var endpoint = ConductorApi.Build(
            new ConductorApiOptions(bind, api, model.Conductor.OpenReads, certificate),
            node.Services.GetRequiredService<ActorRegistry>().Get<ConductorActor>(),
            ApiTokenStore.For(prepared),
            feed,
            metrics,
            logging: l => l.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning),
            mediator: Akka.Cluster.Tools.PublishSubscribe.DistributedPubSub.Get(system).Mediator);
        try
        {
            await endpoint.StartAsync();
        }
        catch (IOException e)
        {
            await error.WriteLineAsync($"fabric conductor: cannot listen on {scheme}://{host}:{api}/ ({e.Message})");
            await endpoint.DisposeAsync();
            await node.StopAsync(CancellationToken.None);
            return 1;
        }

        bool downed;
        await using (endpoint)
        {
            var storage = model.Conductor.Storage.Provider == Model.StorageProvider.Sqlite ? Path.GetFullPath(model.Conductor.Storage.SqlitePath) : "postgresql";
            Log(output, "started", $"cluster={self} api={scheme}://{host}:{api}/ reads={(model.Conductor.OpenReads ? "open" : "token")} storage={storage} cluster-tls={(cluster.Tls is null ? "off(--insecure)" : "mutual")} conductor-key={key.PublicKeyBase64}");
            await Task.WhenAny(stop.Task, system.WhenTerminated);
            downed = FabricNode.WasDowned(system);
            Log(output, "stopping", downed ? "reason=removed-from-cluster" : stop.Task.IsCompleted ? "reason=signal" : "reason=actor-system-terminated");
            await endpoint.StopAsync(CancellationToken.None);
        }

        await node.StopAsync(CancellationToken.None);
        Log(output, "stopped", $"cluster={self}");
        // Removed from the cluster, the conductor does not rejoin by itself: it seeds itself first, so a new
        // incarnation that cannot reach the others would form a cluster of its own. It exits non-zero and
        // its supervisor (systemd, a container runtime) starts it again once the network is back.
        return downed ? RemovedFromCluster : 0;
    }

    /// <summary>The key in <paramref name="path"/>; a missing file gets a new key (mode 0600), said in one log line.</summary>
    private static ConductorSigningKey SigningKey(string path, TextWriter output)
    {
        if (File.Exists(path))
        {
            return ConductorSigningKey.Read(path);
        }

        var key = ConductorSigningKey.Generate();
        key.Write(path);
        Log(output, "signing-key-created", $"path={path} conductor-key={key.PublicKeyBase64}");
        return key;
    }

    /// <summary>The exit code when the split-brain resolver (or an operator) removed this node from the cluster.</summary>
    public const int RemovedFromCluster = 3;

    /// <summary>One structured log line: time, event, then key=value fields.</summary>
    private static void Log(TextWriter output, string @event, string fields) =>
        output.WriteLine($"time={DateTimeOffset.UtcNow:O} event={@event} {fields}");
}
