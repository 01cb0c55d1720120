namespace Fabric.Cli.Hosting;

/// <summary>
/// How to start this same <c>fabric</c> command as another process (a router node inside a namespace):
/// the .NET host running <c>fabric.dll</c> from wherever this assembly was loaded, so the child runs
/// exactly the build that started it (the launcher's <c>artifacts/cli</c>, or a test's output folder).
/// </summary>
public static class FabricExecutable
{
    /// <summary>The program and leading arguments; append the verb and its options.</summary>
    public static IReadOnlyList<string> CommandLine()
    {
        var dll = typeof(FabricExecutable).Assembly.Location;
        return [DotnetHost(), dll];
    }

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
