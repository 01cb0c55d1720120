using Fabric.Router;

namespace Fabric.Tests.Support;

/// <summary>The <c>fabric</c> command as a user runs it (the executable beside the tests), for the tests of every project.</summary>
public static class FabricCommand
{
    /// <summary>Runs the fabric command with these arguments and waits for it (at most two minutes).</summary>
    public static CommandResult Run(params string[] arguments)
    {
        var command = FabricExecutable.CommandLine();
        return ExternalCommand.Run(TimeSpan.FromMinutes(2), command[0], [.. command.Skip(1), .. arguments]);
    }
}
