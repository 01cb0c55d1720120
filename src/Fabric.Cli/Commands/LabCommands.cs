using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Fabric.Router;
using Fabric.Lab;

namespace Fabric.Cli.Commands;

/// <summary><c>fabric lab</c>: a whole fabric on this machine, built from a topology document (see docs/lab.md).</summary>
public static class LabCommands
{
    private const string DefaultTopology = "hocon/lab.conf";
    private const string DefaultLab = "lab";

    public static Command Create()
    {
        var lab = new Command("lab", "Build a whole fabric on this machine from a topology: network namespaces as routers and containers, veth pairs and bridges, router processes and servers. Needs root.");
        lab.Subcommands.Add(Up());
        lab.Subcommands.Add(Down());
        lab.Subcommands.Add(Status());
        lab.Subcommands.Add(Exec());
        lab.Subcommands.Add(Restart());
        lab.Subcommands.Add(Verify());
        lab.Subcommands.Add(Dashboard());
        lab.Subcommands.Add(Supervise());
        return lab;
    }

    private static Option<string?> NameOption() => CheckedLabName(
        new("--name") { Description = "The lab's name, which prefixes its namespaces (fab-NAME-...): 1 to 32 letters, digits or '_'. Default: for up, the topology's name; otherwise the one lab that is up, else \"lab\"." });

