namespace Fabric.Router;

/// <summary>
/// How to start this same <c>fabric</c> command as another process (a router node inside a namespace):
/// the .NET host running the <c>fabric.dll</c> beside this assembly, so the child runs exactly the build that
/// started it (the launcher's <c>artifacts/cli</c>, the image's <c>/app</c>, or a test's output folder); a router node
/// runs that build's lean publish when it has one (<see cref="LeanRouter()"/>).
/// </summary>
public static class FabricExecutable
{
    /// <summary>
    /// The .NET runtime settings a router process starts with, as <c>NAME=VALUE</c>; they exist only as environment
    /// variables (the runtime reads them before any code runs, and the file <c>fabric.runtimeconfig.json</c> has no key
    /// for them), so whoever starts a router sets them: the lab here, <c>deploy/systemd/fabric-router@.service</c> and the
    /// router services of <c>docker-compose.yml</c>, with the same values. <c>DOTNET_GCgen0size</c>: the collector's youngest generation
    /// may grow to 4 MiB before a collection, instead of four fifths of the L3 cache (25 MiB on a 32 MiB L3); a router
    /// allocates about 1.5 MB/s at rest (the actor system, never the packet path), and this keeps ~25 MB less resident
    /// (docs/benchmarks.md, "Memory"). <c>MALLOC_ARENA_MAX</c>: glibc's allocator keeps at most two arenas instead of one per
    /// thread that ever called <c>malloc</c> (up to eight per core); the runtime's and OpenSSL's native allocations are
    /// few and never on the packet path, and a router at rest keeps ~5 MB less resident (docs/benchmarks.md, "Memory").
    /// <c>DOTNET_GCRegionSize</c>: the collector hands out its heap in 1 MiB regions instead of 4 MiB, so each generation's
    /// partly used region holds less memory at rest (~3 MB less resident, docs/benchmarks.md "Memory, 2026-12-06, runtime").
    /// </summary>
    public static readonly IReadOnlyList<string> RouterRuntime = ["DOTNET_GCgen0size=0x400000", "DOTNET_GCRegionSize=0x100000", "MALLOC_ARENA_MAX=2"];

    /// <summary>
    /// The program and leading arguments to start a router node: <see cref="RouterRuntime"/>, then the router's lean
    /// publish (<see cref="LeanRouter()"/>) when there is one of this build, else <see cref="CommandLine"/>.
    /// </summary>
    public static IReadOnlyList<string> RouterCommandLine() => ["env", .. RouterRuntime, .. LeanRouter() is { } lean ? [lean] : CommandLine()];

    /// <summary>The program and leading arguments; append the verb and its options.</summary>
    public static IReadOnlyList<string> CommandLine() => [DotnetHost(), FabricDll()];

    /// <summary>The folder beside <c>fabric.dll</c> that holds the router's lean publish (<c>scripts/publish-router.sh</c>).</summary>
    public const string LeanRouterFolder = "router";

    /// <summary>
    /// The router's lean publish beside this build's <c>fabric.dll</c> (<see cref="LeanRouterFolder"/><c>/fabric</c>: the same
    /// command, self-contained, its .NET runtime trimmed; docs/deploy.md "The router's lean publish"), or null when it is
    /// missing or older than any of this build's Fabric assemblies (published before the last build, so it would run older
    /// code).
    /// </summary>
    public static string? LeanRouter() => LeanRouter(BuildFolder());

    /// <summary>The lean publish of the build in <paramref name="build"/> (the folder holding its <c>fabric.dll</c>), as <see cref="LeanRouter()"/>.</summary>
    public static string? LeanRouter(string build)
    {
        ArgumentNullException.ThrowIfNull(build);
        var folder = Path.Combine(build, LeanRouterFolder);
        var program = Path.Combine(folder, "fabric");
        var published = Path.Combine(folder, "fabric.dll");
        if (!File.Exists(program) || !File.Exists(published))
        {
            return null;
        }

        var built = Directory.EnumerateFiles(build, "Fabric.*.dll").Append(Path.Combine(build, "fabric.dll")).Max(File.GetLastWriteTimeUtc);
        return File.GetLastWriteTimeUtc(published) >= built ? program : null;
    }

    private static string FabricDll() => Path.Combine(BuildFolder(), "fabric.dll");

    /// <summary>The folder of this build: this assembly's, where its <c>fabric.dll</c> is.</summary>
    private static string BuildFolder() => Path.GetDirectoryName(typeof(FabricExecutable).Assembly.Location)!;

    private static string DotnetHost()
    {
        // The SDK sets DOTNET_HOST_PATH for processes it starts; a process started by the host itself has it as ProcessPath.
        if (Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host))
        {
            return host;
        }

        var current = Environment.ProcessPath;
        if (current is not null && Path.GetFileNameWithoutExtension(current) == "dotnet")
        {
            return current;
        }

        return ExternalCommand.FindOnPath("dotnet") ?? "dotnet";
    }
}
