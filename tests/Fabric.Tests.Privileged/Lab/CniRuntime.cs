using System.Diagnostics;
using System.Text.Json.Nodes;
using Fabric.Router;

namespace Fabric.Tests.Lab;

/// <summary>What one plugin invocation printed and how it exited.</summary>
public sealed record CniOutcome(string Plugin, int ExitCode, string Output, string Error)
{
    public bool Succeeded => ExitCode == 0;

    /// <summary>The JSON it printed (a result, or the specification's error object), or null when it printed nothing.</summary>
    public JsonObject? Json => string.IsNullOrWhiteSpace(Output) ? null : JsonNode.Parse(Output) as JsonObject;

    public override string ToString() => $"{Plugin}: exit {ExitCode}\n{Output}\n{Error}";
}

/// <summary>
/// A container runtime as far as the CNI specification goes, and no further: it runs each plugin of a network
/// configuration list as an executable found in <c>CNI_PATH</c>, with the CNI_ variables in its environment and the
/// plugin's configuration on standard input (the list's name and cniVersion added, and the previous plugin's result as
/// <c>prevResult</c>), ADD in order, DEL in reverse order with the cached ADD result, CHECK in order with it. Plugins run in
/// <see cref="HostNamespace"/>: the network namespace of the host the router runs on (a router namespace in the lab).
/// </summary>
public sealed class CniRuntime(string hostNamespace, JsonObject conflist, IReadOnlyList<string> pluginPath)
{
    public string HostNamespace { get; } = hostNamespace;

    public string Version => conflist["cniVersion"]!.GetValue<string>();

    private IEnumerable<JsonObject> Plugins => conflist["plugins"]!.AsArray().Select(p => p!.AsObject());

    /// <summary>
    /// ADD through the whole list; returns each plugin's outcome up to the first that failed (the last result is the
    /// list's). When one fails, DEL runs through the list, as the specification has a runtime clean up.
    /// </summary>
    public IReadOnlyList<CniOutcome> Add(string containerId, string netns, string ifname, string args)
    {
        var outcomes = new List<CniOutcome>();
        JsonObject? previous = null;
        foreach (var plugin in Plugins)
        {
            var outcome = Invoke("ADD", plugin, previous, containerId, netns, ifname, args);
            outcomes.Add(outcome);
            if (!outcome.Succeeded)
            {
                Delete(containerId, netns, ifname, args, previous);
                break;
            }

            previous = outcome.Json;
        }

        return outcomes;
    }

    /// <summary>DEL through the list in reverse order, each with <paramref name="result"/> (the cached ADD result) as prevResult.</summary>
    public IReadOnlyList<CniOutcome> Delete(string containerId, string? netns, string ifname, string args, JsonObject? result) =>
        Each("DEL", Plugins.Reverse(), result, containerId, netns, ifname, args);

    /// <summary>CHECK through the list in order, each with <paramref name="result"/> as prevResult.</summary>
    public IReadOnlyList<CniOutcome> Check(string containerId, string netns, string ifname, string args, JsonObject result) =>
        Each("CHECK", Plugins, result, containerId, netns, ifname, args);

    /// <summary>One command of the first plugin alone (ours), with whatever configuration keys <paramref name="extra"/> adds or replaces (cniVersion too).</summary>
    public CniOutcome First(string command, JsonObject? extra = null, string? containerId = null, string? netns = null, string? ifname = null, string args = "")
    {
        return Invoke(command, Plugins.First(), null, containerId, netns, ifname, args, extra);
    }

    private List<CniOutcome> Each(string command, IEnumerable<JsonObject> plugins, JsonObject? result, string containerId, string? netns, string ifname, string args)
    {
        var outcomes = new List<CniOutcome>();
        foreach (var plugin in plugins)
        {
            var outcome = Invoke(command, plugin, result, containerId, netns, ifname, args);
            outcomes.Add(outcome);
            if (!outcome.Succeeded)
            {
                break;
            }
        }

        return outcomes;
    }

