using System.CommandLine;
using Fabric.Cni.Admin;
using Fabric.Cni.Plugin;

namespace Fabric.Cli.Commands;

/// <summary><c>fabric cni</c>: the CNI plugin, run by a container runtime (docs/deploy.md "Containers without a commit").</summary>
public static class CniCommands
{
    public static Command Create()
    {
        var command = new Command(
            "cni",
            "The CNI 1.1 plugin: a container runtime runs it with CNI_COMMAND (ADD, DEL, CHECK, VERSION, GC, STATUS) and the other CNI_ variables " +
            "in the environment and the network configuration on standard input; it attaches the container to the local router (docs/deploy.md \"CNI\").");
        command.SetAction(parse => new CniPlugin(socket => new AdminSocketClient(socket), new IpContainerLinks())
            .Run(Environment.GetEnvironmentVariable, Console.In, parse.InvocationConfiguration.Output));
        return command;
    }
}