    /// <summary><paramref name="option"/> refusing a value that cannot name a lab (<see cref="LabLayout.NameProblem"/>) before any command runs.</summary>
    internal static Option<string?> CheckedLabName(Option<string?> option)
    {
        ArgumentNullException.ThrowIfNull(option);
        option.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<string?>() is { } name && LabLayout.NameProblem(name) is { } problem)
            {
                result.AddError($"{option.Name}: {problem}");
            }
        });
        return option;
    }

    private static Option<DirectoryInfo?> StateOption() =>
        new("--state-dir") { Description = $"Where labs keep their topology, logs, pid files and admin sockets (default {LabLayout.DefaultStateRoot})." };

    private static Command Up()
    {
        var topology = new Option<FileInfo?>("--topology") { Description = $"The topology document (default {DefaultTopology})." };
        var name = NameOption();
        var state = StateOption();
        var ha = new Option<string[]>("--ha")
        {
            Description = "Run this router (e.g. dc1) as an HA pair: a second node on the same networks that takes over when the active one dies (docs/high-availability.md). Repeatable.",
        };
        var command = new Command("up", "Build the lab and start its routers and servers; prints what to try next.") { topology, name, state, ha };
        command.SetAction(parse =>
        {
            var output = parse.InvocationConfiguration.Output;
            var error = parse.InvocationConfiguration.Error;
            var prerequisites = LabPrerequisites.Plan(Installed, Environment.IsPrivilegedProcess, Installed("apt-get"));
            if (!Environment.IsPrivilegedProcess)
            {
                error.WriteLine("fabric lab: building network namespaces needs root; run it with sudo.");
                if (prerequisites.Refusal is { } missing)
                {
                    error.WriteLine($"fabric lab up: {missing}");
                }

                return 1;
            }

            var path = parse.GetValue(topology)?.FullName ?? FindDefaultTopology();
            if (path is null)
            {
                error.WriteLine($"fabric lab up: no {DefaultTopology} here or above the fabric command; give one with --topology FILE");
                return FabricCommandLine.UsageOrInvalid;
            }

            if (ConfigCommands.Load(path, error) is not { } config)
            {
                return FabricCommandLine.UsageOrInvalid;
            }

            try
            {
                foreach (var pair in parse.GetValue(ha) ?? [])
                {
                    config = LabBuilder.WithPartnerNode(config, pair);
                }
            }
            catch (LabException e)
            {
                error.WriteLine($"fabric lab up: {e.Message}");
                return FabricCommandLine.UsageOrInvalid;
            }

            var collisions = LabBuilder.Collisions(config);
            if (collisions.Count > 0)
            {
                error.WriteLine($"fabric lab up: {Path.GetFileName(path)}: these names would share a namespace (router nodes, containers and \"{LabBuilder.Conductor}\" each get one): {string.Join(", ", collisions)}");
                return FabricCommandLine.UsageOrInvalid;
            }

            if (LabPrerequisites.Ensure(prerequisites, Installed, output, LabPrerequisites.RunApt) is { } unmet)
            {
                error.WriteLine($"fabric lab up: {unmet}");
                return 1;
            }

            var labName = parse.GetValue(name) ?? config.Name;
            if (LabLayout.NameProblem(labName) is { } badName)
            {
                error.WriteLine($"fabric lab up: the topology's fabric.name {badName}; give the lab a name with --name NAME");
                return FabricCommandLine.UsageOrInvalid;
            }

            var layout = new LabLayout(labName, StateRoot(parse.GetValue(state)));
            var existing = layout.ExistingNamespaces();
            if (existing.Count > 0)
            {
                error.WriteLine($"fabric lab up: lab \"{layout.Name}\" is already up ({existing.Count} namespaces); run ./fabric lab down{LabOption(layout)} first.");
                return 1;
            }

            output.WriteLine($"fabric lab: building \"{layout.Name}\" from {Path.GetRelativePath(Environment.CurrentDirectory, path)}; state and logs in {layout.StateDirectory}");
            try
            {
                new LabBuilder(config, layout, output, source: Path.GetRelativePath(Environment.CurrentDirectory, path)).Build();
            }
            catch (LabException e)
            {
                error.WriteLine($"fabric lab up: {e.Message}");
                error.WriteLine("fabric lab up: removing what was built...");
                LabTeardown.Run(layout, TextWriter.Null);
                return 1;
            }

            output.WriteLine("Try next:");
            foreach (var line in LabGuide.Lines(config, LabOption(layout), ConfigOption(layout), Path.GetRelativePath(Environment.CurrentDirectory, path)))
            {
                output.WriteLine($"  {line}");
            }

            return 0;
        });
        return command;
    }

    private static Command Down()
    {
        var name = NameOption();
        var state = StateOption();
        var command = new Command("down", "Stop every process of the lab and remove its namespaces and links. Safe to run twice or after a crash.") { name, state };
        command.SetAction(parse =>
        {
            if (Refuse(parse.InvocationConfiguration.Error, "iproute2", "ip") is { } refused)
            {
                return refused;
            }

            var layout = Resolve(parse.GetValue(name), parse.GetValue(state), parse.InvocationConfiguration.Error);
            if (layout is null)
            {
                return FabricCommandLine.UsageOrInvalid;
            }

            LabTeardown.Run(layout, parse.InvocationConfiguration.Output);
            return 0;
        });
        return command;
    }

    private static Command Status()
    {
        var name = NameOption();
        var state = StateOption();
        var command = new Command("status", "Show the lab's namespaces, whether its processes run, and each router's counters. Exit 0 when it is up and every process runs.") { name, state };
        command.SetAction(parse =>
        {
            var output = parse.InvocationConfiguration.Output;
            if (Refuse(parse.InvocationConfiguration.Error, "iproute2", "ip") is { } refused)
            {
                return refused;
            }

            var layout = Resolve(parse.GetValue(name), parse.GetValue(state), parse.InvocationConfiguration.Error);
            if (layout is null)
            {
                return FabricCommandLine.UsageOrInvalid;
            }

            var namespaces = layout.ExistingNamespaces();
            if (namespaces.Count == 0)
            {
                output.WriteLine($"lab \"{layout.Name}\" is not up.");
                return 1;
            }

            output.WriteLine($"lab \"{layout.Name}\": {namespaces.Count} namespaces: {string.Join(' ', namespaces)}");
            var healthy = true;
            var inside = layout.ProcessesInside();
            var supervised = LabSupervisor.ReadStatus(LabSupervisor.StatusOf(layout));
            foreach (var (process, pid) in layout.PidFiles())
            {
                // A pid runs as the lab's process only inside the lab's namespaces (else the pid is another program's now).
                var alive = inside.Contains(pid) && LabProcesses.IsAlive(pid);
                var restarts = supervised.GetValueOrDefault(process);
                healthy &= alive && restarts?.State != SupervisedStatus.GaveUp;
                output.WriteLine($"  {process,-14} pid {pid,-8} {(alive ? "running" : "STOPPED")}   log {layout.LogOf(process)}{SupervisionStatus(restarts)}");
            }

            foreach (var socket in Directory.GetFiles(layout.StateDirectory, "*.sock").Order(StringComparer.Ordinal))
            {
                var node = Path.GetFileNameWithoutExtension(socket);
                try
                {
                    using var counters = JsonDocument.Parse(RouterProcess.ReadCounters(socket));
                    var c = counters.RootElement;
                    var drops = LabVerifier.DropCounts(c);
                    output.WriteLine(
                        $"  router {node}: version {c.GetProperty("version").GetInt64()}, received {c.GetProperty("received").GetInt64()}, forwarded {c.GetProperty("forwarded").GetInt64()}, generated {c.GetProperty("generated").GetInt64()}, " +
                        $"dropped {c.GetProperty("dropped").GetInt64()}{(drops.Any() ? $" ({string.Join(", ", drops)})" : "")}, sessions {c.GetProperty("sessions").GetInt64()} (created {c.GetProperty("sessions_created").GetInt64()}){PairStatus(c)}");
                }
                catch (System.Net.Sockets.SocketException e)
                {
                    healthy = false;
                    output.WriteLine($"  router {node}: no answer on {socket} ({e.Message})");
                }
            }

            healthy &= ConductorStatus(layout, output);
            return healthy ? 0 : 1;
        });
        return command;
    }

    /// <summary>What the lab's supervisor did with a process: its restarts and how its last run ended; empty when it never ended.</summary>
    private static string SupervisionStatus(SupervisedStatus? status) => status switch
    {
        null or { LastExit: null } => "",
        { State: SupervisedStatus.GaveUp, LastExit: { } exit } =>
            $"   GAVE UP after {status.Restarts + 1} runs ending fast (last: {exit.Describe()} after {exit.RanSeconds:0.0} s at {exit.At:HH:mm:ss}Z)",
        { LastExit: { } exit } => $"   restarts {status.Restarts} (last exit: {exit.Describe()} after {exit.RanSeconds:0.0} s at {exit.At:HH:mm:ss}Z)",
    };

    /// <summary>A node of an HA pair: its role, its partner, takeovers, sessions replicated and heartbeats; empty for a node alone.</summary>
    private static string PairStatus(JsonElement counters) =>
        counters.TryGetProperty("ha", out var ha) && ha.GetProperty("partner").GetString() is { Length: > 0 } partner
            ? $", HA {ha.GetProperty("role").GetString()} (partner {partner}, takeovers {ha.GetProperty("takeovers").GetInt64()}, " +
              $"sessions replicated in {ha.GetProperty("sessions_replicated_in").GetInt64()} out {ha.GetProperty("sessions_replicated_out").GetInt64()}{HeartbeatStatus(ha)})"
            : "";

    /// <summary>The heartbeat link's figures: heard, refused, and the longest gap between two partner heartbeats.</summary>
    private static string HeartbeatStatus(JsonElement ha) =>
        ha.TryGetProperty("heartbeats", out var h) && h.TryGetProperty("heard", out var heard)
            ? $", heartbeats heard {heard.GetInt64()} refused {h.GetProperty("refused_forged").GetInt64() + h.GetProperty("refused_stale").GetInt64()}, longest gap {h.GetProperty("longest_gap_ms").GetInt64()} ms"
            : "";

    /// <summary>The lab conductor's running version and each router node's applied version; false when it does not answer or a node drifts.</summary>
    private static bool ConductorStatus(LabLayout layout, TextWriter output)
    {
        if (ConfigCommands.Load(layout.Topology, TextWriter.Null) is not { } config || !LabConductor.Configured(config))
        {
            return true;
        }

        try
        {
            using var client = LabConductor.Client(layout, config);
            var rollout = client.Routers().GetAwaiter().GetResult();
            output.WriteLine($"  conductor {LabConductor.Endpoint(config)}: running version {rollout.Running}{(rollout.Converged ? ", every router node on it" : "")}");
            foreach (var n in rollout.Routers.SelectMany(r => r.Nodes))
            {
                var state = !n.Reported ? "not reported" : n.FailedVersion is { } failed ? $"failed version {failed}: {n.Failure}" : n.Drift ? "drift" : "ok";
                output.WriteLine($"    {n.Node,-12} applied version {n.Applied}  {state}");
            }

            return rollout.Converged;
        }
        catch (Exception e) when (e is HttpRequestException or Conductor.Api.ConductorApiException)
        {
            output.WriteLine($"  conductor: no answer at {LabConductor.Endpoint(config)} ({e.Message})");
            return false;
        }
    }

    private static Command Exec()
    {
        var member = new Argument<string>("CONTAINER") { Description = "A container, router node or \"conductor\" of the lab." };
        var program = new Argument<string[]>("COMMAND") { Description = "The command to run there, after --.", Arity = ArgumentArity.OneOrMore };
        var name = NameOption();
        var state = StateOption();
        var command = new Command("exec", "Run a command inside a lab container (its network namespace), with this terminal; exits with the command's exit code.") { member, program, name, state };
        command.SetAction(parse =>
        {
            var error = parse.InvocationConfiguration.Error;
            if (ResolveAsRoot(parse.GetValue(name), parse.GetValue(state), error, out var layout) is { } refused)
            {
                return refused;
            }

            var target = parse.GetValue(member)!;
            var ns = layout.NamespaceOf(target);
            var namespaces = layout.ExistingNamespaces();
            if (!namespaces.Contains(ns))
            {
                error.WriteLine(namespaces.Count == 0
                    ? $"fabric lab exec: lab \"{layout.Name}\" is not up; start it with ./fabric lab up"
                    : $"fabric lab exec: lab \"{layout.Name}\" has no container named \"{target}\" (it has: {string.Join(", ", namespaces.Where(n => n != layout.Wires).Select(n => n[(layout.Wires.Length + 1)..]))})");
                return FabricCommandLine.UsageOrInvalid;
            }

            var info = new ProcessStartInfo("ip") { UseShellExecute = false };
            foreach (var argument in (string[])["netns", "exec", ns, .. parse.GetValue(program)!])
            {
                info.ArgumentList.Add(argument);
            }

            using var process = Process.Start(info) ?? throw new InvalidOperationException("ip did not start");
            process.WaitForExit();
            return process.ExitCode;
        });
        return command;
    }

    /// <summary><c>fabric lab restart NODE</c>: one router node restarted as an upgrade restarts it (<see cref="LabRestart"/>).</summary>
    private static Command Restart()
    {
        var node = new Argument<string>("NODE") { Description = "The router node to restart (br1, dc1a, ...)." };
        var name = NameOption();
        var state = StateOption();
        var command = new Command(
            "restart",
            "Restart one router node as an upgrade does: SIGTERM, it hands its sessions over and exits, the lab starts it again; prints how long it took and how many sessions went over.")
        { node, name, state };
        command.SetAction(parse =>
        {
            var error = parse.InvocationConfiguration.Error;
            if (ResolveAsRoot(parse.GetValue(name), parse.GetValue(state), error, out var layout) is { } refused)
            {
                return refused;
            }

            try
            {
                var report = LabRestart.Run(layout, parse.GetValue(node)!);
                parse.InvocationConfiguration.Output.WriteLine(
                    $"restarted {report.Node}: pid {report.OldPid} -> {report.NewPid}; stopped {Milliseconds(report.Stopped)} ms after SIGTERM, " +
                    $"forwarding again {Milliseconds(report.Answering)} ms after it; sessions handed over {report.HandedOver?.ToString(CultureInfo.InvariantCulture) ?? "none"}, " +
                    $"restored {report.Restored?.ToString(CultureInfo.InvariantCulture) ?? "unknown"}" + (report.Refused is { } why ? $" (the state file was refused: {why})" : ""));
                return 0;
            }
            catch (LabException e)
            {
                error.WriteLine($"fabric lab restart: {e.Message}");
                return 1;
            }

            static string Milliseconds(TimeSpan t) => t.TotalMilliseconds.ToString("0", CultureInfo.InvariantCulture);
        });
        return command;
    }

    private static Command Dashboard()
    {
        var name = NameOption();
        var state = StateOption();
        var port = new Option<int>("--port") { Description = "The local port to serve it on (127.0.0.1).", DefaultValueFactory = _ => 8480 };
        var command = new Command(
            "dashboard",
            "Serve the lab conductor's dashboard on this machine until Ctrl-C: connections to 127.0.0.1:PORT are carried to the conductor on the lab's " +
            "management network. Prints the address to open (with the lab's token in its fragment); the certificate is the lab CA's, so the browser warns.")
        {
            name,
            state,
            port,
        };
        command.SetAction(parse =>
        {
            var output = parse.InvocationConfiguration.Output;
            var error = parse.InvocationConfiguration.Error;
            var layout = Resolve(parse.GetValue(name), parse.GetValue(state), error);
            if (layout is null)
            {
                return FabricCommandLine.UsageOrInvalid;
            }

            if (layout.ExistingNamespaces().Count == 0 || ConfigCommands.Load(layout.Topology, error) is not { } config || !LabConductor.Configured(config))
            {
                error.WriteLine($"fabric lab dashboard: lab \"{layout.Name}\" is not up with a conductor; start it with ./fabric lab up");
                return 1;
            }

            using var stop = new ManualResetEventSlim();
            using var term = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, c => { c.Cancel = true; stop.Set(); });
            using var interrupt = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGINT, c => { c.Cancel = true; stop.Set(); });
            LabDashboard dashboard;
            try
            {
                dashboard = LabDashboard.Start(layout, config, new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, parse.GetValue(port)));
            }
            catch (System.Net.Sockets.SocketException e)
            {
                error.WriteLine($"fabric lab dashboard: cannot listen on 127.0.0.1:{parse.GetValue(port)} ({e.Message}); choose another with --port");
                return 1;
            }

            using (dashboard)
            {
                output.WriteLine($"lab \"{layout.Name}\"'s dashboard: {dashboard.Url}");
                output.WriteLine("(Ctrl-C stops it; the certificate is issued by the lab's CA, certs/ca/ca.crt in the lab's state directory)");
                output.Flush();
                stop.Wait();
            }

            return 0;
        });
        return command;
    }

    private static Command Verify()
    {
        var name = NameOption();
        var state = StateOption();
        var command = new Command(
            "verify",
            "Probe every client container × service × port with a real connection and print the grid (. reached, X blocked) " +
            "against what the access policy says, ending with 'N correct, N wrong'. Exit 0 when none is wrong.")
        {
            name,
            state,
        };
        command.SetAction(parse =>
        {
            var output = parse.InvocationConfiguration.Output;
            var error = parse.InvocationConfiguration.Error;
            if (ResolveAsRoot(parse.GetValue(name), parse.GetValue(state), error, out var layout) is { } refused)
            {
                return refused;
            }

            if (layout.ExistingNamespaces().Count == 0 || ConfigCommands.Load(layout.Topology, error) is not { } config)
            {
                error.WriteLine($"fabric lab verify: lab \"{layout.Name}\" is not up; start it with ./fabric lab up");
                return 1;
            }

            // The policy in force is the conductor's running version, which may differ from the topology the lab was built from.
            var plan = LabVerifier.Plan(LabConductor.Running(layout, config));
            if (plan.Count == 0)
            {
                output.WriteLine("0 correct, 0 wrong (no client container with a tenant, or no service port to probe)");
                return 0;
            }

            output.WriteLine($"probing {plan.Count} (client × service × port) from inside the client containers...");
            var probes = LabVerifier.Run(plan, layout);
            LabVerifier.Print(probes, output);
            if (probes.All(p => p.Correct))
            {
                return 0;
            }

            LabVerifier.PrintRouterDrops(layout, output);
            return 1;
        });
        return command;
    }

    /// <summary>
    /// <c>fabric lab supervise</c>: the lab's supervisor, started by <c>lab up</c> (not by hand): runs the router
    /// processes of the lab's plan and starts each again when it ends, until SIGTERM.
    /// </summary>
    private static Command Supervise()
    {
        var name = NameOption();
        var state = StateOption();
        var command = new Command("supervise", "Run the lab's router processes and start each again when it ends (lab up starts this; lab down stops it first).") { name, state };
        command.Hidden = true;
        command.SetAction(parse =>
        {
            var lab = parse.GetValue(name);
            if (lab is null)
            {
                parse.InvocationConfiguration.Error.WriteLine("fabric lab supervise: give the lab with --name");
                return FabricCommandLine.UsageOrInvalid;
            }

            var layout = new LabLayout(lab, StateRoot(parse.GetValue(state)));
            using var stop = new CancellationTokenSource();
            using var term = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, c => { c.Cancel = true; stop.Cancel(); });
            using var interrupt = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGINT, c => { c.Cancel = true; stop.Cancel(); });
            LabSupervisor.Run(LabSupervisor.ReadPlan(LabSupervisor.PlanOf(layout)), LabSupervisor.StatusOf(layout), RestartPolicy.Default, parse.InvocationConfiguration.Output, stop.Token);
            return 0;
        });
        return command;
    }

    /// <summary>Null when this process may build labs, else the exit code after one sentence saying why not.</summary>
    /// <summary>
    /// What lab verbs that act inside a lab's namespaces start with: root and <c>ip</c> (<see cref="Refuse"/>), then the
    /// lab (<see cref="Resolve"/>). Returns the exit code to stop with, or null with <paramref name="layout"/> set.
    /// </summary>
    private static int? ResolveAsRoot(string? name, DirectoryInfo? state, TextWriter error, out LabLayout layout)
    {
        layout = null!;
        if (Refuse(error, "iproute2", "ip") is { } refused)
        {
            return refused;
        }

        if (Resolve(name, state, error) is not { } resolved)
        {
            return FabricCommandLine.UsageOrInvalid;
        }

        layout = resolved;
        return null;
    }

    private static int? Refuse(TextWriter error, string package, string program)
    {
        if (!Environment.IsPrivilegedProcess)
        {
            error.WriteLine("fabric lab: building network namespaces needs root; run it with sudo.");
            return 1;
        }

        if (ExternalCommand.FindOnPath(program) is null)
        {
            error.WriteLine($"fabric lab: {program} is not installed; install the Debian package {package} (apt-get install {package}).");
            return 1;
        }

        return null;
    }

    private static bool Installed(string program) => ExternalCommand.FindOnPath(program) is not null;

    private static string StateRoot(DirectoryInfo? state) => state?.FullName ?? LabLayout.DefaultStateRoot;

    /// <summary>The lab a down/status/exec means: the one named, else the only one up, else "lab".</summary>
    private static LabLayout? Resolve(string? name, DirectoryInfo? state, TextWriter error)
    {
        var root = StateRoot(state);
        if (name is not null)
        {
            return new LabLayout(name, root);
        }

        var running = LabLayout.Running(root);
        if (running.Count > 1)
        {
            error.WriteLine($"fabric lab: several labs are up ({string.Join(", ", running)}); say which with --name");
            return null;
        }

        return new LabLayout(running.Count == 1 ? running[0] : DefaultLab, root);
    }

    /// <summary>The options a follow-up command needs to find this lab again ("" for the defaults).</summary>
    private static string LabOption(LabLayout layout) =>
        (layout.Name == DefaultLab ? "" : $" --name {layout.Name}") + (layout.StateRoot == LabLayout.DefaultStateRoot ? "" : $" --state-dir {layout.StateRoot}");

    /// <summary>The options <c>fabric config</c> needs to find this lab's conductor ("" for the defaults).</summary>
    private static string ConfigOption(LabLayout layout) =>
        (layout.Name == DefaultLab && layout.StateRoot == LabLayout.DefaultStateRoot ? "" : $" --lab {layout.Name}") + (layout.StateRoot == LabLayout.DefaultStateRoot ? "" : $" --state-dir {layout.StateRoot}");

    /// <summary>hocon/lab.conf in the current directory, else in the repository above the fabric command.</summary>
    internal static string? FindDefaultTopology()
    {
        if (File.Exists(DefaultTopology))
        {
            return Path.GetFullPath(DefaultTopology);
        }

        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, DefaultTopology);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }
}
