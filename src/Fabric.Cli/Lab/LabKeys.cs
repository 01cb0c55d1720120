using Fabric.Cli.Hosting;
using Fabric.Model;
using Fabric.Model.Collections;
using Fabric.Model.Validation;

namespace Fabric.Cli.Lab;

/// <summary>
/// Router identities for a lab: one private key per router (both nodes of an HA pair share it, as the
/// configuration requires) written to the lab's state directory with mode 0600, and the topology with
/// every router node's <c>identity</c> pinned to its public key. The topology file the user gave is never
/// changed: the routers run from the derived document the lab keeps, which is validated like any other.
/// Thread-safe: stateless.
/// </summary>
public static class LabKeys
{
    /// <summary>Where the lab keeps router <paramref name="router"/>'s private key.</summary>
    public static string KeyFileOf(LabLayout layout, string router)
    {
        ArgumentNullException.ThrowIfNull(layout);
        return Path.Combine(layout.StateDirectory, "keys", router + ".key");
    }

    /// <summary>
    /// Draws a key for every router, writes it, and returns <paramref name="config"/> with the identities
    /// pinned (replacing any the topology pins: the lab holds no private key for those). Throws
    /// <see cref="LabException"/> with every error when the derived document is invalid.
    /// </summary>
    public static FabricConfig Provision(FabricConfig config, LabLayout layout)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException("Router key files rely on Unix file modes.");
        }

        var directory = Path.Combine(layout.StateDirectory, "keys");
        Directory.CreateDirectory(directory);
        File.SetUnixFileMode(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var routers = new List<Router>();
        foreach (var router in config.Routers)
        {
            var identity = RouterKeyFile.Generate(KeyFileOf(layout, router.Name), router.Name, overwrite: true);
            routers.Add(router with { Nodes = new ValueList<RouterNode>(router.Nodes.Select(n => n with { Identity = identity.PublicKeyBase64 })) });
        }

        var derived = config with { Routers = new ValueList<Router>(routers) };
        var errors = FabricValidator.Validate(derived);
        if (errors.Count > 0)
        {
            throw new LabException($"the topology with the lab's router identities pinned is invalid:\n{string.Join("\n", errors)}");
        }

        return derived;
    }
}