    private CniOutcome Invoke(
        string command, JsonObject plugin, JsonObject? previous, string? containerId, string? netns, string? ifname, string args, JsonObject? extra = null)
    {
        var type = plugin["type"]!.GetValue<string>();
        var executable = pluginPath.Select(d => Path.Combine(d, type)).FirstOrDefault(File.Exists)
            ?? throw new InvalidOperationException($"plugin {type} is in none of {string.Join(':', pluginPath)}");
        var configuration = plugin.DeepClone().AsObject();
        configuration["name"] = conflist["name"]!.GetValue<string>();
        configuration["cniVersion"] = Version;
        if (previous is not null)
        {
            configuration["prevResult"] = previous.DeepClone();
        }

        foreach (var (key, value) in extra ?? [])
        {
            configuration[key] = value?.DeepClone();
        }

        var start = ExternalCommand.Info("ip", ["netns", "exec", HostNamespace, executable]);
        start.RedirectStandardInput = true;
        start.Environment["CNI_COMMAND"] = command;
        start.Environment["CNI_CONTAINERID"] = containerId ?? "";
        start.Environment["CNI_NETNS"] = netns ?? "";
        start.Environment["CNI_IFNAME"] = ifname ?? "";
        start.Environment["CNI_ARGS"] = args;
        start.Environment["CNI_PATH"] = string.Join(':', pluginPath);
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"{executable} did not start");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        process.StandardInput.Write(configuration.ToJsonString());
        process.StandardInput.Close();
        if (!process.WaitForExit(TimeSpan.FromSeconds(60)))
        {
            process.Kill(entireProcessTree: true);
        }

        process.WaitForExit();
        return new CniOutcome(type, process.ExitCode, output.Result, error.Result);
    }
}

/// <summary>
/// The CNI plugin installed as a runtime would find it: <c>fabric-cni</c> (a wrapper that runs this build's <c>fabric cni</c>)
/// in a directory of its own, beside Debian's containernetworking-plugins, and one network configuration list per router
/// node with Debian's <c>bandwidth</c> after ours. Removes its directory when disposed.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class CniPlugins : IDisposable
{
    public CniPlugins()
    {
        Directory = System.IO.Directory.CreateTempSubdirectory("fabric-cni-bin-").FullName;
        var wrapper = Path.Combine(Directory, "fabric-cni");
        File.WriteAllText(wrapper, $"#!/bin/sh\nexec {string.Join(' ', FabricExecutable.CommandLine().Select(a => $"'{a}'"))} cni\n");
        File.SetUnixFileMode(wrapper, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }

    /// <summary>Where <c>fabric-cni</c> is.</summary>
    public string Directory { get; }

    /// <summary>A runtime on <paramref name="node"/>'s host (its router's namespace in <paramref name="run"/>), with that node's list.</summary>
    public CniRuntime RuntimeOf(LabRun run, string node, string? network)
    {
        ArgumentNullException.ThrowIfNull(run);
        return new(run.NamespaceOf(node), Conflist(run.AdminSocketOf(node), network), [Directory, "/usr/lib/cni"]);
    }

    /// <summary>The network configuration list a runtime on a router node's host reads, as deploy/cni/ shows it.</summary>
    public static JsonObject Conflist(string adminSocket, string? network)
    {
        var ours = new JsonObject { ["type"] = "fabric-cni", ["adminSocket"] = adminSocket };
        if (network is not null)
        {
            ours["network"] = network;
        }

        return new JsonObject
        {
            // Debian bookworm's plugins speak CNI up to 1.0.0: a list with them says so (GC and STATUS, 1.1.0's, are asked of ours alone).
            ["cniVersion"] = "1.0.0",
            ["name"] = "fabric",
            ["plugins"] = new JsonArray(ours, new JsonObject { ["type"] = "bandwidth", ["ingressRate"] = 100_000_000, ["ingressBurst"] = 10_000_000 }),
        };
    }

    public void Dispose() => System.IO.Directory.Delete(Directory, recursive: true);
}
